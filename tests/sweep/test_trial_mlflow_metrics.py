"""A trial's reports reach the job's MLflow run even when the platform did not activate it (Azure ML)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from ml.sweep import trial


def test_report_logs_to_the_run_named_by_mlflow_run_id(mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process (a subprocess only paid MLflow's imports again): the run is named, never activated."""
    uri = mlflow_sqlite_uri
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("azure-like")
    run = client.create_run(experiment)  # created by the platform, never activated in the trial
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    monkeypatch.setenv("ML_TRIAL_MLFLOW_METRICS", "1")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("ML_TRIAL_METRICS_FILE", raising=False)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    assert mlflow.active_run() is None
    try:
        trial.report(0, val_auc=0.9)
        trial.report(1, val_auc=0.95)
        active = mlflow.active_run()
        assert active is not None and active.info.run_id == run.info.run_id  # resumed, not a new run
    finally:
        mlflow.end_run()
        mlflow.set_tracking_uri(previous)
    history = client.get_metric_history(run.info.run_id, "val_auc")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.95)]
