"""The end-of-sweep picture: optimisation history and parameter importance in one PNG.

Why drawn here rather than with `optuna.visualization.matplotlib`: those helpers are experimental
(they warn) and draw one figure each; one figure with both panels is what gets logged to MLflow.
Importance is Optuna's fANOVA estimate over completed trials.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import warnings
from pathlib import Path

import optuna

_HEAVY = ("matplotlib.pyplot", "optuna.importance")
"""What drawing imports (matplotlib; fANOVA pulls in scikit-learn and SciPy): 5-8 s on a loaded machine."""


def warm_up() -> threading.Thread:
    """Import what `save_sweep_plot` needs in a background thread while the sweep's trials run.

    Why: measured on a trivial 16-trial sweep, drawing the end-of-sweep picture took 7.5 s, almost
    all of it these imports, paid after the last trial by every sweep (inside every arm's wall in
    bench/sweep_efficiency.py). The sweep process mostly sleeps while its trials run, so the imports
    overlap with them; `save_sweep_plot` then finds them loaded (or waits on the import lock).
    """

    def load() -> None:
        import matplotlib

        matplotlib.use("Agg")
        for name in _HEAVY:
            with contextlib.suppress(Exception):  # the plot itself reports what is missing
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="sweep-plot-imports", daemon=True)
    thread.start()
    return thread


def save_sweep_plot(study: optuna.Study, path: Path, *, metric: str, title: str) -> Path:
    """Write the PNG and return its path; panels say so when there are too few trials to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    figure, (history, importance) = plt.subplots(1, 2, figsize=(12, 4.5))
    figure.suptitle(title)

    history.set_title("Optimisation history")
    history.set_xlabel("trial")
    history.set_ylabel(metric)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values]
    if pruned:
        history.scatter(
            [t.number for t in pruned],
            [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
            marker="x",
            color="tab:gray",
            label="pruned (last reported)",
        )
    if completed:
        numbers = [t.number for t in completed]
        values = [float(t.value) for t in completed if t.value is not None]
        history.scatter(numbers, values, color="tab:blue", label="completed")
        best: list[float] = []
        for value in values:
            best.append(value if not best else (max(best[-1], value) if maximize else min(best[-1], value)))
        history.step(numbers, best, where="post", color="tab:red", label="best so far")
    if completed or pruned:
        history.legend(loc="best")
    else:
        history.text(0.5, 0.5, "no completed trials", ha="center", va="center", transform=history.transAxes)

    importance.set_title("Parameter importance (fANOVA)")
    scores: dict[str, float] = {}
    if len(completed) >= 2:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError):
            scores = {}
    if scores:
        names = list(reversed(scores))
        importance.barh(names, [scores[name] for name in names], color="tab:green")
        importance.set_xlabel("importance")
    else:
        importance.text(
            0.5,
            0.5,
            "needs 2+ completed trials\nwith varying parameters",
            ha="center",
            va="center",
            transform=importance.transAxes,
        )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
