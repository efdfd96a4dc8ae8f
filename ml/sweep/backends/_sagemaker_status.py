"""Reading a SageMaker sweep back: a tuning job's description and training jobs as a `SweepStatus`.

Why apart from the submission: reading back depends only on what SageMaker returns (the tuning
job, its training job summaries, its tags) and on the MLflow runs the entry module opened, never on
the spec; when the service lacks ListTrainingJobsForHyperParameterTuningJob (moto answers 500), the
job's own counters and ``BestTrainingJob`` stand in. Tuned values are decoded and quantized by the
entry module's own functions, so a trial's parameters read back exactly as the trial received them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ml.aws import error_parts, user_error
from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.cost.prices import price_for
from ml.sweep.backends._sagemaker_job import (
    BACKEND,
    QUANTIZE_HYPERPARAMETER,
)
from ml.sweep.backends.base import (
    TAG_COST_ESTIMATE,
    TAG_EXPERIMENT,
    TAG_GIT_COMMIT,
    TAG_MAX_FAILED,
    TAG_MODEL_NAME,
    SweepState,
    SweepStatus,
    TrialResult,
    TrialState,
)
from ml.sweep.backends.sagemaker_entry import decode
from ml.sweep.backends.sagemaker_entry import quantize as entry_quantize
from ml.sweep.compute import ComputeChoice
from ml.sweep.cost import measured_cost

TAG_TRIAL_ID = "ml.trial.id"
"""The tag the entry module puts on a trial's MLflow run (its training job name)."""
_MISSING_CALL_CODES = {"500", "501", "InternalFailure", "UnknownOperationException", "NotImplemented", "InvalidAction"}
_SWEEP_STATES = {
    "InProgress": SweepState.RUNNING,
    "Completed": SweepState.COMPLETED,
    "Failed": SweepState.FAILED,
    "Stopping": SweepState.STOPPED,
    "Stopped": SweepState.STOPPED,
}


def training_jobs(client: Any, sweep_id: str) -> tuple[list[dict[str, Any]] | None, str | None]:
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


def _tags(client: Any, description: dict[str, Any]) -> dict[str, str]:
    try:
        tags = client.list_tags(ResourceArn=description["HyperParameterTuningJobArn"]).get("Tags", [])
    except Exception:  # lineage tags are a nicety; status must not fail on them
        return {}
    return {tag["Key"]: tag["Value"] for tag in tags}


def status_from(
    outputs: PlatformOutputs,
    client: Any,
    description: dict[str, Any],
    summaries: list[dict[str, Any]] | None,
    notice: str | None,
) -> SweepStatus:
    """The sweep's status from its description and, when the service lists them, its training jobs."""
    sweep_id = description["HyperParameterTuningJobName"]
    config = description["HyperParameterTuningJobConfig"]
    definition = description.get("TrainingJobDefinition") or {}
    objective = config["HyperParameterTuningJobObjective"]
    early_stopping = config.get("TrainingJobEarlyStoppingType", "Off") == "Auto"
    job_status = description.get("HyperParameterTuningJobStatus")
    quantize = decode(definition.get("StaticHyperParameters", {}).get(QUANTIZE_HYPERPARAMETER, "{}"))
    quantize = quantize if isinstance(quantize, dict) else {}
    instance = definition.get("ResourceConfig", {})
    spot = bool(definition.get("EnableManagedSpotTraining"))
    counts = dict.fromkeys(TrialState, 0)
    trials: list[TrialResult] = []
    if summaries is not None:
        for summary in summaries:
            state = _trial_state(summary.get("TrainingJobStatus"), early_stopping=early_stopping, parent=job_status)
            counts[state] += 1
            trials.append(_trial(summary, state, objective, quantize, instance, spot, client=client))
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
            _trial(reported, TrialState.COMPLETED, objective, quantize, instance, spot)
            if reported.get("FinalHyperParameterTuningJobObjectiveMetric")
            else None
        )
    limits = config.get("ResourceLimits", {})
    tags = _tags(client, description)
    measured = [t.cost for t in trials if t.cost is not None]
    failures = tuple(t for t in trials if t.state is TrialState.FAILED)
    if summaries is None and counts[TrialState.FAILED]:
        reason = description.get("FailureReason")
        failures = (TrialResult("(not listed)", TrialState.FAILED, {}, objective["MetricName"], error=reason),)
    estimate = tags.get(TAG_COST_ESTIMATE)
    max_failed = tags.get(TAG_MAX_FAILED)
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
        url=console_url(outputs.region, sweep_id),
        message=notice,
        cost=sum(measured) if measured else None,
        model_name=tags.get(TAG_MODEL_NAME),
        experiment=tags.get(TAG_EXPERIMENT),
        git_commit=tags.get(TAG_GIT_COMMIT),
        estimated_cost=float(estimate) if estimate else None,
        instance_hours=sum(t.seconds or 0.0 for t in trials) * int(instance.get("InstanceCount", 1)) / 3600,
        failures=failures,
        max_failed_trials=int(max_failed) if max_failed else None,
    )


def _trial(
    summary: dict[str, Any],
    state: TrialState,
    objective: dict[str, Any],
    quantize: dict[str, float],
    instance: dict[str, Any],
    spot: bool,
    *,
    client: Any = None,
) -> TrialResult:
    final = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    seconds = _billable_seconds(client, summary) if client is not None else None
    seconds = seconds if seconds is not None else _seconds(summary)
    failed = state is TrialState.FAILED
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
        error=summary.get("FailureReason") if failed else None,
        log=_log_url(str(summary.get("TrainingJobName"))) if failed else None,
    )


def _billable_seconds(client: Any, summary: dict[str, Any]) -> float | None:
    """``BillableTimeInSeconds`` of a finished training job (what SageMaker bills; spot-discounted time)."""
    if not summary.get("TrainingEndTime"):
        return None
    try:
        described = client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
    except Exception:  # the wall time from the summary stands in
        return None
    billable = described.get("BillableTimeInSeconds")
    return float(billable) if billable is not None else None


def _log_url(job: str) -> str:
    """Where a training job's output is: its CloudWatch log streams (group /aws/sagemaker/TrainingJobs)."""
    return f"CloudWatch /aws/sagemaker/TrainingJobs, streams {job}/*"


def with_mlflow_run(outputs: PlatformOutputs, status: SweepStatus, best: TrialResult) -> TrialResult:
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


def _params(tuned: dict[str, str], quantize: dict[str, float]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, raw in tuned.items():
        value = decode(raw)
        q = quantize.get(name)
        params[name] = entry_quantize(value, q) if q is not None and isinstance(value, int | float) else value
    return params


def _seconds(summary: dict[str, Any]) -> float | None:
    start, end = summary.get("TrainingStartTime"), summary.get("TrainingEndTime")
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max((end - start).total_seconds(), 0.0)
    return None


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


def console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/hyper-tuning-jobs/{name}"
