"""The capture record: what every serving target writes for one scored row, and where it writes it.

Why in the contract: the local model server, the Kubernetes serving pods (both write this shape
themselves) and `ml monitor` (which reads it, and converts SageMaker's and Azure ML's native
capture into it) must agree on every field. One JSON object per line (JSONL), one line per scored
row; a request that scores several rows writes several lines whose ``request_id`` is
``<request id>#<row index>`` (row 0 keeps the plain id), so labels join row by row.

Files go under ``<capture prefix><endpoint>/<deployment>/YYYY/MM/DD/HH/<part>.jsonl`` (UTC hour of
the request): `capture_key` builds that path, so a reader can skip whole hours outside a window.
Local: under ``<platform home>/capture/``; Kubernetes: the same keys in the stack's S3-compatible
bucket. This module is pure (standard library only): servers import it on their hot path.

Example (a writer)::

    from ml.contract.capture import CaptureRecord, capture_key
    record = CaptureRecord(request_id="r1", timestamp=1767225600.0, endpoint="local", deployment="blue",
                           model_name="breast-cancer-gbm", model_version="3", inputs={"0": 14.2},
                           prediction=0.93, status_code=200, latency_ms=11.5)
    line = record.to_json()
    key = capture_key("capture/", record.endpoint, record.deployment, record.timestamp, part="server-1")
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ml.contract.errors import UserError

CAPTURE_SCHEMA_VERSION = 1
"""Bump when a field is removed or changes meaning; readers refuse records of a newer version."""

DEFAULT_CAPTURE_PREFIX = "capture/"
"""Where captures go inside the stack's artifact store (and under the local platform home)."""

REQUIRED_FIELDS = ("request_id", "timestamp", "endpoint", "deployment", "inputs", "status_code")

Scalar = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One scored row as served: who answered, what it saw, what it said, how it went."""

    request_id: str
    """Unique per row; what labels are joined on (``<id>#<row>`` for rows after the first)."""
    timestamp: float
    """When the request arrived, seconds since the epoch (UTC); JSON: ISO 8601 text or a number."""
    endpoint: str
    deployment: str
    """The colour / variant / deployment that answered (blue, green, AllTraffic, ...)."""
    inputs: dict[str, Scalar]
    """Feature name -> value, named like the model's training columns (``"0".."n-1"`` for unnamed arrays)."""
    status_code: int
    model_name: str | None = None
    model_version: str | None = None
    prediction: Scalar = None
    """The model's primary output for the row (a probability, a class, a value); None on errors."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """Anything else the model returned for the row (class probabilities, ...)."""
    latency_ms: float | None = None
    """Server-side time to answer; None when the cloud's capture does not record it (SageMaker)."""
    schema_version: int = CAPTURE_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of one line (timestamp as ISO 8601 UTC text)."""
        document = asdict(self)
        document["timestamp"] = iso_utc(self.timestamp)
        return document

    def to_json(self) -> str:
        """One JSONL line, without the newline."""
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

    @classmethod
    def from_dict(
        cls, document: dict[str, Any], *, source: str = "<capture>", line: int | None = None
    ) -> CaptureRecord:
        """Validate one parsed line; errors name the source (file:line) and the field."""
        if line is not None:
            source = f"{source}:{line}"
        missing = [name for name in REQUIRED_FIELDS if name not in document]
        if missing:
            raise UserError(f"{source}: capture record lacks {', '.join(missing)}; it is not a capture record")
        version = document.get("schema_version", CAPTURE_SCHEMA_VERSION)
        if not isinstance(version, int) or version > CAPTURE_SCHEMA_VERSION:
            raise UserError(
                f"{source}: capture schema_version {version!r}; this ml reads up to {CAPTURE_SCHEMA_VERSION}. "
                f"Upgrade ml."
            )
        inputs = document["inputs"]
        if not isinstance(inputs, dict):
            raise UserError(f"{source}: 'inputs' must be an object of column -> value, got {type(inputs).__name__}")
        version_value = document.get("model_version")
        return cls(
            request_id=str(document["request_id"]),
            timestamp=parse_timestamp(document["timestamp"], source=source),
            endpoint=str(document["endpoint"]),
            deployment=str(document["deployment"]),
            inputs=inputs,
            status_code=int(document["status_code"]),
            model_name=document.get("model_name"),
            model_version=None if version_value is None else str(version_value),
            prediction=document.get("prediction"),
            outputs=document.get("outputs") or {},
            latency_ms=None if document.get("latency_ms") is None else float(document["latency_ms"]),
            schema_version=version,
        )


def iso_utc(timestamp: float) -> str:
    """``2026-12-03T10:00:00.123Z``: the text form every capture file uses."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: Any, *, source: str = "<capture>") -> float:
    """Seconds since the epoch from a number or ISO 8601 text (``Z`` or an offset; naive means UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return moment.timestamp()
    raise UserError(f"{source}: timestamp {value!r} is neither ISO 8601 text nor seconds since the epoch")


def capture_key(prefix: str, endpoint: str, deployment: str, timestamp: float, *, part: str) -> str:
    """The object key (or relative path) of the file a record at ``timestamp`` belongs in."""
    hour = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y/%m/%d/%H")
    base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    return f"{base}{endpoint}/{deployment}/{hour}/{part}.jsonl"
