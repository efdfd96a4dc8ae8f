"""A small registry like the demo's: real sklearn models on scikit-learn's breast-cancer data.

The good model is registered the way `ml sweep best` registers one (a real `SweepRecorder` parent
run with the example sweep spec, a trial run that logs its training data with `trial.log_dataset`
and its model with a tensor signature, then `register_best`); the worse one is trained on
labels with 35% flipped. Both are judged on the example rollout's hold-out CSV (the same split).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SWEEP_SPEC = REPO / "examples" / "sweeps" / "breast_cancer.yaml"
HOLDOUT = REPO / "examples" / "data" / "breast_cancer_holdout.csv"


@dataclass
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    columns: list[str]


def split() -> Split:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    x_train, x_val, y_train, y_val = train_test_split(
        data.data, data.target, test_size=0.3, stratify=data.target, random_state=0
    )
    return Split(x_train, y_train, x_val, y_val, [str(c) for c in data.feature_names])


def fit(data: Split, *, flip: float = 0.0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = data.y_train.copy()
    if flip:
        rng = np.random.default_rng(3)
        flipped = rng.random(len(labels)) < flip
        labels[flipped] = 1 - labels[flipped]
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(data.x_train, labels)


def log_model(model: Any, data: Split) -> str:
    """Log in the active run like examples/train/train_gbm.py: tensor signature, explicit requirements."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    signature = infer_signature(data.x_val, model.predict_proba(data.x_val)[:, 1])
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=signature,
        serialization_format="cloudpickle",
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
    )
    return str(info.model_uri)


def register_from_sweep(client: Any, outputs: Any, name: str, model: Any, data: Split) -> str:
    """Record a one-trial sweep as the local backend does and register its best trial; the version."""
    import mlflow

    from ml.sweep import trial
    from ml.sweep.backends._local_tracking import SweepRecorder
    from ml.sweep.backends.base import SweepState, SweepStatus, TrialResult, TrialState
    from ml.sweep.register import register_best
    from ml.sweep.spec import load_spec

    spec = load_spec(SWEEP_SPEC)
    spec = spec.model_copy(update={"model_name": name, "experiment": f"{name}-sweep"})
    sweep_id = f"{name}-sweep-1"
    recorder = SweepRecorder(client, outputs, spec, sweep_id)
    parent = recorder.start(total=3, git_commit="abc1234", estimated_cost=0.12, currency="USD")
    params = {"learning_rate": 0.1, "max_depth": 3, "subsample": 0.9, "min_samples_leaf": 5}
    run_id = recorder.start_trial(0, params, git_commit="abc1234")
    mlflow.set_experiment(experiment_id=recorder.experiment_id)  # the trial process runs in the sweep's experiment
    with mlflow.start_run(run_id=run_id):
        trial.log_dataset(data.x_train, name="breast-cancer-train", targets=data.y_train, context="training")
        auc = 0.99
        mlflow.log_metric("val_auc", auc, step=1)
        uri = log_model(model, data)
    best = TrialResult(
        trial_id="0",
        state=TrialState.COMPLETED,
        params=params,
        metric="val_auc",
        value=auc,
        run_id=run_id,
        model_uri=uri,
        step=1,
        seconds=1.5,
        cost=0.0,
        estimated_cost=0.04,
    )
    recorder.finish_trial(best, restarts=0, message=None, log_file=None)
    status = SweepStatus(
        sweep_id=sweep_id,
        backend="local",
        state=SweepState.COMPLETED,
        total=3,
        completed=1,
        pruned=2,
        best=best,
        parent_run_id=parent,
        cost=0.0,
        model_name=name,
        git_commit="abc1234",
    )
    recorder.finish(status, artifacts=[])
    return register_best(outputs, status, best, model_name=name).version


def register_plain(client: Any, name: str, model: Any, data: Split, alias: str | None = None) -> str:
    """Register a model straight from a run (no sweep); the version."""
    import mlflow

    with mlflow.start_run():
        uri = log_model(model, data)
    version = str(mlflow.register_model(uri, name).version)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version
