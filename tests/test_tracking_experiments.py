"""`ml.tracking.ensure_experiment`: the one place a new MLflow experiment gets its artifact location."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from ml.tracking import ensure_experiment


def test_a_new_experiment_keeps_its_artifacts_in_the_local_stack_store(mlflow_sqlite_uri: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    root = (tmp_path / "home" / "artifacts").as_uri()
    made = ensure_experiment(client, "ml-monitor", root)
    again = ensure_experiment(client, "ml-monitor", None)
    assert again == made  # found, not created twice
    assert client.get_experiment(made).artifact_location == f"{root}/mlflow/ml-monitor"
    odd = ensure_experiment(client, "team/churn sweep", root)
    assert client.get_experiment(odd).artifact_location == f"{root}/mlflow/team-churn-sweep"


def test_without_a_local_store_the_tracking_server_decides(mlflow_sqlite_uri: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    made = ensure_experiment(client, "ml-deployments", None)
    location = client.get_experiment(made).artifact_location
    assert location is not None
    assert "/mlflow/ml-deployments" not in location
