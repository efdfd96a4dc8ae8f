"""Print an offline plan as a resource tree with the inputs a reviewer cares about.

Why a curated list of inputs per type: a full input dump buries the decisions (SKU, node
counts, priority, lifecycle days, budget thresholds, autoscale bounds) under provider defaults.
Each cloud lists its key inputs in `ml/plan/providers/<cloud>.py`.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.tree import Tree

from ml.plan.offline import OfflinePlan, PlannedResource
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


def plan_as_json(plan: OfflinePlan) -> dict[str, Any]:
    """A machine-readable plan: what CI archives and what `--against` compares."""
    return {
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
    }
