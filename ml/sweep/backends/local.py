"""The local sweep backend: Optuna picks parameters, trials run as processes, MLflow records all.

Why this shape: it is the embedded default, so it must behave like the cloud backends on one
machine. `submit` runs one sweep's scheduler loop (`ml.sweep.backends._local_sweep`) in this
process; `status` and `best` read the sweep back from MLflow (`_local_tracking`); `replay` sends
the MLflow writes a sweep held through a tracking outage, and could not send before it gave up,
from their journal on disk (`_tracking_hold`).
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlparse

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep.backends._local_sweep import LocalSweep, local_input, prepared, sweep_workdir
from ml.sweep.backends._local_tracking import read_status
from ml.sweep.backends._tracking_hold import JOURNAL_NAME, Replayed, pending_writes, replay_journal
from ml.sweep.backends.base import ProgressCallback, SweepBackend, SweepRun, SweepState, SweepStatus, TrialResult
from ml.sweep.compute import ComputeChoice
from ml.sweep.cost import CostEstimate
from ml.sweep.spec import SweepSpec
from ml.tracking import use_tracking


class LocalSweepBackend(SweepBackend):
    """Runs a sweep on this machine; `submit` blocks until the sweep ends."""

    name = "local"

    def check(self, spec: SweepSpec, outputs: PlatformOutputs, compute: ComputeChoice | None = None) -> None:
        """Inputs must be local paths: trials read them from this machine's disk."""
        for name, item in spec.inputs.items():
            scheme = urlparse(item.path).scheme
            if scheme not in ("", "file"):
                raise UserError(
                    f"sweep spec {spec.source}: inputs.{name}.path '{item.path}' is a {scheme}:// URI; the local "
                    f"backend reads local paths only. Download it, or run on a cloud stack (--stack dev)."
                )
            path = local_input(spec, item.path)
            if not path.exists():
                raise UserError(f"sweep spec {spec.source}: inputs.{name}.path {path} does not exist")
        if not spec.code_dir().is_dir():
            raise UserError(f"sweep spec {spec.source}: code directory {spec.code_dir()} does not exist")

    def submit(
        self,
        spec: SweepSpec,
        outputs: PlatformOutputs,
        *,
        on_progress: ProgressCallback | None = None,
        admitted: CostEstimate | None = None,
    ) -> SweepRun:
        cost = admitted or self.admit(spec, outputs, enforce_cost=False)
        return LocalSweep(spec, outputs, on_progress, cost).run()

    def status(self, outputs: PlatformOutputs, sweep_id: str) -> SweepStatus:
        status, _ = read_status(use_tracking(prepared(outputs)), sweep_id)
        pending = pending_writes(sweep_workdir(sweep_id) / JOURNAL_NAME)
        if pending and status.state is not SweepState.RUNNING:  # a running sweep sends them itself
            unsent = f"{pending} MLflow writes the sweep held are not in MLflow yet: `ml sweep replay {sweep_id}`"
            status = replace(status, message=f"{status.message}; {unsent}" if status.message else unsent)
        return status

    def best(self, outputs: PlatformOutputs, sweep_id: str) -> TrialResult:
        status, _ = read_status(use_tracking(prepared(outputs)), sweep_id)
        if status.best is None:
            raise UserError(
                f"sweep '{sweep_id}' has no completed trial with an objective value yet "
                f"({status.running} running, {status.pruned} pruned, {status.failed} failed); "
                f"see `ml sweep status {sweep_id}`"
            )
        return status.best

    def replay(self, outputs: PlatformOutputs, sweep_id: str) -> Replayed | None:
        """Send the MLflow writes the sweep held and could not send (its journal); None when it held none.

        A sweep still running replays its own writes when the server returns, so it is left alone.
        """
        journal = sweep_workdir(sweep_id) / JOURNAL_NAME
        if not journal.parent.is_dir():
            raise UserError(
                f"no local sweep '{sweep_id}' in {journal.parent.parent}: `ml sweep replay` sends what a sweep run "
                f"on this machine (same ML_PLATFORM_HOME) held; `ml sweep status` shows the latest sweep's id"
            )
        if not journal.exists():
            return None
        client = use_tracking(prepared(outputs))
        status, _ = read_status(client, sweep_id)
        if status.state is SweepState.RUNNING:
            raise UserError(
                f"sweep '{sweep_id}' is still running: it sends its held writes itself when the tracking server "
                f"answers (`ml sweep status {sweep_id}` shows how many it holds)"
            )
        return replay_journal(client, journal, outputs.tracking_uri)
