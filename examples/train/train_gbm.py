"""Train a gradient-boosting classifier on scikit-learn's breast-cancer data, as one sweep trial.

Why it looks like this: it is the example every sweep backend runs. It grows the ensemble in
steps with ``warm_start`` and reports the validation AUC after each step (`trial.report`), so an
early-termination policy can stop a weak trial after a few steps; it checkpoints the estimator
after each step in `trial.checkpoint_dir()`, so a trial evicted from spot capacity resumes where it
was instead of starting over; at the end it logs the model to MLflow with a signature (the sweep
registers the best one) and its training distribution (`trial.log_reference`, for `ml monitor`).

Run it by hand: ``python examples/train/train_gbm.py --learning-rate 0.1 --max-depth 3``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from ml.sweep import trial

CHECKPOINT_NAME = "gbm.joblib"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--max-depth", type=int, default=3)
    parser.add_argument("--subsample", type=float, default=1.0)
    parser.add_argument("--min-samples-leaf", type=int, default=1)
    parser.add_argument("--n-estimators", type=int, default=200, help="trees at the end")
    parser.add_argument("--step-trees", type=int, default=20, help="trees added per reported step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-model", action="store_true", help="skip logging the MLflow model (benchmarks)")
    return parser.parse_args()


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    features, target = load_breast_cancer(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        features, target, test_size=0.3, stratify=target, random_state=seed
    )
    return x_train, x_val, y_train, y_val


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: an eviction in the middle of a write must not leave a torn checkpoint."""
    partial = path.with_suffix(".partial")
    joblib.dump(state, partial)
    partial.replace(path)


def main() -> None:
    args = parse_args()
    x_train, x_val, y_train, y_val = load_data(args.seed)
    checkpoint = trial.checkpoint_dir() / CHECKPOINT_NAME
    if checkpoint.exists():
        state = joblib.load(checkpoint)
        state["resumes"] += 1
        print(f"resuming from step {state['step']} ({state['model'].n_estimators} trees), resume #{state['resumes']}")
    else:
        model = GradientBoostingClassifier(
            learning_rate=args.learning_rate,
            max_depth=args.max_depth,
            subsample=args.subsample,
            min_samples_leaf=args.min_samples_leaf,
            n_estimators=0,
            warm_start=True,
            random_state=args.seed,
        )
        state = {"model": model, "step": 0, "resumes": 0, "train_seconds": 0.0}
    model = state["model"]
    steps = max(1, args.n_estimators // args.step_trees)
    for step in range(state["step"] + 1, steps + 1):
        if trial.should_stop():
            print(f"asked to stop before step {step}")
            return
        started = time.perf_counter()
        model.n_estimators = step * args.step_trees
        model.fit(x_train, y_train)
        auc = roc_auc_score(y_val, model.predict_proba(x_val)[:, 1])
        state.update(step=step, train_seconds=state["train_seconds"] + time.perf_counter() - started)
        save_checkpoint(checkpoint, state)
        trial.report(
            step,
            val_auc=auc,
            n_estimators=model.n_estimators,
            train_seconds=state["train_seconds"],
            resumes=state["resumes"],
        )

    if not args.no_model:
        # the training data as an MLflow dataset input: the model card's "Training data" section
        trial.log_dataset(x_train, targets=y_train, name="breast-cancer-train", context="training")
        # the training distribution `ml monitor` compares live traffic with; predictions as the served
        # model answers them (pyfunc's predict: classes), so the prediction column compares like with like
        val_auc = float(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]))
        trial.log_reference(x_train, model.predict(x_train), target=y_train, metric=("val_auc", val_auc))
        log_model(model, x_val)


def log_model(model: GradientBoostingClassifier, x_val: np.ndarray) -> None:
    """Log the fitted model to the trial's MLflow run (MLFLOW_RUN_ID, set by the sweep).

    One call: the signature from ``x_val``, the spec's environment as requirements (MLflow infers
    none, which took 20-35 s per trial), skops trusting exactly the model's types.
    """
    trial.log_model(model, x_val)


if __name__ == "__main__":
    main()
