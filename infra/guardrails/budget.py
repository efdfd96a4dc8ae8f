"""Every stack that spends cloud money has a budget that notifies someone.

Why at stack level and mandatory: the budget is the backstop for every other cost guardrail
(a forgotten endpoint, dedicated GPUs, a runaway sweep); a stack without one, or with one that
alerts nobody, overspends silently until the invoice arrives.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from infra.guardrails.core import Finding, Guardrail, Level, Resource, Scope, items, number

AZURE_BUDGET = "azure-native:consumption:Budget"
AWS_BUDGET = "aws:budgets/budget:Budget"
CLOUD_PREFIXES = ("azure-native:", "aws:")


def _azure_alerts(props: Mapping[str, Any]) -> int:
    notifications = props.get("notifications")
    entries = notifications.values() if isinstance(notifications, Mapping) else []
    return sum(
        1
        for n in entries
        if isinstance(n, Mapping)
        and n.get("enabled") is not False
        and any(items(n.get(k)) for k in ("contactEmails", "contactGroups", "contactRoles"))
    )


def _aws_alerts(props: Mapping[str, Any]) -> int:
    return sum(
        1
        for n in items(props.get("notifications"))
        if isinstance(n, Mapping)
        and any(items(n.get(k)) for k in ("subscriberEmailAddresses", "subscriberSnsTopicArns"))
    )


def _problems(budget: Resource) -> Iterator[str]:
    props = budget.props
    azure = budget.type == AZURE_BUDGET
    amount = number(props.get("amount" if azure else "limitAmount"))
    if amount is None or amount <= 0:
        yield f"budget {budget.name} has no positive amount"
    if (_azure_alerts(props) if azure else _aws_alerts(props)) == 0:
        yield f"budget {budget.name} has no notification with a recipient"


def _check(resources: Sequence[Resource]) -> Iterator[Finding]:
    spends = any(r.type.startswith(CLOUD_PREFIXES) for r in resources)
    budgets = [r for r in resources if r.type in (AZURE_BUDGET, AWS_BUDGET)]
    if spends and not budgets:
        yield Finding("the stack creates cloud resources but declares no budget")
    for budget in budgets:
        for problem in _problems(budget):
            yield Finding(problem, budget)


def budget_with_notifications(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """Findings when a spending stack has no budget, or a budget has no amount or no one to alert."""
    return list(_check(resources))


GUARDRAIL = Guardrail(
    name="budget-with-notifications",
    description="Every stack with cloud resources has a budget with an amount and at least one notified recipient.",
    level=Level.mandatory,
    why_level="Mandatory: the budget is the backstop for every other cost guardrail; without it overspend is silent.",
    remediation=(
        "Set mlops:budget (amount, thresholds, contactEmails) in Pulumi.<stack>.yaml; "
        "the Budget component does the rest."
    ),
    scope=Scope.stack,
    stack_rule=budget_with_notifications,
)
