"""The Azure ML sweep backend: one `SweepSpec` becomes an azure-ai-ml command job + sweep.

Why two halves: `build_sweep_job` is the pure translation (spec + stack outputs -> an azure-ai-ml
``Sweep`` node, no network), so tests and ``docs/sweeps-cloud.md`` can assert exactly what Azure
receives (`request_body`); `AzureSweepBackend` only adds the I/O: it stages the code (with the
`ml.sweep.trial` helper), submits through an `MLClient` built from ``outputs.azure`` and
`DefaultAzureCredential`, and reads status and the best trial back from the job and its children.

Mapping (details and reasons in docs/sweeps-cloud.md):

- search space: choice -> ``Choice``; uniform -> ``Uniform``; loguniform -> ``LogUniform`` with
  natural-log bounds (Azure takes exponents, the spec values); randint [a, b] -> ``Randint(upper=b+1)``
  when a = 0 (Azure's randint has no lower bound), otherwise ``Choice`` of the integers; quniform ->
  ``QUniform`` when q is an integer (Azure's q is one), otherwise ``Choice`` of its grid; normal ->
  ``Normal``. Grid sampling gets every parameter as a ``Choice`` of its grid (Azure's grid takes
  choices only);
- sampling random/grid/bayesian -> ``RandomSamplingAlgorithm(seed)`` / ``Grid`` / ``Bayesian``;
- early termination bandit/median_stopping/truncation_selection -> the Azure policy of the same
  name and fields (the local pruners implement Azure's documented semantics);
- limits -> ``SweepJobLimits`` (max total/concurrent trials, timeout, trial timeout);
- compute = ``outputs.training.name`` (the stack's AmlCompute), experiment = the spec's, MLflow
  tracking through the workspace (Azure sets ``MLFLOW_TRACKING_URI``/``MLFLOW_RUN_ID`` in the job;
  the environment gets ``mlflow`` + ``azureml-mlflow``; ``ML_TRIAL_MLFLOW_METRICS=1`` makes
  `trial.report` log the metric Azure reads);
- on spot (low-priority) capacity, a ``checkpoints`` output (read-write mount on the workspace's
  default datastore, one folder per trial via ``${{name}}``) exported as ``ML_CHECKPOINT_DIR``,
  so a preempted trial that Azure requeues resumes from its checkpoint.

Rejected with a message naming the key (`incompatibilities`): Bayesian sampling with early
termination (Azure does not support it) or with loguniform/normal parameters (Azure's Bayesian
sampling takes choice, uniform and quniform only), a per-sweep instance type or spot setting that
differs from the stack's cluster (an AmlCompute has one VM size and one priority), more instances
per trial than the cluster has.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.azure import azure_errors, default_connection, ml_client, workspace_of
from ml.contract import AzureWorkspaceRef, PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep.backends._cloud_staging import requirements_for, stage_code
from ml.sweep.backends.base import (
    TAG_GIT_COMMIT,
    TAG_MODEL_NAME,
    TAG_STACK,
    TAG_SWEEP_BACKEND,
    TAG_SWEEP_ID,
    TAG_SWEEP_NAME,
    ProgressCallback,
    SweepBackend,
    SweepRun,
    SweepState,
    SweepStatus,
    TrialResult,
    TrialState,
    git_commit,
    new_sweep_id,
    resolve_compute,
)
from ml.sweep.spec import (
    DEFAULT_CHECKPOINT_ENV,
    BanditPolicy,
    Choice,
    LogUniform,
    MedianStoppingPolicy,
    Normal,
    QUniform,
    RandInt,
    SweepSpec,
    TruncationSelectionPolicy,
    Uniform,
)

BACKEND = "azure"
DEFAULT_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
"""Azure ML's public base image, used when the spec gives pip requirements but no image."""
TRACKING_PACKAGES = ("mlflow", "azureml-mlflow")
"""What a trial needs to log to the workspace's MLflow (added to the spec's pip list when missing)."""
CHECKPOINT_OUTPUT = "checkpoints"
DATASTORE = "workspaceblobstore"
MAX_EXPANDED_CHOICE = 1000
"""The most values a randint/quniform may expand to when Azure cannot express it directly."""
TAG_COST_ESTIMATE = "ml.cost.worst_case"
TAG_COST_CURRENCY = "ml.cost.currency"
TAG_EXPERIMENT = "ml.sweep.experiment"
BEST_CHILD_PROPERTY = "best_child_run_id"
SCORE_PROPERTY = "score"

ClientFactory = Callable[[AzureWorkspaceRef], Any]

_PENDING = {"NotStarted", "Starting", "Provisioning", "Preparing", "Queued"}
_RUNNING = {"Running", "Finalizing", "CancelRequested", "NotResponding", "Paused"}
_SWEEP_STATES = {"Completed": SweepState.COMPLETED, "Failed": SweepState.FAILED, "Canceled": SweepState.STOPPED}


@dataclass(frozen=True)
class AzureSweepPlan:
    """The translated sweep: the azure-ai-ml node to submit and what could only be approximated."""

    name: str
    job: Any
    """An ``azure.ai.ml.entities._builders.sweep.Sweep`` (what ``MLClient.jobs.create_or_update`` takes)."""
    notes: tuple[str, ...]


# --- what Azure cannot run ------------------------------------------------------------------------


def incompatibilities(spec: SweepSpec, outputs: PlatformOutputs) -> list[str]:
    """Every reason Azure ML cannot run ``spec`` on this stack, each naming the spec key."""
    problems: list[str] = []
    algorithm = spec.sampling.algorithm
    if algorithm == "bayesian" and spec.early_termination is not None:
        problems.append(
            f"early_termination ({spec.early_termination.policy}) cannot be combined with sampling: bayesian on "
            f"Azure ML (its Bayesian sampling supports no early-termination policy); remove early_termination "
            f"or use sampling: random"
        )
    for name, param in spec.search_space.items():
        if algorithm == "bayesian" and isinstance(param, LogUniform | Normal):
            problems.append(
                f"search_space.{name} is {param.type}, which Azure ML's Bayesian sampling does not support (it "
                f"takes choice, uniform, quniform and, translated to choice, randint); use sampling: random, or "
                f"make it uniform or a choice of values"
            )
        if isinstance(param, RandInt) and (param.min_value != 0 or algorithm in ("bayesian", "grid")):
            size = param.max_value - param.min_value + 1
            if size > MAX_EXPANDED_CHOICE:
                problems.append(
                    f"search_space.{name}: randint [{param.min_value}, {param.max_value}] would become a choice of "
                    f"{size} values on Azure ML (its randint starts at 0 and its Bayesian/grid sampling take "
                    f"choices); use min_value: 0 with sampling: random, or at most {MAX_EXPANDED_CHOICE} values"
                )
        if isinstance(param, QUniform) and not _integral(param.q) and len(param.grid_values()) > MAX_EXPANDED_CHOICE:
            problems.append(
                f"search_space.{name}: quniform with q={param.q} would become a choice of "
                f"{len(param.grid_values())} values on Azure ML (its q must be an integer); use an integer q or "
                f"at most {MAX_EXPANDED_CHOICE} values"
            )
    training = outputs.training
    if spec.compute.instance_type and spec.compute.instance_type != training.instance_type:
        problems.append(
            f"compute.instance_type '{spec.compute.instance_type}' differs from the stack's cluster "
            f"'{training.name}' ({training.instance_type}); an AmlCompute cluster has one VM size, so remove "
            f"compute.instance_type or change the stack's trainingCluster.instanceType"
        )
    if spec.spot.enabled is not None and spec.spot.enabled != training.spot:
        capacity = "low-priority" if training.spot else "dedicated"
        problems.append(
            f"spot.enabled is {str(spec.spot.enabled).lower()} but the stack's cluster '{training.name}' is "
            f"{capacity} (priority is a property of the AmlCompute cluster); remove spot.enabled to follow the "
            f"stack, or change the stack's trainingCluster.priority"
        )
    if spec.compute.instance_count > training.max_nodes:
        problems.append(
            f"compute.instance_count {spec.compute.instance_count} exceeds the {training.max_nodes} nodes of the "
            f"stack's cluster '{training.name}'; a trial could never start"
        )
    return problems


def _integral(value: float) -> bool:
    return float(value).is_integer()


# --- the pure translation ---------------------------------------------------------------------------


def search_space(spec: SweepSpec) -> dict[str, Any]:
    """The spec's parameters as azure-ai-ml search-space objects (see the module docstring)."""
    from azure.ai.ml import sweep as aml

    algorithm = spec.sampling.algorithm
    space: dict[str, Any] = {}
    for name, param in spec.search_space.items():
        if algorithm == "grid" and not isinstance(param, Choice):
            space[name] = aml.Choice(values=param.grid_values())  # type: ignore[union-attr]
        elif isinstance(param, Choice):
            space[name] = aml.Choice(values=list(param.values))
        elif isinstance(param, Uniform):
            space[name] = aml.Uniform(min_value=param.min_value, max_value=param.max_value)
        elif isinstance(param, LogUniform):
            space[name] = aml.LogUniform(min_value=math.log(param.min_value), max_value=math.log(param.max_value))
        elif isinstance(param, RandInt):
            if param.min_value == 0 and algorithm == "random":
                space[name] = aml.Randint(upper=param.max_value + 1)
            else:
                space[name] = aml.Choice(values=param.grid_values())
        elif isinstance(param, QUniform):
            if _integral(param.q):
                space[name] = aml.QUniform(min_value=param.min_value, max_value=param.max_value, q=int(param.q))
            else:
                space[name] = aml.Choice(values=param.grid_values())
        elif isinstance(param, Normal):
            space[name] = aml.Normal(mu=param.mu, sigma=param.sigma)
        else:  # pragma: no cover -- the spec's union is exhaustive
            raise UserError(f"search_space.{name}: type {param.type} has no Azure ML equivalent")
    return space


def _sampling(spec: SweepSpec) -> Any:
    from azure.ai.ml import sweep as aml

    algorithm = spec.sampling.algorithm
    if algorithm == "random":
        return aml.RandomSamplingAlgorithm(seed=spec.sampling.seed)
    if algorithm == "grid":
        return aml.GridSamplingAlgorithm()
    return aml.BayesianSamplingAlgorithm()


def _policy(spec: SweepSpec) -> Any:
    from azure.ai.ml import sweep as aml

    policy = spec.early_termination
    if policy is None:
        return None
    common = {"evaluation_interval": policy.evaluation_interval, "delay_evaluation": policy.delay_evaluation}
    if isinstance(policy, BanditPolicy):
        return aml.BanditPolicy(slack_factor=policy.slack_factor, slack_amount=policy.slack_amount, **common)
    if isinstance(policy, MedianStoppingPolicy):
        return aml.MedianStoppingPolicy(**common)
    if isinstance(policy, TruncationSelectionPolicy):
        return aml.TruncationSelectionPolicy(truncation_percentage=policy.truncation_percentage, **common)
    raise UserError(f"early_termination.policy {policy.policy} has no Azure ML equivalent")  # pragma: no cover


def _environment(spec: SweepSpec) -> tuple[Any, list[str]]:
    from azure.ai.ml.entities import Environment

    notes: list[str] = []
    packages = requirements_for(spec, add=TRACKING_PACKAGES)
    image = spec.environment.image or DEFAULT_IMAGE
    if packages is None:
        notes.append(
            f"environment: image {image} is used as is; it must contain mlflow and azureml-mlflow for the "
            f"trials' metrics to reach the workspace"
        )
        return Environment(image=image), notes
    python = f"python={sys.version_info.major}.{sys.version_info.minor}"
    conda = {"name": "ml-sweep", "channels": ["conda-forge"], "dependencies": [python, "pip", {"pip": packages}]}
    return Environment(image=image, conda_file=conda), notes


def _inputs(spec: SweepSpec) -> dict[str, Any]:
    """The command's inputs: the spec's data inputs, and one placeholder per searched parameter.

    azure-ai-ml only lets ``command(...)(name=<distribution>)`` bind names the command declares as
    inputs; the sweep replaces each placeholder value with the search space entry of that name.
    """
    from azure.ai.ml import Input

    declared: dict[str, Any] = {name: Input(type=item.type, path=item.path) for name, item in spec.inputs.items()}
    for name, param in spec.search_space.items():
        if isinstance(param, Choice):
            declared[name] = param.values[0]
        elif isinstance(param, Normal):
            declared[name] = param.mu
        else:
            declared[name] = param.min_value
    return declared


def build_sweep_job(
    spec: SweepSpec,
    outputs: PlatformOutputs,
    *,
    name: str,
    code: Path | str | None = None,
    cost_estimate: float | None = None,
    currency: str = "USD",
) -> AzureSweepPlan:
    """Translate ``spec`` for the stack ``outputs`` into an azure-ai-ml sweep node named ``name``.

    ``code`` is the folder (or registered code asset id) the trials run; default: the spec's code
    directory. Raises `UserError` listing every incompatibility first.
    """
    problems = incompatibilities(spec, outputs)
    if problems:
        raise UserError(f"sweep spec {spec.source} cannot run on Azure ML: " + "; ".join(problems))
    from azure.ai.ml import Output, command

    compute = resolve_compute(spec, outputs)
    environment, notes = _environment(spec)
    if spec.sampling.seed is not None and spec.sampling.algorithm != "random":
        notes.append(f"sampling.seed is ignored: Azure ML's {spec.sampling.algorithm} sampling takes no seed")
    run_command = spec.command
    outputs_spec: dict[str, Any] = {}
    environment_variables = {
        "ML_TRIAL_MLFLOW_METRICS": "1",
        "ML_SWEEP_ID": name,
        "ML_SWEEP_NAME": spec.name,
    }
    if compute.spot:
        prefix = outputs.artifacts.checkpoint_prefix.strip("/") or "checkpoints"
        outputs_spec[CHECKPOINT_OUTPUT] = Output(
            type="uri_folder",
            mode="rw_mount",
            path=f"azureml://datastores/{DATASTORE}/paths/{prefix}/{name}/${{{{name}}}}/",
        )
        variables = dict.fromkeys((DEFAULT_CHECKPOINT_ENV, spec.spot.checkpoint_env))
        exports = " && ".join(f"export {var}=${{{{outputs.{CHECKPOINT_OUTPUT}}}}}" for var in variables)
        run_command = f"{exports} && {spec.command}"
    tags = {
        TAG_SWEEP_ID: name,
        TAG_SWEEP_NAME: spec.name,
        TAG_SWEEP_BACKEND: BACKEND,
        TAG_STACK: outputs.stack,
        TAG_MODEL_NAME: spec.registered_model_name,
        TAG_EXPERIMENT: spec.experiment_name,
    }
    commit = git_commit(spec.code_dir()) if spec.code_dir().exists() else None
    if commit:
        tags[TAG_GIT_COMMIT] = commit
    if cost_estimate is not None:
        tags[TAG_COST_ESTIMATE] = f"{cost_estimate:.2f}"
        tags[TAG_COST_CURRENCY] = currency
    trial = command(
        code=str(code if code is not None else spec.code_dir()),
        command=run_command,
        inputs=_inputs(spec),
        outputs=outputs_spec or None,
        environment=environment,
        environment_variables=environment_variables,
        compute=outputs.training.name,
        instance_count=compute.instance_count,
        experiment_name=spec.experiment_name,
    )
    node = trial(**search_space(spec)).sweep(
        compute=outputs.training.name,
        sampling_algorithm=_sampling(spec),
        primary_metric=spec.objective.metric,
        goal=spec.objective.goal,
        early_termination_policy=_policy(spec),
    )
    node.set_limits(
        max_total_trials=spec.trial_budget(),
        max_concurrent_trials=spec.limits.max_concurrent_trials,
        timeout=spec.limits.timeout,
        trial_timeout=spec.limits.trial_timeout,
    )
    node.name = name
    node.display_name = spec.name
    node.experiment_name = spec.experiment_name
    node.description = spec.description
    node.tags = tags
    return AzureSweepPlan(name=name, job=node, notes=tuple(notes))


def request_body(plan: AzureSweepPlan) -> dict[str, Any]:
    """The ``PUT jobs/{name}`` body Azure receives for ``plan``, as JSON-ready data.

    Offline, the code folder and the environment are not registered assets yet: they appear as the
    local path and as the environment's own description (on submit the SDK uploads/registers them
    and sends their ids instead).
    """
    raw = plan.job._to_job()._to_rest_object().as_dict()

    def unresolved(value: Any) -> Any:
        return value._to_dict() if hasattr(value, "_to_dict") else str(value)

    body: dict[str, Any] = json.loads(json.dumps(raw, default=unresolved))
    return body


# --- the client -----------------------------------------------------------------------------------


NEEDED_FOR = "the Azure sweep backend"


def default_client(workspace: AzureWorkspaceRef) -> Any:
    """An `MLClient` for the workspace over the production connection (`DefaultAzureCredential`)."""
    return ml_client(workspace, default_connection())


# --- reading a sweep back -------------------------------------------------------------------------


def _sweep_state(status: str | None) -> SweepState:
    if status in _SWEEP_STATES:
        return _SWEEP_STATES[status]
    if status in _RUNNING:
        return SweepState.RUNNING
    return SweepState.PENDING


def _trial_state(status: str | None, *, pruning: bool, parent: str | None) -> TrialState:
    if status == "Completed":
        return TrialState.COMPLETED
    if status == "Failed":
        return TrialState.FAILED
    if status == "Canceled":
        # Azure cancels the trials its early-termination policy stops; a cancelled sweep cancels the rest.
        return TrialState.PRUNED if pruning and parent != "Canceled" else TrialState.STOPPED
    if status in _RUNNING:
        return TrialState.RUNNING
    return TrialState.QUEUED


def _params(child: Any) -> dict[str, Any]:
    """A trial's sampled values, from the run's ``hyperparameters`` property or tag (a JSON object)."""
    for source in (getattr(child, "properties", None) or {}, getattr(child, "tags", None) or {}):
        raw = source.get("hyperparameters")
        if isinstance(raw, str):
            try:
                parsed = json.loads(raw)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                return {re.sub(r"^--", "", str(k)): v for k, v in parsed.items()}
    return {}


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class AzureSweepBackend(SweepBackend):
    """Submits sweeps as Azure ML sweep jobs; `submit` returns once the job is accepted.

    ``client_factory`` builds the `MLClient` from the stack's workspace reference (default:
    `default_client`, i.e. `DefaultAzureCredential`); tests pass one bound to a local ARM fake.
    """

    name = BACKEND

    def __init__(self, client_factory: ClientFactory | None = None) -> None:
        self._client_factory = client_factory or default_client

    def check(self, spec: SweepSpec, outputs: PlatformOutputs) -> None:
        """Reject what Azure ML cannot run, before any cost check or upload."""
        workspace_of(outputs, needed_for=NEEDED_FOR)
        problems = incompatibilities(spec, outputs)
        if problems:
            raise UserError(f"sweep spec {spec.source} cannot run on Azure ML: " + "; ".join(problems))

    def submit(
        self, spec: SweepSpec, outputs: PlatformOutputs, *, on_progress: ProgressCallback | None = None
    ) -> SweepRun:
        """Stage the code, translate, and create the sweep job; returns with state RUNNING."""
        from ml.sweep.cost import estimate

        workspace = workspace_of(outputs, needed_for=NEEDED_FOR)
        self.check(spec, outputs)
        sweep_id = new_sweep_id(spec)
        cost = estimate(spec, outputs)
        with tempfile.TemporaryDirectory(prefix="ml-sweep-azure-") as scratch:
            code = stage_code(spec, Path(scratch) / "code")
            plan = build_sweep_job(
                spec, outputs, name=sweep_id, code=code, cost_estimate=cost.applicable, currency=cost.currency
            )
            client = self._client_factory(workspace)
            with azure_errors(f"submit sweep '{sweep_id}'", workspace):
                created = client.jobs.create_or_update(plan.job)
        url = getattr(created, "studio_url", None)
        state = _sweep_state(getattr(created, "status", None))
        status = SweepStatus(
            sweep_id=sweep_id,
            backend=BACKEND,
            state=SweepState.RUNNING if state is SweepState.PENDING else state,
            total=spec.trial_budget(),
            parent_run_id=sweep_id,
            url=url,
            message="; ".join(plan.notes) or None,
            model_name=spec.registered_model_name,
            experiment=spec.experiment_name,
            git_commit=plan.job.tags.get(TAG_GIT_COMMIT),
        )
        if on_progress is not None:
            on_progress(status)
        return SweepRun(sweep_id=sweep_id, backend=BACKEND, status=status, parent_run_id=sweep_id, url=url)

    def _read(self, outputs: PlatformOutputs, sweep_id: str) -> tuple[Any, list[Any]]:
        workspace = workspace_of(outputs, needed_for=NEEDED_FOR)
        client = self._client_factory(workspace)
        missing = (
            f"no sweep job '{sweep_id}' in workspace '{workspace.workspace_name}' of stack '{outputs.stack}'; "
            f"check the id printed by `ml sweep run`"
        )
        with azure_errors(f"read sweep '{sweep_id}'", workspace, not_found=missing):
            job = client.jobs.get(sweep_id)
            children = [child for child in client.jobs.list(parent_job_name=sweep_id) if child is not None]
        return job, children

    def status(self, outputs: PlatformOutputs, sweep_id: str) -> SweepStatus:
        """Counts by trial state from the job's child runs; the best trial from the job's properties."""
        job, children = self._read(outputs, sweep_id)
        parent_status = getattr(job, "status", None)
        pruning = getattr(job, "early_termination", None) is not None
        counts = dict.fromkeys(TrialState, 0)
        for child in children:
            counts[_trial_state(getattr(child, "status", None), pruning=pruning, parent=parent_status)] += 1
        limits = getattr(job, "limits", None)
        total = getattr(limits, "max_total_trials", None) or len(children)
        tags = dict(getattr(job, "tags", None) or {})
        message = None
        if not children and _sweep_state(parent_status) is not SweepState.PENDING:
            message = "Azure ML reports no trial runs for this sweep yet"
        return SweepStatus(
            sweep_id=sweep_id,
            backend=BACKEND,
            state=_sweep_state(parent_status),
            total=int(total),
            queued=counts[TrialState.QUEUED],
            running=counts[TrialState.RUNNING],
            completed=counts[TrialState.COMPLETED],
            pruned=counts[TrialState.PRUNED],
            failed=counts[TrialState.FAILED] + counts[TrialState.STOPPED],
            best=self._best_of(job, children),
            parent_run_id=sweep_id,
            url=getattr(job, "studio_url", None),
            message=message,
            model_name=tags.get(TAG_MODEL_NAME),
            experiment=tags.get(TAG_EXPERIMENT) or getattr(job, "experiment_name", None),
            git_commit=tags.get(TAG_GIT_COMMIT),
        )

    def best(self, outputs: PlatformOutputs, sweep_id: str) -> TrialResult:
        """The trial Azure ML ranks best (the job's ``best_child_run_id`` and ``score`` properties)."""
        job, children = self._read(outputs, sweep_id)
        found = self._best_of(job, children)
        if found is None:
            raise UserError(
                f"sweep '{sweep_id}' has no best trial yet (Azure ML sets it once a trial reports "
                f"'{self._metric(job)}'); check `ml sweep status {sweep_id}`"
            )
        return found

    @staticmethod
    def _metric(job: Any) -> str:
        objective = getattr(job, "objective", None)
        return str(getattr(objective, "primary_metric", None) or "the primary metric")

    def _best_of(self, job: Any, children: list[Any]) -> TrialResult | None:
        properties = dict(getattr(job, "properties", None) or {})
        best_id = properties.get(BEST_CHILD_PROPERTY)
        if not best_id:
            return None
        child = next((c for c in children if getattr(c, "name", None) == best_id), None)
        return TrialResult(
            trial_id=str(best_id),
            state=TrialState.COMPLETED,
            params=_params(child) if child is not None else {},
            metric=self._metric(job),
            value=_float(properties.get(SCORE_PROPERTY)),
            run_id=str(best_id),
            model_uri=f"runs:/{best_id}/model",
        )
