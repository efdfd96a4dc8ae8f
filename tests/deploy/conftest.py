"""The local stack the in-memory rollout tests record to: one home, store and MLflow client per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ml.contract import PlatformOutputs
from ml.stack import default_local_outputs
from ml.tracking import use_tracking
from tests.mlflow_template import local_stack_home


@pytest.fixture(scope="module")
def home(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _mlflow_sqlite_template: Path
) -> Iterator[Path]:
    """A local platform home with a copy of the run's migrated MLflow store, named after the module."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with local_stack_home(tmp_path_factory.mktemp(f"{name}-home"), _mlflow_sqlite_template) as path:
        yield path


@pytest.fixture(scope="module")
def outputs(home: Path) -> PlatformOutputs:
    return default_local_outputs(home)


@pytest.fixture(scope="module")
def client(outputs: PlatformOutputs):  # type: ignore[no-untyped-def]  # MlflowClient, imported lazily by ml
    return use_tracking(outputs)
