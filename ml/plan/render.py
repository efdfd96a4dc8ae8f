"""Print an offline plan as a resource tree with the inputs a reviewer cares about.

Why a curated list of inputs per type: a full input dump buries the decisions (SKU, node
counts, priority, lifecycle days, budget thresholds, autoscale bounds) under provider defaults.
Each cloud lists its key inputs in `ml/plan/providers/<cloud>.py`. After the tree comes the
estimated monthly cost (`ml/cost/estimate.py`): idle and at maximum scale per resource, the spot
saving and the total against the stack's budget.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from ml.contract.declared import OfflinePlan, PlannedResource
from ml.cost.model import StackCost
from ml.plan.isolation import isolation_summary
from ml.plan.providers.base import Summary, load_providers


def _key_input_table() -> dict[str, Summary]:
    return {token: summary for p in load_providers() for token, summary in p.key_inputs.items()}


def key_inputs(resource: PlannedResource) -> dict[str, Any]:
    summary = _key_input_table().get(resource.type)
    return summary(resource.inputs) if summary is not None else {}


def _label(resource: PlannedResource) -> str:
    marks = " [yellow](protected)[/]" if resource.protect else ""
    kind = "[cyan]" if resource.custom else "[bold magenta]"
    return f"{kind}{resource.type}[/] [bold]{resource.name}[/]{marks}"


def render_tree(plan: OfflinePlan, console: Console) -> None:
    """The resource tree, components first, each resource with its key inputs."""
    custom = len(plan.custom_resources)
    components = len(plan.resources) - custom
    root = Tree(f"[bold]stack {plan.stack}[/]: {custom} resources in {components} components")
    nodes: dict[str, Tree] = {}
    for resource in plan.resources:
        parent = nodes.get(resource.parent_urn, root)
        node = parent.add(_label(resource))
        for key, value in key_inputs(resource).items():
            text = value if isinstance(value, str) else json.dumps(value)
            node.add(f"[dim]{key}[/] = {text}", highlight=False)
        nodes[resource.urn] = node
    console.print(root)


def render_isolation(plan: OfflinePlan, console: Console) -> None:
    """What keeps the stack off the internet, as the planned resources declare it."""
    lines = isolation_summary(plan)
    if lines:
        console.print("[bold]network isolation[/]:")
        for line in lines:
            console.print(f"  - {line}", highlight=False)


def money(value: float | None) -> str:
    """A monthly amount for tables: two decimals with thousands separators, or 'no price'."""
    return "no price" if value is None else f"{value:,.2f}"


def render_cost(cost: StackCost, console: Console) -> None:
    """The estimated monthly cost per resource (idle / max), spot saving, total against the budget."""
    table = Table(title=f"estimated monthly cost, stack {cost.stack} ({cost.currency})", title_justify="left")
    table.add_column("resource")
    table.add_column("priced as", overflow="fold")
    table.add_column("idle", justify="right")
    table.add_column("max scale", justify="right")
    for line in cost.lines:
        style = "red" if not line.priced else None
        basis = f"{line.basis} [dim]({line.note})[/]" if line.note else line.basis
        table.add_row(
            f"{line.type.rsplit(':', 1)[-1]} {line.resource}", basis, money(line.idle), money(line.max), style=style
        )
    table.add_row(
        "[bold]total[/]",
        f"{len(cost.free)} more resources bill nothing themselves",
        f"[bold]{money(cost.idle_total)}[/]",
        f"[bold]{money(cost.max_total)}[/]",
    )
    console.print(table)
    for saving in cost.spot:
        console.print(
            f"spot saving, {saving.resource} at max scale ({saving.max_nodes} x {saving.instance_type}): on-demand "
            f"{money(saving.on_demand)} - spot {money(saving.spot)} = [green]{money(saving.saving)}[/] {cost.currency}"
            f"/month ({saving.percent:.0f}%)",
            highlight=False,
        )
    console.print(f"[bold]total[/]: {cost.budget_summary()}", highlight=False)
    for warning in cost.warnings():
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    sources = "; ".join(f"{s.url} ({s.region}, {s.retrieved})" for s in cost.sources())
    assumed = ", ".join(f"cost:{k}={v:g}" for k, v in cost.assumptions.as_dict().items())
    console.print(f"[dim]approximate list prices: {sources}. Assumed volumes: {assumed}.[/]", highlight=False)


def plan_as_json(plan: OfflinePlan, cost: StackCost | None = None) -> dict[str, Any]:
    """A machine-readable plan: what CI archives and what `--against` compares."""
    document = {
        "stack": plan.stack,
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "parent": r.parent_urn.rsplit("::", 1)[-1] if r.parent_urn else None,
                "protect": r.protect,
                "key_inputs": key_inputs(r),
            }
            for r in plan.custom_resources
        ],
        "outputs": plan.outputs,
        "network_isolation": isolation_summary(plan),
    }
    if cost is not None:
        document["cost"] = cost.as_json()
    return document
