"""Fixtures for the `ml model` and validation tests: a local stack with a real SQLite MLflow registry.

Shared by tests/model and tests/deploy/test_validation.py (each binds them: `home = fixtures.home`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml.contract import PlatformOutputs
from ml.stack import default_local_outputs
from tests.mlflow_template import copy_store
from tests.model.helpers import HOLDOUT, Split, fit, split


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, _mlflow_sqlite_template: Path) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("model-home")
    copy_store(_mlflow_sqlite_template, path / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)  # MLflow's default artifact root (./mlruns) stays in the test home
        patch.setenv("ML_PLATFORM_HOME", str(path))
        patch.delenv("GITHUB_ACTOR", raising=False)
        yield path


def artifact_home() -> Path:
    """Where this module's ``file:`` artifacts go: the test home of ``ML_PLATFORM_HOME``."""
    return Path(os.environ["ML_PLATFORM_HOME"]) / "artifacts"


@pytest.fixture(scope="module")
def outputs(home: Path) -> PlatformOutputs:
    return default_local_outputs(home)


@pytest.fixture
def client(outputs: PlatformOutputs) -> Any:
    """The stack's registry, made the process's active MLflow again for each test (conftest resets it)."""
    import mlflow

    from ml.tracking import use_tracking

    tracking = use_tracking(outputs)
    found = tracking.get_experiment_by_name("model-tests")
    experiment = (
        found.experiment_id
        if found
        else tracking.create_experiment("model-tests", artifact_location=f"{outputs.artifacts.uri}/model-tests")
    )
    mlflow.set_experiment(experiment_id=experiment)
    return tracking


@pytest.fixture(scope="module")
def data() -> Split:
    return split()


@pytest.fixture(scope="module")
def holdout() -> Path:
    """The example rollout's evaluation set (examples/data/make_holdout.py: the training script's hold-out)."""
    return HOLDOUT


@pytest.fixture(scope="module")
def good_model(data: Split) -> Any:
    return fit(data)


@pytest.fixture(scope="module")
def worse_model(data: Split) -> Any:
    return fit(data, flip=0.35)


def bind(namespace: dict[str, Any]) -> None:
    """Make these fixtures visible to pytest in a conftest or test module: ``bind(globals())``."""
    namespace.update(
        home=home,
        outputs=outputs,
        client=client,
        data=data,
        holdout=holdout,
        good_model=good_model,
        worse_model=worse_model,
    )
