"""The local platform the sweep tests run real trials on: one home (one SQLite store) per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml.contract import PlatformOutputs
from ml.stack import default_local_outputs


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformOutputs]:
    """One local platform for the module: creating the MLflow schema takes seconds."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_PLATFORM_HOME", str(home))
        yield default_local_outputs(home)
