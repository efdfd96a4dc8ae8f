"""The local endpoint router: one URL in front of the model servers, split by weight, with metrics.

Why a router of our own: the rollout engine needs exactly what a managed endpoint gives -- a
traffic map (weights and a mirror), per-deployment request counts, errors and latency -- and the
local platform must give it on one machine. A small ASGI app does this with no measurable
overhead next to a model server (see docs/deploy.md for the measured numbers).

Behaviour:

- ``POST /invocations`` goes to one live deployment chosen by smooth weighted round-robin, so a
  10/90 split is exactly 1 in 10, not 10 % on average. When the chosen deployment cannot be
  reached (refused, reset: its process died) the request is retried on another live deployment
  and the failure is counted against the dead one: users see no error, the gates do.
- A mirror (``{"green": 20}``) copies that share of requests to a deployment in the background;
  its answers are discarded and its metrics are labelled ``mirrored="true"``.
- Errors are 5xx answers, requests that could not reach the deployment, and the MLflow scoring
  server's 400 "unexpected error while evaluating the model" (how it reports a model that raised).
- ``GET /metrics`` is Prometheus text (requests by code, errors, a latency histogram per
  deployment, weights); ``GET /metrics.json`` the same as JSON; ``GET /admin/metrics?deployment=
  &since=`` the window the gates judge (requests, errors, p95/p99 in ms). ``GET /health``.
- The admin API (``/admin/state``, ``PUT|DELETE /admin/deployments/{name}``, ``PUT
  /admin/traffic``) changes the table; every change is written to ``<home>/router/state.json``
  before it is acknowledged, and a restarted router loads it.

Run it with ``python -m ml.platform.router --home DIR --port N`` (what `ml platform up` does).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_SAMPLES = 200_000
MAX_MIRROR_IN_FLIGHT = 64
MODEL_ERROR_MARKER = b"unexpected error while evaluating the model"
STATE_FILE = Path("router") / "state.json"


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an already sorted list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_SECONDS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(BUCKETS_SECONDS, seconds)] += 1
        self.total += seconds
        self.count += 1


@dataclass
class DeploymentStats:
    """Counters since the router started, plus recent samples for windowed percentiles."""

    codes: dict[tuple[str, bool], int] = field(default_factory=dict)
    errors: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0})
    histograms: dict[bool, _Histogram] = field(default_factory=lambda: {False: _Histogram(), True: _Histogram()})
    samples: deque[tuple[float, float, bool]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))

    def record(self, *, code: str, seconds: float, error: bool, mirrored: bool) -> None:
        self.codes[(code, mirrored)] = self.codes.get((code, mirrored), 0) + 1
        if error:
            self.errors[mirrored] += 1
        self.histograms[mirrored].observe(seconds)
        self.samples.append((time.time(), seconds * 1000.0, error))

    def window(self, since: float) -> dict[str, Any]:
        latencies: list[float] = []
        errors = 0
        for stamp, millis, error in reversed(self.samples):
            if stamp < since:
                break
            latencies.append(millis)
            errors += error
        latencies.sort()
        return {
            "requests": len(latencies),
            "errors": errors,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
        }

    def totals(self) -> dict[str, Any]:
        requests = sum(self.codes.values())
        mirrored = sum(count for (_, is_mirror), count in self.codes.items() if is_mirror)
        return {"requests": requests, "mirrored_requests": mirrored, "errors": sum(self.errors.values())}


@dataclass(frozen=True)
class Answer:
    """A deployment's answer, read in full (the router relays it as is)."""

    status_code: int
    content: bytes
    content_type: str | None


class RouterError(ValueError):
    """An admin request the router refuses; its message is returned with HTTP 400/404/409."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Router:
    """The routing table, its persistence and its metrics; the ASGI routes below are thin wrappers."""

    def __init__(self, home: Path, *, upstream_timeout: float = 60.0) -> None:
        self.state_path = home / STATE_FILE
        self.deployments: dict[str, dict[str, Any]] = {}
        self.weights: dict[str, int] = {}
        self.mirror: dict[str, int] = {}
        self.stats: dict[str, DeploymentStats] = {}
        self._current: dict[str, int] = {}
        self._mirror_credit: dict[str, int] = {}
        self._mirror_tasks: set[asyncio.Task[None]] = set()
        self.mirror_dropped = 0
        self.started_at = time.time()
        self.upstream_timeout = upstream_timeout
        self.client: aiohttp.ClientSession | None = None
        self._load()

    # --- state ---------------------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.state_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return
        self.deployments = dict(data.get("deployments") or {})
        self.weights = {k: int(v) for k, v in (data.get("weights") or {}).items() if k in self.deployments}
        self.mirror = {k: int(v) for k, v in (data.get("mirror") or {}).items() if k in self.deployments}

    def _save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=2, sort_keys=True))
        tmp.replace(self.state_path)

    def snapshot(self) -> dict[str, Any]:
        return {"deployments": self.deployments, "weights": self.weights, "mirror": self.mirror}

    def register(self, name: str, body: dict[str, Any]) -> None:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise RouterError(f"deployment '{name}': 'url' must be an http(s) URL, got {url!r}")
        self.deployments[name] = {k: v for k, v in body.items() if isinstance(k, str)}
        self.deployments[name]["url"] = url.rstrip("/")
        self._save()

    def unregister(self, name: str) -> None:
        if name not in self.deployments:
            return
        if self.weights.get(name, 0) > 0:
            raise RouterError(
                f"deployment '{name}' still has {self.weights[name]}% of traffic; move it away first", status=409
            )
        self.deployments.pop(name)
        self.weights.pop(name, None)
        self.mirror.pop(name, None)
        self._save()

    def set_traffic(self, weights: dict[str, Any], mirror: dict[str, Any]) -> None:
        for label, table in (("weights", weights), ("mirror", mirror)):
            for name, value in table.items():
                if name not in self.deployments:
                    known = ", ".join(sorted(self.deployments)) or "none"
                    raise RouterError(f"{label}: unknown deployment '{name}' (registered: {known})", status=404)
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                    raise RouterError(f"{label}.{name}: expected an integer percentage 0..100, got {value!r}")
        total = sum(weights.values())
        if weights and total != 100:
            raise RouterError(f"weights must sum to 100 (or be empty), got {total}: {weights}")
        for name in mirror:
            if weights.get(name, 0) > 0 and mirror[name] > 0:
                raise RouterError(f"mirror.{name}: '{name}' already takes live traffic; mirror only to idle ones")
        self.weights = {k: int(v) for k, v in weights.items() if v > 0}
        self.mirror = {k: int(v) for k, v in mirror.items() if v > 0}
        self._current = {}
        self._mirror_credit = {}
        self._save()

    # --- routing -------------------------------------------------------------------------------------

    def pick(self, exclude: set[str]) -> str | None:
        """Smooth weighted round-robin (nginx's): exact shares, interleaved."""
        live = {name: w for name, w in self.weights.items() if w > 0 and name not in exclude}
        if not live:
            return None
        total = sum(live.values())
        for name, weight in live.items():
            self._current[name] = self._current.get(name, 0) + weight
        chosen = max(live, key=lambda n: self._current[n])
        self._current[chosen] -= total
        return chosen

    def mirrors_for_request(self) -> list[str]:
        chosen = []
        for name, percent in self.mirror.items():
            credit = self._mirror_credit.get(name, 0) + percent
            if credit >= 100:
                credit -= 100
                chosen.append(name)
            self._mirror_credit[name] = credit
        return chosen

    def stats_for(self, name: str) -> DeploymentStats:
        return self.stats.setdefault(name, DeploymentStats())

    async def forward(self, name: str, body: bytes, headers: dict[str, str]) -> tuple[Answer, float]:
        assert self.client is not None
        url = self.deployments[name]["url"] + "/invocations"
        started = time.perf_counter()
        async with self.client.post(url, data=body, headers=headers) as response:
            content = await response.read()
            answer = Answer(response.status, content, response.headers.get("content-type"))
        return answer, time.perf_counter() - started

    async def mirror_request(self, name: str, body: bytes, headers: dict[str, str]) -> None:
        started = time.perf_counter()
        try:
            response, seconds = await self.forward(name, body, headers)
        except (aiohttp.ClientError, TimeoutError, KeyError):
            self.stats_for(name).record(
                code="unreachable", seconds=time.perf_counter() - started, error=True, mirrored=True
            )
            return
        self.stats_for(name).record(
            code=str(response.status_code), seconds=seconds, error=is_error(response), mirrored=True
        )

    def schedule_mirrors(self, body: bytes, headers: dict[str, str]) -> None:
        for name in self.mirrors_for_request():
            if len(self._mirror_tasks) >= MAX_MIRROR_IN_FLIGHT:
                self.mirror_dropped += 1
                continue
            task = asyncio.get_running_loop().create_task(self.mirror_request(name, body, headers))
            self._mirror_tasks.add(task)
            task.add_done_callback(self._mirror_tasks.discard)

    async def invoke(self, body: bytes, headers: dict[str, str]) -> Response:
        self.schedule_mirrors(body, headers)
        tried: set[str] = set()
        while True:
            name = self.pick(tried)
            if name is None:
                break
            tried.add(name)
            started = time.perf_counter()
            try:
                response, seconds = await self.forward(name, body, headers)
            except (aiohttp.ClientError, TimeoutError, KeyError) as exc:
                if isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ConnectionTimeoutError):
                    # it took the request and did not answer in time: retrying elsewhere could double the work
                    self.stats_for(name).record(
                        code="timeout", seconds=time.perf_counter() - started, error=True, mirrored=False
                    )
                    return JSONResponse({"error": f"deployment '{name}' timed out"}, status_code=504)
                # Unreachable (its process died or it was just removed): count it, try another colour.
                self.stats_for(name).record(
                    code="unreachable", seconds=time.perf_counter() - started, error=True, mirrored=False
                )
                continue
            self.stats_for(name).record(
                code=str(response.status_code), seconds=seconds, error=is_error(response), mirrored=False
            )
            return Response(
                response.content,
                status_code=response.status_code,
                media_type=response.content_type,
                headers={"x-deployment": name},
            )
        message = "no deployment could serve the request" if tried else "the endpoint has no live deployment"
        return JSONResponse({"error": message, "tried": sorted(tried)}, status_code=503)

    # --- metrics -------------------------------------------------------------------------------------

    def prometheus(self) -> str:
        lines = [
            "# HELP ml_router_requests_total Requests forwarded to a deployment, by answer code.",
            "# TYPE ml_router_requests_total counter",
        ]
        for name, stats in sorted(self.stats.items()):
            for (code, mirrored), count in sorted(stats.codes.items()):
                labels = f'deployment="{name}",code="{code}",mirrored="{str(mirrored).lower()}"'
                lines.append(f"ml_router_requests_total{{{labels}}} {count}")
        lines += [
            "# HELP ml_router_errors_total Requests that failed (5xx, unreachable, model error).",
            "# TYPE ml_router_errors_total counter",
        ]
        for name, stats in sorted(self.stats.items()):
            for mirrored, count in sorted(stats.errors.items()):
                labels = f'deployment="{name}",mirrored="{str(mirrored).lower()}"'
                lines.append(f"ml_router_errors_total{{{labels}}} {count}")
        lines += [
            "# HELP ml_router_request_duration_seconds Time from forwarding a request to its answer.",
            "# TYPE ml_router_request_duration_seconds histogram",
        ]
        for name, stats in sorted(self.stats.items()):
            for mirrored, histogram in sorted(stats.histograms.items()):
                base = f'deployment="{name}",mirrored="{str(mirrored).lower()}"'
                cumulative = 0
                for bound, count in zip((*BUCKETS_SECONDS, math.inf), histogram.buckets, strict=True):
                    cumulative += count
                    le = "+Inf" if bound == math.inf else repr(bound)
                    lines.append(f'ml_router_request_duration_seconds_bucket{{{base},le="{le}"}} {cumulative}')
                lines.append(f"ml_router_request_duration_seconds_sum{{{base}}} {histogram.total:.6f}")
                lines.append(f"ml_router_request_duration_seconds_count{{{base}}} {histogram.count}")
        lines += [
            "# HELP ml_router_traffic_weight Live traffic share per deployment.",
            "# TYPE ml_router_traffic_weight gauge",
        ]
        for name in sorted(self.deployments):
            lines.append(f'ml_router_traffic_weight{{deployment="{name}"}} {self.weights.get(name, 0)}')
        lines += [
            "# HELP ml_router_mirror_percent Mirrored traffic share per deployment.",
            "# TYPE ml_router_mirror_percent gauge",
        ]
        for name in sorted(self.deployments):
            lines.append(f'ml_router_mirror_percent{{deployment="{name}"}} {self.mirror.get(name, 0)}')
        lines += [
            "# TYPE ml_router_mirror_dropped_total counter",
            f"ml_router_mirror_dropped_total {self.mirror_dropped}",
        ]
        return "\n".join(lines) + "\n"

    def metrics_json(self, since: float | None) -> dict[str, Any]:
        names = sorted(set(self.deployments) | set(self.stats))
        per_deployment = {}
        for name in names:
            stats = self.stats_for(name)
            entry = stats.totals()
            entry.update(stats.window(since if since is not None else 0.0))
            per_deployment[name] = entry
        return {
            "since": since,
            "started_at": self.started_at,
            "weights": self.weights,
            "mirror": self.mirror,
            "deployments": per_deployment,
        }


def is_error(response: Answer) -> bool:
    """5xx, or the MLflow scoring server's 400 for a model that raised while predicting."""
    if response.status_code >= 500:
        return True
    return response.status_code == 400 and MODEL_ERROR_MARKER in response.content


def create_app(home: Path, *, upstream_timeout: float = 60.0) -> Starlette:
    """The router as an ASGI app whose table is persisted under ``home``."""
    router = Router(home, upstream_timeout=upstream_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # aiohttp, not httpx: measured on 2 cores, httpx's client made the router add ~5 ms per
        # request; aiohttp's adds ~1 ms (docs/deploy.md).
        router.client = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=upstream_timeout, connect=2.0),
            connector=aiohttp.TCPConnector(limit=256, limit_per_host=128),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
        try:
            yield
        finally:
            await router.client.close()

    async def invocations(request: Request) -> Response:
        body = await request.body()
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        return await router.invoke(body, headers)

    async def health(_: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "deployments": sorted(router.deployments),
                "weights": router.weights,
                "mirror": router.mirror,
            }
        )

    async def metrics(_: Request) -> Response:
        return PlainTextResponse(router.prometheus(), media_type="text/plain; version=0.0.4")

    async def metrics_json(request: Request) -> Response:
        since = request.query_params.get("since")
        return JSONResponse(router.metrics_json(float(since) if since else None))

    async def admin_state(_: Request) -> Response:
        return JSONResponse(router.snapshot())

    async def admin_metrics(request: Request) -> Response:
        name = request.query_params.get("deployment", "")
        since = float(request.query_params.get("since") or 0.0)
        return JSONResponse({"deployment": name, "since": since, **router.stats_for(name).window(since)})

    async def admin_deployment(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            if request.method == "PUT":
                body = await request.json()
                if not isinstance(body, dict):
                    raise RouterError("expected a JSON object with 'url'")
                router.register(name, body)
            else:
                router.unregister(name)
        except RouterError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse(router.snapshot())

    async def admin_traffic(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"weights": router.weights, "mirror": router.mirror})
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise RouterError("expected a JSON object with 'weights' and optional 'mirror'")
            router.set_traffic(dict(body.get("weights") or {}), dict(body.get("mirror") or {}))
        except (RouterError, json.JSONDecodeError) as exc:
            status = exc.status if isinstance(exc, RouterError) else 400
            return JSONResponse({"error": str(exc)}, status_code=status)
        return JSONResponse({"weights": router.weights, "mirror": router.mirror})

    app = Starlette(
        routes=[
            Route("/invocations", invocations, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ping", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/metrics.json", metrics_json, methods=["GET"]),
            Route("/admin/state", admin_state, methods=["GET"]),
            Route("/admin/metrics", admin_metrics, methods=["GET"]),
            Route("/admin/deployments/{name}", admin_deployment, methods=["PUT", "DELETE"]),
            Route("/admin/traffic", admin_traffic, methods=["GET", "PUT"]),
        ],
        lifespan=lifespan,
    )
    app.state.router = router
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the router (``python -m ml.platform.router --home DIR --port N``)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    app = create_app(args.home, upstream_timeout=args.upstream_timeout)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
