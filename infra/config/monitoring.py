"""`mlops:monitoring`: data capture of served traffic, and how long it is kept.

Why a stack setting: whether a served model's inputs and outputs are recorded, how many of them
and for how long is a property of the environment (privacy, cost), not of one rollout. The stack
turns it on for its own endpoint and exports it (`monitoring` in the platform outputs), so every
colour `ml deploy` creates captures the same way and `ml monitor` reads from the same place.

Example (Pulumi.prod.yaml)::

    mlops:monitoring:
      enabled: true
      samplingPercent: 20     # share of requests recorded (SageMaker takes whole percents)
      capturePrefix: capture/ # in the artifact store; Azure ML's collector writes modelDataCollector/
      retentionDays: 90       # the capture prefix's own lifecycle rule deletes older files
"""

from __future__ import annotations

from pydantic import Field, field_validator

from infra.config.base import Section
from ml.contract.capture import DEFAULT_CAPTURE_PREFIX


class MonitoringSettings(Section):
    """Data capture on every serving target of the stack."""

    enabled: bool = False
    sampling_percent: int = Field(default=100, ge=1, le=100)
    capture_prefix: str = DEFAULT_CAPTURE_PREFIX
    retention_days: int = Field(default=90, ge=1, le=3650)

    @field_validator("capture_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/") or not value.endswith("/") or len(value) < 2:
            raise ValueError(f"prefix '{value}' must be relative and end with '/', e.g. 'capture/'")
        return value


def capture_prefix_problems(monitoring: MonitoringSettings, tier_prefixes: list[str], temp_prefix: str) -> list[str]:
    """The capture prefix gets its own lifecycle rule: it may not overlap a tier or the temp prefix."""
    if not monitoring.enabled:
        return []
    prefix = monitoring.capture_prefix
    return [
        f"monitoring.capturePrefix '{prefix}' overlaps {what} '{other}'; give captures a prefix of their own"
        for what, other in [*(("artifacts tier", p) for p in tier_prefixes), ("artifacts.tempPrefix", temp_prefix)]
        if prefix.startswith(other) or other.startswith(prefix)
    ]
