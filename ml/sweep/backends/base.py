"""The backend interface every sweep backend implements, and the chooser keyed by the stack's cloud.

Why a small interface: `ml sweep run|status|best` are written once against `SweepBackend`; the
backend translates the same `SweepSpec` to its engine (local Optuna processes, an azure-ai-ml sweep
job, a SageMaker tuning job). The CLI does what is common around it: parse the spec, `check()`,
enforce the cost cap (`ml.sweep.cost`), remember the sweep id, render progress, and register the
best trial's model in MLflow with alias ``challenger``.

Contract for a backend module (``ml/sweep/backends/<name>.py``):

- it defines the class named in `_BACKENDS` with a no-argument constructor (it may import its heavy
  SDK lazily in its methods; `backend_for` imports the module only when that cloud is used);
- ``check(spec, outputs, compute)`` raises `UserError` for combinations its engine cannot run (before
  any cost check or submission), naming the spec key;
- ``admit(spec, outputs)`` (written once, here) is what `ml sweep run` does before submitting: it
  resolves the compute once, runs ``check`` once and enforces the worst-case cost once, and returns
  that `CostEstimate` (which carries the compute);
- ``submit(spec, outputs, on_progress=..., admitted=...)`` starts the sweep and returns a `SweepRun`.
  Given ``admitted`` it trusts it (no second check, no second estimate); called without it (tests,
  scripts) it checks and estimates itself, so an unchecked spec is never submitted. A blocking
  backend (local) runs to the end and returns the final status; a cloud backend returns at once with
  ``status.state`` RUNNING. ``on_progress`` may be called with a `SweepStatus` whenever counts change;
- ``status(outputs, sweep_id)`` and ``best(outputs, sweep_id)`` read the sweep back by the id
  ``submit`` returned (local: the parent MLflow run's tag ``ml.sweep.id``; azure: the job name;
  sagemaker: the tuning job name). ``best`` raises `UserError` when no trial has finished yet.

Trials talk to every backend through `ml.sweep.trial` (``report``, ``checkpoint_dir``,
``should_stop``): metrics go to the file named by ``ML_TRIAL_METRICS_FILE`` (local), to stdout as
``ml-metric: {json}`` lines (SageMaker metric definitions), and to MLflow when
``ML_TRIAL_MLFLOW_METRICS=1`` (Azure ML reads the primary metric from the run).
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep.compute import ComputeChoice, resolve_compute
from ml.sweep.cost import CostEstimate, enforce, estimate
from ml.sweep.spec import SweepSpec

# MLflow tags every backend that records runs uses, so lineage reads the same everywhere.
TAG_SWEEP_ID = "ml.sweep.id"
TAG_SWEEP_NAME = "ml.sweep.name"
TAG_SWEEP_BACKEND = "ml.sweep.backend"
TAG_SWEEP_STATE = "ml.sweep.state"
TAG_STACK = "ml.stack"
TAG_TRIAL_NUMBER = "ml.trial.number"
TAG_TRIAL_STATE = "ml.trial.state"
TAG_GIT_COMMIT = "ml.git.commit"
TAG_SWEEP_ROLE = "ml.sweep.role"  # "parent" on the sweep's run, "trial" on each trial's run
TAG_MODEL_NAME = "ml.sweep.model_name"
TAG_EXPERIMENT = "ml.sweep.experiment"
TAG_COST_ESTIMATE = "ml.cost.worst_case"
TAG_MAX_FAILED = "ml.sweep.max_failed_trials"


class TrialState(StrEnum):
    """Where a trial is; PRUNED = stopped early by the early-termination policy."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PRUNED = "PRUNED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


class SweepState(StrEnum):
    """Where a sweep is as a whole."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class TrialResult:
    """One trial: what it tried, what it reached, where its run and model are.

    ``value`` is the last reported value of the objective metric (None if it never reported).
    ``model_uri`` is what `mlflow.register_model` accepts (``runs:/<id>/model``, ``s3://...``,
    ``azureml://...``). Costs are in ``currency``; ``cost`` is measured (billable seconds x price),
    ``estimated_cost`` the worst case the sweep was admitted with.
    """

    trial_id: str
    state: TrialState
    params: Mapping[str, Any]
    metric: str
    value: float | None = None
    run_id: str | None = None
    model_uri: str | None = None
    step: int | None = None
    seconds: float | None = None
    cost: float | None = None
    estimated_cost: float | None = None
    currency: str = "USD"
    error: str | None = None
    """A failed trial's last error line (or why the sweep failed it)."""
    log: str | None = None
    """Where a failed trial's full output is (a file, a console URL, a log stream)."""
    utilization: float | None = None
    """Mean CPU utilisation (percent) while the trial ran, from its MLflow system metrics."""
    start_seconds: float | None = None
    """Seconds from the trial's start to its first report (local backend)."""


@dataclass(frozen=True)
class SweepStatus:
    """Counts by trial state and the best trial so far; what `ml sweep status` prints."""

    sweep_id: str
    backend: str
    state: SweepState
    total: int
    queued: int = 0
    running: int = 0
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    best: TrialResult | None = None
    parent_run_id: str | None = None
    url: str | None = None
    message: str | None = None
    cost: float | None = None
    currency: str = "USD"
    model_name: str | None = None
    """The registry name `ml sweep best` registers the best model under (the spec's model name)."""
    experiment: str | None = None
    git_commit: str | None = None
    estimated_cost: float | None = None
    """The worst case the sweep was admitted with (same currency as ``cost``)."""
    instance_hours: float | None = None
    """Instance-hours measured so far (billable seconds x instances)."""
    estimated_instance_hours: float | None = None
    utilization: float | None = None
    """Mean CPU utilisation (percent) of the trials, weighted by their time; low = an over-sized instance."""
    memory_utilization: float | None = None
    """Mean memory use (percent of the instance's), from the trials' MLflow system metrics."""
    gpu_utilization: float | None = None
    """Mean GPU utilisation (percent), when the instances have a GPU that MLflow could sample."""
    failures: tuple[TrialResult, ...] = ()
    """Every failed trial, with its last error line and where its log is."""
    max_failed_trials: int | None = None

    @property
    def finished(self) -> int:
        """Trials that will not run again (completed, pruned or failed)."""
        return self.completed + self.pruned + self.failed


@dataclass(frozen=True)
class SweepRun:
    """What `submit` returns: the id to pass to `status`/`best`, and the status at return time."""

    sweep_id: str
    backend: str
    status: SweepStatus
    parent_run_id: str | None = None
    url: str | None = None
    artifacts: Mapping[str, Path] = field(default_factory=dict)


ProgressCallback = Callable[[SweepStatus], None]


class SweepBackend(ABC):
    """Runs a `SweepSpec` on one kind of platform; see the module docstring for the contract."""

    name: ClassVar[str]

    def check(  # noqa: B027 -- optional hook
        self, spec: SweepSpec, outputs: PlatformOutputs, compute: ComputeChoice | None = None
    ) -> None:
        """Raise `UserError` for spec options this backend cannot run; default: everything runs.

        ``compute`` is the resolved compute when the caller has it (`admit`); None resolves it here.
        """

    def admit(self, spec: SweepSpec, outputs: PlatformOutputs, *, enforce_cost: bool = True) -> CostEstimate:
        """Resolve the compute, run `check` and the worst-case cost, each once; the estimate carries the compute.

        ``enforce_cost`` refuses a sweep over its cap or the stack's budget (`ml sweep run`); `submit`
        called without an admission only estimates, as it always has.
        """
        compute = resolve_compute(spec, outputs)
        self.check(spec, outputs, compute)
        if enforce_cost:
            return enforce(spec, outputs, compute=compute)
        return estimate(spec, outputs, compute=compute)

    @abstractmethod
    def submit(
        self,
        spec: SweepSpec,
        outputs: PlatformOutputs,
        *,
        on_progress: ProgressCallback | None = None,
        admitted: CostEstimate | None = None,
    ) -> SweepRun:
        """Start the sweep (local: run it to the end) and return its id and status.

        ``admitted`` is `admit`'s result when the caller already ran it; None admits here (no cost cap).
        """

    @abstractmethod
    def status(self, outputs: PlatformOutputs, sweep_id: str) -> SweepStatus:
        """Counts by state and the best trial so far."""

    @abstractmethod
    def best(self, outputs: PlatformOutputs, sweep_id: str) -> TrialResult:
        """The best finished trial by the spec's objective; `UserError` when there is none yet."""


_BACKENDS: dict[str, tuple[str, str]] = {
    "local": ("ml.sweep.backends.local", "LocalSweepBackend"),
    "azure": ("ml.sweep.backends.azure", "AzureSweepBackend"),
    "aws": ("ml.sweep.backends.sagemaker", "SageMakerSweepBackend"),
}


def backend_for(outputs: PlatformOutputs) -> SweepBackend:
    """The backend for the stack's cloud, imported only now (the cloud SDKs are heavy)."""
    try:
        module_name, class_name = _BACKENDS[outputs.cloud]
    except KeyError:
        raise UserError(
            f"stack '{outputs.stack}' has cloud '{outputs.cloud}', which has no sweep backend; "
            f"known: {', '.join(sorted(_BACKENDS))}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UserError(
            f"the {outputs.cloud} sweep backend cannot be loaded ({exc}); install the package's full "
            f"dependencies with `uv sync`"
        ) from None
    backend: SweepBackend = getattr(module, class_name)()
    return backend


def new_sweep_id(spec: SweepSpec, *, now: float | None = None) -> str:
    """A readable, unique id: ``<name>-<UTC yyyymmdd-hhmmss>`` (lower-case, cloud-name safe)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{re.sub(r'[^a-z0-9-]', '-', spec.name.lower())}-{stamp}"


def _last_sweep_file(outputs: PlatformOutputs) -> Path:
    from ml.stack import local_home

    return local_home() / "sweeps" / f"last-{outputs.stack}.txt"


def remember_sweep(outputs: PlatformOutputs, sweep_id: str) -> None:
    """Record the stack's latest sweep so `ml sweep status|best` work without an id."""
    path = _last_sweep_file(outputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sweep_id + "\n")


def last_sweep(outputs: PlatformOutputs) -> str:
    """The stack's latest sweep id, or a `UserError` that says how to name one."""
    path = _last_sweep_file(outputs)
    if not path.exists():
        raise UserError(
            f"no sweep has been run on stack '{outputs.stack}' from this machine; pass the sweep id "
            f"(printed by `ml sweep run`) as an argument"
        )
    return path.read_text().strip()


def git_commit(directory: Path) -> str | None:
    """The commit checked out in ``directory`` (for lineage tags), or None outside a git work tree."""
    git = shutil.which("git")
    if git is None:
        return None
    completed = subprocess.run(
        [git, "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def job_lineage_tags(spec: SweepSpec, outputs: PlatformOutputs, name: str, *, backend: str) -> dict[str, str]:
    """The lineage tags a cloud sweep job carries (read back by `ml sweep status|best`), in one order."""
    tags = {
        TAG_SWEEP_ID: name,
        TAG_SWEEP_NAME: spec.name,
        TAG_SWEEP_BACKEND: backend,
        TAG_STACK: outputs.stack,
        TAG_MODEL_NAME: spec.registered_model_name,
        TAG_EXPERIMENT: spec.experiment_name,
    }
    commit = git_commit(spec.code_dir()) if spec.code_dir().exists() else None
    if commit:
        tags[TAG_GIT_COMMIT] = commit
    return tags
