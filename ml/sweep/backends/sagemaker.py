"""The SageMaker sweep backend: one `SweepSpec` becomes a hyperparameter tuning job.

Why plain boto3 (``CreateHyperParameterTuningJob``) and not sagemaker 3.27's ``ModelTrainer`` +
``HyperparameterTuner``: the tuning API has no container entrypoint, so the SDK's tuner only ships
``SourceCode.entry_script`` (as ``sagemaker_program``) and silently drops ``SourceCode(command=...)``,
while a spec runs an arbitrary command with placeholders; building a ``ModelTrainer`` also calls STS
on a fixed regional endpoint (ignoring ``AWS_ENDPOINT_URL``) to derive ``sagemaker-<region>-<account>``
as a default bucket outside the stack unless a session is wired in; and importing the SDK costs about
2 s (15 s on a loaded 2-core machine) and 900 MB. The request here is one pure function
(`tuning_job_request`), validated by botocore's service model, asserted offline and against moto.

How a trial runs: the spec's code is staged with the `ml.sweep.trial` helper and the standard-library
entry module `ml.sweep.backends.sagemaker_entry` (as ``ml_sweep_entry.py``), tarred to the stack's
bucket and started by a SageMaker framework container (``sagemaker_program``/``sagemaker_submit_directory``,
the PyTorch training image unless the spec names one; the container installs ``requirements.txt``).
The entry module reads the tuned values from ``/opt/ml/input/config/hyperparameters.json``, fills the
command's placeholders, points ``ML_CHECKPOINT_DIR`` at ``/opt/ml/checkpoints/<training job>`` (synced
to the checkpoint S3 URI, so a spot-interrupted trial resumes), opens an MLflow run on the stack's
tracking server tagged with the sweep and trial (when mlflow is installed) and runs the command.

Layout: `_sagemaker_job` (the pure request, incompatibilities, the early-stopping table),
`_sagemaker_bundle` (the staged code), `sagemaker_entry` (the trial's program), `_sagemaker_status`
(reading back); this module is the backend and its AWS calls.

Mapping (details in docs/sweeps-cloud.md): choice -> categorical; uniform -> continuous Linear;
loguniform -> continuous Logarithmic; randint -> integer Linear; quniform -> continuous, rounded to
q by the entry module; grid -> every parameter categorical (SageMaker's grid takes categorical only).
Sampling random/grid/bayesian -> ``Random``/``Grid``/``Bayesian`` (+ ``RandomSeed``); any early
termination -> ``TrainingJobEarlyStoppingType: Auto`` (SageMaker's rule is a median-stopping rule;
one table, `_sagemaker_job.EARLY_STOPPING`); spot -> ``EnableManagedSpotTraining`` with
``MaxWaitTimeInSeconds``; the stack's role, VPC, KMS key and checkpoint URI; metric definitions from
`ml.sweep.trial.metric_regex`. ``early_termination: hyperband`` becomes the ``Hyperband`` strategy with
early stopping Off. SageMaker has no limit on failed trials: `status` stops a tuning job once
``limits.max_failed_trials`` trials failed (tag ``ml.sweep.max_failed_trials``), and reports each failed
trial's ``FailureReason`` and log stream; instance-hours are the jobs' ``BillableTimeInSeconds``.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml import aws
from ml.aws import client as aws_client
from ml.aws import error_parts, user_error
from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep.backends._cloud_staging import stage_code
from ml.sweep.backends._sagemaker_bundle import bundle_files, make_tarball, shim_config
from ml.sweep.backends._sagemaker_job import (
    BACKEND,
    ENTRY,
    NEEDED_FOR,
    code_uri,
    default_image,
    early_stopping_notes,
    incompatibilities,
    parameter_ranges,
    refuse_incompatible,
    tuning_job_name,
    tuning_job_request,
)
from ml.sweep.backends._sagemaker_status import console_url, status_from, training_jobs, with_mlflow_run
from ml.sweep.backends.base import (
    TAG_GIT_COMMIT,
    ProgressCallback,
    SweepBackend,
    SweepRun,
    SweepState,
    SweepStatus,
    TrialResult,
)
from ml.sweep.compute import ComputeChoice
from ml.sweep.cost import CostEstimate
from ml.sweep.spec import SweepSpec

__all__ = [
    "ENTRY",
    "SageMakerSweepBackend",
    "bundle_files",
    "code_uri",
    "default_image",
    "incompatibilities",
    "parameter_ranges",
    "shim_config",
    "tuning_job_name",
    "tuning_job_request",
]


class SageMakerSweepBackend(SweepBackend):
    """Submits sweeps as SageMaker hyperparameter tuning jobs; `submit` returns once the job exists."""

    name = BACKEND

    def check(self, spec: SweepSpec, outputs: PlatformOutputs, compute: ComputeChoice | None = None) -> None:
        """Reject what SageMaker cannot run, before any cost check or upload."""
        aws.workspace_of(outputs, needed_for=NEEDED_FOR)
        refuse_incompatible(spec, outputs, compute)

    def submit(
        self,
        spec: SweepSpec,
        outputs: PlatformOutputs,
        *,
        on_progress: ProgressCallback | None = None,
        admitted: CostEstimate | None = None,
    ) -> SweepRun:
        """Stage and upload the code, create the tuning job; returns with state RUNNING.

        The spec is checked and the compute resolved once (`admit`, by the CLI or here); the request
        is built from that compute without checking again.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        cost = admitted or self.admit(spec, outputs, enforce_cost=False)
        compute = cost.compute
        workspace = aws.workspace_of(outputs, needed_for=NEEDED_FOR)
        name = tuning_job_name(spec)
        image = spec.environment.image or default_image(outputs.region, compute.instance_type)
        uri = code_uri(outputs, name)
        request = tuning_job_request(
            spec, outputs, name=name, code=uri, image=image, cost_estimate=cost.applicable, compute=compute
        )
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
            url=console_url(outputs.region, name),
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

    def status(self, outputs: PlatformOutputs, sweep_id: str) -> SweepStatus:
        """Counts by trial state (ListTrainingJobsForHyperParameterTuningJob, else the job's counters)."""
        client, description = self._describe(outputs, sweep_id)
        summaries, notice = training_jobs(client, sweep_id)
        status = status_from(outputs, client, description, summaries, notice)
        return self._stop_if_failing(client, status)

    @staticmethod
    def _stop_if_failing(client: Any, status: SweepStatus) -> SweepStatus:
        """SageMaker has no failed-trial limit: `ml` stops a tuning job that reached ``max_failed_trials``."""
        limit = status.max_failed_trials
        if limit is None or status.failed < limit or status.state is not SweepState.RUNNING:
            return status
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=status.sweep_id)
        except (ClientError, BotoCoreError) as exc:
            raise user_error(f"stop tuning job '{status.sweep_id}' after {status.failed} failed trials", exc) from None
        message = (
            f"tuning job stopped by ml: {status.failed} trials failed (limits.max_failed_trials = {limit}); "
            f"fix the error below and run it again"
        )
        return replace(status, state=SweepState.STOPPED, message=message)

    def best(self, outputs: PlatformOutputs, sweep_id: str) -> TrialResult:
        """The best training job by the objective, with its MLflow run when the tracking server has one."""
        client, description = self._describe(outputs, sweep_id)
        summaries, notice = training_jobs(client, sweep_id)
        status = status_from(outputs, client, description, summaries, notice)
        if status.best is None:
            metric = description["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
            raise UserError(
                f"sweep '{sweep_id}' has no best trial yet (no training job has reported '{metric}'); check "
                f"`ml sweep status {sweep_id}`"
            )
        return with_mlflow_run(outputs, status, status.best)


def _split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")
