"""What a rollout records on its way and returns at its end: events, the result, the failure that ends it.

Why a module of its own: the engine's step loop (`ml.deploy.engine`) and its two endings, commit and
roll back (`ml.deploy.endings`), record every decision the same way -- one audit record, one line for
the CLI -- and both hand back a `RolloutResult`. Keeping the recording here lets each of them keep one
job, and keeps the audit format in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ml.deploy.audit import AuditTrail
from ml.deploy.gates import GateReport
from ml.deploy.journal import Journal
from ml.deploy.target import ModelRef, Traffic

Outcome = Literal["promoted", "rolled_back", "unchanged"]


@dataclass(frozen=True)
class RolloutEvent:
    """One recorded decision or action; the CLI renders these, the audit log stores them."""

    at: float
    kind: str
    message: str
    outcome: str = "info"
    traffic: dict[str, int] | None = None
    mirror: dict[str, int] | None = None
    gates: dict[str, Any] | None = None


@dataclass
class RolloutResult:
    """How a rollout (or a recovery, or a rollback) ended, with every event on the way."""

    rollout_id: str
    kind: str
    outcome: Outcome
    message: str
    model: ModelRef | None = None
    deployment: str | None = None
    previous: Traffic = field(default_factory=Traffic)
    events: list[RolloutEvent] = field(default_factory=list)
    failure_detected_at: float | None = None
    traffic_restored_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "rolled_back"

    @property
    def rollback_seconds(self) -> float | None:
        """Time from the failing decision to the previous traffic map being back in place."""
        if self.failure_detected_at is None or self.traffic_restored_at is None:
            return None
        return self.traffic_restored_at - self.failure_detected_at


class StepFailedError(Exception):
    """A step's gates failed or the new deployment died; carries the evidence and when it was seen.

    Why it records ``detected_at``: the rollback's headline number is the time from this decision to
    the previous traffic map being back, so the clock starts where the failure is raised.
    """

    def __init__(self, reason: str, report: GateReport | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.report = report
        self.detected_at = time.time()


class RolloutLog:
    """The events of the rollout in hand: each kept for the result, written to the audit log, shown by the CLI.

    The audit record takes the rollout id, models and step from the journal, so an event emitted during
    a recovery is filed under the rollout it converges.
    """

    def __init__(
        self,
        endpoint: str,
        audit: AuditTrail,
        journal: Journal,
        on_event: Callable[[RolloutEvent], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.audit = audit
        self.journal = journal
        self.on_event = on_event
        self.events: list[RolloutEvent] = []

    def reset(self) -> None:
        """Start a new rollout's list of events."""
        self.events = []

    def emit(
        self,
        kind: str,
        message: str,
        *,
        outcome: str = "info",
        traffic: dict[str, int] | None = None,
        mirror: dict[str, int] | None = None,
        gates: dict[str, Any] | None = None,
    ) -> None:
        event = RolloutEvent(time.time(), kind, message, outcome, traffic, mirror, gates)
        self.events.append(event)
        data = self.journal.data
        model = data.get("model") or {}
        self.audit.record(
            kind,
            rollout_id=str(data.get("id", "")),
            endpoint=self.endpoint,
            outcome=outcome,
            message=message,
            from_=data.get("from_model"),
            to=ModelRef(**model).uri if model else None,
            traffic=traffic,
            gates=gates,
            extra={"step": data.get("step"), **({"mirror": mirror} if mirror else {})},
        )
        if self.on_event is not None:
            self.on_event(event)


def fmt_weights(weights: dict[str, int]) -> str:
    """A traffic map as a reader says it: ``blue 90%, green 10%``."""
    return ", ".join(f"{name} {weight}%" for name, weight in weights.items()) or "no live deployment"


def fmt_ms(value: float | None) -> str:
    """A latency in ms, or ``n/a`` when no request was measured."""
    return "n/a" if value is None else f"{value:.1f}ms"
