"""`ml plan --format markdown`: a plan, its cost, or its diff, ready to post as a pull request comment.

Why markdown of its own: a PR comment is read in a browser, next to the code change. It leads
with what changed and what it costs (before -> after, with deltas and the budget), and folds the
full resource list away. Each stack is one self-contained section, so CI can concatenate stacks.
"""

from __future__ import annotations

from ml.contract.declared import OfflinePlan
from ml.cost.model import StackCost
from ml.plan.budget_fit import budget_warnings
from ml.plan.diff import PlanDiff
from ml.plan.isolation import isolation_summary
from ml.plan.render import key_inputs, money


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _signed(value: float) -> str:
    return f"{value:+,.2f}" if round(value, 2) else "0.00"


def _short(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


def cost_table(cost: StackCost) -> list[str]:
    """The per-resource cost table, totals, spot saving, budget line and warnings."""
    rows = [
        "| resource | priced as | idle / month | max scale / month |",
        "|---|---|---:|---:|",
    ]
    for line in cost.lines:
        basis = f"{line.basis} ({line.note})" if line.note else line.basis
        mark = " :warning:" if not line.priced else ""
        rows.append(
            f"| `{_short(line.type)}` {line.resource}{mark} | {_cell(basis)} | {money(line.idle)} | {money(line.max)} |"
        )
    rows.append(f"| **total** ({cost.currency}) | | **{money(cost.idle_total)}** | **{money(cost.max_total)}** |")
    rows.append("")
    for saving in cost.spot:
        rows.append(
            f"- Spot saving, {saving.resource} at max scale ({saving.max_nodes} x {saving.instance_type}): on-demand "
            f"{money(saving.on_demand)} - spot {money(saving.spot)} = **{money(saving.saving)} {cost.currency}/month** "
            f"({saving.percent:.0f}%)"
        )
    rows.append(f"- Total: {cost.budget_summary()}")
    rows += [f"- :warning: {warning}" for warning in cost.warnings()]
    return rows


def _footnote(cost: StackCost) -> list[str]:
    sources = "; ".join(f"{s.url} ({s.region}, compiled {s.retrieved})" for s in cost.sources())
    assumed = ", ".join(f"`cost:{k}` = {v:g}" for k, v in cost.assumptions.as_dict().items())
    return [
        "",
        f"<sub>Approximate list prices, no discounts: {sources}. Idle = minimum nodes/instances and always-on "
        f"services; max scale = every pool at its maximum for 730 h. Assumed volumes: {assumed}. "
        f"Offline plan (Pulumi mocks), not a diff against deployed state.</sub>",
        "",
    ]


def _resource_list(plan: OfflinePlan) -> list[str]:
    rows = [
        f"<details><summary>{len(plan.custom_resources)} resources</summary>",
        "",
        "| resource | key inputs |",
        "|---|---|",
    ]
    for resource in plan.custom_resources:
        inputs = ", ".join(f"{k}={v}" for k, v in key_inputs(resource).items())
        protected = " (protected)" if resource.protect else ""
        rows.append(f"| `{_short(resource.type)}` {resource.name}{protected} | {_cell(inputs)[:300]} |")
    rows += ["", "</details>"]
    return rows


def plan_markdown(plan: OfflinePlan, cost: StackCost) -> str:
    """One stack's plan as a PR comment section: cost first, then the resources folded."""
    isolation = isolation_summary(plan)
    network = ["**Network isolation**", "", *[f"- {line}" for line in isolation], ""] if isolation else []
    fit = [f"- :warning: {warning}" for warning in budget_warnings(cost)]
    lines = [f"### `ml plan` stack `{plan.stack}`", "", *cost_table(cost), *fit, "", *network, *_resource_list(plan)]
    return "\n".join([*lines, *_footnote(cost)])


def diff_markdown(diff: PlanDiff, plan: OfflinePlan, *, html: bool = True) -> str:
    """One stack's diff against its base as a PR comment section.

    `html=False` is for a terminal (rich renders markdown, not HTML): no `<br>`, nothing folded.
    """
    after = diff.after
    idle_delta = after.idle_total - diff.idle_before
    max_delta = after.max_total - diff.max_before
    lines = [
        f"### `ml plan` stack `{diff.stack}` against {diff.base_label}",
        "",
        f"**Estimated monthly cost** ({after.currency}): idle {money(diff.idle_before)} -> "
        f"**{money(after.idle_total)}** ({_signed(idle_delta)}), max scale {money(diff.max_before)} -> "
        f"**{money(after.max_total)}** ({_signed(max_delta)})",
        "",
    ]
    if diff.empty:
        lines += ["No resource or cost changes.", ""]
    else:
        lines += [
            f"**Resources**: {len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed",
            "",
        ]
    if diff.added or diff.removed or diff.changed:
        lines += ["| | resource | change |", "|---|---|---|"]
        lines += [f"| + | `{key}` | added |" for key in diff.added]
        lines += [f"| - | `{key}` | removed |" for key in diff.removed]
        for key, changes in diff.changed.items():
            text = ("<br>" if html else "; ").join(f"`{c.key}`: {_cell(c.before)} -> {_cell(c.after)}" for c in changes)
            lines.append(f"| ~ | `{key}` | {text} |")
        lines.append("")
    if diff.cost_changes:
        lines += [
            "| resource | idle before | idle after | max before | max after | max delta |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for delta in diff.cost_changes:
            change = (delta.max_after or 0.0) - (delta.max_before or 0.0)
            lines.append(
                f"| `{delta.key}` | {_money_or_dash(delta.idle_before)} | {_money_or_dash(delta.idle_after)} | "
                f"{_money_or_dash(delta.max_before)} | {_money_or_dash(delta.max_after)} | {_signed(change)} |"
            )
        lines.append(
            f"| **total** | {money(diff.idle_before)} | **{money(after.idle_total)}** | {money(diff.max_before)} | "
            f"**{money(after.max_total)}** | **{_signed(max_delta)}** |"
        )
        lines.append("")
    spot_before = diff.before.spot_saving if diff.before is not None else 0.0
    lines += [
        f"- Spot saving at max scale: {money(spot_before)} -> {money(after.spot_saving)} {after.currency}/month "
        f"(on-demand minus spot for the same capacity)"
    ]
    lines += [f"- Total: {after.budget_summary()}"]
    lines += [f"- :warning: {warning}" for warning in after.warnings()]
    if not html:
        return "\n".join(lines)
    lines += ["", "<details><summary>cost per resource (after)</summary>", "", *cost_table(after), "", "</details>"]
    lines += ["", *_resource_list(plan)]
    return "\n".join([*lines, *_footnote(after)])


def _money_or_dash(value: float | None) -> str:
    return "-" if value is None else money(value)
