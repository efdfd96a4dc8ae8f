"""What a stack's estimated monthly cost is made of: lines per resource, idle and at maximum scale.

Why two numbers: the platform scales to zero, so what a stack costs depends on load. *Idle* is
what it costs with nothing running: minimum nodes and instances (training clusters scale to 0),
always-on services, and the assumed data volumes. *Max* is the ceiling the config allows: every
autoscaled pool at its maximum, running all 730 hours of the month. A budget that holds the max
cannot be overspent by scaling; one that only holds idle depends on how the platform is used.

Rules map a resource's type token and real inputs (from the offline plan) to a `CostLine`. Types
that bill nothing of their own (IAM, policies, budgets, Kubernetes objects, ...) are listed in
`ml/cost/free.py` as free, with the reason; a type with no rule, or an instance type
with no price, becomes an explicit "no price" line, never a silent 0. Training capacity that is
not a resource (SageMaker jobs) comes from the stack's `training` output. Spot savings compare the
same max-scale training capacity on demand.

Example (numbers from `Pulumi.dev.yaml`: 0..2 x Standard_NC4as_T4_v3, low priority at 0.158/h)::

    idle 0.00, max 2 x 0.158 x 730 = 230.68; on demand 2 x 0.526 x 730 = 767.96; saving 537.28
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ml.cost.assumptions import Assumptions
from ml.cost.prices import CURRENCY, PriceSource


@dataclass(frozen=True)
class CostLine:
    """One resource's estimated monthly cost; `idle`/`max` are None when there is no price."""

    resource: str
    type: str
    basis: str
    """What was priced, e.g. '0..2 x Standard_NC4as_T4_v3 (spot 0.158/h)'."""
    idle: float | None
    max: float | None
    note: str = ""
    sources: tuple[PriceSource, ...] = ()

    @property
    def priced(self) -> bool:
        return self.idle is not None and self.max is not None

    @property
    def key(self) -> str:
        return f"{self.type} {self.resource}"

    def as_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "type": self.type,
            "basis": self.basis,
            "idle": _round(self.idle),
            "max": _round(self.max),
            "note": self.note or None,
        }


@dataclass(frozen=True)
class SpotSaving:
    """Training capacity at max scale on spot / low priority versus the same capacity on demand."""

    resource: str
    instance_type: str
    max_nodes: int
    on_demand: float
    spot: float

    @property
    def saving(self) -> float:
        return self.on_demand - self.spot

    @property
    def percent(self) -> float:
        return 100 * self.saving / self.on_demand if self.on_demand else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "instance_type": self.instance_type,
            "max_nodes": self.max_nodes,
            "on_demand": _round(self.on_demand),
            "spot": _round(self.spot),
            "saving": _round(self.saving),
        }


@dataclass(frozen=True)
class BudgetLimit:
    """The stack's monthly budget, as the plan's outputs contract (`budget`) declares it."""

    name: str
    amount: float
    currency: str


@dataclass(frozen=True)
class StackCost:
    """Everything `ml plan` reports about one stack's cost."""

    stack: str
    lines: tuple[CostLine, ...]
    free: tuple[str, ...]
    spot: tuple[SpotSaving, ...]
    budget: BudgetLimit | None
    assumptions: Assumptions
    currency: str = CURRENCY
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def priced(self) -> list[CostLine]:
        return [line for line in self.lines if line.priced]

    @property
    def unpriced(self) -> list[CostLine]:
        return [line for line in self.lines if not line.priced]

    @property
    def idle_total(self) -> float:
        return sum(line.idle or 0.0 for line in self.priced)

    @property
    def max_total(self) -> float:
        return sum(line.max or 0.0 for line in self.priced)

    @property
    def spot_saving(self) -> float:
        return sum(s.saving for s in self.spot)

    @property
    def comparable(self) -> bool:
        """Whether the budget is in the price table's currency (no conversion is done)."""
        return self.budget is not None and self.budget.currency == self.currency

    @property
    def max_over_budget(self) -> bool:
        return self.comparable and self.budget is not None and self.max_total > self.budget.amount

    @property
    def idle_over_budget(self) -> bool:
        return self.comparable and self.budget is not None and self.idle_total > self.budget.amount

    def sources(self) -> list[PriceSource]:
        """The distinct price sources the priced lines used, for the report's footnote."""
        seen: dict[tuple[str, str], PriceSource] = {}
        for line in self.lines:
            for source in line.sources:
                seen.setdefault((source.url, source.region), source)
        return list(seen.values())

    def budget_summary(self) -> str:
        """One line: totals against the budget, or why they cannot be compared."""
        totals = f"idle {self.idle_total:,.2f} / max {self.max_total:,.2f} {self.currency} per month"
        if self.budget is None:
            return f"{totals}; the stack declares no budget"
        if not self.comparable:
            return (
                f"{totals}; budget '{self.budget.name}' is {self.budget.amount:,.2f} {self.budget.currency} "
                f"(not compared: no currency conversion)"
            )
        share_idle = 100 * self.idle_total / self.budget.amount
        share_max = 100 * self.max_total / self.budget.amount
        return (
            f"{totals} against budget '{self.budget.name}' {self.budget.amount:,.2f} {self.budget.currency} "
            f"({share_idle:.0f}% idle, {share_max:.0f}% at max scale)"
        )

    def warnings(self) -> list[str]:
        """What a reviewer must not miss: over budget, unpriced resources."""
        found = []
        if self.budget is not None and self.idle_over_budget:
            found.append(
                f"idle cost {self.idle_total:,.2f} {self.currency} already exceeds budget '{self.budget.name}' "
                f"({self.budget.amount:,.2f} {self.budget.currency})"
            )
        elif self.budget is not None and self.max_over_budget:
            found.append(
                f"at maximum scale the stack can cost {self.max_total:,.2f} {self.currency} a month, over budget "
                f"'{self.budget.name}' ({self.budget.amount:,.2f} {self.budget.currency}): the budget alerts, "
                f"it does not stop spending; lower max nodes/instances or raise the budget"
            )
        for line in self.unpriced:
            found.append(f"no price for {line.key} ({line.basis}): not in the totals. {line.note}".strip())
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "idle": _round(self.idle_total),
            "max": _round(self.max_total),
            "spot_saving": _round(self.spot_saving),
            "budget": None
            if self.budget is None
            else {"name": self.budget.name, "amount": self.budget.amount, "currency": self.budget.currency},
            "max_over_budget": self.max_over_budget,
            "lines": [line.as_json() for line in self.lines],
            "unpriced": [line.key for line in self.unpriced],
            "free": list(self.free),
            "spot": [s.as_json() for s in self.spot],
            "assumptions": self.assumptions.as_dict(),
            "sources": [
                {"url": s.url, "region": s.region, "retrieved": s.retrieved, "note": s.note} for s in self.sources()
            ],
            "warnings": self.warnings(),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def budget_from_outputs(outputs: dict[str, Any]) -> BudgetLimit | None:
    """The budget the plan's outputs contract declares (`budget.monthly_amount`, `budget.currency`)."""
    budget = outputs.get("budget")
    if not isinstance(budget, dict) or budget.get("monthly_amount") is None:
        return None
    return BudgetLimit(
        name=str(budget.get("name", "budget")),
        amount=float(budget["monthly_amount"]),
        currency=str(budget.get("currency", CURRENCY)),
    )


def total(lines: Iterable[CostLine]) -> tuple[float, float]:
    """Idle and max totals of the priced lines."""
    priced = [line for line in lines if line.priced]
    return sum(line.idle or 0.0 for line in priced), sum(line.max or 0.0 for line in priced)
