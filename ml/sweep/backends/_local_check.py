"""`ml sweep run --check`: one trial, run here until its first report, to catch a misnamed metric early.

Why: `--dry-run` validates the spec, not the script; a script that reports ``val_acc`` to a sweep
whose objective is ``val_auc`` used to pass it and fail only after every trial ran (on a cloud, after
the bill). The check samples one set of parameters as the sweep would, runs the command in the code
directory (a plain process; no MLflow run of the sweep: a throw-away local store), stops it at its
first report, and says which metrics it reported, or why it reported none (its last error line and
log). Inputs given as local paths are passed as the local backend would; a cloud URI is passed as is.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from ml.contract.errors import UserError
from ml.sweep.backends._cloud_staging import trial_environment
from ml.sweep.backends._local_process import TrialProcess, command_argv
from ml.sweep.backends._local_sampling import sampler_for, suggest
from ml.sweep.spec import SweepSpec

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CheckResult:
    """What the one trial reported first."""

    step: int
    metrics: dict[str, float]
    seconds: float
    log: Path


def check_trial(spec: SweepSpec, *, inputs: dict[str, str] | None = None) -> CheckResult:
    """Run one trial to its first report; `UserError` unless it reports ``objective.metric``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=spec.objective.goal, sampler=sampler_for(spec))
    params = suggest(study.ask(), spec)
    workdir = Path(tempfile.mkdtemp(prefix="ml-sweep-check-"))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": (workdir / "mlruns").as_uri(),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "ML_SWEEP_ID": f"{spec.name}-check",
        "ML_TRIAL_NUMBER": "0",
        **trial_environment(spec),
    }
    process = TrialProcess(
        number=0,
        argv=command_argv(spec.render_command(params, inputs)),
        cwd=spec.code_dir(),
        env=env,
        workdir=workdir,
        checkpoint_dir=workdir / "checkpoints",
    )
    process.start()
    deadline = time.monotonic() + spec.limits.trial_timeout
    try:
        while True:
            reports = process.read_reports()
            if reports:
                first = reports[0]
                result = CheckResult(first.step, first.metrics, first.time - process.started_at, process.log_file)
                break
            code = process.exit_code()
            if code is not None:
                reports = process.read_reports()
                if reports:
                    first = reports[0]
                    result = CheckResult(first.step, first.metrics, first.time - process.started_at, process.log_file)
                    break
                error = process.last_error() or "no output"
                raise UserError(
                    f"check: the trial exited with code {code} before its first report (call "
                    f"ml.sweep.trial.report); last error: {error}; log: {process.log_file}"
                )
            if time.monotonic() > deadline:
                raise UserError(
                    f"check: no report within limits.trial_timeout ({spec.limits.trial_timeout}s); "
                    f"log: {process.log_file}"
                )
            time.sleep(POLL_SECONDS)
    finally:
        process.stop("check done")
    metric = spec.objective.metric
    if metric not in result.metrics:
        reported = ", ".join(sorted(result.metrics)) or "none"
        close = difflib.get_close_matches(metric, list(result.metrics), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(
            f"check: objective.metric '{metric}' is not what the trial reports (at step {result.step} it "
            f"reported: {reported}){hint} Fix objective.metric in {spec.source} or the script's trial.report call"
        )
    return result
