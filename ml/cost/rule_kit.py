"""What every cost rule shares: the context it reads, and the two ways a line comes out unpriced or flat.

Why a module of its own: the rules are split by what they price (`ml/cost/rules.py` for compute,
hosting, storage and control planes; `ml/cost/network_rules.py` for private networking and
alerting), and both build their lines the same way, from one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ml.contract.declared import OfflinePlan, PlannedResource
from ml.cost.assumptions import HOURS_PER_MONTH, Assumptions
from ml.cost.model import CostLine, SpotSaving
from ml.cost.services import ServicePrice, find_service_price

H = HOURS_PER_MONTH


@dataclass
class Context:
    """What a rule may look at besides its own resource: the whole plan, its outputs, the assumptions."""

    plan: OfflinePlan
    assumptions: Assumptions
    spot: list[SpotSaving] = field(default_factory=list)


Rule = Callable[[PlannedResource, Context], CostLine]


def no_price(resource: PlannedResource, basis: str, note: str) -> CostLine:
    """An explicit "no price" line: shown and warned about, left out of the totals."""
    return CostLine(resource.name, resource.type, basis, None, None, note)


def monthly(price: ServicePrice) -> float:
    """One unit of `price` for a month: hourly items bill 730 hours, the others once."""
    return price.amount * (H if price.unit == "hour" else 1.0)


def service(resource: PlannedResource, key: str, basis: str, quantity: float = 1.0, note: str = "") -> CostLine:
    """A flat or per-unit service: the same cost idle and at max (it does not scale with load)."""
    found = find_service_price(key)
    if found is None:
        return no_price(resource, basis, f"no '{key}' in ml/cost/services.py; add it with its source.")
    per_month = monthly(found) * quantity
    unit = f"{found.amount:g}/{found.unit}"
    return CostLine(resource.name, resource.type, f"{basis} at {unit}", per_month, per_month, note, (found.source,))


def as_int(value: Any, default: int = 0) -> int:
    """A count from a plan input that may be missing, a string or a float."""
    return default if value is None else int(float(value))
