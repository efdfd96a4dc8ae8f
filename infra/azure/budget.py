"""A monthly cost budget on the stack's resource group with e-mail alerts.

Why on the resource group: everything the stack creates lives there, so the budget measures the
platform and nothing else without relying on every resource carrying a tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import consumption

from infra.common import child_options
from infra.config import BudgetSettings


@dataclass(frozen=True)
class BudgetArgs:
    budget_name: str
    resource_group_id: pulumi.Input[str]
    settings: BudgetSettings


def notifications(settings: BudgetSettings) -> dict[str, dict[str, Any]]:
    """One notification per threshold, keyed `Actual_GreaterThanOrEqualTo_80_Percent` as Azure names them."""
    result: dict[str, dict[str, Any]] = {}
    for threshold in settings.thresholds:
        kind = "Actual" if threshold.kind == "actual" else "Forecasted"
        percent = f"{threshold.percent:g}"
        result[f"{kind}_GreaterThanOrEqualTo_{percent}_Percent"] = {
            "enabled": True,
            "operator": "GreaterThanOrEqualTo",
            "threshold": float(threshold.percent),
            "threshold_type": kind,
            "contact_emails": list(settings.contact_emails),
        }
    return result


class Budget(pulumi.ComponentResource):
    """A Microsoft.Consumption budget (Cost category, monthly) with the configured thresholds."""

    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:azure:Budget", name, None, opts)
        settings = args.settings
        budget = consumption.Budget(
            f"{name}-budget",
            budget_name=args.budget_name,
            scope=args.resource_group_id,
            amount=settings.amount,
            category="Cost",
            time_grain="Monthly",
            time_period={"start_date": f"{settings.start_date.isoformat()}T00:00:00Z"},
            notifications=notifications(settings),
            opts=child_options(self),
        )
        self.budget_name = budget.name
        self.register_outputs({"budget_name": self.budget_name})
