"""Judge one step's metrics against the spec's gates: a pure function, so every decision is explainable.

Why pure: the engine records the exact values and limits behind each decision in the audit log,
and tests can check the rule without servers. A gate left out of the spec (``None``) is reported
as not judged rather than silently passing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml.deploy.spec import Gates
from ml.deploy.target import DeploymentMetrics


@dataclass(frozen=True)
class Check:
    """One gate: the measured value, its limit and whether it held."""

    name: str
    value: float | None
    limit: float
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "limit": self.limit, "passed": self.passed}


@dataclass(frozen=True)
class GateReport:
    """All gates of one step; ``enough_traffic`` False means the decision had too few requests."""

    metrics: DeploymentMetrics
    checks: list[Check] = field(default_factory=list)
    enough_traffic: bool = True

    @property
    def passed(self) -> bool:
        return self.enough_traffic and all(check.passed for check in self.checks)

    def failures(self) -> list[str]:
        """Human-readable reasons, e.g. ``error_rate 0.25 > 0.01``."""
        reasons = [f"{c.name} {_fmt(c.value)} > {_fmt(c.limit)}" for c in self.checks if not c.passed]
        if not self.enough_traffic:
            reasons.insert(0, f"only {self.metrics.requests} requests (min_requests not reached)")
        return reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "enough_traffic": self.enough_traffic,
            "metrics": self.metrics.as_dict(),
            "checks": {check.name: check.as_dict() for check in self.checks},
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def evaluate(gates: Gates, metrics: DeploymentMetrics, *, insufficient_ok: bool = False) -> GateReport:
    """Judge ``metrics`` (the new deployment's window) against ``gates``.

    ``insufficient_ok`` is the engine telling us it waited as long as allowed and the spec says
    ``insufficient_traffic: pass``; otherwise fewer than ``min_requests`` fails the step.
    """
    checks = [Check("error_rate", metrics.error_rate, gates.max_error_rate, metrics.error_rate <= gates.max_error_rate)]
    for name, value, limit in (
        ("p95_latency_ms", metrics.p95_ms, gates.max_p95_latency_ms),
        ("p99_latency_ms", metrics.p99_ms, gates.max_p99_latency_ms),
    ):
        if limit is not None:
            checks.append(Check(name, value, limit, value is None or value <= limit))
    enough = metrics.requests >= gates.min_requests or insufficient_ok
    return GateReport(metrics=metrics, checks=checks, enough_traffic=enough)
