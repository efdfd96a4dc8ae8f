"""One local sweep's scheduler loop: Optuna picks parameters, trials run as processes, MLflow records all.

Why this shape: it is the embedded default, so it must behave like the cloud backends on one
machine. One scheduler loop in this process owns the Optuna study (ask/tell, in memory) and up to
``max_concurrent_trials`` trial processes. Each trial:

- is started with the spec's command, its placeholders replaced by the sampled values, in the
  spec's code directory, attached to its own MLflow run (``MLFLOW_RUN_ID``, nested under the
  sweep's run) so the script can log its model there;
- reports metrics through `ml.sweep.trial` (a JSON-lines file); the loop reads new lines, logs
  them to MLflow, feeds the objective to Optuna and asks the early-termination pruner whether to
  stop the trial, which it then does (STOP file, SIGTERM to the process group, SIGKILL after 5 s);
- ends COMPLETED (exit 0 with an objective value: the last one reported), PRUNED, or FAILED (a
  non-zero exit, no objective reported, or ``trial_timeout`` exceeded); the sweep goes on;
- if it dies of a SIGTERM the sweep did not send (a spot eviction) and the sweep runs on spot
  capacity, it is restarted up to ``spot.max_restarts`` times with the same checkpoint directory.

The sweep stops launching at ``max_total_trials`` and stops everything at ``limits.timeout``.
State is written to MLflow as it changes (see `_local_tracking`), so `status` and `best` work from
any later process. At the end a PNG (history + importance) is saved and logged on the sweep's run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import optuna

from ml.contract import PlatformOutputs
from ml.stack import local_home
from ml.sweep.backends._cloud_staging import requirements_for, trial_environment
from ml.sweep.backends._local_process import TrialProcess, command_argv
from ml.sweep.backends._local_sampling import sampler_for, suggest
from ml.sweep.backends._local_tracking import TAG_RESTARTS, SweepRecorder, pick_best
from ml.sweep.backends._local_usage import finish_monitor, mean_utilization, start_monitor
from ml.sweep.backends._tracking_hold import JOURNAL_NAME, OutageWatch, trial_client_waits
from ml.sweep.backends._warm_launcher import WarmLauncher, warm_target
from ml.sweep.backends.base import (
    ProgressCallback,
    SweepRun,
    SweepState,
    SweepStatus,
    TrialResult,
    TrialState,
    git_commit,
    new_sweep_id,
)
from ml.sweep.cost import CostEstimate, measured_cost
from ml.sweep.plots import save_sweep_plot
from ml.sweep.plots import warm_up as warm_up_plot
from ml.sweep.pruners import pruner_for
from ml.sweep.spec import SweepSpec
from ml.tracking import use_tracking

POLL_SECONDS = 0.1
PROGRESS_EVERY_SECONDS = 1.0


def prepared(outputs: PlatformOutputs) -> PlatformOutputs:
    """Create the directory of a local SQLite tracking store (SQLite does not create it)."""
    uri = outputs.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return outputs


def sweep_workdir(sweep_id: str) -> Path:
    """A local sweep's directory in the platform home: trial files, the launcher log, held MLflow writes."""
    return local_home() / "sweeps" / sweep_id


def local_input(spec: SweepSpec, path: str) -> Path:
    parsed = urlparse(path)
    local = Path(url2pathname(parsed.path)) if parsed.scheme == "file" else Path(path)
    return local if local.is_absolute() else (spec.base_dir / local).resolve()


def _checkpoint_root(outputs: PlatformOutputs, sweep_id: str) -> Path:
    """Checkpoints live in the stack's artifact store (a local path on the local stack)."""
    parsed = urlparse(outputs.artifacts.uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path)) / outputs.artifacts.checkpoint_prefix / sweep_id
    return local_home() / "checkpoints" / sweep_id


@dataclass
class _Running:
    process: TrialProcess
    trial: optuna.Trial
    params: dict[str, Any]
    run_id: str
    last_step: int | None = None
    last_value: float | None = None
    first_report: float | None = None
    """Seconds from the trial's start to its first report (start-up cost, imports included)."""
    monitor: Any = None


class LocalSweep:
    """One sweep's scheduler loop; used once."""

    def __init__(
        self, spec: SweepSpec, outputs: PlatformOutputs, on_progress: ProgressCallback | None, cost: CostEstimate
    ) -> None:
        self.spec = spec
        self.outputs = outputs
        self.on_progress = on_progress
        self.sweep_id = new_sweep_id(spec)
        self.compute = cost.compute
        self.price = cost.price
        self.cost = cost
        self.total = spec.trial_budget()
        self.commit = git_commit(spec.code_dir())
        self.workdir = sweep_workdir(self.sweep_id)
        self.checkpoints = _checkpoint_root(outputs, self.sweep_id)
        self.running: list[_Running] = []
        self.results: list[TrialResult] = []
        self.launched = 0
        self.state = SweepState.RUNNING
        self.message: str | None = None
        self.max_failed = spec.failure_limit()
        self.launcher: WarmLauncher | None = None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            study_name=self.sweep_id,
            direction=spec.objective.goal,
            sampler=sampler_for(spec),
            pruner=pruner_for(spec.early_termination),
        )
        journal = self.workdir / JOURNAL_NAME  # held writes survive the sweep giving up (`ml sweep replay`)
        self.recorder = SweepRecorder(use_tracking(prepared(outputs)), outputs, spec, self.sweep_id, journal)
        self.outage = OutageWatch(
            self.recorder.holding, sweep_id=self.sweep_id, kept=f"{self.workdir}/trial-*/metrics.jsonl"
        )

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> SweepRun:
        self.launcher = _warm_launcher(self.spec, self.workdir)  # imports while the parent run is created
        warm_up_plot()  # the end-of-sweep picture's imports, while the trials run
        try:
            return self._run()
        finally:
            if self.launcher is not None:
                self.launcher.close()

    def _run(self) -> SweepRun:
        parent = self.recorder.start(
            total=self.total, git_commit=self.commit, estimated_cost=self.cost.applicable, currency=self.price.currency
        )
        self.recorder.log_estimate(self.cost.machine_hours, self.max_failed)
        deadline = time.monotonic() + self.spec.limits.timeout if self.spec.limits.timeout else None
        try:
            with _terminate_requests() as terminate:
                self._loop(deadline, last_progress=0.0, terminate=terminate)
        except BaseException:
            self._stop_all("interrupted", TrialState.STOPPED)
            self.state = SweepState.STOPPED
            self.recorder.finish(self._status(), artifacts=[])
            raise
        if self.state is SweepState.RUNNING:
            self.state = SweepState.COMPLETED if self._count(TrialState.COMPLETED) else SweepState.FAILED
        plot = save_sweep_plot(
            self.study,
            self.workdir / "sweep.png",
            metric=self.spec.objective.metric,
            title=f"{self.sweep_id}: {self.spec.objective.goal} {self.spec.objective.metric}",
        )
        status = self._status()
        self.recorder.finish(status, artifacts=[plot])
        progress = self.on_progress  # the end of the sweep reaches MLflow, or the bounded wait says why not
        back = self.outage.drain(None if progress is None else lambda note: progress(replace(status, message=note)))
        if back is not None and progress is not None:  # the server returned during the final wait: say so
            progress(replace(status, message=back))
        if self.on_progress is not None:
            self.on_progress(status)
        return SweepRun(
            sweep_id=self.sweep_id, backend="local", status=status, parent_run_id=parent, artifacts={"plot": plot}
        )

    def _loop(self, deadline: float | None, last_progress: float, terminate: list[int]) -> None:
        """Launch, poll and publish until every trial has finished, the sweep timed out or was terminated."""
        while True:
            if terminate:
                raise SystemExit(128 + terminate[0])  # stopped and recorded by the caller, between MLflow writes
            if deadline is not None and time.monotonic() > deadline:
                self._stop_all("sweep timeout", TrialState.STOPPED)
                self.state = SweepState.STOPPED
                return
            held, note = self.outage.check()  # raises past the bounded wait
            self.message = note or self.message
            changed = False if held else self._launch()  # no new trial while MLflow is away; trials go on
            for entry in list(self.running):
                changed = self._poll(entry) or changed
            if self._count(TrialState.FAILED) >= self.max_failed and self.state is SweepState.RUNNING:
                self._give_up()
                return
            if not self.running and self.launched >= self.total and not held:
                return  # (while writes are held, the loop waits for the server, bounded by the check above)
            now = time.monotonic()
            if changed or now - last_progress > PROGRESS_EVERY_SECONDS:
                self._publish(changed)
                last_progress = now
            time.sleep(POLL_SECONDS)

    def _launch(self) -> bool:
        launched = False
        while self.launched < self.total and len(self.running) < self.spec.limits.max_concurrent_trials:
            trial = self.study.ask()
            params = suggest(trial, self.spec)
            number = trial.number
            run_id = self.recorder.start_trial(number, params, git_commit=self.commit)
            env = {
                **os.environ,
                "MLFLOW_TRACKING_URI": self.outputs.tracking_uri,
                "MLFLOW_REGISTRY_URI": self.outputs.tracking_uri,
                "MLFLOW_RUN_ID": run_id,
                "MLFLOW_EXPERIMENT_ID": self.recorder.experiment_id,
                "MLFLOW_DISABLE_TELEMETRY": "true",
                **trial_client_waits(),  # the trial's MLflow calls are bounded as the sweep's are
                "ML_SWEEP_ID": self.sweep_id,
                "ML_TRIAL_NUMBER": str(number),
                **trial_environment(self.spec),
            }
            checkpoint_dir = self.checkpoints / f"trial-{number}"
            env[self.spec.spot.checkpoint_env] = str(checkpoint_dir)
            inputs = {name: str(local_input(self.spec, item.path)) for name, item in self.spec.inputs.items()}
            process = TrialProcess(
                number=number,
                argv=command_argv(self.spec.render_command(params, inputs)),
                cwd=self.spec.code_dir(),
                env=env,
                workdir=self.workdir / f"trial-{number}",
                checkpoint_dir=checkpoint_dir,
                launcher=self.launcher,
            )
            process.start()
            self.running.append(_Running(process, trial, params, run_id, monitor=start_monitor(run_id)))
            self.launched += 1
            launched = True
        return launched

    def _poll(self, entry: _Running) -> bool:
        """Read the trial's reports, prune it if the policy says so, and handle its exit."""
        if self._read_reports(entry):
            entry.process.stop("pruned by early termination")
            self._finish(entry, TrialState.PRUNED, f"pruned at step {entry.last_step}")
            return True
        process = entry.process
        code = process.exit_code()
        if code is None:
            if process.elapsed() > self.spec.limits.trial_timeout:
                process.stop("trial timeout")
                self._read_reports(entry, prune=False)
                self._finish(
                    entry, TrialState.FAILED, f"exceeded limits.trial_timeout ({self.spec.limits.trial_timeout}s)"
                )
                return True
            return False
        pruned = self._read_reports(entry)  # lines written just before the exit
        if pruned:
            self._finish(entry, TrialState.PRUNED, f"pruned at step {entry.last_step} (it had already exited)")
        elif code == 0 and entry.last_value is not None:
            self._finish(entry, TrialState.COMPLETED, None)
        elif code == 0:
            self._finish(
                entry,
                TrialState.FAILED,
                f"exited 0 without reporting '{self.spec.objective.metric}' (call ml.sweep.trial.report)",
            )
        elif process.was_evicted(code) and self.compute.spot and process.restarts < self.spec.spot.max_restarts:
            process.restarts += 1
            self.recorder.set_trial_tag(entry.run_id, TAG_RESTARTS, str(process.restarts))
            process.start()
        else:
            evicted = process.was_evicted(code)
            reason = "evicted (SIGTERM)" if evicted else f"exited with code {code}"
            if evicted and not self.compute.spot:
                reason += "; not restarted because the sweep does not run on spot (spot.enabled)"
            elif evicted:
                reason += f"; restarted {process.restarts} times already (spot.max_restarts)"
            tail = process.log_tail(5).replace("\n", " | ")
            self._finish(entry, TrialState.FAILED, f"{reason}: {tail}" if tail else reason)
        return True

    def _read_reports(self, entry: _Running, *, prune: bool = True) -> bool:
        """Feed new reports to MLflow and Optuna; True when the pruner says stop."""
        reports = entry.process.read_reports()
        if not reports:
            return False
        self.recorder.log_reports(entry.run_id, reports)
        if entry.first_report is None:
            entry.first_report = max(0.0, reports[0].time - entry.process.started_at)
        metric = self.spec.objective.metric
        should_prune = False
        for report in reports:
            if metric not in report.metrics:
                continue
            entry.last_value = report.metrics[metric]
            if entry.last_step is not None and report.step <= entry.last_step:
                continue  # a step repeated after a restart from an older checkpoint
            entry.last_step = report.step
            entry.trial.report(entry.last_value, report.step)
            if prune and entry.trial.should_prune():
                should_prune = True
                break
        return should_prune

    def _finish(self, entry: _Running, state: TrialState, message: str | None) -> None:
        process = entry.process
        self.running.remove(entry)
        seconds = process.billed_seconds
        model_uri = self.recorder.model_uri(entry.run_id) if state is TrialState.COMPLETED else None
        # while the tracking server is away, the monitor's last publish and read would each wait the whole MLflow
        # retry budget; its thread ends by itself (it cannot read the run), the trial's utilisation is not known
        down = self.recorder.holding.down_since is not None
        utilization = None if down else finish_monitor(entry.monitor, self.recorder.client, entry.run_id)
        failed = state is TrialState.FAILED
        result = TrialResult(
            trial_id=str(process.number),
            state=state,
            params=entry.params,
            metric=self.spec.objective.metric,
            value=entry.last_value,
            run_id=entry.run_id,
            model_uri=model_uri,
            step=entry.last_step,
            seconds=seconds,
            cost=measured_cost(seconds, self.compute, self.price),
            estimated_cost=self.cost.per_trial,
            currency=self.price.currency,
            error=(process.last_error() or message) if failed else None,
            log=str(process.log_file) if failed else None,
            utilization=utilization,
            start_seconds=entry.first_report,
        )
        if state is TrialState.COMPLETED:
            self._tell(entry.trial, entry.last_value, optuna.trial.TrialState.COMPLETE)
        elif state is TrialState.PRUNED:
            self._tell(entry.trial, None, optuna.trial.TrialState.PRUNED)
        else:
            self._tell(entry.trial, None, optuna.trial.TrialState.FAIL)
        self.results.append(result)
        self.recorder.finish_trial(result, restarts=process.restarts, message=message, log_file=process.log_file)

    def _tell(self, trial: optuna.Trial, value: float | None, state: optuna.trial.TrialState) -> None:
        """`study.tell`, tolerating GridSampler's end-of-grid `study.stop()`.

        After the last grid point the grid sampler calls `study.stop()`, which raises outside
        `study.optimize` (ask/tell); Optuna stores the trial's state before that, and this loop
        stops launching by itself at the trial budget, so the error carries no information.
        """
        try:
            self.study.tell(trial, value, state=state)
        except RuntimeError as exc:
            if "Study.stop" not in str(exc):
                raise

    def _give_up(self) -> None:
        """Too many failed trials (``limits.max_failed_trials``): stop the rest, launch no more."""
        failed = self._count(TrialState.FAILED)
        self.message = (
            f"sweep stopped: {failed} trials failed (limits.max_failed_trials = {self.max_failed}); "
            f"fix the error below and run it again"
        )
        self._stop_all("stopped: too many failed trials", TrialState.STOPPED)
        self.state = SweepState.FAILED

    def _stop_all(self, reason: str, state: TrialState) -> None:
        for entry in list(self.running):  # every process first: recording must not keep one alive
            with contextlib.suppress(Exception):
                entry.process.stop(reason)
        for entry in list(self.running):
            entry.process.stop(reason)
            try:
                self._read_reports(entry, prune=False)
                self._finish(entry, state, reason)
            except Exception as exc:  # recording one trial must not keep the others running
                print(f"could not record trial {entry.process.number} as {state.value}: {exc!r}", file=sys.stderr)

    # -- status -----------------------------------------------------------------------------------

    def _count(self, state: TrialState) -> int:
        return sum(1 for result in self.results if result.state is state)

    def _status(self) -> SweepStatus:
        best = pick_best(self.results, self.spec.objective.goal)
        used = [(r.seconds or 0.0, r.utilization) for r in self.results]
        return SweepStatus(
            sweep_id=self.sweep_id,
            backend="local",
            state=self.state,
            total=self.total,
            queued=self.total - self.launched,
            running=len(self.running),
            completed=self._count(TrialState.COMPLETED),
            pruned=self._count(TrialState.PRUNED),
            failed=self._count(TrialState.FAILED) + self._count(TrialState.STOPPED),
            best=best,
            parent_run_id=self.recorder.parent_run_id,
            cost=sum(result.cost or 0.0 for result in self.results),
            currency=self.price.currency,
            model_name=self.spec.registered_model_name,
            experiment=self.spec.experiment_name,
            git_commit=self.commit,
            message=self.message,
            estimated_cost=self.cost.applicable,
            instance_hours=sum(seconds for seconds, _ in used) / 3600 * self.compute.instance_count,
            estimated_instance_hours=self.cost.machine_hours,
            utilization=mean_utilization(used),
            failures=tuple(r for r in self.results if r.state is TrialState.FAILED),
            max_failed_trials=self.max_failed,
        )

    def _publish(self, changed: bool) -> None:
        status = self._status()
        if changed:
            self.recorder.update(status)
        if self.on_progress is not None:
            self.on_progress(replace(status))


def _warm_launcher(spec: SweepSpec, workdir: Path) -> WarmLauncher:
    """The sweep's launcher: warm (preloads, forks trials) when the spec's command can be forked from it
    (`warm_target`) and ``ML_SWEEP_WARM_START`` is not 0; else it only ``exec`` s trials. Either way it
    outlives a SIGKILLed sweep long enough to kill every trial's process group."""
    argv = command_argv(spec.render_command(dict.fromkeys(spec.search_space, 0), dict.fromkeys(spec.inputs, "in")))
    log = workdir / "launcher.log"
    if warm_target(argv, spec.code_dir()) is None or os.environ.get("ML_SWEEP_WARM_START") == "0":
        return WarmLauncher(None, None, cwd=spec.code_dir(), log=log, warm=False)
    script = spec.code_dir() / argv[1] if argv[1] != "-m" else None
    return WarmLauncher(requirements_for(spec), script, cwd=spec.code_dir(), log=log)


@contextlib.contextmanager
def _terminate_requests() -> Iterator[list[int]]:
    """While a sweep runs in the main thread, a SIGTERM is noted here; the loop stops at its next turn.

    Without it, `kill <ml sweep run>` would leave the trial processes (each in its own session) running.
    Why noted and not raised from the handler: a SystemExit raised in the middle of an MLflow write
    left that SQLite transaction open in this process, and recording the stop then waited on the
    process's own lock ("database is locked", retried): the sweep never exited and held the store.
    The loop turns every ``POLL_SECONDS``, so the stop is still prompt.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, frame: object) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, note)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)
