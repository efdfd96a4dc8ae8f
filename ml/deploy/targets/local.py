"""The local rollout target: model-server processes behind the local platform's endpoint proxy.

Why it is a real target and not a simulation: every call does on this machine what a cloud target
does remotely -- `create_deployment` starts an MLflow scoring server, `set_traffic` changes the
proxy's weights and returns once the proxy serves them, `read_metrics` reads the proxy's
per-deployment counters over the step's window -- so the engine's decisions, gates and rollbacks
are exercised end to end by the tests and the demo.

Which proxy runs is the platform's business (`ml.platform.proxy`): this module sees deployments,
weights, a mirror and counters; the counters become gate metrics through the same reader the
Kubernetes target uses (`_prometheus.metrics_from_counts`).
"""

from __future__ import annotations

import time

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.decide import ColourWindow, LatencyDistribution
from ml.deploy.spec_decide import StickyAssignment
from ml.deploy.target import DeploymentError, DeploymentInfo, DeploymentMetrics, DeploymentTarget, ModelRef, Traffic
from ml.deploy.targets._prometheus import metrics_from_counts
from ml.platform import model_server
from ml.platform.layout import Layout
from ml.platform.process import log_tail, stop
from ml.platform.proxy import Proxy, access_log_path
from ml.platform.proxy_access import read_access_log


class LocalTarget(DeploymentTarget):
    """One endpoint: the proxy whose URL the local platform exported as ``endpoint.scoring_uri``."""

    kind = "local"
    supports_mirror = True
    latency_evidence = "histogram"  # Traefik's per-service request-duration buckets, fine from 2 to 50 ms
    assignments = frozenset({"random", "cookie"})  # a weighted service pins users by cookie, not by header
    request_log = True  # Traefik's JSON access log names the deployment of every X-Request-Id
    max_arms = 10  # a Traefik weighted service holds any number of services (the spec caps an A/B test at 10)

    def __init__(self, outputs: PlatformOutputs, endpoint: str, *, layout: Layout | None = None) -> None:
        super().__init__(outputs, endpoint)
        self.layout = layout or Layout.current()
        scoring_uri = outputs.endpoint.scoring_uri if outputs.endpoint is not None else None
        if not scoring_uri:
            raise UserError(
                f"the local platform is not running (no endpoint in {self.layout.outputs}); start it with "
                f"`ml platform up` (state lives in $ML_PLATFORM_HOME or ./.mlops)"
            )
        if outputs.endpoint is None or endpoint != outputs.endpoint.name:
            exported = outputs.endpoint.name if outputs.endpoint is not None else "none"
            raise UserError(
                f"the local platform serves one endpoint, '{exported}'; got endpoint '{endpoint}'. "
                f"Leave `endpoint:` out of the rollout spec (or set it to '{exported}')"
            )
        self.proxy = Proxy.connect(self.layout)
        try:
            self.proxy.state()
        except UserError:
            self.proxy.close()
            raise

    def create_deployment(self, name: str, model: ModelRef, instance_type: str, count: int) -> None:
        existing = model_server.record_of(self.layout, name)
        if existing is not None:
            stop(existing)
        record = model_server.start(
            self.layout, name, model.uri, tracking_uri=self.outputs.tracking_uri, workers=max(1, count)
        )
        assert record.url is not None
        self.proxy.register(name, record.url)

    def wait_healthy(self, name: str, timeout: float) -> None:
        record = model_server.record_of(self.layout, name)
        if record is None:
            raise DeploymentError(f"deployment '{name}' was never created on the local endpoint")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if model_server.healthy(record):
                return
            if not record.alive():
                raise DeploymentError(
                    f"deployment '{name}' ({record.extra.get('model')}) exited while starting; "
                    f"log {record.log}:\n{log_tail(record.log)}"
                )
            time.sleep(0.25)
        raise DeploymentError(
            f"deployment '{name}' did not answer /ping within {timeout:.0f}s; log {record.log}:\n{log_tail(record.log)}"
        )

    def is_healthy(self, name: str) -> bool:
        record = model_server.record_of(self.layout, name)
        return record is not None and model_server.healthy(record)

    def get_traffic(self) -> Traffic:
        state = self.proxy.state()
        return Traffic(weights=state.weights, mirror=state.mirror)

    def set_traffic(self, weights: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        self.proxy.set_traffic(weights, mirror or {})

    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        window = self.proxy.window(name, since)
        return metrics_from_counts(window.by_class(), window.buckets_ms)

    def read_window(self, name: str, since: float) -> ColourWindow:
        window = self.proxy.window(name, since)
        metrics = metrics_from_counts(window.by_class(), window.buckets_ms)
        latency = LatencyDistribution.from_cumulative(window.buckets_ms) if window.buckets_ms else None
        return ColourWindow(
            requests=metrics.requests, errors=metrics.errors, latency=latency, p95_ms=metrics.p95_ms,
            p99_ms=metrics.p99_ms,
        )  # fmt: skip

    def set_assignment(self, weights: dict[str, int], sticky: StickyAssignment | None) -> None:
        if sticky is not None and sticky.cookie is None:
            super().set_assignment(weights, sticky)  # refuses: Traefik cannot pin by header
        self.proxy.set_traffic(weights, {}, sticky_cookie=sticky.cookie if sticky is not None else None)

    def read_assignments(self, since: float) -> dict[str, str]:
        records = read_access_log(access_log_path(self.layout), since)
        return {record.request_id: record.deployment for record in records if record.request_id}

    def delete_deployment(self, name: str) -> None:
        self.proxy.unregister(name)
        model_server.remove(self.layout, name)

    def list_deployments(self) -> list[DeploymentInfo]:
        infos = []
        for name in sorted(self.proxy.state().deployments):
            record = model_server.record_of(self.layout, name)
            if record is None or not record.alive():
                health = "failed"
            else:
                health = "healthy" if model_server.healthy(record) else "starting"
            model = record.extra.get("model") if record is not None else None
            infos.append(DeploymentInfo(name=name, model=model, state=health))
        return infos

    def close(self) -> None:
        self.proxy.close()


def create_target(outputs: PlatformOutputs, endpoint: str) -> DeploymentTarget:
    """The module-level factory `ml.deploy.target.target_for` calls."""
    return LocalTarget(outputs, endpoint)
