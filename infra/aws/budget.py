"""A monthly AWS cost budget that counts only this stack, by its cost-allocation tag.

Why a tag filter: an AWS account has no resource group to scope a budget to, and several stacks
(or teams) may share one account. Every resource of the stack carries `mlops-stack=<namePrefix>`;
the budget filters on `user:mlops-stack$<namePrefix>`. AWS counts a user tag in billing only once
it is activated as a cost-allocation tag: `aws.activateCostAllocationTag: true` does that from
the payer account, else activate it once in the Billing console.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_aws import budgets, costexplorer

from infra.common import child_options
from infra.config import BudgetSettings

COST_TAG_KEY = "mlops-stack"


@dataclass(frozen=True)
class BudgetArgs:
    budget_name: str
    cost_tag_value: str
    settings: BudgetSettings
    sns_topic_arn: str | None
    activate_cost_tag: bool
    tags: dict[str, str]


def cost_filter(tag_value: str) -> dict[str, Any]:
    """The Budgets filter for one user tag: `user:<key>$<value>`."""
    return {"name": "TagKeyValue", "values": [f"user:{COST_TAG_KEY}${tag_value}"]}


def notifications(settings: BudgetSettings, sns_topic_arn: str | None) -> list[dict[str, Any]]:
    """One notification per configured threshold, as a percentage of the monthly amount."""
    result = []
    for threshold in settings.thresholds:
        notification: dict[str, Any] = {
            "comparison_operator": "GREATER_THAN",
            "notification_type": threshold.kind.upper(),
            "threshold": float(threshold.percent),
            "threshold_type": "PERCENTAGE",
            "subscriber_email_addresses": list(settings.contact_emails),
        }
        if sns_topic_arn is not None:
            notification["subscriber_sns_topic_arns"] = [sns_topic_arn]
        result.append(notification)
    return result


class Budget(pulumi.ComponentResource):
    """An AWS Budgets COST budget (monthly, USD) on the stack's tag, and optionally the tag's activation."""

    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Budget", name, None, opts)
        settings = args.settings
        depends_on: list[pulumi.Resource] = []
        if args.activate_cost_tag:
            depends_on.append(
                costexplorer.CostAllocationTag(
                    f"{name}-cost-tag",
                    tag_key=COST_TAG_KEY,
                    status="Active",
                    opts=child_options(self),
                )
            )
        budget = budgets.Budget(
            f"{name}-budget",
            name=args.budget_name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{settings.amount:.2f}",
            limit_unit=settings.currency,
            time_period_start=f"{settings.start_date.isoformat()}_00:00",
            cost_filters=[cost_filter(args.cost_tag_value)],
            notifications=notifications(settings, args.sns_topic_arn),
            tags=args.tags,
            opts=child_options(self, depends_on=depends_on),
        )
        self.budget_name = budget.name
        self.register_outputs({"budget_name": self.budget_name})
