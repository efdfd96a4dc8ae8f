"""A real MLflow tracking server for outage tests: started on a free 127.0.0.1 port, stopped and started again.

Why its own helper: the outage tests stop the server mid-rollout or mid-sweep and bring it back on
the same port with the same SQLite store, as a user restarting `ml platform up` would. The test
that starts a server stops it (`close`), whatever happened.
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

from ml.platform.process import free_port
from ml.tracking import tracking_reachable


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
        argv = [
            *(sys.executable, "-m", "mlflow", "server"),
            *("--backend-store-uri", f"sqlite:///{self.db}", "--default-artifact-root", self.artifacts.as_uri()),
            *("--no-serve-artifacts", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"),
        ]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
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
