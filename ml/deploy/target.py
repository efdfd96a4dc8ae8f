"""The target interface: the few calls a rollout needs from a serving platform, and the chooser.

Why so small: the engine (`ml.deploy.engine`) owns every decision -- which colour is new, how
much traffic it gets, whether a gate passed, when to roll back -- and is written once. A target
only *does* things on its platform and *reports* what is there. Keeping the calls few and
idempotent is what lets the engine recover from a crash by replaying them.

Contract for a target module ``ml/deploy/targets/<name>.py`` (local, azure, sagemaker, kubernetes):

- it defines ``create_target(outputs: PlatformOutputs, endpoint: str) -> DeploymentTarget``; it
  may import its heavy SDK lazily (`target_for` imports the module only when that cloud is used);
- **names** are the colours from `DeploymentTarget.colours` (default ``("blue", "green")``); the
  engine gives the new deployment the colour that carries no traffic;
- ``create_deployment`` starts the new deployment and returns without waiting (it may block
  while the platform accepts the request); ``wait_healthy`` waits until it can serve, raising
  `DeploymentError` with the platform's reason when it cannot within ``timeout`` seconds;
- ``set_traffic(weights, mirror)`` replaces the whole traffic map in one call: ``weights`` maps
  deployment names to integer percentages summing to 100 (or empty when nothing serves);
  ``mirror`` maps names to the percentage of live requests copied to them (answers discarded),
  empty/None = no mirroring. A target without mirroring sets ``supports_mirror = False`` and the
  engine skips the mirror phase (recording that decision);
- ``read_metrics(name, since)`` returns the deployment's requests, errors (5xx answers and
  requests that could not reach it) and p95/p99 latency in ms, counted from the epoch time
  ``since`` (seconds) -- mirrored requests included, since that is what a mirror phase judges;
- ``delete_deployment`` and ``set_traffic`` are idempotent (deleting a missing deployment is a
  no-op); ``is_healthy`` is a cheap liveness probe the engine calls while it bakes a step;
- ``preflight(spec, ...)`` refuses a spec the target cannot honour (a gate it has no metrics for, a
  strategy its platform cannot run) before the engine journals or creates anything;
- ``read_window(name, since)`` is the same window for the statistical gates (`ml.deploy.decide`):
  counts, and latency as far as the platform reports it -- ``latency_evidence`` says how far:
  ``samples`` or ``histogram`` (a relative latency test can run) or ``percentiles`` (the default,
  from `read_metrics`: only fixed p95/p99 thresholds can be judged);
- A/B experiments: ``assignments`` says how users can be split (``random`` per request is the
  weighted split every target has; ``cookie``/``header`` pin a user to one arm), `set_assignment`
  applies a split, ``request_log`` + `read_assignments` name the deployment that served each request
  id (so fed-back business outcomes can be attributed); ``max_arms`` says how many deployments can
  serve side by side (an A/B test's extra ``challengers`` are deployments named beside the new
  colour, see `ml.deploy.ab_rollout.arm_names`). ``engine_steps = False`` says the platform
  runs every rollout natively, so the engine judges no step: no relative gate, no A/B test.
  `ml.deploy.ab_rollout.refusals` checks all of these before a rollout starts;
- a target that runs a whole rollout natively (SageMaker's blue/green deployment config with
  auto-rollback alarms) overrides `DeploymentTarget.native_rollout` and returns its result; the
  engine then only records it and moves aliases. Returning None (the default) means "step me".

Every user-fixable problem (missing credentials, endpoint not found, quota) is a `UserError`
naming what to fix; `DeploymentError` is the one the engine answers with a rollback.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.decide import ColourWindow, LatencyEvidence
from ml.deploy.spec import RolloutSpec, endpoint_of

if TYPE_CHECKING:
    from ml.deploy.spec_decide import StickyAssignment

DEFAULT_COLOURS = ("blue", "green")


class DeploymentError(UserError):
    """A deployment could not be created, did not become healthy, or died: the engine rolls back."""

    exit_code = 3


@dataclass(frozen=True)
class ModelRef:
    """A registered model version, resolved from the spec's URI before anything is created.

    ``source`` is the version's artifact location as the registry reports it (``s3://...``,
    ``azureml://...``, ``mlflow-artifacts:/...``) for targets that deploy from storage.
    """

    name: str
    version: str
    source: str | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class DeploymentMetrics:
    """What the gates judge: one deployment's traffic since a point in time."""

    requests: int
    errors: int
    p95_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 6),
            "p95_ms": None if self.p95_ms is None else round(self.p95_ms, 3),
            "p99_ms": None if self.p99_ms is None else round(self.p99_ms, 3),
        }


@dataclass(frozen=True)
class Traffic:
    """An endpoint's traffic map: live weights (percent, sum 100 or empty) and mirror percentages."""

    weights: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)

    def live(self) -> list[str]:
        """Deployments that answer users (weight > 0), heaviest first."""
        return [name for name, weight in sorted(self.weights.items(), key=lambda kv: -kv[1]) if weight > 0]

    def as_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "mirror": dict(self.mirror)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Traffic:
        return cls(
            weights={str(k): int(v) for k, v in (data.get("weights") or {}).items()},
            mirror={str(k): int(v) for k, v in (data.get("mirror") or {}).items()},
        )


@dataclass(frozen=True)
class DeploymentInfo:
    """One deployment behind the endpoint as the platform reports it."""

    name: str
    model: str | None = None
    """The model URI it serves, when the platform records it."""
    state: str = "unknown"
    """healthy | starting | failed | unknown."""


@dataclass(frozen=True)
class NativeRolloutRequest:
    """Everything a target needs to run a rollout with its platform's own machinery."""

    spec: RolloutSpec
    model: ModelRef
    deployment: str
    previous: Traffic
    instance_type: str
    instance_count: int


@dataclass(frozen=True)
class NativeRolloutResult:
    """The outcome of a native rollout; on failure the platform has already restored ``previous``."""

    succeeded: bool
    message: str
    events: list[dict[str, Any]] = field(default_factory=list)


class DeploymentTarget(ABC):
    """One endpoint on one platform, as the rollout engine drives it."""

    kind: ClassVar[str] = "abstract"
    supports_mirror: ClassVar[bool] = True
    latency_evidence: ClassVar[LatencyEvidence] = "percentiles"
    assignments: ClassVar[frozenset[str]] = frozenset({"random"})
    request_log: ClassVar[bool] = False
    engine_steps: ClassVar[bool] = True
    max_arms: ClassVar[int] = 2
    """Deployments the endpoint can serve side by side in an A/B test (its traffic map's capacity)."""
    max_arms_reason: ClassVar[str] = "a rollout on it alternates two colours"

    def __init__(self, outputs: PlatformOutputs, endpoint: str) -> None:
        self.outputs = outputs
        self.endpoint = endpoint

    def colours(self) -> tuple[str, str]:
        """The two deployment names a rollout alternates between."""
        return DEFAULT_COLOURS

    def default_instance(self) -> tuple[str, int]:
        """Instance type and count when the spec does not override them: the stack's endpoint settings."""
        if self.outputs.endpoint is None:
            return ("default", 1)
        return (self.outputs.endpoint.instance_type, self.outputs.endpoint.instance_count)

    @abstractmethod
    def create_deployment(self, name: str, model: ModelRef, instance_type: str, count: int) -> None:
        """Start a deployment serving ``model`` under ``name`` with no traffic."""

    @abstractmethod
    def wait_healthy(self, name: str, timeout: float) -> None:
        """Return when ``name`` can serve; raise `DeploymentError` if it cannot within ``timeout`` s."""

    @abstractmethod
    def is_healthy(self, name: str) -> bool:
        """Cheap liveness probe used while a step bakes (False = dead: the engine rolls back)."""

    @abstractmethod
    def get_traffic(self) -> Traffic:
        """The endpoint's current traffic map."""

    @abstractmethod
    def set_traffic(self, weights: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        """Replace the endpoint's traffic map (weights sum to 100 or are empty)."""

    @abstractmethod
    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        """Requests, errors and latency percentiles of ``name`` since the epoch time ``since``."""

    def read_window(self, name: str, since: float) -> ColourWindow:
        """``name``'s window for the statistical gates; the default carries `read_metrics`' counts and percentiles."""
        metrics = self.read_metrics(name, since)
        return ColourWindow(
            requests=metrics.requests, errors=metrics.errors, p95_ms=metrics.p95_ms, p99_ms=metrics.p99_ms
        )

    def set_assignment(self, weights: dict[str, int], sticky: StickyAssignment | None) -> None:
        """Split live traffic between A/B arms; ``sticky`` pins each user (by cookie or header) to one arm.

        Why a call of its own and not `set_traffic`: a random split is the weighted map every target
        has, but pinning users is a platform feature (a proxy's sticky cookie, a route's session
        persistence); a target without it refuses here, and `ml.deploy.ab_rollout` refuses the spec
        before anything is created, from ``assignments``.
        """
        if sticky is not None:
            can = ", ".join(sorted(self.assignments))
            raise UserError(f"the {self.kind} target cannot pin users by {sticky.describe()} (it assigns by: {can})")
        self.set_traffic(weights, {})

    def read_assignments(self, since: float) -> dict[str, str]:
        """Request id -> the deployment that served it, for requests since ``since`` (``request_log`` targets).

        Each target reads a record the platform really keeps: the local proxy's access log, the Kubernetes
        pods' capture records, Azure's data collector events (`ml.deploy.targets._capture_assignments`).
        """
        raise UserError(f"the {self.kind} target does not record which deployment served each request id")

    @abstractmethod
    def delete_deployment(self, name: str) -> None:
        """Remove ``name`` and its resources; a no-op when it does not exist."""

    @abstractmethod
    def list_deployments(self) -> list[DeploymentInfo]:
        """Deployments currently behind the endpoint."""

    def preflight(self, spec: RolloutSpec, *, instance_type: str, instance_count: int) -> None:  # noqa: B027
        """Refuse a spec this target cannot honour, with a `UserError`, before anything is journaled or created.

        Why a hook of its own: a refusal is a user error, not a failed rollout; raising it here leaves no
        journal, no audit run and no resource behind, so nothing needs rolling back.
        """

    def native_rollout(self, request: NativeRolloutRequest) -> NativeRolloutResult | None:
        """Run the whole rollout with the platform's own machinery, or None to let the engine step it."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most targets hold nothing to release
        """Release clients and connections."""


_TARGETS = {
    "local": "ml.deploy.targets.local",
    "azure": "ml.deploy.targets.azure",
    "aws": "ml.deploy.targets.sagemaker",
    "kubernetes": "ml.deploy.targets.kubernetes",
}


def target_kind(outputs: PlatformOutputs) -> str:
    """Which target serves a stack: Kubernetes serving when the stack exports it, else the stack's cloud."""
    return "kubernetes" if outputs.kubernetes is not None else outputs.cloud


def target_for(outputs: PlatformOutputs, endpoint: str | None = None) -> DeploymentTarget:
    """The target for a stack's endpoint (default: ``outputs.endpoint.name``), its module imported lazily."""
    kind = target_kind(outputs)
    endpoint = endpoint_of(outputs, endpoint)
    module_name = _TARGETS[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UserError(
            f"stack '{outputs.stack}' needs the '{kind}' rollout target ({module_name}), which this version of ml "
            f"does not include yet; use `--stack local` or a stack on a supported cloud"
        ) from None
    target = module.create_target(outputs, endpoint)
    if not isinstance(target, DeploymentTarget):
        raise TypeError(f"{module_name}.create_target returned {type(target).__name__}, not a DeploymentTarget")
    return target
