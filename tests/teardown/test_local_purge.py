"""`ml platform down --purge` leaves nothing behind: stray processes from the home stopped, the home deleted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ml.contract.errors import UserError
from ml.platform.process import spawn, stop
from ml.teardown.local import leftovers_local, purge_local


def test_purge_stops_what_runs_from_the_home_and_deletes_it(tmp_path: Path) -> None:
    home = tmp_path / "mlops-home"
    (home / "sweeps" / "s1").mkdir(parents=True)
    (home / "mlflow.db").write_text("x")
    (home / "audit.jsonl").write_text("{}\n")
    # a trial whose sweep process died: no record anywhere, but it runs from the home
    trial = spawn(
        "orphan-trial",
        [sys.executable, "-c", "import time; time.sleep(120)", str(home / "sweeps" / "s1" / "trial-0")],
        log=tmp_path / "trial.log",
        env={"PATH": "/usr/bin:/bin"},
        cwd=home / "sweeps" / "s1",
    )
    try:
        assert trial.alive()
        assert any(line.startswith(f"process {trial.pid}") for line in leftovers_local(home))

        result = purge_local(home)

        assert any(f"pid {trial.pid}" in line for line in result.stopped)
        assert result.removed and result.left == []
        assert not trial.alive() and not home.exists()
        assert leftovers_local(home) == []
    finally:
        stop(trial, timeout=1)


def test_purge_of_an_empty_platform_leaves_nothing_and_refuses_directories_that_are_not_a_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert purge_local(tmp_path / "never-started").left == []
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="refusing to purge"):
        purge_local(tmp_path)  # the working directory
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    with pytest.raises(UserError, match="git checkout"):
        purge_local(tmp_path / "repo")


def test_ml_platform_down_purge_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from ml.platform.cli import register

    home = tmp_path / "platform-home"
    (home / "artifacts" / "1").mkdir(parents=True)
    (home / "mlflow.db").write_text("x")
    stray = spawn(
        "stray",
        [sys.executable, "-c", "import time; time.sleep(120)", str(home / "logs" / "x")],
        log=tmp_path / "stray.log",
        env={"PATH": "/usr/bin:/bin"},
    )
    monkeypatch.setenv("ML_PLATFORM_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    app = typer.Typer()
    register(app)
    try:
        result = CliRunner().invoke(app, ["platform", "down", "--purge"], catch_exceptions=False)
        assert result.exit_code == 0, result.stdout
        assert "purged" in result.stdout and str(stray.pid) in result.stdout
        assert not home.exists() and not stray.alive()
    finally:
        stop(stray, timeout=1)
