"""Traefik's per-request access log, for what counters cannot say: which deployment served which request.

Why a log and not the metrics: Prometheus counters (`ml.platform.proxy`) give per-deployment
totals and latency buckets, enough for gates; an A/B test on a business outcome needs each fed-back
request id joined to the arm that served it, and a latency test is stronger on exact per-request
durations than on buckets. Traefik writes both, one JSON object per request, when its static
config has `access_log_config` (format json, the ``X-Request-Id`` request header kept, no
buffering, so a look reads every request served before it).

Fields used (Traefik 3.7, checked against the real binary): ``ServiceName`` (``green@file``),
``request_X-Request-Id``, ``StartUTC`` (RFC 3339 with nanoseconds), ``Duration`` (ns, the whole
request as the client saw it), ``DownstreamStatus``.

Sticky assignment: Traefik's weighted service pins a client to one child service with a cookie
(`sticky_cookie`); the cookie's value is Traefik's hash of the child, set on the first answer.
Nothing in Traefik 3.x pins by a header at the weighted service (checked against the 3.7 service
reference): ``sticky`` takes only ``cookie``; the ``hrw`` load-balancer strategy hashes the client
IP, not a header, and picks among one service's servers, not between weighted services; a router's
``HeaderRegexp`` matches header *values*, so splitting arbitrary user ids by it would give neither
the spec's split nor a stable hash. So the local target refuses ``{header: ...}`` (its
``assignments`` are ``random`` and ``cookie``) before anything is created, and the message names
cookie as what works locally; Kubernetes pins by header through the route's session persistence.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUEST_ID_FIELD = "request_X-Request-Id"
PROVIDER = "@file"


def access_log_config(path: Path) -> dict[str, Any]:
    """The static-config ``accessLog`` section: JSON lines at ``path`` with the request id kept."""
    return {
        "filePath": str(path),
        "format": "json",
        "bufferingSize": 0,
        "fields": {"defaultMode": "keep", "headers": {"defaultMode": "drop", "names": {"X-Request-Id": "keep"}}},
    }


def sticky_cookie(name: str) -> dict[str, Any]:
    """The ``sticky`` section of a weighted service: one cookie pins a user to one deployment."""
    return {"cookie": {"name": name, "httpOnly": True, "sameSite": "lax"}}


@dataclass(frozen=True)
class AccessRecord:
    """One request as Traefik logged it."""

    deployment: str
    request_id: str | None
    started: float
    duration_ms: float
    status: int


def _epoch(text: str) -> float:
    """RFC 3339 with up to nanoseconds (Go's format) -> epoch seconds."""
    head, _, fraction = text.rstrip("Z").partition(".")
    base = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC).timestamp()
    return base + (float(f"0.{fraction}") if fraction else 0.0)


def parse_line(line: str) -> AccessRecord | None:
    """One JSON access-log line -> a record; None for lines of other routers or services (ping, API)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    service = str(data.get("ServiceName", ""))
    if not service.endswith(PROVIDER) or "StartUTC" not in data:
        return None
    request_id = data.get(REQUEST_ID_FIELD)
    return AccessRecord(
        deployment=service.removesuffix(PROVIDER),
        request_id=str(request_id) if request_id else None,
        started=_epoch(str(data["StartUTC"])),
        duration_ms=float(data.get("Duration", 0)) / 1e6,
        status=int(data.get("DownstreamStatus", 0)),
    )


def read_access_log(path: Path, since: float) -> list[AccessRecord]:
    """Every request that started at or after ``since`` (an absent log is an empty one)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    records = (parse_line(line) for line in lines if line.strip())
    return [record for record in records if record is not None and record.started >= since]
