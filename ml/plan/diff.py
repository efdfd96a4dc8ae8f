"""The difference between two plans of one stack: resources added, removed, changed, and cost.

Why key inputs, not all inputs: the curated inputs per type (`ml/plan/providers/<cloud>.py`) are
the decisions a reviewer approves (SKU, node bounds, tiers, replicas); diffing every provider
default would bury them. Resources match by type and logical name, as Pulumi's URNs do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ml.contract.declared import OfflinePlan
from ml.cost.model import CostLine, StackCost
from ml.plan.render import key_inputs


@dataclass(frozen=True)
class Change:
    """One changed key input: before and after, as compact JSON text."""

    key: str
    before: str
    after: str


@dataclass(frozen=True)
class CostDelta:
    """One cost line before and after (None: absent or no price)."""

    key: str
    idle_before: float | None
    idle_after: float | None
    max_before: float | None
    max_after: float | None


@dataclass(frozen=True)
class PlanDiff:
    """What changes between `base` (label, e.g. a commit) and the current plan of `stack`."""

    stack: str
    base_label: str
    added: list[str]
    removed: list[str]
    changed: dict[str, list[Change]]
    cost_changes: list[CostDelta]
    before: StackCost | None
    after: StackCost

    @property
    def idle_before(self) -> float:
        return self.before.idle_total if self.before is not None else 0.0

    @property
    def max_before(self) -> float:
        return self.before.max_total if self.before is not None else 0.0

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.cost_changes)

    def as_json(self) -> dict[str, Any]:
        return {
            "base": self.base_label,
            "added": self.added,
            "removed": self.removed,
            "changed": {k: [c.__dict__ for c in v] for k, v in self.changed.items()},
            "cost": {
                "idle": {"before": round(self.idle_before, 2), "after": round(self.after.idle_total, 2)},
                "max": {"before": round(self.max_before, 2), "after": round(self.after.max_total, 2)},
                "lines": [
                    {k: round(v, 2) if isinstance(v, float) else v for k, v in c.__dict__.items()}
                    for c in self.cost_changes
                ],
            },
        }


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _resources(plan: OfflinePlan | None) -> dict[str, dict[str, Any]]:
    if plan is None:
        return {}
    return {
        f"{r.type} {r.name}": {**key_inputs(r), **({"protect": True} if r.protect else {})}
        for r in plan.custom_resources
    }


def _lines(cost: StackCost | None) -> dict[str, CostLine]:
    return {} if cost is None else {line.key: line for line in cost.lines}


def diff_plans(
    stack: str,
    base_label: str,
    before: tuple[OfflinePlan, StackCost] | None,
    after: tuple[OfflinePlan, StackCost],
) -> PlanDiff:
    """Compare the base plan and cost (None: the stack does not exist there) with the current ones."""
    old, new = _resources(before[0] if before else None), _resources(after[0])
    changed: dict[str, list[Change]] = {}
    for key in sorted(old.keys() & new.keys()):
        a, b = old[key], new[key]
        changes = [
            Change(k, _text(a.get(k)), _text(b.get(k))) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
        ]
        if changes:
            changed[key] = changes
    lines_before, lines_after = _lines(before[1] if before else None), _lines(after[1])
    deltas = []
    for key in [*lines_after, *[k for k in lines_before if k not in lines_after]]:
        x, y = lines_before.get(key), lines_after.get(key)
        delta = CostDelta(
            key,
            x.idle if x else None,
            y.idle if y else None,
            x.max if x else None,
            y.max if y else None,
        )
        if (delta.idle_before, delta.max_before) != (delta.idle_after, delta.max_after):
            deltas.append(delta)
    return PlanDiff(
        stack=stack,
        base_label=base_label,
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        changed=changed,
        cost_changes=deltas,
        before=before[1] if before else None,
        after=after[1],
    )
