"""An in-memory `DeploymentTarget` for the engine's decision tests.

It is a second, honest implementation of the interface (the engine is not patched): deployments
are dict entries, traffic is a map, and each model *version* has the metrics it produces and
whether it stays alive -- so a "bad version" is a property of the model, as on the real platform.
Every traffic map set is recorded, so tests can assert the exact sequence a rollout produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml.contract import PlatformOutputs
from ml.deploy.target import (
    DeploymentError,
    DeploymentInfo,
    DeploymentMetrics,
    DeploymentTarget,
    ModelRef,
    NativeRolloutRequest,
    NativeRolloutResult,
    Traffic,
)


class Crash(BaseException):
    """Stands for the `ml` process being killed: nothing in the engine may catch it."""


@dataclass
class Behaviour:
    """How a model version behaves once deployed."""

    metrics: DeploymentMetrics = field(default_factory=lambda: DeploymentMetrics(100, 0, 20.0, 30.0))
    healthy: bool = True
    starts: bool = True


class MemoryTarget(DeploymentTarget):
    kind = "memory"

    def __init__(self, outputs: PlatformOutputs, endpoint: str = "local", *, supports_mirror: bool = True) -> None:
        super().__init__(outputs, endpoint)
        self.deployments: dict[str, ModelRef] = {}
        self.traffic = Traffic()
        self.behaviour: dict[str, Behaviour] = {}
        self.history: list[tuple[dict[str, int], dict[str, int]]] = []
        self.calls: list[str] = []
        self.crash_on: str | None = None
        self.native: NativeRolloutResult | None = None
        self.native_requests: list[NativeRolloutRequest] = []
        self.mirror_supported = supports_mirror

    def _maybe_crash(self, call: str) -> None:
        self.calls.append(call)
        if self.crash_on == call:
            self.crash_on = None
            raise Crash(call)

    def _behaviour(self, name: str) -> Behaviour:
        return self.behaviour.get(self.deployments[name].version, Behaviour())

    def create_deployment(self, name: str, model: ModelRef, instance_type: str, count: int) -> None:
        self._maybe_crash(f"create:{name}")
        self.deployments[name] = model

    def wait_healthy(self, name: str, timeout: float) -> None:
        if not self._behaviour(name).starts:
            raise DeploymentError(f"deployment '{name}' failed to start")

    def is_healthy(self, name: str) -> bool:
        return name in self.deployments and self._behaviour(name).healthy

    def get_traffic(self) -> Traffic:
        return Traffic(dict(self.traffic.weights), dict(self.traffic.mirror))

    def set_traffic(self, weights: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        self._maybe_crash(f"traffic:{sorted(weights.items())}")
        assert not weights or sum(weights.values()) == 100, weights
        assert all(name in self.deployments for name in weights), (weights, self.deployments)
        self.traffic = Traffic({k: v for k, v in weights.items() if v}, dict(mirror or {}))
        self.history.append((dict(self.traffic.weights), dict(self.traffic.mirror)))

    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        return self._behaviour(name).metrics

    def delete_deployment(self, name: str) -> None:
        self._maybe_crash(f"delete:{name}")
        assert self.traffic.weights.get(name, 0) == 0, f"deleting '{name}' while it serves {self.traffic.weights}"
        self.deployments.pop(name, None)

    def list_deployments(self) -> list[DeploymentInfo]:
        return [DeploymentInfo(name, model.uri, "healthy") for name, model in sorted(self.deployments.items())]

    def native_rollout(self, request: NativeRolloutRequest) -> NativeRolloutResult | None:
        if self.native is None:
            return None
        self.native_requests.append(request)
        if self.native.succeeded:
            self.deployments[request.deployment] = request.model
            self.traffic = Traffic({request.deployment: 100})
            self.history.append(({request.deployment: 100}, {}))
        return self.native

    @property
    def supports_mirror(self) -> bool:  # type: ignore[override]
        return self.mirror_supported
