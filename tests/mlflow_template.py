"""A migrated, empty MLflow SQLite store made once per test run, and per-test copies of it.

Why: creating a store runs ~40 migrations (5-25 s on 2 busy cores); each pytest-xdist worker used
to make its own. The template is made once per run, under a lock in the directory the workers
share, and each copy has its Default experiment's artifact location moved into the copy's own
directory: the template's pointed at ``./mlruns`` of whatever directory pytest ran in, so tests
logged artifacts into the repository.
"""

from __future__ import annotations

import fcntl
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def make_template(directory: Path) -> Path:
    """``directory/mlflow.db``, created and migrated by the first caller; later callers wait, then reuse it."""
    from mlflow import MlflowClient

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mlflow.db"
    with (directory / "mlflow.db.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
        if not path.exists():
            partial = directory / "mlflow.db.partial"
            partial.unlink(missing_ok=True)
            MlflowClient(tracking_uri=f"sqlite:///{partial}").search_experiments()
            partial.rename(path)  # a worker never copies a half-migrated store
    return path


def copy_store(template: Path, database: Path) -> str:
    """Copy ``template`` to ``database``; its Default experiment keeps artifacts in ``database.parent/mlruns/0``."""
    shutil.copy(template, database)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
            (str(database.parent / "mlruns" / "0"),),
        )
    connection.close()
    return f"sqlite:///{database}"


@contextmanager
def local_stack_home(path: Path, template: Path) -> Iterator[Path]:
    """``ML_PLATFORM_HOME=path`` with a copy of ``template`` as the local stack's store, run from ``path``.

    Why from ``path``: the audit's experiment is created without an artifact location, so MLflow keeps
    its runs in ``./mlruns``, which would otherwise be the repository.
    """
    copy_store(template, path / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        patch.setenv("ML_PLATFORM_HOME", str(path))
        yield path
