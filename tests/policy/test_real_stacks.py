"""The committed stacks pass every guardrail, through the shared rules and through the pack's wrappers.

Why both: `ml plan --policy` runs `evaluate`; `pulumi preview --policy-pack policy` runs the
wrappers on pulumi_policy's proxied props. The same plan must be clean in both.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.guardrails import Scope, evaluate
from infra.guardrails.registry import GUARDRAILS
from ml.contract.declared import OfflinePlan
from ml.plan.policy import plan_resources
from tests.policy.conftest import REAL_STACKS
from tests.policy.test_pack import validate_resource, validate_stack

PlanOf = Callable[[str], OfflinePlan]


@pytest.mark.parametrize("stack", REAL_STACKS)
def test_committed_stack_has_no_violation(stack: str, stack_plan: PlanOf) -> None:
    violations = evaluate(plan_resources(stack_plan(stack)))
    assert [(v.policy, v.level.value, v.resource_name, v.message) for v in violations] == []


@pytest.mark.parametrize("stack", REAL_STACKS)
def test_pack_wrappers_agree_on_committed_stack(stack: str, stack_plan: PlanOf) -> None:
    resources = plan_resources(stack_plan(stack))
    reports: list[str] = []
    for rule in GUARDRAILS:
        if rule.scope is Scope.resource:
            reports += [m for r in resources for m in validate_resource(rule.name, r)]
        else:
            reports += [m for m, _ in validate_stack(rule.name, resources)]
    assert reports == []


def test_prod_is_production_and_is_checked(stack_plan: PlanOf) -> None:
    """Guards the test above against passing vacuously: prod's resources really are checked as prod."""
    resources = plan_resources(stack_plan("prod"))
    unprotected = [r.__class__(r.type, r.name, r.props, False, r.urn) for r in resources]
    found = {(v.policy, v.resource_name) for v in evaluate(unprotected)}
    assert ("prod-protect-stateful", "workspace-storage") in found
    assert ("prod-protect-stateful", "artifacts-container") in found
