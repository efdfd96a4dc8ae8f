"""`ml` prints its own lines only: MLflow's and other libraries' log lines go to <home>/logs/ml.log.

The command runs as a real process (the console entry point), on a fresh local platform home, so
MLflow creates its SQLite store and logs its migrations -- the lines users used to see in between.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml.logsetup import LIBRARIES, configure

REPO = Path(__file__).resolve().parents[1]
NOISE = ("INFO", "WARNING", "mlflow.", "alembic", "View run", "🏃", "Creating initial MLflow database")


def test_a_command_prints_only_its_own_lines_and_the_library_lines_go_to_the_log_file(tmp_path: Path) -> None:
    env = {**os.environ, "ML_PLATFORM_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    for name in ("MLFLOW_CONFIGURE_LOGGING", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", "from ml.cli import main; main()", "sweep", "status", "no-such-sweep", "-s", "local"],
        env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    printed = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 2, printed
    assert [line for line in printed if any(mark in line for mark in NOISE)] == []
    assert any("no sweep 'no-such-sweep'" in line for line in printed)
    log = (tmp_path / "logs" / "ml.log").read_text()
    assert "mlflow" in log  # what MLflow said is kept, where --verbose or a reader can find it


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    libraries = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate) for name in LIBRARIES
    }
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved[1])
    for name, (handlers, propagate) in libraries.items():
        logging.getLogger(name).handlers, logging.getLogger(name).propagate = handlers, propagate
    logging.captureWarnings(False)


def test_verbose_shows_library_lines_on_stderr_as_well(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path))
    path = configure(verbose=False)
    logging.getLogger("mlflow.tracking").info("quiet line")
    assert "quiet line" not in capsys.readouterr().err
    configure(verbose=True)
    logging.getLogger("mlflow.tracking").info("loud line")
    assert "loud line" in capsys.readouterr().err
    assert "quiet line" in path.read_text() and "loud line" in path.read_text()


def test_what_mlflow_prints_while_registering_goes_to_the_log_not_the_terminal(
    mlflow_sqlite_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    """MLflow's registry prints "Successfully registered model ..." itself (not through logging)."""
    import mlflow

    from ml.logsetup import library_prints

    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path / "home"))
    log = configure()  # what every ml command does first
    mlflow.set_tracking_uri(mlflow_sqlite_uri)
    mlflow.set_registry_uri(mlflow_sqlite_uri)
    with mlflow.start_run() as run:
        mlflow.log_text("weights", "model/MLmodel")
    with library_prints():
        mlflow.register_model(f"runs:/{run.info.run_id}/model", "quiet-model")
        print("ml's own line")  # stdout is untouched
    printed = capfd.readouterr()
    assert "registered" not in printed.err and "Created version" not in printed.err, printed.err
    assert "ml's own line" in printed.out
    assert "Successfully registered model 'quiet-model'" in log.read_text()
