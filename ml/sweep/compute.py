"""The capacity one trial uses: the spec's overrides applied to the stack's training defaults.

Why a module of its own: it is one decision (``compute.instance_type`` or the stack's,
``spot.enabled`` or the stack's) that the cost estimate and every backend read. `ml sweep run`
resolves it once (`SweepBackend.admit`) and hands the result on inside the admitted `CostEstimate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.contract import PlatformOutputs
from ml.sweep.spec import SweepSpec


@dataclass(frozen=True)
class ComputeChoice:
    """The capacity one trial uses, after applying the spec's overrides to the stack's defaults."""

    instance_type: str
    instance_count: int
    spot: bool


def resolve_compute(spec: SweepSpec, outputs: PlatformOutputs) -> ComputeChoice:
    """``compute.instance_type`` or the stack's training instance type; ``spot.enabled`` or the stack's."""
    return ComputeChoice(
        instance_type=spec.compute.instance_type or outputs.training.instance_type,
        instance_count=spec.compute.instance_count,
        spot=outputs.training.spot if spec.spot.enabled is None else spec.spot.enabled,
    )
