"""`ml plan --policy`: the policy pack's guardrails, run offline over each stack's plan.

Why offline: `pulumi preview --policy-pack policy` needs the Pulumi CLI, a backend and cloud
credentials; the same rules (`infra.guardrails`) run here over the mock-engine plan, so a pull
request from a fork, or a laptop, sees the same violations. Mandatory violations fail the command
(exit 2, via `UserError`); advisory ones are printed and do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from infra.guardrails import GUARDRAILS, Level, PolicyConfigError, Resource, Violation, evaluate, load_policy_config
from ml.contract.declared import OfflinePlan
from ml.contract.errors import UserError

PolicyConfig = Mapping[str, Mapping[str, Any]]


def read_policy_config(path: Path | None) -> dict[str, dict[str, Any]]:
    """The `--policy-config` file (same JSON as `pulumi preview --policy-pack-config`), or no overrides."""
    if path is None:
        return {}
    try:
        return load_policy_config(path)
    except PolicyConfigError as exc:
        raise UserError(str(exc)) from None


def plan_resources(plan: OfflinePlan) -> list[Resource]:
    """The plan's resources as the rules see them: type, name, recorded inputs, protect."""
    return [Resource(r.type, r.name, r.inputs, r.protect, r.urn) for r in plan.resources]


def check_plan(plan: OfflinePlan, config: PolicyConfig | None = None) -> list[Violation]:
    """Every guardrail's violations on one stack's offline plan."""
    return evaluate(plan_resources(plan), config or {})


def render_violations(stack: str, violations: Sequence[Violation], console: Console) -> None:
    """One table per stack: policy, level, resource, what is wrong, how to fix it."""
    mandatory = sum(v.level is Level.mandatory for v in violations)
    if not violations:
        console.print(f"[green]policy[/] stack {stack}: {len(GUARDRAILS)} policies, no violations")
        return
    table = Table(title=f"policy violations, stack {stack}", show_lines=True, title_justify="left")
    for column in ("policy", "level", "resource", "message", "how to fix"):
        table.add_column(column, overflow="fold")
    for v in sorted(violations, key=lambda v: (v.level is not Level.mandatory, v.policy, v.resource_name)):
        style = "bold red" if v.level is Level.mandatory else "yellow"
        resource = f"{v.resource_name}\n[dim]{v.resource_type}[/]" if v.resource_name else "(stack)"
        table.add_row(v.policy, f"[{style}]{v.level.value}[/]", resource, v.message, v.remediation)
    console.print(table)
    console.print(f"stack {stack}: {mandatory} mandatory, {len(violations) - mandatory} advisory violation(s)")


def raise_on_mandatory(violations_by_stack: Mapping[str, Sequence[Violation]]) -> None:
    """Fail the command (exit 2, no traceback) when any stack has a mandatory violation."""
    failing = {
        stack: sorted({v.policy for v in found if v.level is Level.mandatory})
        for stack, found in violations_by_stack.items()
    }
    failing = {stack: names for stack, names in failing.items() if names}
    if failing:
        summary = "; ".join(f"{stack}: {', '.join(names)}" for stack, names in failing.items())
        raise UserError(
            f"mandatory policy violations ({summary}). Fix them as the table says, or loosen a policy with "
            "--policy-config (see docs/policy.md)."
        )
