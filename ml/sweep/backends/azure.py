"""The Azure ML sweep backend: submit the translated sweep job, read its status and best trial back.

Why two halves: the translation (`ml.sweep.backends._azure_job`: spec + stack outputs -> an
azure-ai-ml ``Sweep`` node, no network; its docstring has the mapping) is asserted offline;
`AzureSweepBackend` only adds the I/O: it stages the code (with the `ml.sweep.trial` helper), submits
through an `MLClient` built from ``outputs.azure`` and `DefaultAzureCredential`, and reads status and
the best trial back from the job and its children. Azure ML has no limit on failed trials, so
`status` cancels a sweep job once ``limits.max_failed_trials`` of its trials failed; instance-hours
are its finished trials' durations in run history (creation to last update).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ml.azure import azure_errors, default_connection, ml_client, workspace_of
from ml.contract import AzureWorkspaceRef, PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep.backends._azure_job import (
    BACKEND,
    AzureSweepPlan,
    build_sweep_job,
    refuse_incompatible,
    request_body,
)
from ml.sweep.backends._cloud_staging import stage_code
from ml.sweep.backends.base import (
    TAG_COST_ESTIMATE,
    TAG_EXPERIMENT,
    TAG_GIT_COMMIT,
    TAG_MAX_FAILED,
    TAG_MODEL_NAME,
    ProgressCallback,
    SweepBackend,
    SweepRun,
    SweepState,
    SweepStatus,
    TrialResult,
    TrialState,
    new_sweep_id,
)
from ml.sweep.compute import ComputeChoice
from ml.sweep.cost import CostEstimate
from ml.sweep.spec import SweepSpec

__all__ = ["AzureSweepBackend", "AzureSweepPlan", "build_sweep_job", "default_client", "request_body"]

BEST_CHILD_PROPERTY = "best_child_run_id"
SCORE_PROPERTY = "score"

ClientFactory = Callable[[AzureWorkspaceRef], Any]

_RUNNING = {"Running", "Finalizing", "CancelRequested", "NotResponding", "Paused"}
_SWEEP_STATES = {"Completed": SweepState.COMPLETED, "Failed": SweepState.FAILED, "Canceled": SweepState.STOPPED}


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


def _duration(child: Any) -> float:
    """A finished trial's seconds from creation to its last update (run history's times; queueing included)."""
    if getattr(child, "status", None) not in ("Completed", "Failed", "Canceled"):
        return 0.0
    context = getattr(child, "creation_context", None)
    start, end = getattr(context, "created_at", None), getattr(context, "last_modified_at", None)
    if start is None or end is None:
        return 0.0
    try:
        return max(0.0, (end - start).total_seconds())
    except TypeError:
        return 0.0


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

    def check(self, spec: SweepSpec, outputs: PlatformOutputs, compute: ComputeChoice | None = None) -> None:
        """Reject what Azure ML cannot run, before any cost check or upload."""
        workspace_of(outputs, needed_for=NEEDED_FOR)
        refuse_incompatible(spec, outputs)

    def submit(
        self,
        spec: SweepSpec,
        outputs: PlatformOutputs,
        *,
        on_progress: ProgressCallback | None = None,
        admitted: CostEstimate | None = None,
    ) -> SweepRun:
        """Stage the code, translate, and create the sweep job; returns with state RUNNING."""
        cost = admitted or self.admit(spec, outputs, enforce_cost=False)
        workspace = workspace_of(outputs, needed_for=NEEDED_FOR)
        sweep_id = new_sweep_id(spec)
        with tempfile.TemporaryDirectory(prefix="ml-sweep-azure-") as scratch:
            code = stage_code(spec, Path(scratch) / "code")
            plan = build_sweep_job(
                spec,
                outputs,
                name=sweep_id,
                code=code,
                cost_estimate=cost.applicable,
                currency=cost.currency,
                compute=cost.compute,
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
        estimate, limit = tags.get(TAG_COST_ESTIMATE), tags.get(TAG_MAX_FAILED)
        status = SweepStatus(
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
            estimated_cost=float(estimate) if estimate else None,
            instance_hours=sum(_duration(child) for child in children) / 3600,
            failures=tuple(
                self._failure(job, child) for child in children if getattr(child, "status", None) == "Failed"
            ),
            max_failed_trials=int(limit) if limit else None,
        )
        return self._stop_if_failing(outputs, status)

    def _stop_if_failing(self, outputs: PlatformOutputs, status: SweepStatus) -> SweepStatus:
        """Azure ML has no failed-trial limit: `ml` cancels a sweep job that reached ``max_failed_trials``."""
        limit = status.max_failed_trials
        if limit is None or status.failed < limit or status.state is not SweepState.RUNNING:
            return status
        workspace = workspace_of(outputs, needed_for=NEEDED_FOR)
        with azure_errors(f"cancel sweep '{status.sweep_id}' after {status.failed} failed trials", workspace):
            self._client_factory(workspace).jobs.begin_cancel(status.sweep_id)
        message = (
            f"sweep job cancelled by ml: {status.failed} trials failed (limits.max_failed_trials = {limit}); "
            f"fix the error below and run it again"
        )
        return replace(status, state=SweepState.STOPPED, message=message)

    def _failure(self, job: Any, child: Any) -> TrialResult:
        name = str(getattr(child, "name", "?"))
        return TrialResult(
            trial_id=name,
            state=TrialState.FAILED,
            params=_params(child),
            metric=self._metric(job),
            error="Azure ML reports the trial Failed; its error is the last lines of user_logs/std_log.txt",
            log=f"{getattr(job, 'studio_url', None) or 'Azure ML studio'} > trial {name} > Outputs + logs",
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
