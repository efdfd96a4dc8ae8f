"""A budget far above what the stack can cost: warned about in `ml plan`.

Why: a budget alerts at percentages of its amount; set at many times what the stack can spend at
maximum scale, its 50/80/100 % alerts never fire, even for a stack running flat out by mistake.
The estimate (`ml.cost`, every pool at its maximum for a month) is the ceiling the budget should
sit near; the cost model already warns when the ceiling is above the budget.
"""

from __future__ import annotations

from ml.cost.model import StackCost

FAR_ABOVE = 3.0
"""How many times the maximum-scale estimate a budget may be before `ml plan` warns."""


def budget_warnings(cost: StackCost) -> list[str]:
    """One warning when the budget exceeds FAR_ABOVE x the maximum-scale estimate ([] otherwise)."""
    budget = cost.budget
    if budget is None or not cost.comparable or cost.max_total <= 0:
        return []
    ratio = budget.amount / cost.max_total
    if ratio <= FAR_ABOVE:
        return []
    return [
        f"budget '{budget.name}' ({budget.amount:,.2f} {budget.currency}) is {ratio:.1f}x the stack's maximum-scale "
        f"estimate ({cost.max_total:,.2f} {cost.currency}/month): its alerts would not fire even at full scale; "
        f"lower mlops:budget.amount towards {cost.max_total:,.0f} (or raise the maximum nodes it is meant for)"
    ]
