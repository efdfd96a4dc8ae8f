"""A trial's reports reach the job's MLflow run even when the platform did not activate it (Azure ML)."""

from __future__ import annotations

import os
import subprocess
import sys

from mlflow import MlflowClient

SCRIPT = """
from ml.sweep import trial
trial.report(0, val_auc=0.9)
trial.report(1, val_auc=0.95)
"""


def test_report_logs_to_the_run_named_by_mlflow_run_id(mlflow_sqlite_uri: str) -> None:
    uri = mlflow_sqlite_uri
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("azure-like")
    run = client.create_run(experiment)  # created by the platform, never activated in the trial
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_RUN_ID": run.info.run_id,
        "ML_TRIAL_MLFLOW_METRICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("ML_TRIAL_METRICS_FILE", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    history = client.get_metric_history(run.info.run_id, "val_auc")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.95)]
