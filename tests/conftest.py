"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def _mlflow_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, empty MLflow SQLite store per session (creating one runs ~40 migrations, 5-25 s)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_sqlite_uri(_mlflow_sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """A fresh MLflow SQLite tracking URI for one test: a copy of the migrated template."""
    path = tmp_path / "mlflow.db"
    shutil.copy(_mlflow_sqlite_template, path)
    yield f"sqlite:///{path}"
