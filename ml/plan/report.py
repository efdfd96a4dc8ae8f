"""Glue for `ml plan`: price a planned stack and, with `--against`, plan and diff its base.

Why a module apart from the CLI: the command stays a thin loop over stacks (other options live
there too), while this is the one place that decides what a stack's report contains.
"""

from __future__ import annotations

from ml.contract.declared import OfflinePlan
from ml.cost.assumptions import NAMESPACE, Assumptions, assumptions_from_config
from ml.cost.estimate import estimate_plan
from ml.cost.model import StackCost
from ml.plan.against import BaseConfig
from ml.plan.diff import PlanDiff, diff_plans
from ml.plan.offline import run_offline
from ml.plan.stack_file import StackConfig


def assumptions_for(config: StackConfig) -> Assumptions:
    """The stack's `cost:` keys (data volumes), defaults for the rest."""
    return assumptions_from_config(config.namespace(NAMESPACE), source=str(config.source))


def price_and_compare(
    config: StackConfig, plan: OfflinePlan, base: BaseConfig | None
) -> tuple[StackCost, PlanDiff | None]:
    """The stack's cost, and its diff against `base` (from `ml.plan.against.resolve_base`) when given."""
    cost = estimate_plan(plan, assumptions_for(config))
    if base is None:
        return cost, None
    before = None
    if base.config is not None:
        base_plan = run_offline(base.config)
        before = (base_plan, estimate_plan(base_plan, assumptions_for(base.config)))
    return cost, diff_plans(config.stack, base.label, before, (plan, cost))
