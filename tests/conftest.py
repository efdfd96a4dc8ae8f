"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mlflow_template import copy_store, make_template

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# The files that take longest (per-file totals of `--durations=0` on 2 loaded cores, slowest first). CI runs
# `-n 2 --dist loadfile`: each file runs whole on one worker, handed out in collection order, so a long file
# collected last (tests/sweep/... sort late) ran alone at the end while the other worker idled. Collected
# first, they start at once and the short files fill in around them. A file missing here only runs later.
SLOW_FILES = (
    "tests/deploy/test_local_rollouts.py",
    "tests/sweep/test_tracking_outage.py",
    "tests/deploy/test_validation.py",
    "tests/sweep/test_local_backend.py",
    "tests/sweep/test_cli.py",
    "tests/deploy/test_tracking_outage.py",
    "tests/deploy/test_ab_local.py",  # after the local rollouts' start: both run real platforms under latency gates
    "tests/deploy/test_stats_engine.py",
    "tests/infra/test_plan_cli.py",
    "tests/monitor/test_cli.py",
    "tests/sweep/test_trial_run.py",
    "tests/model/test_model_verbs.py",
    "tests/sweep/test_no_orphans.py",
    "tests/deploy/test_engine.py",
    "tests/deploy/test_azure_target.py",
    "tests/deploy/test_ab_arms.py",
    "tests/test_quiet_output.py",
    "tests/deploy/test_sagemaker_target.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run `SLOW_FILES` first, in that order; every file keeps its tests' order (module fixtures rely on it)."""
    rank = {path: index for index, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


_MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")


def _restore_mlflow(saved: dict[str, str | None]) -> None:
    """MLflow's process-wide URIs and active experiment unset, its environment variables as in ``saved``."""
    if "mlflow" in sys.modules:
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        tracking_utils.set_tracking_uri(None)  # type: ignore[arg-type]  # None means "unset" in MLflow
        registry_utils._registry_uri = None
        from mlflow.tracking import fluent

        fluent._active_experiment_id = None
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _isolated_mlflow_uris() -> Iterator[None]:
    """Give every test MLflow's process-wide URIs as they were before it.

    Why: `ml.tracking.use_tracking` (like the CLI) sets MLflow's global tracking and registry URIs and
    their environment variables; without this, a later test's `MlflowClient(tracking_uri=...)` still
    resolves the registry to a server an earlier test has stopped, and retries for minutes. The
    active experiment is process-wide too (`mlflow.set_experiment`): left set, a later test's
    `mlflow.start_run()` asks its own fresh store for an experiment id that exists only in another.
    """
    saved = {name: os.environ.get(name) for name in _MLFLOW_URI_VARIABLES}
    yield
    _restore_mlflow(saved)


@pytest.fixture(scope="module", autouse=True)
def _isolated_mlflow_uris_per_module() -> Iterator[None]:
    """The same at the end of each module, for what its module-scoped fixtures set.

    Why: a module fixture runs before the per-test fixture above saves the variables, so what it sets
    (`use_tracking`'s URIs for its platform, `mlflow.set_experiment`'s MLFLOW_EXPERIMENT_ID) is
    "as before" for each of its tests -- as it should be -- but outlived the module: a later file on
    the same xdist worker started its runs in experiment 2 of a server that had none.
    """
    saved = {name: os.environ.get(name) for name in _MLFLOW_URI_VARIABLES}
    yield
    _restore_mlflow(saved)


@pytest.fixture(scope="session")
def _mlflow_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, empty MLflow SQLite store per test run, shared by the xdist workers (tests/mlflow_template.py)."""
    root = tmp_path_factory.getbasetemp()
    shared = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # the workers' common directory
    return make_template(shared / "mlflow-template")


@pytest.fixture
def mlflow_sqlite_uri(_mlflow_sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh MLflow SQLite tracking URI for one test: a copy of the migrated template.

    The test runs in ``tmp_path``: MLflow puts the artifacts of an experiment created without a
    location (the monitor's, the audit's) under ``./mlruns``, which would be the repository.
    """
    monkeypatch.chdir(tmp_path)
    yield copy_store(_mlflow_sqlite_template, tmp_path / "mlflow.db")
