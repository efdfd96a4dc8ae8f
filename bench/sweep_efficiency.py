"""Does TPE + early termination reach random search's best with less compute and less wall time?

Two tasks, each a real example spec run through the real local backend (warm trial starts, trial
processes, MLflow in a temporary SQLite store), once per arm and seed with the same trial budget:

- ``classifier``: examples/sweeps/breast_cancer.yaml (gradient boosting, validation AUC, maximise);
- ``regression``: examples/sweeps/friedman.yaml (gradient boosting on scikit-learn's synthetic
  Friedman #1 data with a fixed seed, validation RMSE, minimise). The diabetes data it replaces is
  so small and noisy that the best RMSE moved by 1.3 (2 %) between seeds, more than the 0.5 % goal.

Both grow up to ``--max-trees`` trees (default 500) in steps of 20, so a full trial is mostly
fitting and early termination has something to save (with 200 trees, a trial's start and end were
as long as its fit). Arms: ``bayesian+hyperband`` (TPE with Optuna's HyperbandPruner, min_resource
1, max_resource = the steps, reduction 3), ``bayesian+median`` (TPE with median stopping, delay 3)
and ``random`` (no early termination). "steps" sums the steps over trials (the compute used), "fit
s" the time inside ``fit``, "trial s" the trials' process wall time, "wall s" the sweep's, "preload
s" the warm launcher's one-off imports (inside the wall, paid once per sweep by every arm). Trials
skip the model logging (``--no-model``), the same in every arm (bench/trial_overhead.py times it).

Goal (issue 17): the best arm reaches random's mean best (within 0.001 AUC or 0.5 % RMSE) with at
most 40 % of random's steps and at most 50 % of its wall time; the summary says which holds.

First it measures trial start-up: 8 trivial trials (import scikit-learn, report once) at 2 at once,
with and without the warm launcher: sweep wall per trial and the median seconds from a trial's
start to its first report.

The sweep size defaults to 24 trials (what a user would run over this four-parameter space; with
12, Hyperband's brackets and median stopping had too few trials to compare at each rung and about
half the steps still ran); every arm gets the same count. Last, per task, `rank_check` prints how
well the metric at Hyperband's rungs (steps 1, 3, 9) predicts it at the end over random's full
trials: what bounds any early-termination policy's best.

    uv run python bench/sweep_efficiency.py [--trials 24] [--seeds 0 1 2 3 4] [--max-trees 500]
"""

from __future__ import annotations

import argparse
import os
import re
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
TASKS = {
    "classifier": REPO / "examples" / "sweeps" / "breast_cancer.yaml",
    "regression": REPO / "examples" / "sweeps" / "friedman.yaml",
}
ARMS = ("bayesian+hyperband", "bayesian+median", "random")
TRIVIAL = "import sklearn.ensemble  # noqa: F401\nfrom ml.sweep import trial\n\ntrial.report(1, score=0.5)\n"


@dataclass(frozen=True)
class Outcome:
    task: str
    arm: str
    seed: int
    best: float
    completed: int
    pruned: int
    failed: int
    steps: int
    fit_seconds: float
    trial_seconds: float
    wall_seconds: float
    preload_seconds: float
    curves: tuple[tuple[float, ...], ...] = ()
    """The random arm's full learning curves (objective per step), for `rank_check`."""


def spec_for(task: str, arm: str, seed: int, trials: int, concurrency: int, max_trees: int = 500) -> SweepSpec:
    """The task's spec for one arm: same trial budget and trees, the arm's sampling and early termination."""
    example = TASKS[task]
    document = yaml.safe_load(example.read_text())
    document["name"] = f"bench-{task[:3]}-{arm.replace('+', '-')}-{seed}"
    document["experiment"] = f"sweep-efficiency-{task}"
    command = re.sub(r"--n-estimators \d+", f"--n-estimators {max_trees}", document["command"])
    document["command"] = command + " --no-model"
    steps = max_trees // 20
    document["limits"].update(max_total_trials=trials, max_concurrent_trials=concurrency, max_failed_trials=trials)
    document["limits"].update(timeout=None, trial_timeout="10m")
    document.pop("cost", None)
    document["sampling"] = {"algorithm": "random" if arm == "random" else "bayesian", "seed": seed}
    policies = {
        "bayesian+hyperband": {"policy": "hyperband", "min_resource": 1, "max_resource": steps, "reduction_factor": 3},
        "bayesian+median": {"policy": "median_stopping", "delay_evaluation": 3},
    }
    document["early_termination"] = policies.get(arm)
    if document["early_termination"] is None:
        document.pop("early_termination")
    if document["limits"]["timeout"] is None:
        document["limits"].pop("timeout")
    return parse_spec(
        yaml.safe_dump(document), source=f"{task} {arm} {seed}", base_dir=example.parent, check_paths=True
    )


def preload_seconds(sweep_id: str) -> float:
    """The warm launcher's one-off import time, from its log (0 when it logged none)."""
    log = Path(os.environ["ML_PLATFORM_HOME"]) / "sweeps" / sweep_id / "launcher.log"
    found = re.search(r"preloaded \d+ modules in ([0-9.]+) s", log.read_text()) if log.exists() else None
    return float(found.group(1)) if found else 0.0


def run_arm(task: str, arm: str, seed: int, trials: int, concurrency: int, max_trees: int) -> Outcome:
    outputs = resolve_outputs("local")
    spec = spec_for(task, arm, seed, trials, concurrency, max_trees)
    started = time.perf_counter()
    run = LocalSweepBackend().submit(spec, outputs)
    wall = time.perf_counter() - started
    status = run.status
    client = use_tracking(outputs)
    _, results = read_status(client, run.sweep_id)
    fit = [client.get_run(r.run_id).data.metrics.get("train_seconds", 0.0) for r in results if r.run_id]
    curves = tuple(
        tuple(m.value for m in sorted(client.get_metric_history(r.run_id, r.metric), key=lambda m: m.step))
        for r in results
        if arm == "random" and r.run_id
    )
    return Outcome(
        task=task,
        arm=arm,
        seed=seed,
        best=status.best.value if status.best and status.best.value is not None else float("nan"),
        completed=status.completed,
        pruned=status.pruned,
        failed=status.failed,
        steps=sum(result.step or 0 for result in results),
        fit_seconds=sum(fit),
        trial_seconds=sum(result.seconds or 0.0 for result in results),
        wall_seconds=wall,
        preload_seconds=preload_seconds(run.sweep_id),
        curves=curves,
    )


def startup(concurrency: int) -> None:
    """8 trivial trials, warm and cold: sweep wall per trial and median start-to-first-report."""
    code = Path(tempfile.mkdtemp(prefix="trivial-trial-"))
    (code / "trivial.py").write_text(TRIVIAL)
    outputs = resolve_outputs("local")
    use_tracking(outputs).search_experiments()  # create the SQLite store first: not a trial's cost
    for warm in ("1", "0"):
        os.environ["ML_SWEEP_WARM_START"] = warm
        spec = parse_spec(
            f"""
name: trivial-{"warm" if warm == "1" else "cold"}
experiment: sweep-startup
code: {code}
command: python trivial.py --x ${{{{search_space.x}}}}
environment: {{pip: ["scikit-learn>=1.6", "mlflow>=3.1", "skops>=0.10"]}}
search_space: {{x: {{type: uniform, min_value: 0, max_value: 1}}}}
objective: {{metric: score, goal: maximize}}
sampling: random
limits: {{max_total_trials: 8, max_concurrent_trials: {concurrency}, trial_timeout: 5m}}
""",
            source="trivial",
            check_paths=True,
        )
        started = time.perf_counter()
        run = LocalSweepBackend().submit(spec, outputs)
        wall = time.perf_counter() - started
        _, results = read_status(use_tracking(outputs), run.sweep_id)
        starts = sorted(r.start_seconds for r in results if r.start_seconds is not None)
        warmup = max(starts) if warm == "1" else 0.0  # the first trials wait for the launcher's preload
        print(
            f"{'warm' if warm == '1' else 'cold'}: 8 trivial trials, {concurrency} at once: wall {wall:.1f} s = "
            f"{wall / 8:.2f} s per trial ({(wall - warmup) / 8:.2f} s after the launcher's one-off preload of "
            f"{warmup:.1f} s); start to first report median {statistics.median(starts):.3f} s "
            f"(all: {', '.join(f'{s:.2f}' for s in starts)})"
        )
    os.environ.pop("ML_SWEEP_WARM_START", None)


COLUMNS: tuple[tuple[str, int], ...] = (
    ("task", -10),
    ("arm", -18),
    ("seed", 4),
    ("best", 9),
    ("done", 5),
    ("pruned", 6),
    ("failed", 6),
    ("steps", 6),
    ("fit s", 6),
    ("trial s", 8),
    ("wall s", 7),
    ("preload s", 9),
)


def row(values: tuple[object, ...]) -> str:
    cells = []
    for value, (name, width) in zip(values, COLUMNS, strict=True):
        text = (f"{value:.4f}" if name == "best" else f"{value:.1f}") if isinstance(value, float) else str(value)
        cells.append(f"{text:<{-width}}" if width < 0 else f"{text:>{width}}")
    return " ".join(cells)


def summary(task: str, outcomes: list[Outcome]) -> None:
    """Per arm: mean best ± spread, steps and wall against random's, and whether the goal holds."""
    random = [o for o in outcomes if o.task == task and o.arm == "random"]
    base_best = statistics.mean(o.best for o in random)
    base_steps = statistics.mean(o.steps for o in random)
    base_wall = statistics.mean(o.wall_seconds for o in random)
    for arm in ARMS:
        mine = [o for o in outcomes if o.task == task and o.arm == arm]
        if not mine:
            continue
        bests = [o.best for o in mine]
        spread = statistics.stdev(bests) if len(bests) > 1 else 0.0
        best, steps = statistics.mean(bests), statistics.mean(o.steps for o in mine)
        wall = statistics.mean(o.wall_seconds for o in mine)
        preload = statistics.mean(o.preload_seconds for o in mine)
        if task == "classifier":
            gap, unit, reached = best - base_best, "AUC", best >= base_best - 0.001
        else:
            gap, unit = (best - base_best) / base_best * 100, "% RMSE"
            reached = gap <= 0.5
        verdict = (
            ""
            if arm == "random"
            else f" -> goal: best {'met' if reached else 'MISSED'}, steps "
            f"{'met' if steps <= 0.4 * base_steps else 'MISSED'}, wall {'met' if wall <= 0.5 * base_wall else 'MISSED'}"
        )
        print(
            f"{task:<10} {arm:<18} best {best:.4f} ± {spread:.4f} ({gap:+.4f} {unit} vs random), "
            f"steps {steps:.1f} ({steps / base_steps:.0%} of random), fit s "
            f"{statistics.mean(o.fit_seconds for o in mine):.1f}, trial s "
            f"{statistics.mean(o.trial_seconds for o in mine):.1f}, wall s {wall:.1f} "
            f"({wall / base_wall:.0%} of random; preload {preload:.1f}){verdict}"
        )


def rank_check(task: str, outcomes: list[Outcome], rungs: tuple[int, ...] = (1, 3, 9)) -> None:
    """Does a trial's metric at an early rung predict its last one? Spearman over random's full trials.

    Early termination can only keep the best trial if the best at the end already ranks well at the
    step a policy judges it; this prints, over every full trial of the random arm (all seeds), the
    rank correlation between the metric at each rung and at the last step, and where the trial that
    ended best in each sweep ranked at that rung within its sweep (1 = best).
    """
    from scipy.stats import spearmanr  # scikit-learn's own dependency; only the summary needs it

    sweeps = [[c for c in o.curves if len(c) > max(rungs)] for o in outcomes if o.task == task and o.curves]
    sweeps = [s for s in sweeps if len(s) > 2]
    if not sweeps:
        return
    sign = -1.0 if task == "classifier" else 1.0  # rank 1 = best: highest AUC, lowest RMSE
    parts = []
    for rung in rungs:
        early = [sign * c[rung - 1] for s in sweeps for c in s]
        last = [sign * c[-1] for s in sweeps for c in s]
        ranks = []
        for s in sweeps:
            winner = min(range(len(s)), key=lambda i: sign * s[i][-1])
            ranks.append(1 + sum(1 for c in s if sign * c[rung - 1] < sign * s[winner][rung - 1]))
        parts.append(
            f"step {rung}: Spearman {spearmanr(early, last).statistic:.2f}, best-at-end ranked "
            f"{'/'.join(map(str, ranks))} of {len(sweeps[0])}"
        )
    print(f"{task:<10} random's full trials, metric at a rung vs at the end: {'; '.join(parts)}")


def timings(o: Outcome) -> tuple[float, float, float, float]:
    return o.fit_seconds, o.trial_seconds, o.wall_seconds, o.preload_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--max-trees", type=int, default=500, help="trees of a full trial (steps of 20)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--skip-startup", action="store_true")
    args = parser.parse_args()
    home = os.environ.setdefault("ML_PLATFORM_HOME", tempfile.mkdtemp(prefix="sweep-bench-"))
    print(f"platform home: {home}; {args.trials} trials per sweep, {args.concurrency} at once, {args.max_trees} trees")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}")
    if not args.skip_startup:
        startup(args.concurrency)
    print(row(tuple(name for name, _ in COLUMNS)))
    outcomes: list[Outcome] = []
    for task in args.tasks:
        for seed in args.seeds:
            for arm in args.arms:
                o = run_arm(task, arm, seed, args.trials, args.concurrency, args.max_trees)
                outcomes.append(o)
                print(
                    row((task, arm, seed, o.best, o.completed, o.pruned, o.failed, o.steps, *timings(o))),
                    flush=True,
                )
    print(f"\nmeans over seeds {args.seeds}; load average now {os.getloadavg()[0]:.2f}")
    for task in args.tasks:
        if "random" in args.arms:
            summary(task, outcomes)
            rank_check(task, outcomes)


if __name__ == "__main__":
    main()
