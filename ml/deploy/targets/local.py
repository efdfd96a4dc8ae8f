"""The local rollout target: model-server processes behind the local platform's router.

Why it is a real target and not a simulation: every call does on this machine what a cloud target
does remotely -- `create_deployment` starts an `mlflow models serve` process, `set_traffic`
changes the router's weights, `read_metrics` reads the router's per-deployment window -- so the
engine's decisions, gates and rollbacks are exercised end to end by the tests and the demo.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.target import DeploymentError, DeploymentInfo, DeploymentMetrics, DeploymentTarget, ModelRef, Traffic
from ml.platform import model_server
from ml.platform.layout import Layout
from ml.platform.process import log_tail, stop


class LocalTarget(DeploymentTarget):
    """One endpoint: the router whose URL the local platform exported as ``endpoint.scoring_uri``."""

    kind = "local"
    supports_mirror = True

    def __init__(self, outputs: PlatformOutputs, endpoint: str, *, layout: Layout | None = None) -> None:
        super().__init__(outputs, endpoint)
        self.layout = layout or Layout.current()
        scoring_uri = outputs.endpoint.scoring_uri if outputs.endpoint is not None else None
        if not scoring_uri:
            raise UserError(
                f"the local platform is not running (no router in {self.layout.outputs}); start it with "
                f"`ml platform up` (state lives in $ML_PLATFORM_HOME or ./.mlops)"
            )
        if outputs.endpoint is None or endpoint != outputs.endpoint.name:
            exported = outputs.endpoint.name if outputs.endpoint is not None else "none"
            raise UserError(
                f"the local platform serves one endpoint, '{exported}'; got endpoint '{endpoint}'. "
                f"Leave `endpoint:` out of the rollout spec (or set it to '{exported}')"
            )
        self.router_url = scoring_uri.removesuffix("/invocations").rstrip("/")
        self.client = httpx.Client(base_url=self.router_url, timeout=10.0)
        try:
            self.client.get("/health").raise_for_status()
        except httpx.HTTPError:
            self.client.close()
            raise UserError(
                f"the local platform's router at {self.router_url} does not answer; start it with `ml platform up`"
            ) from None

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise UserError(f"router {method} {path}: {message}")
        return response.json()

    def create_deployment(self, name: str, model: ModelRef, instance_type: str, count: int) -> None:
        existing = model_server.record_of(self.layout, name)
        if existing is not None:
            stop(existing)
        record = model_server.start(
            self.layout, name, model.uri, tracking_uri=self.outputs.tracking_uri, workers=max(1, count)
        )
        self._admin("PUT", f"/admin/deployments/{name}", json={"url": record.url, "model": model.uri})

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
        return Traffic.from_dict(self._admin("GET", "/admin/traffic"))

    def set_traffic(self, weights: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        self._admin("PUT", "/admin/traffic", json={"weights": weights, "mirror": mirror or {}})

    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        data = self._admin("GET", "/admin/metrics", params={"deployment": name, "since": since})
        return DeploymentMetrics(
            requests=int(data["requests"]), errors=int(data["errors"]), p95_ms=data["p95_ms"], p99_ms=data["p99_ms"]
        )

    def delete_deployment(self, name: str) -> None:
        traffic = self.get_traffic()
        if name in traffic.mirror:
            self.set_traffic(traffic.weights, {k: v for k, v in traffic.mirror.items() if k != name})
        self._admin("DELETE", f"/admin/deployments/{name}")
        model_server.remove(self.layout, name)

    def list_deployments(self) -> list[DeploymentInfo]:
        state = self._admin("GET", "/admin/state")
        infos = []
        for name, entry in sorted(state.get("deployments", {}).items()):
            record = model_server.record_of(self.layout, name)
            if record is None or not record.alive():
                health = "failed"
            else:
                health = "healthy" if model_server.healthy(record) else "starting"
            infos.append(DeploymentInfo(name=name, model=entry.get("model"), state=health))
        return infos

    def close(self) -> None:
        self.client.close()


def create_target(outputs: PlatformOutputs, endpoint: str) -> DeploymentTarget:
    """The module-level factory `ml.deploy.target.target_for` calls."""
    return LocalTarget(outputs, endpoint)
