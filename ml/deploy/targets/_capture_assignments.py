"""Which deployment served each request id, read from the stack's capture records (issue #14's capture).

Why capture and not a proxy log: outside the local platform no access log of ours sees each request,
but the capture every serving process or cloud collector writes does -- one `CaptureRecord` per
scored row naming the request id and the deployment that answered:

- Kubernetes pods run by ``serving.server: platform`` (`ml.platform.capture`) record the caller's
  ``X-Request-Id`` (or the id they generate and return in that header) and their colour, under
  ``<platform capture root><route>/<colour>/YYYY/MM/DD/HH/``;
- Azure ML's data collector records each request's ``correlationid`` under
  ``modelDataCollector/<endpoint>/<deployment>/model_inputs/...`` (`ml.monitor.formats` reads it).

The reader is `ml.monitor.sources.read_capture` (one reader of captures for `ml monitor` and here).
An A/B test looks every few seconds; re-reading the whole experiment's capture at each look would
grow without bound, so `CaptureAssignments` keeps what it has read and re-reads only the last
``lag`` seconds (records reach storage a flush after the request: about a second for the pods, up
to minutes for Azure's collector). Sampling below 100 % attributes only the sampled requests: the
test stays valid (sampling does not depend on the outcome) but needs more traffic.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection
from typing import Any

from ml.monitor.sources import parse_capture_uri, read_capture


class CaptureAssignments:
    """Request id -> deployment of one endpoint, from a capture root, read incrementally."""

    def __init__(
        self,
        uri: str,
        *,
        endpoint: str,
        deployments: Collection[str] | None = None,
        region: str,
        client: Any = None,
        lag: float = 300.0,
    ) -> None:
        location = parse_capture_uri(uri)
        if location.scheme != "file" and (not location.prefix or location.prefix.endswith("/")):
            location = dataclasses.replace(location, prefix=f"{location.prefix}{endpoint}/")  # list one endpoint only
        self.location = location
        self.endpoint = endpoint
        self.deployments = None if deployments is None else set(deployments)  # None: any deployment of endpoint
        self.region = region
        self.client = client
        self.lag = lag
        self._seen: dict[str, tuple[float, str]] = {}
        self._read_from: float | None = None
        self._read_until: float | None = None

    def read(self, since: float) -> dict[str, str]:
        """Every request id served since ``since`` (epoch seconds) -> the deployment that answered it."""
        now = time.time()
        start = since
        if self._read_from is not None and self._read_until is not None and since >= self._read_from:
            start = max(since, self._read_until - self.lag)  # older records were read at an earlier look
        records = read_capture(
            self.location, since=start, until=now + 60, endpoint=self.endpoint, region=self.region, client=self.client
        )
        for record in records:
            if self.deployments is None or record.deployment in self.deployments:
                self._seen[record.request_id] = (record.timestamp, record.deployment)
        self._read_from = since if self._read_from is None else min(self._read_from, since)
        self._read_until = now
        return {request_id: name for request_id, (at, name) in self._seen.items() if at >= since}
