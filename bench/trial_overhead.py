"""What a trial's start and end cost: the end (trial.log_model + run close) and trivial trials' wall.

Goals (issue 17): a trial's end, `trial.log_model` for the example model with its run closed, costs
at most 1 s; a trivial trial costs at most 1.0 s of sweep wall at 2 concurrent over 8 trials; the
median time from a trial's start to its first report is at most 0.3 s.

The end is measured as a warm trial pays it: each repetition is a fresh process that first imports
what the warm launcher would have preloaded for the example spec (`preload_for` on its environment
and script), fits the example classifier (examples/train/train_gbm.py defaults: 200 trees) and then
times, into a run created the way the local sweep creates a trial's run (``MLFLOW_RUN_ID``), the
phases of `trial.log_model`: the signature, the skops trusted types, MLflow's save + upload + logged
model record, and the run's close. The SQLite store and file artifact store are the local stack's.

The trivial trials reuse bench/sweep_efficiency.py's start-up measurement (warm and cold launcher).

    uv run python bench/trial_overhead.py [--repeats 5] [--skip-startup]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sweeps" / "breast_cancer.yaml"


def child(run_id: str) -> None:
    """One warm trial's end, timed by phase; prints one JSON line."""
    import importlib

    from ml.stack import resolve_outputs

    os.environ["MLFLOW_TRACKING_URI"] = resolve_outputs("local").tracking_uri  # as the sweep sets it

    from ml.sweep.backends._warm_launcher import preload_for
    from ml.sweep.spec import load_spec

    spec = load_spec(EXAMPLE)
    script = spec.code_dir() / "train_gbm.py"
    for module in preload_for(spec.environment.pip, script):
        importlib.import_module(module)
    sys.path.insert(0, str(script.parent))
    os.chdir(script.parent)  # a trial runs in its code directory
    import train_gbm  # type: ignore[import-not-found]
    from sklearn.ensemble import GradientBoostingClassifier

    from ml.sweep import trial

    x_train, x_val, y_train, _ = train_gbm.load_data(0)
    model = GradientBoostingClassifier(n_estimators=200, random_state=0).fit(x_train, y_train)
    os.environ["MLFLOW_RUN_ID"] = run_id
    os.environ[trial.REQUIREMENTS_ENV] = json.dumps(list(spec.environment.pip or []))
    phases: dict[str, float] = {}
    original = {name: getattr(trial, name) for name in ("_signature", "_skops_options", "_trial_run")}

    def timed(name: str):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return original[name](*args, **kwargs)
            finally:
                phases[name.strip("_")] = time.perf_counter() - started

        return wrapper

    for name in ("_signature", "_skops_options"):
        setattr(trial, name, timed(name))
    started = time.perf_counter()
    trial.log_model(model, x_val)
    total = time.perf_counter() - started
    phases["mlflow log_model + run close"] = total - sum(phases.values())
    print(json.dumps({"total": total, **phases}))


def end_of_trial(repeats: int) -> None:
    from ml.stack import resolve_outputs
    from ml.tracking import use_tracking

    outputs = resolve_outputs("local")
    client = use_tracking(outputs)
    experiment = client.get_experiment_by_name("trial-overhead")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("trial-overhead")
    rows = []
    for _ in range(repeats):
        run_id = client.create_run(experiment_id).info.run_id
        completed = subprocess.run(
            [sys.executable, __file__, "--child", run_id], capture_output=True, text=True, check=False
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        if completed.returncode != 0 or not lines:
            print(completed.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"the end-of-trial child failed with {completed.returncode}")
        rows.append(json.loads(lines[-1]))
        assert client.get_run(run_id).info.status == "FINISHED", "log_model must close the trial's run"
    totals = [row["total"] for row in rows]
    print(
        f"end of trial (trial.log_model, example classifier, 200 trees, run closed), {repeats} fresh warm "
        f"processes: median {statistics.median(totals):.2f} s, max {max(totals):.2f} s (goal <= 1 s)"
    )
    for phase in rows[0]:
        if phase != "total":
            print(f"  {phase}: median {statistics.median(row[phase] for row in rows):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes timing a trial's end")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--skip-startup", action="store_true", help="only the end of a trial")
    parser.add_argument("--child", metavar="RUN_ID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    home = os.environ.setdefault("ML_PLATFORM_HOME", tempfile.mkdtemp(prefix="trial-overhead-"))
    print(
        f"platform home: {home}; python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    end_of_trial(args.repeats)
    if not args.skip_startup:
        sys.path.insert(0, str(REPO / "bench"))
        from sweep_efficiency import startup  # type: ignore[import-not-found]

        startup(args.concurrency)
    print(f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
