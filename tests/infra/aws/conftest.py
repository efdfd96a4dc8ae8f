"""The two AWS example stacks planned once per test module (Pulumi mocks, no CLI)."""

from __future__ import annotations

import pytest

from ml.contract.declared import OfflinePlan
from tests.infra.helpers import plan_stack


@pytest.fixture(scope="module")
def dev() -> OfflinePlan:
    return plan_stack("dev-aws")


@pytest.fixture(scope="module")
def prod() -> OfflinePlan:
    return plan_stack("prod-aws")


@pytest.fixture(scope="module", params=["dev-aws", "prod-aws"])
def plan(request: pytest.FixtureRequest, dev: OfflinePlan, prod: OfflinePlan) -> OfflinePlan:
    return {"dev-aws": dev, "prod-aws": prod}[request.param]
