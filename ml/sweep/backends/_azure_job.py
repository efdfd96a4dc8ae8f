"""The Azure ML half that needs no network: one `SweepSpec` becomes an azure-ai-ml command job + sweep.

Why a pure translation: `build_sweep_job` maps spec + stack outputs to an azure-ai-ml ``Sweep`` node
without a server, so tests and ``docs/sweeps-cloud.md`` can assert exactly what Azure receives
(`request_body`); `ml.sweep.backends.azure` adds the I/O (staging, submitting, reading back).

Mapping (details and reasons in docs/sweeps-cloud.md):

- search space: choice -> ``Choice``; uniform -> ``Uniform``; loguniform -> ``LogUniform`` with
  natural-log bounds (Azure takes exponents, the spec values); randint [a, b] -> ``Randint(upper=b+1)``
  when a = 0 (Azure's randint has no lower bound), otherwise ``Choice`` of the integers; quniform ->
  ``QUniform`` when q is an integer (Azure's q is one), otherwise ``Choice`` of its grid; normal ->
  ``Normal``. Grid sampling gets every parameter as a ``Choice`` of its grid (Azure's grid takes
  choices only);
- sampling random/grid/bayesian -> ``RandomSamplingAlgorithm(seed)`` / ``Grid`` / ``Bayesian``;
- early termination bandit/median_stopping/truncation_selection -> the Azure policy of the same
  name and fields, in one table (`azure_policy`; the local pruners implement Azure's documented
  semantics); hyperband is refused (Azure has none), naming truncation_selection as the closest;
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
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep.backends._cloud_staging import requirements_for, trial_environment
from ml.sweep.backends.base import (
    TAG_COST_ESTIMATE,
    TAG_MAX_FAILED,
    job_lineage_tags,
)
from ml.sweep.compute import ComputeChoice, resolve_compute
from ml.sweep.spec import (
    DEFAULT_CHECKPOINT_ENV,
    Choice,
    EarlyTermination,
    HyperbandPolicy,
    LogUniform,
    Normal,
    PolicyName,
    QUniform,
    RandInt,
    SweepSpec,
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
TAG_COST_CURRENCY = "ml.cost.currency"


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
    if isinstance(spec.early_termination, HyperbandPolicy):
        problems.append(hyperband_refusal(spec.early_termination))
    elif algorithm == "bayesian" and spec.early_termination is not None:
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


def hyperband_refusal(policy: HyperbandPolicy) -> str:
    """Why Azure ML cannot run Hyperband, and the policy closest to it (truncation selection)."""
    keep = round(100 / policy.reduction_factor)
    return (
        f"early_termination: hyperband has no Azure ML policy (Azure offers bandit, median_stopping and "
        f"truncation_selection); the closest is truncation_selection, which like Hyperband's successive halving "
        f"stops the worst trials at each evaluation: policy: truncation_selection, truncation_percentage: "
        f"{100 - keep}, evaluation_interval: {policy.min_resource} (keeps about 1 in {policy.reduction_factor} as "
        f"hyperband's reduction_factor does), with sampling: random"
    )


def refuse_incompatible(spec: SweepSpec, outputs: PlatformOutputs) -> None:
    """One `UserError` listing every reason Azure ML cannot run ``spec``, if there is any."""
    problems = incompatibilities(spec, outputs)
    if problems:
        raise UserError(f"sweep spec {spec.source} cannot run on Azure ML: " + "; ".join(problems))


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


def azure_policy(policy: EarlyTermination | None) -> Any:
    """The spec's early-termination policy as azure-ai-ml's policy of the same name and fields.

    The table is built here because azure-ai-ml is imported lazily (about 1.2 s).
    """
    if policy is None:
        return None
    from azure.ai.ml import sweep as aml

    policies: dict[PolicyName, Callable[..., Any]] = {
        "bandit": aml.BanditPolicy,
        "median_stopping": aml.MedianStoppingPolicy,
        "truncation_selection": aml.TruncationSelectionPolicy,
        "hyperband": _refuse_hyperband,
    }
    return policies[policy.policy](**policy.parameters())


def _refuse_hyperband(**parameters: Any) -> Any:
    raise UserError(hyperband_refusal(HyperbandPolicy(policy="hyperband", **parameters)))


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
    compute: ComputeChoice | None = None,
) -> AzureSweepPlan:
    """Translate ``spec`` for the stack ``outputs`` into an azure-ai-ml sweep node named ``name``.

    ``code`` is the folder (or registered code asset id) the trials run; default: the spec's code
    directory. ``compute`` is the compute a caller already resolved and checked (`submit` after
    `admit`); without it the spec is checked here and `UserError` lists every incompatibility first.
    """
    if compute is None:
        refuse_incompatible(spec, outputs)
        compute = resolve_compute(spec, outputs)
    from azure.ai.ml import Output, command

    environment, notes = _environment(spec)
    if spec.sampling.seed is not None and spec.sampling.algorithm != "random":
        notes.append(f"sampling.seed is ignored: Azure ML's {spec.sampling.algorithm} sampling takes no seed")
    run_command = spec.command
    outputs_spec: dict[str, Any] = {}
    environment_variables = {
        **trial_environment(spec),
        "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "true",
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
    tags = job_lineage_tags(spec, outputs, name, backend=BACKEND)
    tags[TAG_MAX_FAILED] = str(spec.failure_limit())
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
        early_termination_policy=azure_policy(spec.early_termination),
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
