"""Background processes the local platform owns: start detached, record, probe, stop exactly them.

Why records with a start time: the platform outlives the `ml` command that started it, so every
process is written to a JSON record (pid, its kernel start time, port, URL, log). Stopping checks
the start time first, so a recycled pid that now belongs to someone else is never signalled, and
signals go to the process group the server was started in (the MLflow CLI forks uvicorn workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: this interpreter's bin first on PATH (mlflow serve runs `uvicorn`)."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def _start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


@dataclass
class ProcessRecord:
    """A background server the platform started."""

    name: str
    pid: int
    start_time: int | None
    argv: list[str]
    log: str
    port: int | None = None
    url: str | None = None
    started_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    def alive(self) -> bool:
        """True when the recorded process still runs (and is the same process, not a recycled pid)."""
        _reap(self.pid)
        current = _start_time(self.pid)
        return current is not None and (self.start_time is None or current == self.start_time)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ProcessRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None


def spawn(name: str, argv: list[str], *, log: Path, env: dict[str, str], cwd: Path | None = None) -> ProcessRecord:
    """Start ``argv`` detached in its own session (it survives this `ml` process) and return its record."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return ProcessRecord(name=name, pid=process.pid, start_time=_start_time(process.pid), argv=argv, log=str(log))


def stop(record: ProcessRecord, *, timeout: float = 10.0) -> bool:
    """SIGTERM the record's process group, SIGKILL it after ``timeout``; False when it was not running."""
    if not record.alive():
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not record.alive():
                return True
            time.sleep(0.05)
    return not record.alive()


def kill_now(record: ProcessRecord) -> None:
    """SIGKILL the record's process group at once (fault injection and `down` of a stuck server)."""
    if record.alive():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, signal.SIGKILL)


def http_ok(url: str, *, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 2xx within ``timeout`` seconds."""
    try:
        return httpx.get(url, timeout=timeout).is_success
    except httpx.HTTPError:
        return False


def wait_http(url: str, *, timeout: float, record: ProcessRecord | None = None, interval: float = 0.2) -> bool:
    """Poll ``url`` until it answers 2xx (True), the process died or ``timeout`` passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_ok(url, timeout=min(2.0, max(0.2, deadline - time.monotonic()))):
            return True
        if record is not None and not record.alive():
            return False
        time.sleep(interval)
    return False


def log_tail(path: str | Path, lines: int = 15) -> str:
    """The last lines of a server log, to put the reason into an error message."""
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
