"""Offline plans of the committed stacks, planned once per test session (about 5 s each)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from ml.contract.declared import OfflinePlan
from ml.cost.estimate import estimate_plan
from ml.cost.model import StackCost
from ml.plan.report import assumptions_for
from tests.infra.helpers import plan_stack, stack_config


@cache
def _planned(stack: str) -> tuple[OfflinePlan, StackCost]:
    plan = plan_stack(stack)
    return plan, estimate_plan(plan, assumptions_for(stack_config(stack)))


@pytest.fixture(scope="session")
def planned() -> Callable[[str], tuple[OfflinePlan, StackCost]]:
    """`planned("dev")` -> the dev plan and its cost estimate, computed at most once per session."""
    return _planned
