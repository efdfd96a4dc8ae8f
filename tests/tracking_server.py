"""A real MLflow tracking server for outage tests: started on a free 127.0.0.1 port, stopped and started again.

Why its own helper: the outage tests stop the server mid-rollout or mid-sweep and bring it back on
the same port with the same SQLite store, as a user restarting `ml platform up` would. The test
that starts a server stops it (`close`), whatever happened. It runs MLflow's FastAPI app under
uvicorn itself (what `mlflow server` starts), which halves a restart (measured 8.5-9.6 s against
17-18 s on 2 busy cores).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml.platform.process import free_port
from ml.tracking import tracking_reachable

QUICK_CLIENT_WAITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
"""MLflow client bounds for outage tests: a call to a stopped server fails in ~1 s, not `ml`'s ~7 s.

What the tests check (a held write, a bounded wait, a replay) does not depend on how long one
failed call takes; one retry still rides over a transient error while the server is up.
"""


def quick_client_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set `QUICK_CLIENT_WAITS` for one test (and the processes it starts)."""
    for name, value in QUICK_CLIENT_WAITS.items():
        monkeypatch.setenv(name, value)


class TrackingServer:
    """`mlflow server` over one SQLite file and one artifact directory, on one port for its whole life."""

    def __init__(self, db: Path, artifacts: Path) -> None:
        self.db, self.artifacts = db, artifacts
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = db.parent / "mlflow-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> float:
        """Start the server and wait until it answers; returns the seconds that took."""
        started = time.monotonic()
        self.artifacts.mkdir(parents=True, exist_ok=True)
        from mlflow.server import constants

        # the FastAPI app under uvicorn directly, as `mlflow server` runs it, without the CLI process in
        # front (it imports MLflow a second time and checks the store: ~half of a 10-18 s restart on 2
        # busy cores); MLflow's own constants name the variables, so a rename fails here, loudly
        argv = [
            *(sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port)),
            *("--workers", "1", "--log-level", "warning", "mlflow.server.fastapi_app:app"),
        ]
        env = {
            **os.environ,
            constants.BACKEND_STORE_URI_ENV_VAR: f"sqlite:///{self.db}",
            constants.ARTIFACT_ROOT_ENV_VAR: self.artifacts.as_uri(),
            "_MLFLOW_SGI_NAME": "uvicorn",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        while not tracking_reachable(self.uri, timeout=1.0):
            if self._process.poll() is not None or time.monotonic() - started > timeout:
                self.stop()
                raise RuntimeError(f"mlflow server did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        return time.monotonic() - started

    def ensure_started(self) -> None:
        """Start the server again if an earlier test left it stopped (the module-scoped server is shared)."""
        if self._process is None:
            self.start()

    def stop(self) -> None:
        """Kill the server's whole process group (the outage): nothing answers on the port afterwards."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10)
        self._process = None

    def close(self) -> None:
        self.stop()


@contextlib.contextmanager
def running_server(sqlite_template: Path, home: Path) -> Iterator[TrackingServer]:
    """A started server over a copy of the migrated SQLite template in ``home``, closed on exit."""
    shutil.copy(sqlite_template, home / "mlflow.db")
    tracking = TrackingServer(home / "mlflow.db", home / "artifacts")
    tracking.start()
    try:
        yield tracking
    finally:
        tracking.close()
