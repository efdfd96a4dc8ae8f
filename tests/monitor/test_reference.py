"""The reference travels trial run -> registered version -> `ml monitor`, in a real MLflow store.

The trial logs it with `ml.sweep.trial.log_reference` (as examples/train/train_gbm.py does);
`register_best`, `ml sweep best`'s registration, attaches it to the version it registers.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import sklearn
from mlflow import MlflowClient

from ml.contract.errors import UserError
from ml.monitor.reference import PREDICTION, TAG_REFERENCE, attach_reference, load_reference, log_reference
from ml.stack import resolve_outputs
from ml.sweep import trial
from ml.sweep.backends.base import SweepState, SweepStatus, TrialResult, TrialState
from ml.sweep.register import register_best
from tests.monitor.conftest import Cancer


def _trial_run(cancer: Cancer, *, reference: bool) -> str:
    with mlflow.start_run(experiment_id="0") as run:
        mlflow.sklearn.log_model(
            cancer.model,
            name="model",
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            serialization_format="cloudpickle",
        )
        if reference:  # what examples/train/train_gbm.py does after fitting
            trial.log_reference(
                cancer.x_train.to_numpy(),
                cancer.predict(cancer.x_train),
                target=cancer.y_train,
                metric=("val_auc", 0.99),
            )
    return str(run.info.run_id)


def test_the_trial_reference_is_attached_to_the_version_sweep_best_registers(
    cancer: Cancer, mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_PLATFORM_HOME", str(Path(mlflow_sqlite_uri.removeprefix("sqlite:///")).parent))
    outputs = resolve_outputs("local")
    mlflow.set_tracking_uri(outputs.tracking_uri)
    client = MlflowClient(tracking_uri=outputs.tracking_uri, registry_uri=outputs.tracking_uri)
    with_reference, without = _trial_run(cancer, reference=True), _trial_run(cancer, reference=False)
    status = SweepStatus(sweep_id="s1", backend="local", state=SweepState.COMPLETED, total=2, model_name="cancer")

    def best(run_id: str) -> TrialResult:
        return TrialResult(
            trial_id=run_id[:6],
            state=TrialState.COMPLETED,
            params={},
            metric="val_auc",
            value=0.99,
            run_id=run_id,
            model_uri=f"runs:/{run_id}/model",
        )

    carried = register_best(outputs, status, best(with_reference))
    assert carried.reference == f"runs:/{with_reference}/reference"
    assert (
        client.get_model_version("cancer", carried.version).tags[TAG_REFERENCE] == f"runs:/{with_reference}/reference"
    )
    reference = load_reference(client, "cancer", carried.version)
    assert reference.rows == len(cancer.x_train) and reference.features == [str(i) for i in range(30)]
    assert reference.task == "classification" and reference.metric == ("val_auc", 0.99)
    assert PREDICTION in reference.sample.columns and len(reference.sample) == len(cancer.x_train)
    assert reference.summary["features"]["0"]["kind"] == "numeric"

    bare = register_best(outputs, status, best(without))  # registers all the same, with no reference
    assert bare.reference is None
    fix = rf"version {bare.version} has no reference .*`ml monitor reference cancer/{bare.version} --data"
    with pytest.raises(UserError, match=fix):
        load_reference(client, "cancer", bare.version)
    with pytest.raises(UserError, match="has no reference"):  # what register_best kept to itself
        attach_reference(client, "cancer", bare.version)
    assert TAG_REFERENCE not in client.get_model_version("cancer", bare.version).tags


def test_log_reference_outside_a_run_says_what_to_do(
    cancer: Cancer, mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(mlflow_sqlite_uri)
    with pytest.raises(
        UserError, match=r"log_reference needs an MLflow run: call it inside `with mlflow.start_run\(\):`"
    ):
        log_reference(cancer.x_train, None)


def test_trial_log_reference_outside_a_run_does_nothing(monkeypatch: pytest.MonkeyPatch, cancer: Cancer) -> None:
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    assert mlflow.active_run() is None
    assert trial.log_reference(cancer.x_train, cancer.predict(cancer.x_train)) is None
