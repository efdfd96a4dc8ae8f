"""A sweep's mean CPU, memory and GPU utilisation, read back from its trials' MLflow runs, on every backend.

Why MLflow and why here, once: every backend's trials record MLflow's system metrics on their run
in the stack's tracking server (the local sweep samples them per trial, `_local_usage`; Azure ML
and SageMaker trials run with ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true``). So `ml sweep status`
finds the sweep's trial runs by what each backend tags them with, and averages their samples, in
this one place for all backends, instead of one reader per cloud API:

- local and SageMaker trial runs carry ``ml.sweep.id`` = the sweep id and ``ml.sweep.role`` = trial;
- Azure ML trial runs are the sweep job's children: MLflow tag ``mlflow.parentRunId`` = the sweep id.

A trial's mean is its summary metric when the backend logged one (the local sweep does, at the end
of each trial) or else the mean of the system metric's samples; the sweep's mean weights each trial
by its run's duration. A mean CPU (or, with a GPU, GPU) utilisation under `OVERSIZED_BELOW`
percent flags an over-sized instance. When a SageMaker sweep's trials recorded none (no tracking
server on the stack), SageMaker's own CloudWatch instance metrics stand in (`_sagemaker_usage`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ml.sweep.backends.base import TAG_SWEEP_ID, TAG_SWEEP_ROLE, SweepBackend, SweepStatus

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from ml.contract import PlatformOutputs

SYSTEM_METRICS: Mapping[str, tuple[str, str]] = {
    "cpu": ("system/cpu_utilization_percentage", "utilization_cpu_mean"),
    "memory": ("system/system_memory_usage_percentage", "utilization_memory_mean"),
    "gpu": ("system/gpu_utilization_percentage", "utilization_gpu_mean"),
}
"""Resource -> (MLflow's system metric, the per-trial mean a backend may log as a summary)."""
OVERSIZED_BELOW = 30.0
"""Mean utilisation (percent) under which the instance is flagged as over-sized."""
_PARENT_TAG = "mlflow.parentRunId"


@dataclass(frozen=True)
class Utilization:
    """Time-weighted means (percent) over a sweep's trials; None where no trial recorded the metric."""

    cpu: float | None
    memory: float | None
    gpu: float | None
    trials: int
    """Trial runs with at least one utilisation sample."""


def trial_runs(client: MlflowClient, sweep_id: str, experiment: str | None = None) -> list[Run]:
    """The sweep's trial runs in the tracking store, whichever backend ran them (see the module docstring)."""
    if experiment:
        found = client.get_experiment_by_name(experiment)
        experiment_ids = [found.experiment_id] if found is not None else []
    else:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    if not experiment_ids:
        return []
    runs: dict[str, Run] = {}
    for query in (f"tags.`{TAG_SWEEP_ID}` = '{sweep_id}'", f"tags.`{_PARENT_TAG}` = '{sweep_id}'"):
        for run in client.search_runs(experiment_ids=experiment_ids, filter_string=query, max_results=50_000):
            if run.data.tags.get(TAG_SWEEP_ROLE, "trial") == "trial":
                runs[run.info.run_id] = run
    return list(runs.values())


def run_means(client: MlflowClient, run: Run) -> dict[str, float]:
    """One trial's mean per resource: its summary metric, else the mean of its samples."""
    means: dict[str, float] = {}
    metrics = run.data.metrics
    for resource, (system, summary) in SYSTEM_METRICS.items():
        if summary in metrics:
            means[resource] = metrics[summary]
        elif system in metrics:
            values = [m.value for m in client.get_metric_history(run.info.run_id, system)]
            if values:
                means[resource] = sum(values) / len(values)
    return means


def _seconds(run: Run, now_ms: int) -> float:
    start = run.info.start_time or now_ms
    return max((run.info.end_time or now_ms) - start, 1) / 1000


def sweep_utilization(client: MlflowClient, sweep_id: str, experiment: str | None = None) -> Utilization | None:
    """The sweep's time-weighted mean utilisation, or None when no trial recorded system metrics."""
    now_ms = int(time.time() * 1000)
    measured = [(_seconds(run, now_ms), run_means(client, run)) for run in trial_runs(client, sweep_id, experiment)]
    measured = [(seconds, means) for seconds, means in measured if means]
    if not measured:
        return None
    return Utilization(
        cpu=weighted_mean((s, m.get("cpu")) for s, m in measured),
        memory=weighted_mean((s, m.get("memory")) for s, m in measured),
        gpu=weighted_mean((s, m.get("gpu")) for s, m in measured),
        trials=len(measured),
    )


def weighted_mean(pairs: Iterable[tuple[float, float | None]]) -> float | None:
    """The mean of the values that exist, each weighted by its seconds; None when there is none."""
    present = [(seconds, value) for seconds, value in pairs if value is not None and seconds > 0]
    total = sum(seconds for seconds, _ in present)
    return sum(seconds * value for seconds, value in present) / total if total else None


def oversized(status: SweepStatus) -> str | None:
    """Why the sweep's instance looks over-sized (GPU when it has one, else CPU), or None."""
    if status.gpu_utilization is not None:
        if status.gpu_utilization < OVERSIZED_BELOW:
            return f"over-sized? mean GPU {status.gpu_utilization:.0f} % < {OVERSIZED_BELOW:.0f} %"
        return None
    if status.utilization is not None and status.utilization < OVERSIZED_BELOW:
        return f"over-sized? mean CPU {status.utilization:.0f} % < {OVERSIZED_BELOW:.0f} %: a smaller instance would do"
    return None


def with_utilization(status: SweepStatus, outputs: PlatformOutputs) -> SweepStatus:
    """``status`` with the means read from the stack's tracking server; unchanged when it has none.

    The tracking server being unreachable (or its plugin missing) leaves the counts as the backend
    read them, with the reason in the message: utilisation is a measurement shown next to the
    counts, never a reason for `status` to fail.
    """
    from ml.tracking import use_tracking

    try:
        measured = sweep_utilization(use_tracking(outputs), status.sweep_id, status.experiment)
    except Exception as exc:  # see the docstring: the reason is shown, not swallowed
        note = f"utilisation not read from {outputs.tracking_uri}: {type(exc).__name__}: {exc}"
        return replace(status, message="; ".join(part for part in (status.message, note) if part))
    if measured is None:
        return _from_cloudwatch(status, outputs) if status.backend == "sagemaker" else status
    return replace(status, utilization=measured.cpu, memory_utilization=measured.memory, gpu_utilization=measured.gpu)


def _from_cloudwatch(status: SweepStatus, outputs: PlatformOutputs) -> SweepStatus:
    """SageMaker's own instance metrics, when no trial recorded MLflow system metrics (`_sagemaker_usage`)."""
    from ml.sweep.backends._sagemaker_usage import cloudwatch_utilization

    try:
        means = cloudwatch_utilization(outputs, status.sweep_id)
    except Exception as exc:  # as above: shown, never a reason for `status` to fail
        note = f"utilisation not read from CloudWatch: {type(exc).__name__}: {exc}"
        return replace(status, message="; ".join(part for part in (status.message, note) if part))
    if not means:
        return status
    return replace(
        status, utilization=means.get("cpu"), memory_utilization=means.get("memory"), gpu_utilization=means.get("gpu")
    )


def measured_status(backend: SweepBackend, outputs: PlatformOutputs, sweep_id: str) -> SweepStatus:
    """What `ml sweep status` shows: the backend's status with the utilisation measured in MLflow."""
    return with_utilization(backend.status(outputs, sweep_id), outputs)
