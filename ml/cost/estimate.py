"""Estimate a planned stack's monthly cost: idle, at maximum scale, spot saving, against its budget.

Why from the declared resources of the offline plan (`ml/contract/declared.py`): they hold every
resource with the real inputs the program would send
(`ml/plan/offline.py`), so the estimate prices what the YAML actually builds, and the same code
prices a pull request's base and head for `ml plan --against`. See `ml/cost/model.py` for what
idle and max mean and `ml/cost/rules.py` for each resource type's rule.

Example::

    >>> from ml.plan.report import assumptions_for                           # doctest: +SKIP
    >>> from ml.plan.stack_file import read_stack_config
    >>> from ml.plan.offline import run_offline
    >>> config = read_stack_config(Path("."), "dev")                         # doctest: +SKIP
    >>> estimate_plan(run_offline(config), assumptions_for(config)).max_total  # doctest: +SKIP
"""

from __future__ import annotations

from ml.contract.declared import OfflinePlan
from ml.cost.assumptions import Assumptions
from ml.cost.model import BudgetLimit, CostLine, SpotSaving, StackCost, budget_from_outputs
from ml.cost.rules import FREE, Context, price_resource, training_jobs


def estimate_plan(plan: OfflinePlan, assumptions: Assumptions | None = None) -> StackCost:
    """Price every custom resource of `plan`, add SageMaker training jobs, and read the budget.

    Lines come unpriced first (they need attention), then by cost at max scale, so the order is
    stable whatever order the program registered resources in.
    """
    ctx = Context(plan=plan, assumptions=assumptions or Assumptions())
    lines: list[CostLine] = []
    free: list[str] = []
    for resource in plan.custom_resources:
        line = price_resource(resource, ctx)
        if line is None:
            free.append(f"{resource.type} {resource.name}: {FREE[resource.type]}")
        else:
            lines.append(line)
    jobs = training_jobs(ctx)
    if jobs is not None:
        lines.append(jobs)
    lines.sort(key=lambda line: (line.priced, -(line.max or 0.0), line.key))
    return StackCost(
        stack=plan.stack,
        lines=tuple(lines),
        free=tuple(sorted(free)),
        spot=tuple(sorted(ctx.spot, key=lambda s: -s.saving)),
        budget=budget_from_outputs(plan.outputs),
        assumptions=ctx.assumptions,
    )


__all__ = ["Assumptions", "BudgetLimit", "CostLine", "SpotSaving", "StackCost", "estimate_plan"]
