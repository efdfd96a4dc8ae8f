"""The serving process's capture writer: a sample of requests and answers as `CaptureRecord` lines.

Why a buffer and a thread: capture must not slow the answer. On the request path the scoring
wrapper (`ml.platform.scoring_app`) only decides whether a request is sampled and, if so, keeps
the raw request and response bytes it has seen anyway; parsing them into records, JSON-encoding
and writing happen on a background thread about once a second (and at exit), grouped by the
file each record belongs in (`capture_key`: endpoint / deployment / UTC hour).

Where it writes is the capture root of `ml.contract.monitoring.capture_env` (``ML_CAPTURE_URI``):
a directory (the local platform's ``<home>/capture``), appended to one file per process and hour;
or ``s3://bucket/prefix`` / ``https://<account>.blob.core.windows.net/<container>/<prefix>``
(Kubernetes pods: the stack's object storage, as the pod's identity), one new object per flush,
since objects cannot be appended to. Same keys, same record shape either way,
which is what `ml monitor`'s readers expect.

Example::

    writer = CaptureWriter.from_env()          # None when the process is not to capture
    if writer is not None and writer.sampled():
        writer.add(Pending("r1", time.time(), 200, 3.2, b'{"inputs": [[1, 2]]}', "application/json", b'[0.9]'))
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml.contract.capture import CaptureRecord, capture_key
from ml.contract.monitoring import (
    CAPTURE_DEPLOYMENT_ENV,
    CAPTURE_ENDPOINT_ENV,
    CAPTURE_MODEL_NAME_ENV,
    CAPTURE_MODEL_VERSION_ENV,
    CAPTURE_SAMPLING_ENV,
    CAPTURE_URI_ENV,
)
from ml.contract.payload import parse_body

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pending:
    """What the request path hands over: raw bytes and the facts only it knows (time, status, latency)."""

    request_id: str
    timestamp: float
    status_code: int
    latency_ms: float
    request_body: bytes
    content_type: str
    response_body: bytes


class CaptureWriter:
    """Samples requests and writes their records in the background; thread-safe ``add``."""

    def __init__(
        self,
        uri: str,
        *,
        sampling_percent: float,
        endpoint: str,
        deployment: str,
        model_name: str | None = None,
        model_version: str | None = None,
        flush_seconds: float = 1.0,
    ) -> None:
        self.uri = uri
        self.sampling_percent = max(0.0, min(100.0, float(sampling_percent)))
        self.endpoint, self.deployment = endpoint, deployment
        self.model_name, self.model_version = model_name, model_version
        # A restarted container keeps its pod name and often its pid: the random tail keeps each writer's
        # objects its own (one object per flush is never overwritten, which readers rely on).
        self._part = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._flushes = 0
        self._queue: collections.deque[Pending] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flush_seconds = flush_seconds
        self._thread: threading.Thread | None = None
        parsed = urlparse(uri)
        self._s3 = (parsed.netloc, parsed.path.lstrip("/")) if parsed.scheme == "s3" else None
        self._blob = None
        if parsed.scheme in ("http", "https"):  # https://<account>.blob.core.windows.net/<container>/<prefix>
            container, _, prefix = parsed.path.lstrip("/").partition("/")
            self._blob = (f"{parsed.scheme}://{parsed.netloc}", container, prefix)
        remote = self._s3 is not None or self._blob is not None
        self._root = None if remote else Path(parsed.path if parsed.scheme == "file" else uri)
        self._client: Any = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CaptureWriter | None:
        """The writer `capture_env` describes; None without a capture URI or with 0 % sampling."""
        env = os.environ if env is None else env
        uri = env.get(CAPTURE_URI_ENV)
        percent = float(env.get(CAPTURE_SAMPLING_ENV) or 100)
        if not uri or percent <= 0:
            return None
        return cls(
            uri,
            sampling_percent=percent,
            endpoint=env.get(CAPTURE_ENDPOINT_ENV) or "unknown",
            deployment=env.get(CAPTURE_DEPLOYMENT_ENV) or "unknown",
            model_name=env.get(CAPTURE_MODEL_NAME_ENV) or None,
            model_version=env.get(CAPTURE_MODEL_VERSION_ENV) or None,
        )

    def sampled(self) -> bool:
        """Whether this request is recorded (one random draw; none at 100 %)."""
        return self.sampling_percent >= 100 or random.random() * 100 < self.sampling_percent

    def add(self, pending: Pending) -> None:
        """Queue one answered request (O(1) on the request path); starts the flusher on first use."""
        self._queue.append(pending)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception:  # a full disk or an unreachable bucket must not take serving down
            log.exception("capture: writing records to %s failed; they are dropped", self.uri)

    def close(self) -> None:
        """Stop the flusher and write what is queued (at exit, and in tests)."""
        self._stop.set()
        self._flush_logged()

    def records(self, pending: Pending) -> list[CaptureRecord]:
        """One record per input row (``<id>#<row>`` after the first), prediction by row when answered."""
        try:
            rows = parse_body(pending.content_type, pending.request_body.decode(), columns=None, rows=True)
        except (ValueError, UnicodeDecodeError):
            rows = [{}]
        rows = [row if isinstance(row, dict) else {"0": row} for row in rows] or [{}]
        predictions: list[Any] = []
        if pending.status_code < 400:
            try:
                predictions = parse_body("application/json", pending.response_body.decode(), columns=None, rows=False)
            except (ValueError, UnicodeDecodeError):
                predictions = []
        return [
            CaptureRecord(
                request_id=pending.request_id if index == 0 else f"{pending.request_id}#{index}",
                timestamp=pending.timestamp,
                endpoint=self.endpoint,
                deployment=self.deployment,
                inputs={str(key): value for key, value in row.items()},
                status_code=pending.status_code,
                model_name=self.model_name,
                model_version=self.model_version,
                prediction=predictions[index] if index < len(predictions) else None,
                latency_ms=round(pending.latency_ms, 3),
            )
            for index, row in enumerate(rows)
        ]

    def flush(self) -> int:
        """Write every queued request's records; the number of records written."""
        with self._lock:
            drained = []
            while self._queue:
                drained.append(self._queue.popleft())
            if not drained:
                return 0
            by_key: dict[str, list[str]] = {}
            for pending in drained:
                for record in self.records(pending):
                    key = capture_key("", self.endpoint, self.deployment, record.timestamp, part=self._part)
                    by_key.setdefault(key, []).append(json.dumps(record.to_dict(), separators=(",", ":"), default=str))
            for key, lines in by_key.items():
                self._write(key, ("\n".join(lines) + "\n").encode())
            return sum(len(lines) for lines in by_key.values())

    def _write(self, key: str, data: bytes) -> None:
        if self._root is not None:
            path = self._root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(data)
            return
        self._flushes += 1  # objects cannot be appended to: one new object per flush
        bucket, prefix = self._s3 if self._s3 is not None else self._blob[1:]  # type: ignore[index]
        object_key = f"{prefix.rstrip('/')}/{key}" if prefix else key
        object_key = object_key.replace(f"{self._part}.jsonl", f"{self._part}-{self._flushes:06d}.jsonl")
        if self._s3 is not None:
            if self._client is None:
                import boto3  # only pods that write to object storage need it

                self._client = boto3.client("s3")
            self._client.put_object(Bucket=bucket, Key=object_key, Body=data, ContentType="application/x-ndjson")
            return
        if self._client is None:  # Azure blob storage, as the pod's workload identity
            from azure.identity import DefaultAzureCredential
            from azure.storage.blob import ContainerClient

            assert self._blob is not None
            self._client = ContainerClient(self._blob[0], bucket, credential=DefaultAzureCredential())
        self._client.upload_blob(object_key, data, overwrite=True)
