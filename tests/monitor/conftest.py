"""Fixtures for `ml monitor`: breast-cancer data, a real MLflow registry with a champion, capture writers.

The model is a real scikit-learn classifier trained on scikit-learn's breast-cancer data, logged and
registered in a real MLflow SQLite store under a temporary platform home (``ML_PLATFORM_HOME``), with
its reference logged by `ml.monitor.reference.log_reference` as a training script would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.contract.capture import CaptureRecord, capture_key

MODEL = "cancer-lr"
ENDPOINT = "local"  # the local platform's endpoint name (ml.stack.default_local_outputs)


@dataclass(frozen=True)
class Cancer:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    model: object

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(frame.to_numpy())[:, 1])  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def cancer() -> Cancer:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.3, stratify=target, random_state=0
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x_train, y_train)
    return Cancer(
        pd.DataFrame(x_train).rename(columns=str), pd.DataFrame(x_test).rename(columns=str), y_train, y_test, model
    )


@dataclass(frozen=True)
class Platform:
    home: Path
    tracking_uri: str
    version: str

    @property
    def capture(self) -> Path:
        return self.home / "capture"


def register_model(cancer: Cancer, tracking_uri: str, *, reference: bool = True) -> str:
    """Log the model (and its reference) in a run, register it, make it the local endpoint's champion."""
    import mlflow
    import sklearn
    from mlflow import MlflowClient
    from sklearn.metrics import roc_auc_score

    from ml.monitor.reference import log_reference

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)  # mlflow.register_model below goes to the registry URI, not the tracking one
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    auc = roc_auc_score(cancer.y_test, cancer.predict(cancer.x_test))
    with mlflow.start_run(experiment_id="0") as run:
        mlflow.sklearn.log_model(
            cancer.model,
            name="model",
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            serialization_format="cloudpickle",
        )
        if reference:
            log_reference(
                cancer.x_train, cancer.predict(cancer.x_train), target=cancer.y_train, metric=("val_auc", auc)
            )
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL)
    client.set_registered_model_alias(MODEL, "champion", version.version)
    client.set_model_version_tag(MODEL, version.version, "deployed_to", ENDPOINT)
    return str(version.version)


@pytest.fixture
def platform(
    cancer: Cancer, mlflow_sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    """A local platform home whose MLflow store holds `MODEL` as the endpoint's champion, with a reference."""
    home = Path(mlflow_sqlite_uri.removeprefix("sqlite:///")).parent
    monkeypatch.setenv("ML_PLATFORM_HOME", str(home))
    version = register_model(cancer, mlflow_sqlite_uri)
    yield Platform(home=home, tracking_uri=mlflow_sqlite_uri, version=version)


def records_for(
    frame: pd.DataFrame,
    predictions: np.ndarray,
    *,
    version: str,
    start: float | None = None,
    deployment: str = "blue",
    status: int = 200,
    prefix: str = "r",
) -> list[CaptureRecord]:
    """One capture record per row, a second apart, as the local model server writes them."""
    start = time.time() - len(frame) - 60 if start is None else start
    return [
        CaptureRecord(
            request_id=f"{prefix}{i}",
            timestamp=start + i,
            endpoint=ENDPOINT,
            deployment=deployment,
            model_name=MODEL,
            model_version=version,
            inputs={k: float(v) for k, v in row.items()},
            prediction=float(predictions[i]),
            status_code=status,
            latency_ms=10.0 + (i % 10),
        )
        for i, (_, row) in enumerate(frame.iterrows())
    ]


def write_capture(root: Path, records: list[CaptureRecord], *, part: str = "server-1") -> None:
    """Append records to their hour files under ``root`` (the layout of `ml.contract.capture.capture_key`)."""
    for record in records:
        path = root / capture_key("", record.endpoint, record.deployment, record.timestamp, part=part)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as stream:
            stream.write(record.to_json() + "\n")


def shifted(frame: pd.DataFrame, column: str, sds: float) -> pd.DataFrame:
    """``frame`` with ``column`` moved by ``sds`` of its standard deviation."""
    out = frame.copy()
    out[column] = out[column] + sds * frame[column].std()
    return out
