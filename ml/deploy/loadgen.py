"""A small closed-loop load generator: steady traffic for rollouts, the demo, the tests and the bench.

Why in the package: a rollout's gates need live requests, and "zero failed requests during a
rollout" can only be claimed by something that sends them and keeps every answer. Each worker
thread sends one request at a time (optionally paced to a rate) and records when it started, how
long it took, the status and which deployment answered (the router's ``x-deployment`` header).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Sample:
    """One request as the client saw it; ``status`` 0 means it never got an answer."""

    started: float
    seconds: float
    status: int
    deployment: str | None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class LoadGenerator:
    """``concurrency`` threads POSTing ``payload`` to ``url`` until `stop`; ``rate`` caps requests/s overall."""

    url: str
    payload: Any
    concurrency: int = 4
    rate: float | None = None
    timeout: float = 30.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _worker(self) -> None:
        interval = self.concurrency / self.rate if self.rate else 0.0
        with httpx.Client(timeout=self.timeout) as client:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                started_wall, started = time.time(), time.perf_counter()
                try:
                    response = client.post(self.url, json=self.payload)
                    sample = Sample(
                        started_wall, time.perf_counter() - started, response.status_code,
                        response.headers.get("x-deployment"),
                    )  # fmt: skip
                except httpx.HTTPError:
                    sample = Sample(started_wall, time.perf_counter() - started, 0, None)
                with self._lock:
                    self.samples.append(sample)
                if interval:
                    next_at += interval
                    self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def start(self) -> LoadGenerator:
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._worker, name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        self._threads.clear()
        return self.results()

    def results(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def summarize(samples: list[Sample]) -> dict[str, Any]:
    """Counts, failures, who answered, and client-side p50/p95/p99 in ms."""
    latencies = sorted(s.seconds * 1000 for s in samples)

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, max(0, round(q / 100 * len(latencies)) - 1))]

    span = (max(s.started + s.seconds for s in samples) - min(s.started for s in samples)) if samples else 0.0
    return {
        "requests": len(samples),
        "failed": sum(not s.ok for s in samples),
        "by_deployment": dict(Counter(s.deployment or "-" for s in samples)),
        "by_status": dict(Counter(s.status for s in samples)),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "throughput_rps": len(samples) / span if span > 0 else 0.0,
    }
