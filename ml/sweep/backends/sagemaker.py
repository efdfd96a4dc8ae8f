"""The SageMaker sweep backend: one `SweepSpec` becomes a hyperparameter tuning job.

Why plain boto3 (``CreateHyperParameterTuningJob``) and not sagemaker 3.27's ``ModelTrainer`` +
``HyperparameterTuner``: the tuning API has no container entrypoint, so the SDK's tuner only ships
``SourceCode.entry_script`` (as ``sagemaker_program``) and silently drops ``SourceCode(command=...)``,
while a spec runs an arbitrary command with placeholders; building a ``ModelTrainer`` also calls STS
on a fixed regional endpoint (ignoring ``AWS_ENDPOINT_URL``) to derive ``sagemaker-<region>-<account>``
as a default bucket outside the stack unless a session is wired in; and importing the SDK costs about
2 s (15 s on a loaded 2-core machine) and 900 MB. The request here is one pure function
(`tuning_job_request`), validated by botocore's service model, asserted offline and against moto.

How a trial runs: the spec's code is staged with the `ml.sweep.trial` helper and a small standard-
library entry shim (``ml_sweep_entry.py``), tarred to the stack's bucket and started by a SageMaker
framework container (``sagemaker_program``/``sagemaker_submit_directory``, the PyTorch training image
unless the spec names one; the container installs ``requirements.txt``). The shim reads the tuned
values from ``/opt/ml/input/config/hyperparameters.json``, fills the command's placeholders, points
``ML_CHECKPOINT_DIR`` at ``/opt/ml/checkpoints/<training job>`` (synced to the checkpoint S3 URI, so a
spot-interrupted trial resumes), opens an MLflow run on the stack's tracking server tagged with the
sweep and trial (when mlflow is installed) and runs the command.

Mapping (details in docs/sweeps-cloud.md): choice -> categorical; uniform -> continuous Linear;
loguniform -> continuous Logarithmic; randint -> integer Linear; quniform -> continuous, rounded to
q by the shim; grid -> every parameter categorical (SageMaker's grid takes categorical only).
Sampling random/grid/bayesian -> ``Random``/``Grid``/``Bayesian`` (+ ``RandomSeed``); any early
termination -> ``TrainingJobEarlyStoppingType: Auto`` (SageMaker's rule is a median-stopping rule;
Hyperband is not used: it replaces the sampling strategy and needs resource settings the spec does
not have); spot -> ``EnableManagedSpotTraining`` with ``MaxWaitTimeInSeconds``; the stack's role,
VPC, KMS key and checkpoint URI; metric definitions from `ml.sweep.trial.metric_regex`.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml import aws
from ml.aws import client as aws_client
from ml.aws import error_parts, user_error
from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep import trial
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
    resolve_compute,
)
from ml.sweep.spec import (
    DEFAULT_CHECKPOINT_ENV,
    Choice,
    LogUniform,
    Normal,
    QUniform,
    RandInt,
    Scalar,
    SweepSpec,
    Uniform,
)

BACKEND = "sagemaker"
ENTRY = "ml_sweep_entry.py"
SWEEP_CONFIG = "ml_sweep.json"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
TRACKING_PACKAGES = ("mlflow", "sagemaker-mlflow")
"""What a trial needs to log to a SageMaker managed MLflow server (added to the pip list when missing)."""
PYTORCH_VERSION = "2.5.1"
PYTHON_VERSION = "py311"
MAX_CATEGORICAL_VALUES = 30
"""SageMaker accepts at most 30 values per categorical range."""
NAME_LIMIT = 32
"""Tuning job names are at most 32 characters."""
QUANTIZE_HYPERPARAMETER = "ml_sweep_quantize"
TAG_EXPERIMENT = "ml.sweep.experiment"
TAG_COST_ESTIMATE = "ml.cost.worst_case"
TAG_TRIAL_ID = "ml.trial.id"
_MISSING_CALL_CODES = {"500", "501", "InternalFailure", "UnknownOperationException", "NotImplemented", "InvalidAction"}
_SWEEP_STATES = {
    "InProgress": SweepState.RUNNING,
    "Completed": SweepState.COMPLETED,
    "Failed": SweepState.FAILED,
    "Stopping": SweepState.STOPPED,
    "Stopped": SweepState.STOPPED,
}

NEEDED_FOR = "the SageMaker sweep backend"


# --- names and values ----------------------------------------------------------------------------


def tuning_job_name(spec: SweepSpec, *, now: float | None = None) -> str:
    """``<name>-<yymmdd-hhmmss>`` within SageMaker's 32 characters (the sweep id on this backend)."""
    stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    head = re.sub(r"[^A-Za-z0-9-]", "-", spec.name)[: NAME_LIMIT - len(stamp) - 1].rstrip("-")
    return f"{head}-{stamp}"


def format_value(value: Any) -> str:
    """A hyperparameter value as SageMaker carries it (a string), as the local backend renders it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


# --- what SageMaker cannot run --------------------------------------------------------------------


def incompatibilities(spec: SweepSpec, outputs: PlatformOutputs) -> list[str]:
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
    compute = resolve_compute(spec, outputs)
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


def early_stopping_notes(spec: SweepSpec) -> list[str]:
    """What SageMaker's automatic early stopping does not express of the spec's policy."""
    policy = spec.early_termination
    if policy is None:
        return []
    if policy.policy == "median_stopping":
        return [
            "early_termination: SageMaker's automatic early stopping is a median-stopping rule evaluated after "
            "every reported step; evaluation_interval and delay_evaluation cannot be set"
        ]
    return [
        f"early_termination: SageMaker has no {policy.policy} policy; its automatic early stopping (a median-"
        f"stopping rule) is used instead, and the policy's parameters are not applied"
    ]


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
) -> dict[str, Any]:
    """The ``CreateHyperParameterTuningJob`` request for ``spec`` on the stack ``outputs``.

    ``code`` is the S3 URI of the staged code tarball, ``image`` the training image. Raises
    `UserError` listing every incompatibility first.
    """
    workspace = aws.workspace_of(outputs, needed_for=NEEDED_FOR)
    problems = incompatibilities(spec, outputs)
    if problems:
        raise UserError(f"sweep spec {spec.source} cannot run on SageMaker: " + "; ".join(problems))
    compute = resolve_compute(spec, outputs)
    strategy = {"random": "Random", "grid": "Grid", "bayesian": "Bayesian"}[spec.sampling.algorithm]
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
        "TrainingJobEarlyStoppingType": "Auto" if spec.early_termination is not None else "Off",
    }
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
        "Tags": tags_for(spec, outputs, name, cost=cost_estimate),
    }


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


# --- the code bundle ------------------------------------------------------------------------------


def shim_config(spec: SweepSpec) -> dict[str, Any]:
    """What ``ml_sweep_entry.py`` needs to turn tuned values into the spec's command."""
    return {
        "command": spec.command,
        "parameters": list(spec.search_space),
        "quantize": quantized(spec),
        "inputs": {
            name: (Path(urlparse(item.path).path).name if item.type == "uri_file" else "")
            for name, item in spec.inputs.items()
        },
        "checkpoint_root": CHECKPOINT_LOCAL_PATH,
        "checkpoint_env": sorted({DEFAULT_CHECKPOINT_ENV, spec.spot.checkpoint_env}),
        "experiment": spec.experiment_name,
    }


ENTRY_SHIM = '''"""Run one sweep trial in a SageMaker training container (written by `ml sweep run`; do not edit).

Reads the tuned values SageMaker passes in /opt/ml/input/config/hyperparameters.json, fills the
placeholders of the spec's command, gives the trial a checkpoint directory under /opt/ml/checkpoints
(synced to S3, so a spot-interrupted trial resumes) and an MLflow run tagged with the sweep and the
trial, runs the command and exits with its status. Standard library only (mlflow when installed).
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = json.loads((HERE / "ml_sweep.json").read_text())
# Overridable only to run this shim outside a SageMaker container (tests, debugging).
HYPERPARAMETERS = Path(os.environ.get("ML_SWEEP_HYPERPARAMETERS", "/opt/ml/input/config/hyperparameters.json"))
CHECKPOINT_ROOT = Path(os.environ.get("ML_SWEEP_CHECKPOINT_ROOT", CONFIG["checkpoint_root"]))
PLACEHOLDER = re.compile(r"\\$\\{\\{\\s*(search_space|inputs)\\.([A-Za-z_][A-Za-z0-9_]*)\\s*\\}\\}")


def decode(raw):
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def render(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def tuned_values():
    raw = json.loads(HYPERPARAMETERS.read_text()) if HYPERPARAMETERS.exists() else {}
    values = {}
    for name in CONFIG["parameters"]:
        if name not in raw:
            sys.exit(f"ml-sweep: hyperparameter '{name}' was not passed to this training job")
        value = decode(raw[name])
        q = CONFIG["quantize"].get(name)
        if q is not None:
            value = round(round(float(value) / q) * q, 12)
            value = int(value) if float(q).is_integer() and float(value).is_integer() else value
        values[name] = value
    return values


def start_mlflow_run(job):
    """An MLflow run for this trial (resumed by the script's mlflow.start_run via MLFLOW_RUN_ID)."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    try:
        from mlflow import MlflowClient

        client = MlflowClient()
        experiment = client.get_experiment_by_name(CONFIG["experiment"])
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(CONFIG["experiment"])
        tags = {
            "ml.sweep.id": os.environ.get("ML_SWEEP_ID", ""),
            "ml.sweep.name": os.environ.get("ML_SWEEP_NAME", ""),
            "ml.sweep.backend": "sagemaker",
            "ml.sweep.role": "trial",
            "ml.trial.id": job,
            "mlflow.runName": job,
        }
        return client, client.create_run(experiment_id, tags=tags).info.run_id
    except Exception as exc:
        print(f"ml-sweep: no MLflow run for this trial ({type(exc).__name__}: {exc})", flush=True)
        return None


def main():
    job = os.environ.get("TRAINING_JOB_NAME", "trial")
    values = tuned_values()
    inputs = {}
    for name, leaf in CONFIG["inputs"].items():
        inputs[name] = f"/opt/ml/input/data/{name}" + (f"/{leaf}" if leaf else "")

    def substitute(match):
        kind, name = match.groups()
        return shlex.quote(render(values[name] if kind == "search_space" else inputs[name]))

    command = PLACEHOLDER.sub(substitute, CONFIG["command"])
    checkpoints = CHECKPOINT_ROOT / job
    checkpoints.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ML_TRIAL_ID=job)
    for name in CONFIG["checkpoint_env"]:
        env[name] = str(checkpoints)
    run = start_mlflow_run(job)
    if run is not None:
        env["MLFLOW_RUN_ID"] = run[1]
    print(f"ml-sweep: trial {job}: {command}", flush=True)
    child = subprocess.Popen(["/bin/bash", "-c", command], cwd=HERE, env=env)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: child.send_signal(number))
    code = child.wait()
    if run is not None:
        status = "FINISHED" if code == 0 else ("KILLED" if code < 0 or code in (130, 143) else "FAILED")
        try:
            run[0].set_terminated(run[1], status=status)
        except Exception as exc:
            print(f"ml-sweep: could not close the MLflow run ({exc})", flush=True)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
'''


def bundle_files(spec: SweepSpec) -> dict[str, str]:
    """The files added to the staged code: the entry shim, its config, and requirements.txt."""
    files = {ENTRY: ENTRY_SHIM, SWEEP_CONFIG: json.dumps(shim_config(spec), indent=2) + "\n"}
    requirements = requirements_for(spec, add=TRACKING_PACKAGES)
    if requirements is not None:
        files["requirements.txt"] = "\n".join(requirements) + "\n"
    return files


def make_tarball(directory: Path, target: Path) -> Path:
    """``sourcedir.tar.gz`` with the directory's content at its root (what the container extracts)."""
    with tarfile.open(target, "w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=str(path.relative_to(directory)))
    return target


# --- AWS calls ------------------------------------------------------------------------------------


def _split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


# --- reading a sweep back -------------------------------------------------------------------------


def _decode(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def _params(tuned: dict[str, str], quantize: dict[str, float]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, raw in tuned.items():
        value = _decode(raw)
        q = quantize.get(name)
        if q is not None and isinstance(value, int | float):
            value = round(round(float(value) / q) * q, 12)
            value = int(value) if float(q).is_integer() and float(value).is_integer() else value
        params[name] = value
    return params


def _seconds(summary: dict[str, Any]) -> float | None:
    start, end = summary.get("TrainingStartTime"), summary.get("TrainingEndTime")
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max((end - start).total_seconds(), 0.0)
    return None


class SageMakerSweepBackend(SweepBackend):
    """Submits sweeps as SageMaker hyperparameter tuning jobs; `submit` returns once the job exists."""

    name = BACKEND

    def check(self, spec: SweepSpec, outputs: PlatformOutputs) -> None:
        """Reject what SageMaker cannot run, before any cost check or upload."""
        aws.workspace_of(outputs, needed_for=NEEDED_FOR)
        problems = incompatibilities(spec, outputs)
        if problems:
            raise UserError(f"sweep spec {spec.source} cannot run on SageMaker: " + "; ".join(problems))

    def submit(
        self, spec: SweepSpec, outputs: PlatformOutputs, *, on_progress: ProgressCallback | None = None
    ) -> SweepRun:
        """Stage and upload the code, create the tuning job; returns with state RUNNING."""
        from botocore.exceptions import BotoCoreError, ClientError

        from ml.sweep.cost import estimate

        workspace = aws.workspace_of(outputs, needed_for=NEEDED_FOR)
        self.check(spec, outputs)
        name = tuning_job_name(spec)
        cost = estimate(spec, outputs)
        compute = resolve_compute(spec, outputs)
        image = spec.environment.image or default_image(outputs.region, compute.instance_type)
        uri = code_uri(outputs, name)
        request = tuning_job_request(spec, outputs, name=name, code=uri, image=image, cost_estimate=cost.applicable)
        with tempfile.TemporaryDirectory(prefix="ml-sweep-sagemaker-") as scratch:
            staged = stage_code(spec, Path(scratch) / "code", extra_files=bundle_files(spec))
            tarball = make_tarball(staged, Path(scratch) / "sourcedir.tar.gz")
            bucket, key = _split_s3(uri)
            extra = (
                {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": workspace.kms_key_arn}
                if workspace.kms_key_arn
                else {}
            )
            try:
                aws_client("s3", outputs.region).upload_file(str(tarball), bucket, key, ExtraArgs=extra or None)
            except (ClientError, BotoCoreError) as exc:
                raise user_error(f"upload the sweep code to {uri}", exc) from None
        try:
            aws_client("sagemaker", outputs.region).create_hyper_parameter_tuning_job(**request)
        except (ClientError, BotoCoreError) as exc:
            raise user_error(f"create tuning job '{name}'", exc) from None
        notes = early_stopping_notes(spec)
        status = SweepStatus(
            sweep_id=name,
            backend=BACKEND,
            state=SweepState.RUNNING,
            total=spec.trial_budget(),
            url=_console_url(outputs.region, name),
            message="; ".join(notes) or None,
            model_name=spec.registered_model_name,
            experiment=spec.experiment_name,
            git_commit=next((t["Value"] for t in request["Tags"] if t["Key"] == TAG_GIT_COMMIT), None),
        )
        if on_progress is not None:
            on_progress(status)
        return SweepRun(sweep_id=name, backend=BACKEND, status=status, url=status.url)

    # -- reading back --------------------------------------------------------------------------

    def _describe(self, outputs: PlatformOutputs, sweep_id: str) -> tuple[Any, dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        aws.workspace_of(outputs, needed_for=NEEDED_FOR)
        client = aws_client("sagemaker", outputs.region)
        try:
            return client, client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=sweep_id)
        except ClientError as exc:
            code, message, _ = error_parts(exc)
            if code in ("ResourceNotFound", "ValidationException") and "not" in message.lower():
                raise UserError(
                    f"no tuning job '{sweep_id}' in {outputs.region} for stack '{outputs.stack}'; check the id printed "
                    f"by `ml sweep run`"
                ) from None
            raise user_error(f"read tuning job '{sweep_id}'", exc) from None
        except BotoCoreError as exc:
            raise user_error(f"read tuning job '{sweep_id}'", exc) from None

    @staticmethod
    def _training_jobs(client: Any, sweep_id: str) -> tuple[list[dict[str, Any]] | None, str | None]:
        """All training job summaries, or None and why when the service lacks the call."""
        from botocore.exceptions import ClientError

        summaries: list[dict[str, Any]] = []
        token: str | None = None
        try:
            while True:
                kwargs: dict[str, Any] = {"HyperParameterTuningJobName": sweep_id, "MaxResults": 100}
                if token:
                    kwargs["NextToken"] = token
                page = client.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
                summaries.extend(page.get("TrainingJobSummaries", []))
                token = page.get("NextToken")
                if not token:
                    return summaries, None
        except ClientError as exc:
            code, _, status = error_parts(exc)
            if code in _MISSING_CALL_CODES or status in (500, 501):
                endpoint = getattr(getattr(client, "meta", None), "endpoint_url", "the SageMaker endpoint")
                return None, (
                    f"{endpoint} does not answer ListTrainingJobsForHyperParameterTuningJob (HTTP {status}, {code}); "
                    f"counts come from DescribeHyperParameterTuningJob's counters and the best trial from its "
                    f"BestTrainingJob"
                )
            raise user_error(f"list the training jobs of tuning job '{sweep_id}'", exc) from None

    def _tags(self, client: Any, description: dict[str, Any]) -> dict[str, str]:
        try:
            tags = client.list_tags(ResourceArn=description["HyperParameterTuningJobArn"]).get("Tags", [])
        except Exception:  # lineage tags are a nicety; status must not fail on them
            return {}
        return {tag["Key"]: tag["Value"] for tag in tags}

    def status(self, outputs: PlatformOutputs, sweep_id: str) -> SweepStatus:
        """Counts by trial state (ListTrainingJobsForHyperParameterTuningJob, else the job's counters)."""
        client, description = self._describe(outputs, sweep_id)
        summaries, notice = self._training_jobs(client, sweep_id)
        return self._status_from(outputs, client, description, summaries, notice)

    def best(self, outputs: PlatformOutputs, sweep_id: str) -> TrialResult:
        """The best training job by the objective, with its MLflow run when the tracking server has one."""
        client, description = self._describe(outputs, sweep_id)
        summaries, notice = self._training_jobs(client, sweep_id)
        status = self._status_from(outputs, client, description, summaries, notice)
        if status.best is None:
            metric = description["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
            raise UserError(
                f"sweep '{sweep_id}' has no best trial yet (no training job has reported '{metric}'); check "
                f"`ml sweep status {sweep_id}`"
            )
        return self._with_mlflow_run(outputs, status, status.best)

    def _status_from(
        self,
        outputs: PlatformOutputs,
        client: Any,
        description: dict[str, Any],
        summaries: list[dict[str, Any]] | None,
        notice: str | None,
    ) -> SweepStatus:
        sweep_id = description["HyperParameterTuningJobName"]
        config = description["HyperParameterTuningJobConfig"]
        definition = description.get("TrainingJobDefinition") or {}
        objective = config["HyperParameterTuningJobObjective"]
        early_stopping = config.get("TrainingJobEarlyStoppingType", "Off") == "Auto"
        job_status = description.get("HyperParameterTuningJobStatus")
        quantize = _decode(definition.get("StaticHyperParameters", {}).get(QUANTIZE_HYPERPARAMETER, "{}"))
        quantize = quantize if isinstance(quantize, dict) else {}
        instance = definition.get("ResourceConfig", {})
        spot = bool(definition.get("EnableManagedSpotTraining"))
        counts = dict.fromkeys(TrialState, 0)
        trials: list[TrialResult] = []
        if summaries is not None:
            for summary in summaries:
                state = _trial_state(summary.get("TrainingJobStatus"), early_stopping=early_stopping, parent=job_status)
                counts[state] += 1
                trials.append(self._trial(summary, state, objective, quantize, instance, spot))
            best = _pick(trials, objective["Type"])
        else:
            counters = description.get("TrainingJobStatusCounters", {})
            counts[TrialState.COMPLETED] = int(counters.get("Completed", 0))
            counts[TrialState.RUNNING] = int(counters.get("InProgress", 0))
            counts[TrialState.FAILED] = int(counters.get("NonRetryableError", 0))
            stopped = int(counters.get("Stopped", 0))
            counts[TrialState.PRUNED if early_stopping else TrialState.STOPPED] += stopped
            reported = description.get("BestTrainingJob") or {}
            best = (
                self._trial(reported, TrialState.COMPLETED, objective, quantize, instance, spot)
                if reported.get("FinalHyperParameterTuningJobObjectiveMetric")
                else None
            )
        limits = config.get("ResourceLimits", {})
        tags = self._tags(client, description)
        measured = [t.cost for t in trials if t.cost is not None]
        return SweepStatus(
            sweep_id=sweep_id,
            backend=BACKEND,
            state=_SWEEP_STATES.get(str(job_status), SweepState.PENDING),
            total=int(limits.get("MaxNumberOfTrainingJobs") or sum(counts.values())),
            queued=counts[TrialState.QUEUED],
            running=counts[TrialState.RUNNING],
            completed=counts[TrialState.COMPLETED],
            pruned=counts[TrialState.PRUNED],
            failed=counts[TrialState.FAILED] + counts[TrialState.STOPPED],
            best=best,
            url=_console_url(outputs.region, sweep_id),
            message=notice,
            cost=sum(measured) if measured else None,
            model_name=tags.get(TAG_MODEL_NAME),
            experiment=tags.get(TAG_EXPERIMENT),
            git_commit=tags.get(TAG_GIT_COMMIT),
        )

    @staticmethod
    def _trial(
        summary: dict[str, Any],
        state: TrialState,
        objective: dict[str, Any],
        quantize: dict[str, float],
        instance: dict[str, Any],
        spot: bool,
    ) -> TrialResult:
        from ml.cost.prices import price_for
        from ml.sweep.backends.base import ComputeChoice
        from ml.sweep.cost import measured_cost

        final = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        seconds = _seconds(summary)
        cost = None
        if seconds is not None and instance.get("InstanceType"):
            try:
                price = price_for(instance["InstanceType"])
            except UserError:  # an instance type outside the price table: no measured cost
                price = None
            if price is not None:
                compute = ComputeChoice(instance["InstanceType"], int(instance.get("InstanceCount", 1)), spot)
                cost = measured_cost(seconds, compute, price)
        return TrialResult(
            trial_id=str(summary.get("TrainingJobName")),
            state=state,
            params=_params(summary.get("TunedHyperParameters") or {}, quantize),
            metric=str(final.get("MetricName") or objective["MetricName"]),
            value=float(final["Value"]) if "Value" in final else None,
            seconds=seconds,
            cost=cost,
        )

    def _with_mlflow_run(self, outputs: PlatformOutputs, status: SweepStatus, best: TrialResult) -> TrialResult:
        """Attach the trial's MLflow run (tagged by the entry shim); else its SageMaker model artifact."""
        from dataclasses import replace

        run_id = None
        try:
            from ml.tracking import use_tracking

            client = use_tracking(outputs)
            experiment = client.get_experiment_by_name(status.experiment) if status.experiment else None
            if experiment is not None:
                runs = client.search_runs(
                    [experiment.experiment_id],
                    filter_string=f"tags.`{TAG_TRIAL_ID}` = '{best.trial_id}'",
                    max_results=1,
                )
                run_id = runs[0].info.run_id if runs else None
        except Exception:  # the tracking server (or its plugin) may be unreachable from here
            run_id = None
        if run_id is not None:
            return replace(best, run_id=run_id, model_uri=f"runs:/{run_id}/model")
        output = f"{outputs.artifacts.uri.rstrip('/')}/sweeps/{status.sweep_id}/output"
        return replace(best, model_uri=f"{output}/{best.trial_id}/output/model.tar.gz")


@contextmanager
def _bounded_mlflow_requests() -> Iterator[None]:
    """One attempt with a short timeout (MLflow otherwise retries for minutes), unless the user set them."""
    limits = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
    saved = {name: os.environ.get(name) for name in limits}
    for name, value in limits.items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def _trial_state(status: str | None, *, early_stopping: bool, parent: str | None) -> TrialState:
    if status == "Completed":
        return TrialState.COMPLETED
    if status == "Failed":
        return TrialState.FAILED
    if status in ("InProgress", "Stopping"):
        return TrialState.RUNNING
    if status == "Stopped":
        # The tuner stops the jobs its early stopping judges hopeless; stopping the sweep stops the rest.
        return TrialState.PRUNED if early_stopping and parent not in ("Stopping", "Stopped") else TrialState.STOPPED
    return TrialState.QUEUED


def _pick(trials: list[TrialResult], objective_type: str) -> TrialResult | None:
    scored = [t for t in trials if t.value is not None and t.state is TrialState.COMPLETED]
    if not scored:
        return None
    key = (lambda t: t.value) if objective_type == "Maximize" else (lambda t: -(t.value or 0.0))
    return max(scored, key=key)


def _console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/hyper-tuning-jobs/{name}"
