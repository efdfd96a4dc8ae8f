"""The SageMaker half that needs no network: one `SweepSpec` becomes a ``CreateHyperParameterTuningJob`` request.

Why a pure function (`tuning_job_request`): botocore's service model validates it, tests assert it
offline and against moto, and docs/sweeps-cloud.md documents it; `ml.sweep.backends.sagemaker`
only adds the I/O. What SageMaker cannot run is refused here (`incompatibilities`), each reason
naming the spec key; the early-termination policy is translated in one table (`EARLY_STOPPING`).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml import aws
from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep import trial
from ml.sweep.backends._cloud_staging import trial_environment
from ml.sweep.backends.base import (
    TAG_COST_ESTIMATE,
    TAG_MAX_FAILED,
    job_lineage_tags,
)
from ml.sweep.compute import ComputeChoice, resolve_compute
from ml.sweep.spec import (
    Choice,
    EarlyTermination,
    HyperbandPolicy,
    LogUniform,
    Normal,
    PolicyName,
    QUniform,
    RandInt,
    Scalar,
    SweepSpec,
    Uniform,
)
from ml.sweep.spec.placeholders import format_value

BACKEND = "sagemaker"
ENTRY = "ml_sweep_entry.py"
"""The name the entry module (`ml.sweep.backends.sagemaker_entry`) is staged under; ``sagemaker_program``."""
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
PYTORCH_VERSION = "2.5.1"
PYTHON_VERSION = "py311"
MAX_CATEGORICAL_VALUES = 30
"""SageMaker accepts at most 30 values per categorical range."""
NAME_LIMIT = 32
"""Tuning job names are at most 32 characters."""
QUANTIZE_HYPERPARAMETER = "ml_sweep_quantize"
NEEDED_FOR = "the SageMaker sweep backend"

_SUBSTITUTED = (
    "early_termination: SageMaker has no {policy} policy; its automatic early stopping (a median-stopping rule) "
    "is used instead, and the policy's parameters are not applied"
)
EARLY_STOPPING: dict[PolicyName, tuple[str, str]] = {
    "median_stopping": (
        "Auto",
        "early_termination: SageMaker's automatic early stopping is a median-stopping rule evaluated after "
        "every reported step; evaluation_interval and delay_evaluation cannot be set",
    ),
    "bandit": ("Auto", _SUBSTITUTED.format(policy="bandit")),
    "truncation_selection": ("Auto", _SUBSTITUTED.format(policy="truncation_selection")),
    "hyperband": (
        "Off",
        "early_termination: hyperband runs as SageMaker's Hyperband strategy, which replaces sampling.algorithm "
        "and stops trials itself (MinResource/MaxResource = min_resource/max_resource reported steps; "
        "reduction_factor is SageMaker's own); training-job early stopping is Off, as SageMaker requires",
    ),
}
"""The SageMaker translation of each early-termination policy: ``TrainingJobEarlyStoppingType`` and what
it does not express. ``hyperband`` is the one policy that is a strategy on SageMaker (`strategy`)."""
HYPERBAND_STRATEGY = "Hyperband"


# --- names and values ----------------------------------------------------------------------------


def tuning_job_name(spec: SweepSpec, *, now: float | None = None) -> str:
    """``<name>-<yymmdd-hhmmss>`` within SageMaker's 32 characters (the sweep id on this backend)."""
    stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    head = re.sub(r"[^A-Za-z0-9-]", "-", spec.name)[: NAME_LIMIT - len(stamp) - 1].rstrip("-")
    return f"{head}-{stamp}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


# --- what SageMaker cannot run --------------------------------------------------------------------


def incompatibilities(spec: SweepSpec, outputs: PlatformOutputs, compute: ComputeChoice | None = None) -> list[str]:
    """Every reason SageMaker cannot run ``spec`` on this stack, each naming the spec key."""
    problems: list[str] = []
    grid = spec.sampling.algorithm == "grid"
    for name, param in spec.search_space.items():
        if isinstance(param, Normal):
            problems.append(
                f"search_space.{name} is normal, which SageMaker tuning cannot sample (it has continuous ranges "
                f"with linear or logarithmic scaling only); use uniform or loguniform, or run it on local/azure"
            )
        values = param.grid_values() if grid and not isinstance(param, Normal) else None  # type: ignore[union-attr]
        if isinstance(param, Choice):
            values = list(param.values)
        if values is not None and len(values) > MAX_CATEGORICAL_VALUES:
            problems.append(
                f"search_space.{name} has {len(values)} values as a SageMaker categorical range (at most "
                f"{MAX_CATEGORICAL_VALUES})" + ("; grid sampling makes every parameter categorical" if grid else "")
            )
    if grid and spec.limits.max_total_trials is not None and spec.limits.max_total_trials < spec.grid_size():
        problems.append(
            f"limits.max_total_trials ({spec.limits.max_total_trials}) is below the grid size ({spec.grid_size()}); "
            f"SageMaker's grid strategy runs every combination, so remove max_total_trials or shrink the grid"
        )
    for name, item in spec.inputs.items():
        if urlparse(item.path).scheme != "s3":
            problems.append(
                f"inputs.{name}.path '{item.path}' is not an s3:// URI; SageMaker channels read from S3 (upload it "
                f"to the stack's bucket {outputs.artifacts.uri})"
            )
    training = outputs.training
    if training.max_run_seconds is not None and spec.limits.trial_timeout > training.max_run_seconds:
        problems.append(
            f"limits.trial_timeout ({spec.limits.trial_timeout}s) exceeds the stack's maximum training run "
            f"({training.max_run_seconds}s, trainingCluster.maxRunHours); lower it or raise the stack's limit"
        )
    compute = compute or resolve_compute(spec, outputs)
    wanted = spec.limits.max_concurrent_trials * compute.instance_count
    if wanted > training.max_nodes:
        problems.append(
            f"limits.max_concurrent_trials x compute.instance_count = {wanted} instances exceeds the "
            f"{training.max_nodes} the stack allows a sweep at once (trainingCluster.maxNodes)"
        )
    if compute.spot:
        wait = max_wait_seconds(spec, outputs)
        if wait < spec.limits.trial_timeout:
            problems.append(
                f"the spot max wait ({wait}s, from the stack's trainingCluster.maxWaitHours) is shorter than "
                f"limits.trial_timeout ({spec.limits.trial_timeout}s); set spot.max_wait >= the trial timeout"
            )
    policy = spec.early_termination
    if isinstance(policy, HyperbandPolicy):
        if policy.max_resource is None:
            problems.append(
                "early_termination.max_resource is required for hyperband on SageMaker (its Hyperband strategy "
                "needs MaxResource: the last step a trial reports)"
            )
        if grid:
            problems.append(
                "early_termination: hyperband cannot be combined with sampling: grid on SageMaker (Hyperband is "
                "a strategy of its own there); use sampling: random or bayesian"
            )
    if spec.limits.timeout is not None and spec.limits.timeout < 120:
        problems.append(
            f"limits.timeout ({spec.limits.timeout}s) is below SageMaker's minimum of 120s for a tuning job"
        )
    return problems


def max_wait_seconds(spec: SweepSpec, outputs: PlatformOutputs) -> int:
    """``spot.max_wait``, else the stack's, else the trial timeout times (1 + ``spot.max_restarts``)."""
    if spec.spot.max_wait is not None:
        return spec.spot.max_wait
    if outputs.training.max_wait_seconds is not None:
        return outputs.training.max_wait_seconds
    return spec.limits.trial_timeout * (1 + spec.spot.max_restarts)


def refuse_incompatible(spec: SweepSpec, outputs: PlatformOutputs, compute: ComputeChoice | None = None) -> None:
    """One `UserError` listing every reason SageMaker cannot run ``spec``, if there is any."""
    problems = incompatibilities(spec, outputs, compute)
    if problems:
        raise UserError(f"sweep spec {spec.source} cannot run on SageMaker: " + "; ".join(problems))


def early_stopping(policy: EarlyTermination | None) -> tuple[str, list[str]]:
    """``TrainingJobEarlyStoppingType`` for the spec's policy, and what SageMaker does not express of it."""
    if policy is None:
        return "Off", []
    stopping_type, note = EARLY_STOPPING[policy.policy]
    return stopping_type, [note]


def early_stopping_notes(spec: SweepSpec) -> list[str]:
    """What SageMaker's automatic early stopping does not express of the spec's policy."""
    return early_stopping(spec.early_termination)[1]


# --- the pure translation ---------------------------------------------------------------------------


def parameter_ranges(spec: SweepSpec) -> dict[str, list[dict[str, Any]]]:
    """The spec's search space as SageMaker ``ParameterRanges``."""
    categorical: list[dict[str, Any]] = []
    continuous: list[dict[str, Any]] = []
    integer: list[dict[str, Any]] = []
    grid = spec.sampling.algorithm == "grid"
    for name, param in spec.search_space.items():
        if isinstance(param, Choice) or (grid and not isinstance(param, Normal)):
            values: list[Scalar] = param.grid_values()  # type: ignore[union-attr]
            categorical.append({"Name": name, "Values": [format_value(v) for v in values]})
        elif isinstance(param, Uniform | QUniform):
            continuous.append(
                {
                    "Name": name,
                    "MinValue": _number(param.min_value),
                    "MaxValue": _number(param.max_value),
                    "ScalingType": "Linear",
                }
            )
        elif isinstance(param, LogUniform):
            continuous.append(
                {
                    "Name": name,
                    "MinValue": _number(param.min_value),
                    "MaxValue": _number(param.max_value),
                    "ScalingType": "Logarithmic",
                }
            )
        elif isinstance(param, RandInt):
            integer.append(
                {
                    "Name": name,
                    "MinValue": str(param.min_value),
                    "MaxValue": str(param.max_value),
                    "ScalingType": "Linear",
                }
            )
        else:
            raise UserError(f"search_space.{name}: {param.type} has no SageMaker equivalent")
    ranges: dict[str, list[dict[str, Any]]] = {}
    if categorical:
        ranges["CategoricalParameterRanges"] = categorical
    if continuous:
        ranges["ContinuousParameterRanges"] = continuous
    if integer:
        ranges["IntegerParameterRanges"] = integer
    return ranges


def quantized(spec: SweepSpec) -> dict[str, float]:
    """The quniform parameters the shim rounds (``round(x / q) * q``), by name."""
    if spec.sampling.algorithm == "grid":
        return {}
    return {name: p.q for name, p in spec.search_space.items() if isinstance(p, QUniform)}


def _checkpoint_uri(outputs: PlatformOutputs, name: str) -> str:
    base = outputs.training.checkpoint_uri or (
        f"{outputs.artifacts.uri.rstrip('/')}/{outputs.artifacts.checkpoint_prefix.strip('/')}"
    )
    return f"{base.rstrip('/')}/{name}"


def code_uri(outputs: PlatformOutputs, name: str) -> str:
    """Where the staged code tarball goes: the stack bucket's temporary prefix (it expires there)."""
    temp = outputs.artifacts.temp_prefix.strip("/")
    return f"{outputs.artifacts.uri.rstrip('/')}/{temp}/sweeps/{name}/sourcedir.tar.gz"


def tags_for(spec: SweepSpec, outputs: PlatformOutputs, name: str, *, cost: float | None) -> list[dict[str, str]]:
    """The tuning job's tags: lineage `ml sweep status|best` reads back, and the admitted worst case."""
    tags = job_lineage_tags(spec, outputs, name, backend=BACKEND)
    if cost is not None:
        tags[TAG_COST_ESTIMATE] = f"{cost:.2f}"
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tuning_job_request(
    spec: SweepSpec,
    outputs: PlatformOutputs,
    *,
    name: str,
    code: str,
    image: str,
    cost_estimate: float | None = None,
    compute: ComputeChoice | None = None,
) -> dict[str, Any]:
    """The ``CreateHyperParameterTuningJob`` request for ``spec`` on the stack ``outputs``.

    ``code`` is the S3 URI of the staged code tarball, ``image`` the training image. ``compute`` is
    the compute a caller already resolved and checked (`submit` after `admit`); without it the spec
    is checked here and `UserError` lists every incompatibility first.
    """
    workspace = aws.workspace_of(outputs, needed_for=NEEDED_FOR)
    if compute is None:
        compute = resolve_compute(spec, outputs)
        refuse_incompatible(spec, outputs, compute)
    strategy, strategy_config = _strategy(spec)
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": spec.limits.max_concurrent_trials}
    limits["MaxNumberOfTrainingJobs"] = spec.trial_budget()
    if spec.limits.timeout is not None:
        limits["MaxRuntimeInSeconds"] = spec.limits.timeout
    config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {
            "Type": "Maximize" if spec.objective.goal == "maximize" else "Minimize",
            "MetricName": spec.objective.metric,
        },
        "ResourceLimits": limits,
        "ParameterRanges": parameter_ranges(spec),
        "TrainingJobEarlyStoppingType": early_stopping(spec.early_termination)[0],
    }
    if strategy_config:
        config["StrategyConfig"] = strategy_config
    if spec.sampling.seed is not None:
        config["RandomSeed"] = spec.sampling.seed
    static = {
        "sagemaker_program": json.dumps(ENTRY),
        "sagemaker_submit_directory": json.dumps(code),
        "sagemaker_region": json.dumps(outputs.region),
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": json.dumps(name),
    }
    quantize = quantized(spec)
    if quantize:
        static[QUANTIZE_HYPERPARAMETER] = json.dumps(quantize)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": spec.limits.trial_timeout}
    if compute.spot:
        stopping["MaxWaitTimeInSeconds"] = max_wait_seconds(spec, outputs)
    output_config: dict[str, str] = {"S3OutputPath": f"{outputs.artifacts.uri.rstrip('/')}/sweeps/{name}/output"}
    if workspace.kms_key_arn:
        output_config["KmsKeyId"] = workspace.kms_key_arn
    environment = {
        **trial_environment(spec),
        "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "true",
        "ML_TRIAL_MLFLOW_METRICS": "1",
        "ML_SWEEP_ID": name,
        "ML_SWEEP_NAME": spec.name,
        "MLFLOW_EXPERIMENT_NAME": spec.experiment_name,
    }
    if workspace.mlflow_tracking_server_arn:
        environment["MLFLOW_TRACKING_URI"] = workspace.mlflow_tracking_server_arn
    definition: dict[str, Any] = {
        "StaticHyperParameters": static,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": spec.objective.metric, "Regex": trial.metric_regex(spec.objective.metric)}],
        },
        "RoleArn": workspace.execution_role_arn,
        "OutputDataConfig": output_config,
        "ResourceConfig": {
            "InstanceType": compute.instance_type,
            "InstanceCount": compute.instance_count,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": compute.spot,
        "CheckpointConfig": {"S3Uri": _checkpoint_uri(outputs, name), "LocalPath": CHECKPOINT_LOCAL_PATH},
        "Environment": environment,
    }
    if spec.inputs:
        definition["InputDataConfig"] = [
            {
                "ChannelName": input_name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": item.path,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for input_name, item in spec.inputs.items()
        ]
    training = outputs.training
    if training.subnet_ids:
        definition["VpcConfig"] = {
            "Subnets": list(training.subnet_ids),
            "SecurityGroupIds": list(training.security_group_ids),
        }
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
        "Tags": [
            *tags_for(spec, outputs, name, cost=cost_estimate),
            {"Key": TAG_MAX_FAILED, "Value": str(spec.failure_limit())},
        ],
    }


def _strategy(spec: SweepSpec) -> tuple[str, dict[str, Any] | None]:
    """SageMaker's strategy: the sampling algorithm's, or Hyperband (with its resources) for that policy."""
    policy = spec.early_termination
    if isinstance(policy, HyperbandPolicy):
        resources = {"MinResource": policy.min_resource, "MaxResource": policy.max_resource}
        return HYPERBAND_STRATEGY, {"HyperbandStrategyConfig": resources}
    return {"random": "Random", "grid": "Grid", "bayesian": "Bayesian"}[spec.sampling.algorithm], None


def default_image(region: str, instance_type: str) -> str:
    """SageMaker's PyTorch training image for the region, read from the SDK's image table (no SDK import)."""
    import importlib.metadata as metadata

    try:
        files = metadata.distribution("sagemaker-core").files or []
        table = next(f for f in files if str(f).endswith("image_uri_config/pytorch.json"))
        versions = json.loads(Path(str(table.locate())).read_text())["training"]["versions"]
        entry = versions[PYTORCH_VERSION]
        account = entry["registries"][region]
    except (metadata.PackageNotFoundError, StopIteration, KeyError, OSError, ValueError):
        raise UserError(
            f"no default SageMaker training image for region '{region}'; set environment.image in the sweep spec to "
            f"a SageMaker framework image (it must run `sagemaker_program`, e.g. the PyTorch training image)"
        ) from None
    processor = "gpu" if instance_type.startswith(("ml.g", "ml.p")) else "cpu"
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{entry['repository']}:{PYTORCH_VERSION}-{processor}-{PYTHON_VERSION}"
