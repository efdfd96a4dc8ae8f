"""Does bayesian sampling + early termination reach the same AUC with less compute than random search?

Runs the example sweep (examples/sweeps/breast_cancer.yaml: gradient boosting on the breast-cancer
data, 10 steps of 20 trees) through the real local backend (trial processes, MLflow in a temporary
SQLite store), twice per seed with the same trial budget:

- ``bayesian+median``: TPE sampling with the example's early termination (median stopping, delay 3);
- ``bayesian+bandit``: TPE sampling with a bandit policy (slack_factor 0.01, delay 3): a trial is
  stopped when its AUC at a step is below the best AUC at that step / 1.01;
- ``random``: random sampling, no early termination.

It prints, per run and as a mean over seeds, the best validation AUC and the compute the trials
used: training steps (each step = 20 trees) summed over trials, fit seconds (time inside
`fit`, as the script reports it) summed over trials, and trial seconds (process wall time, which
also counts each process's Python imports, several seconds on a loaded machine). Trials skip the MLflow model logging
(`--no-model`), which is the same for both arms and not what is compared.

    uv run python bench/sweep_efficiency.py [--trials 16] [--seeds 0 1 2] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from ml.stack import resolve_outputs
from ml.sweep.backends._local_tracking import read_status
from ml.sweep.backends.local import LocalSweepBackend
from ml.sweep.spec import SweepSpec, parse_spec
from ml.tracking import use_tracking

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sweeps" / "breast_cancer.yaml"


@dataclass(frozen=True)
class Outcome:
    arm: str
    seed: int
    best_auc: float
    completed: int
    pruned: int
    failed: int
    steps: int
    fit_seconds: float
    trial_seconds: float
    wall_seconds: float


def spec_for(arm: str, seed: int, trials: int, concurrency: int) -> SweepSpec:
    """The example spec for one arm: same trial budget, the arm's sampling and early termination."""
    document = yaml.safe_load(EXAMPLE.read_text())
    document["name"] = f"bench-{arm.replace('+', '-')}-{seed}"
    document["experiment"] = "sweep-efficiency-bench"
    document["command"] = document["command"] + " --no-model"
    document["limits"].update(max_total_trials=trials, max_concurrent_trials=concurrency)
    document.pop("cost", None)
    if arm == "random":
        document["sampling"] = {"algorithm": "random", "seed": seed}
        document.pop("early_termination", None)
    else:
        document["sampling"] = {"algorithm": "bayesian", "seed": seed}
    if arm == "bayesian+bandit":
        document["early_termination"] = {"policy": "bandit", "slack_factor": 0.01, "delay_evaluation": 3}
    return parse_spec(yaml.safe_dump(document), source=f"{arm} seed {seed}", base_dir=EXAMPLE.parent, check_paths=True)


def run_arm(arm: str, seed: int, trials: int, concurrency: int) -> Outcome:
    outputs = resolve_outputs("local")
    spec = spec_for(arm, seed, trials, concurrency)
    started = time.perf_counter()
    run = LocalSweepBackend().submit(spec, outputs)
    wall = time.perf_counter() - started
    status = run.status
    client = use_tracking(outputs)
    _, results = read_status(client, run.sweep_id)
    fit = [client.get_run(r.run_id).data.metrics.get("train_seconds", 0.0) for r in results if r.run_id]
    return Outcome(
        arm=arm,
        seed=seed,
        best_auc=status.best.value if status.best and status.best.value is not None else float("nan"),
        completed=status.completed,
        pruned=status.pruned,
        failed=status.failed,
        steps=sum(result.step or 0 for result in results),
        fit_seconds=sum(fit),
        trial_seconds=sum(result.seconds or 0.0 for result in results),
        wall_seconds=wall,
    )


ARMS = ("bayesian+median", "bayesian+bandit", "random")
COLUMNS: tuple[tuple[str, int], ...] = (
    ("arm", -16),
    ("seed", 4),
    ("best AUC", 9),
    ("done", 5),
    ("pruned", 6),
    ("failed", 6),
    ("steps", 6),
    ("fit s", 6),
    ("trial s", 8),
    ("wall s", 7),
)
"""Column names and widths (negative: left-aligned)."""


def row(values: tuple[object, ...]) -> str:
    """One table row, aligned like the header."""
    cells = []
    for value, (_, width) in zip(values, COLUMNS, strict=True):
        text = (f"{value:.4f}" if width == 9 else f"{value:.1f}") if isinstance(value, float) else str(value)
        cells.append(f"{text:<{-width}}" if width < 0 else f"{text:>{width}}")
    return " ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    home = os.environ.setdefault("ML_PLATFORM_HOME", tempfile.mkdtemp(prefix="sweep-bench-"))
    print(f"platform home: {home}; {args.trials} trials per sweep, {args.concurrency} at once")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}")
    print(row(tuple(name for name, _ in COLUMNS)))

    outcomes: list[Outcome] = []
    for seed in args.seeds:
        for arm in ARMS:
            o = run_arm(arm, seed, args.trials, args.concurrency)
            outcomes.append(o)
            print(
                row(
                    (
                        arm,
                        seed,
                        o.best_auc,
                        o.completed,
                        o.pruned,
                        o.failed,
                        o.steps,
                        o.fit_seconds,
                        o.trial_seconds,
                        o.wall_seconds,
                    )
                )
            )

    print(f"\nmean over seeds {args.seeds}")
    for arm in ARMS:
        mine = [o for o in outcomes if o.arm == arm]
        aucs = [o.best_auc for o in mine]
        spread = statistics.stdev(aucs) if len(aucs) > 1 else 0.0
        steps = statistics.mean(o.steps for o in mine)
        fit = statistics.mean(o.fit_seconds for o in mine)
        seconds = statistics.mean(o.trial_seconds for o in mine)
        wall = statistics.mean(o.wall_seconds for o in mine)
        print(
            f"{arm:<16} best AUC {statistics.mean(aucs):.4f} ± {spread:.4f}, steps {steps:.1f}, fit seconds {fit:.1f}, "
            f"trial seconds {seconds:.1f}, wall seconds {wall:.1f}"
        )


if __name__ == "__main__":
    main()
