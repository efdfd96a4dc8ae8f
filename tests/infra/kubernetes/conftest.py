"""One plan of the committed dev-k8s stack, shared by this directory's test modules (about 0.5-3 s each)."""

from __future__ import annotations

import pytest

from ml.contract.declared import OfflinePlan
from tests.infra.helpers import plan_stack


@pytest.fixture(scope="session")
def dev_k8s_plan() -> OfflinePlan:
    return plan_stack("dev-k8s")
