"""Which deployment served each request id, read from the stack's capture records (issue #14's capture).

Why capture and not a proxy log: outside the local platform no access log of ours sees each request,
but the capture every serving process or cloud collector writes does -- one `CaptureRecord` per
scored row naming the request id and the deployment that answered:

- Kubernetes pods run by ``serving.server: platform`` (`ml.platform.capture`) record the caller's
  ``X-Request-Id`` (or the id they generate and return in that header) and their colour, under
  ``<platform capture root><route>/<colour>/YYYY/MM/DD/HH/``;
- Azure ML's data collector records each request's ``correlationid`` under
  ``modelDataCollector/<endpoint>/<deployment>/model_inputs/...`` (`ml.monitor.formats` reads it).

Storage and line formats are `ml.monitor`'s (`capture_store`, `platform_records`, `azure_records`):
one reader of captures for `ml monitor` and here. An A/B test looks every few seconds, and a pod
writes one new object per flush (about one a second), so re-reading a window at each look would
grow with the experiment: `CaptureAssignments` reads each platform object once (they are never
rewritten) and re-reads an Azure collector blob only while its hour overlaps the last ``lag``
seconds (the collector may still append to it). Measured by ``bench/ab_attribution.py``. Sampling
below 100 % attributes only the sampled requests: the test stays valid (sampling does not depend on
the outcome) but needs more traffic.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection
from typing import Any

from ml.contract.capture import CaptureRecord
from ml.monitor.formats import azure_records, platform_records
from ml.monitor.sources import capture_store, key_in_window, parse_capture_uri

AZURE_INPUTS = "model_inputs"
AZURE_OUTPUTS = "model_outputs"


class CaptureAssignments:
    """Request id -> deployment of one endpoint, from a capture root, each immutable object read once."""

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
        self.lag = lag
        self._store = capture_store(location, region=region, client=client)
        self._done: set[str] = set()
        self._seen: dict[str, tuple[float, str]] = {}
        self.reads = 0
        """Objects read so far (what `bench/ab_attribution.py` reports per look)."""

    def read(self, since: float) -> dict[str, str]:
        """Every request id served since ``since`` (epoch seconds) -> the deployment that answered it."""
        now = time.time()
        for key in self._store.list_keys():
            if key in self._done or not key_in_window(key, since, now + 60):
                continue
            records, final = self._records(key, now)
            self.reads += 1
            for record in records:
                if self.deployments is None or record.deployment in self.deployments:
                    self._seen[record.request_id] = (record.timestamp, record.deployment)
            if final:
                self._done.add(key)
        return {request_id: name for request_id, (at, name) in self._seen.items() if at >= since}

    def _records(self, key: str, now: float) -> tuple[list[CaptureRecord], bool]:
        """The key's records, and whether it is final (never read again)."""
        relative = key[len(self.location.prefix) :] if key.startswith(self.location.prefix) else key
        parts = relative.lstrip("/").split("/")
        if len(parts) > 2 and parts[1] in (AZURE_INPUTS, AZURE_OUTPUTS):  # <deployment>/<collection>/YYYY/...
            if parts[1] == AZURE_OUTPUTS:
                return [], True  # predictions: not needed to know who served a request
            found = azure_records([(key, self._store.lines(key))], [], endpoint=self.endpoint, deployment=parts[0])
            return found, not key_in_window(key, now - self.lag, now)  # the collector may still append to it
        return list(platform_records(self._store.lines(key), source=key)), self.location.scheme != "file"
