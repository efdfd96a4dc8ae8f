"""Offline plans of the committed stacks, computed once per session and only for the stacks asked for.

Why lazy: a plan takes ~5 s; a test run that selects one module should not plan all five stacks.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ml.contract.declared import OfflinePlan
from tests.infra.helpers import plan_stack

REAL_STACKS = ("dev", "prod", "dev-aws", "prod-aws", "dev-k8s")


@pytest.fixture(scope="session")
def stack_plan() -> Callable[[str], OfflinePlan]:
    cache: dict[str, OfflinePlan] = {}

    def plan(stack: str) -> OfflinePlan:
        if stack not in cache:
            cache[stack] = plan_stack(stack)
        return cache[stack]

    return plan
