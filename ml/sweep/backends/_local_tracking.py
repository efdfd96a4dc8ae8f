"""The local sweep's record in MLflow: a parent run per sweep, a nested run per trial.

Why MLflow is the store: it is the system of record for runs and models, so `ml sweep status` and
`ml sweep best` read the sweep back from it after the process that ran it is gone. The parent run
(tag ``ml.sweep.role=parent``) holds the sweep state, counts and best trial as tags; every trial's
run (``ml.sweep.role=trial``, ``mlflow.parentRunId``) holds its params, per-step metrics, state,
restarts, and the estimated and measured cost.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep import trial as protocol
from ml.sweep.backends._local_usage import UTILIZATION_METRIC, mean_utilization
from ml.sweep.backends._tracking_hold import HoldingClient
from ml.sweep.backends.base import (
    TAG_GIT_COMMIT,
    TAG_MAX_FAILED,
    TAG_MODEL_NAME,
    TAG_STACK,
    TAG_SWEEP_BACKEND,
    TAG_SWEEP_ID,
    TAG_SWEEP_NAME,
    TAG_SWEEP_ROLE,
    TAG_SWEEP_STATE,
    TAG_TRIAL_NUMBER,
    TAG_TRIAL_STATE,
    SweepState,
    SweepStatus,
    TrialResult,
    TrialState,
)
from ml.sweep.spec import SweepSpec
from ml.tracking import ensure_experiment, local_artifact_root

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

BACKEND = "local"
TAG_OBJECTIVE_METRIC = "ml.objective.metric"
TAG_OBJECTIVE_GOAL = "ml.objective.goal"
TAG_TOTAL = "ml.sweep.total_trials"
TAG_BEST_RUN = "ml.sweep.best_run_id"
TAG_MESSAGE = "ml.trial.message"
TAG_RESTARTS = "ml.trial.restarts"
TAG_MODEL_URI = "ml.trial.model_uri"
TAG_LAST_STEP = "ml.trial.last_step"
TAG_CURRENCY = "ml.cost.currency"
TAG_PID = "ml.sweep.pid"
TAG_HOST = "ml.sweep.host"
TAG_ERROR = "ml.trial.error"
TAG_LOG = "ml.trial.log"
METRIC_SECONDS = "trial_seconds"
METRIC_START_SECONDS = "trial_start_seconds"
METRIC_HOURS_ESTIMATED = "instance_hours_estimated"
METRIC_HOURS = "instance_hours"
METRIC_COST_ESTIMATED = "cost_estimated"
METRIC_COST_MEASURED = "cost_measured"
_MLFLOW_STATUS = {
    TrialState.COMPLETED: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.STOPPED: "KILLED",
    TrialState.FAILED: "FAILED",
}


class SweepRecorder:
    """Writes one sweep to MLflow as it runs."""

    def __init__(
        self,
        client: MlflowClient,
        outputs: PlatformOutputs,
        spec: SweepSpec,
        sweep_id: str,
        journal: Path | None = None,
    ) -> None:
        self.holding = HoldingClient(client, outputs.tracking_uri, journal)  # writes survive a tracking outage
        self.client = cast("MlflowClient", self.holding)
        self.outputs = outputs
        self.spec = spec
        self.sweep_id = sweep_id
        self.experiment_id = ""
        self.parent_run_id = ""

    def start(self, *, total: int, git_commit: str | None, estimated_cost: float, currency: str) -> str:
        """Create the parent run with the spec and the sweep's lineage; returns its id."""
        spec = self.spec
        self.experiment_id = ensure_experiment(self.client, spec.experiment_name, local_artifact_root(self.outputs))
        tags = {
            TAG_SWEEP_ID: self.sweep_id,
            TAG_SWEEP_NAME: spec.name,
            TAG_SWEEP_ROLE: "parent",
            TAG_SWEEP_BACKEND: BACKEND,
            TAG_SWEEP_STATE: SweepState.RUNNING.value,
            TAG_STACK: self.outputs.stack,
            TAG_MODEL_NAME: spec.registered_model_name,
            TAG_OBJECTIVE_METRIC: spec.objective.metric,
            TAG_OBJECTIVE_GOAL: spec.objective.goal,
            TAG_TOTAL: str(total),
            TAG_CURRENCY: currency,
        }
        if git_commit:
            tags[TAG_GIT_COMMIT] = git_commit
        tags.update({TAG_PID: str(os.getpid()), TAG_HOST: socket.gethostname()})  # `status` tells a dead sweep
        run = self.client.create_run(self.experiment_id, run_name=self.sweep_id, tags=tags)
        self.parent_run_id = run.info.run_id
        policy = spec.early_termination
        params = {
            "sampling": spec.sampling.algorithm,
            "seed": spec.sampling.seed,
            "early_termination": policy.policy if policy else "none",
            "max_total_trials": total,
            "max_concurrent_trials": spec.limits.max_concurrent_trials,
            "trial_timeout": spec.limits.trial_timeout,
            "timeout": spec.limits.timeout,
            "objective": f"{spec.objective.goal} {spec.objective.metric}",
        }
        self._log_params(self.parent_run_id, params)
        self.client.log_dict(self.parent_run_id, spec.model_dump(mode="json"), "sweep_spec.json")
        self.client.log_metric(self.parent_run_id, METRIC_COST_ESTIMATED, estimated_cost)
        return self.parent_run_id

    def log_estimate(self, instance_hours: float, max_failed_trials: int) -> None:
        """The worst-case instance-hours the sweep was admitted with and its failure limit, for `status`."""
        self.client.log_metric(self.parent_run_id, METRIC_HOURS_ESTIMATED, instance_hours)
        self.client.set_tag(self.parent_run_id, TAG_MAX_FAILED, str(max_failed_trials))

    def start_trial(self, number: int, params: Mapping[str, Any], *, git_commit: str | None) -> str:
        """Create a trial's run nested under the sweep's; the trial process attaches to it by id."""
        tags = {
            "mlflow.parentRunId": self.parent_run_id,
            TAG_SWEEP_ID: self.sweep_id,
            TAG_SWEEP_ROLE: "trial",
            TAG_SWEEP_BACKEND: BACKEND,
            TAG_TRIAL_NUMBER: str(number),
            TAG_TRIAL_STATE: TrialState.RUNNING.value,
        }
        if git_commit:
            tags[TAG_GIT_COMMIT] = git_commit
        run = self.client.create_run(self.experiment_id, run_name=f"{self.sweep_id}-trial-{number}", tags=tags)
        self._log_params(run.info.run_id, params)
        return str(run.info.run_id)

    def log_reports(self, run_id: str, reports: Iterable[protocol.Report]) -> None:
        """Per-step metrics, as the trial reported them."""
        from mlflow.entities import Metric

        metrics = [
            Metric(key=name, value=value, timestamp=int(report.time * 1000), step=report.step)
            for report in reports
            for name, value in report.metrics.items()
        ]
        for start in range(0, len(metrics), 900):
            self.client.log_batch(run_id, metrics=metrics[start : start + 900])

    def set_trial_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    def finish_trial(self, result: TrialResult, *, restarts: int, message: str | None, log_file: Path | None) -> None:
        """The trial's final state, time, costs and output; its run ends FINISHED, KILLED or FAILED."""
        from mlflow.entities import Metric

        assert result.run_id is not None
        now = int(time.time() * 1000)
        metrics = [
            Metric(METRIC_SECONDS, result.seconds or 0.0, now, 0),
            Metric(METRIC_COST_ESTIMATED, result.estimated_cost or 0.0, now, 0),
            Metric(METRIC_COST_MEASURED, result.cost or 0.0, now, 0),
        ]
        tags = {TAG_TRIAL_STATE: result.state.value, TAG_RESTARTS: str(restarts)}
        if message:
            tags[TAG_MESSAGE] = message[:4000]
        if result.model_uri:
            tags[TAG_MODEL_URI] = result.model_uri
        if result.step is not None:
            tags[TAG_LAST_STEP] = str(result.step)
        if result.error:
            tags[TAG_ERROR] = result.error[:1000]
        if result.log:
            tags[TAG_LOG] = result.log
        if result.start_seconds is not None:
            metrics.append(Metric(METRIC_START_SECONDS, result.start_seconds, now, 0))
        from mlflow.entities import RunTag

        self.client.log_batch(result.run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        if log_file is not None and log_file.exists():
            self.client.log_artifact(result.run_id, str(log_file))
        self.client.set_terminated(result.run_id, status=_MLFLOW_STATUS.get(result.state, "FAILED"))

    def model_uri(self, run_id: str) -> str | None:
        """The model the trial logged (MLflow 3 logged models), if any; None while the tracking server is away."""
        if self.holding.down_since is not None:
            return None
        models = self.client.search_logged_models(
            experiment_ids=[self.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        return str(models[0].model_uri) if models else None

    def update(self, status: SweepStatus) -> None:
        """Counts and the best trial so far on the parent run, so `ml sweep status` sees progress."""
        from mlflow.entities import RunTag

        tags = {
            TAG_SWEEP_STATE: status.state.value,
            "ml.sweep.completed": str(status.completed),
            "ml.sweep.pruned": str(status.pruned),
            "ml.sweep.failed": str(status.failed),
            "ml.sweep.running": str(status.running),
        }
        if status.best is not None and status.best.run_id:
            tags[TAG_BEST_RUN] = status.best.run_id
        if status.message:
            tags[TAG_MESSAGE] = status.message[:4000]
        self.client.log_batch(self.parent_run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def finish(self, status: SweepStatus, *, artifacts: Iterable[Path]) -> None:
        """Final counts, best value and measured cost on the parent run, and the plot."""
        from mlflow.entities import Metric

        self.update(status)
        now = int(time.time() * 1000)
        metrics = [
            Metric(METRIC_COST_MEASURED, status.cost or 0.0, now, 0),
            Metric("trials_completed", status.completed, now, 0),
            Metric("trials_pruned", status.pruned, now, 0),
            Metric("trials_failed", status.failed, now, 0),
            Metric(METRIC_HOURS, status.instance_hours or 0.0, now, 0),
        ]
        if status.best is not None and status.best.value is not None:
            metrics.append(Metric(f"best_{self.spec.objective.metric}", status.best.value, now, 0))
        self.client.log_batch(self.parent_run_id, metrics=metrics)
        for path in artifacts:
            self.client.log_artifact(self.parent_run_id, str(path))
        final = {SweepState.COMPLETED: "FINISHED", SweepState.STOPPED: "KILLED"}.get(status.state, "FAILED")
        self.client.set_terminated(self.parent_run_id, status=final)

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        entries = [Param(key, _param_text(value)) for key, value in params.items() if value is not None]
        self.client.log_batch(run_id, params=entries)


def _param_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


# --- reading a sweep back ------------------------------------------------------------------------------


def _sweep_runs(client: MlflowClient, sweep_id: str) -> tuple[Run, list[Run]]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiment_ids=experiments, filter_string=f"tags.`{TAG_SWEEP_ID}` = '{sweep_id}'", max_results=50_000
    )
    parents = [r for r in runs if r.data.tags.get(TAG_SWEEP_ROLE) == "parent"]
    if not parents:
        raise UserError(
            f"no sweep '{sweep_id}' in the tracking store; `ml sweep run` prints the id of each sweep "
            f"(and `ml sweep status` with no id shows the latest)"
        )
    trials = [r for r in runs if r.data.tags.get(TAG_SWEEP_ROLE) == "trial"]
    return parents[0], trials


def _trial_result(run: Run, metric: str, currency: str) -> TrialResult:
    tags = run.data.tags
    state = TrialState(tags.get(TAG_TRIAL_STATE, TrialState.RUNNING.value))
    if state is TrialState.RUNNING and run.info.status in ("FAILED", "KILLED"):
        state = TrialState.FAILED  # the sweep process died before recording the trial
    metrics = run.data.metrics
    step = tags.get(TAG_LAST_STEP)
    return TrialResult(
        trial_id=tags.get(TAG_TRIAL_NUMBER, run.info.run_id),
        state=state,
        params=dict(run.data.params),
        metric=metric,
        value=metrics.get(metric),
        run_id=run.info.run_id,
        model_uri=tags.get(TAG_MODEL_URI),
        step=int(step) if step is not None else None,
        seconds=metrics.get(METRIC_SECONDS),
        cost=metrics.get(METRIC_COST_MEASURED),
        estimated_cost=metrics.get(METRIC_COST_ESTIMATED),
        currency=currency,
        error=tags.get(TAG_ERROR) or (tags.get(TAG_MESSAGE) if state is TrialState.FAILED else None),
        log=tags.get(TAG_LOG),
        utilization=metrics.get(UTILIZATION_METRIC),
        start_seconds=metrics.get(METRIC_START_SECONDS),
    )


def pick_best(results: Iterable[TrialResult], goal: str) -> TrialResult | None:
    """The completed trial with the best value for the goal (ties: the earliest trial)."""
    completed = [r for r in results if r.state is TrialState.COMPLETED and r.value is not None]
    if not completed:
        return None
    sign = 1.0 if goal == "maximize" else -1.0
    return max(completed, key=lambda r: (sign * (r.value or 0.0), -_number(r.trial_id)))


def _number(trial_id: str) -> int:
    return int(trial_id) if trial_id.isdigit() else 0


def read_status(client: MlflowClient, sweep_id: str) -> tuple[SweepStatus, list[TrialResult]]:
    """The sweep's status and every trial, from the tracking store."""
    parent, runs = _sweep_runs(client, sweep_id)
    tags = parent.data.tags
    metric = tags.get(TAG_OBJECTIVE_METRIC, "")
    goal = tags.get(TAG_OBJECTIVE_GOAL, "maximize")
    currency = tags.get(TAG_CURRENCY, "USD")
    results = sorted((_trial_result(run, metric, currency) for run in runs), key=lambda r: _number(r.trial_id))
    state = SweepState(tags.get(TAG_SWEEP_STATE, SweepState.RUNNING.value))
    if state is SweepState.RUNNING and parent.info.status in ("FAILED", "KILLED"):
        state = SweepState.FAILED
    gone = _sweep_process_gone(tags) if state is SweepState.RUNNING else None
    if gone is not None:
        state = SweepState.FAILED
        results = [replace(r, state=TrialState.STOPPED) if r.state is TrialState.RUNNING else r for r in results]
    count = {s: sum(1 for r in results if r.state is s) for s in TrialState}
    status = SweepStatus(
        sweep_id=sweep_id,
        backend=BACKEND,
        state=state,
        total=int(tags.get(TAG_TOTAL, len(results))),
        running=count[TrialState.RUNNING],
        completed=count[TrialState.COMPLETED],
        pruned=count[TrialState.PRUNED],
        failed=count[TrialState.FAILED] + count[TrialState.STOPPED],
        best=pick_best(results, goal),
        parent_run_id=parent.info.run_id,
        cost=sum(r.cost or 0.0 for r in results),
        currency=currency,
        model_name=tags.get(TAG_MODEL_NAME),
        experiment=client.get_experiment(parent.info.experiment_id).name,
        git_commit=tags.get(TAG_GIT_COMMIT),
        message=tags.get(TAG_MESSAGE),
        **_usage(parent, results),
    )
    if gone is not None:
        status = replace(status, message=gone)
    return status, results


def _sweep_process_gone(tags: Mapping[str, str]) -> str | None:
    """Why a sweep recorded as running is not (its process on this host has exited), or None."""
    pid, host = tags.get(TAG_PID), tags.get(TAG_HOST)
    if not pid or host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return (
            f"the sweep process (pid {pid}) ended without recording an end (killed, or the tracking server was "
            f"away); its trials are not running. Reports it could not write are in its trials' metrics.jsonl files"
        )
    except PermissionError:
        return None
    return None


def _usage(parent: Run, results: list[TrialResult]) -> dict[str, Any]:
    """Measured against estimated: instance-hours, cost and mean utilisation (`SweepStatus` fields)."""
    metrics = parent.data.metrics
    max_failed = parent.data.tags.get(TAG_MAX_FAILED)
    return {
        "estimated_cost": metrics.get(METRIC_COST_ESTIMATED),
        "instance_hours": metrics.get(METRIC_HOURS, sum(r.seconds or 0.0 for r in results) / 3600),
        "estimated_instance_hours": metrics.get(METRIC_HOURS_ESTIMATED),
        "utilization": mean_utilization((r.seconds or 0.0, r.utilization) for r in results),
        "failures": tuple(r for r in results if r.state is TrialState.FAILED),
        "max_failed_trials": int(max_failed) if max_failed else None,
    }
