"""One local trial as an OS process: start, read its reports, stop it, tell an eviction from a crash.

Why its own module: process handling is where local sweeps go wrong (zombie children, shells that
swallow signals, torn metrics lines, a data loader left running). Each trial runs in its own
session (process group), so a stop reaches the whole tree, and the group is killed when the trial
ends (nothing it started runs on); the sweep's launcher kills every group if the sweep itself dies
(`ml.sweep.backends._warm_launcher`). The command runs without a shell unless it uses shell syntax;
a trial that dies of SIGTERM that the sweep did not send was evicted (on a cloud this is the spot
reclaim notice) and may be restarted with the same checkpoint directory. Given a `WarmLauncher`, a
trial is forked from it (``python script.py ...`` with imports already done, when it is warm) or
``exec`` ed by a fork of it; without one (it died) it is a plain process. The rest of this class
does not care which (`_Handle`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ml.sweep import trial as protocol
from ml.sweep.backends._warm_launcher import WarmLauncher, parent_death_hook, warm_target

_SHELL_SYNTAX = {"|", "||", "&", "&&", ";", ">", ">>", "<", "2>", "2>&1", "$(", "`"}
STOP_GRACE_SECONDS = 5.0
EVICTION_CODES = {-signal.SIGTERM, 128 + signal.SIGTERM}


def command_argv(command: str) -> list[str]:
    """The argv for a rendered command: exec'd directly, or through ``/bin/sh -c`` if it has shell syntax.

    ``python``/``python3`` as the program means the interpreter running ``ml``, so trials see the
    same environment (packages, the ``ml.sweep.trial`` helpers) whatever PATH says.
    """
    try:
        argv = shlex.split(command)
    except ValueError:
        return ["/bin/sh", "-c", command]
    if not argv or any(token in _SHELL_SYNTAX or "$" in token or "`" in token for token in argv):
        return ["/bin/sh", "-c", command]
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


class _Handle:
    """One attempt's process, however it was started: a `subprocess.Popen` or a fork of the warm launcher."""

    def __init__(self, popen: subprocess.Popen[bytes] | None, launcher: WarmLauncher | None, key: str) -> None:
        self.popen, self.launcher, self.key = popen, launcher, key

    def pid(self, *, wait: float = 0.0) -> int | None:
        if self.popen is not None:
            return self.popen.pid
        assert self.launcher is not None
        return self.launcher.pid(self.key, wait=wait)

    def poll(self) -> int | None:
        if self.popen is not None:
            return self.popen.poll()
        assert self.launcher is not None
        return self.launcher.exit_code(self.key)

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return code


@dataclass
class TrialProcess:
    """A trial's process across restarts, with the files it shares with the sweep."""

    number: int
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    workdir: Path
    checkpoint_dir: Path
    launcher: WarmLauncher | None = None
    restarts: int = 0
    started: float = 0.0
    started_at: float = 0.0
    """Wall-clock time (``time.time()``) of the first start, to compare with report times."""
    billed_seconds: float = 0.0
    stop_reason: str | None = None
    warm: bool = False
    _popen: _Handle | None = None
    _attempt_started: float = 0.0
    _log: IO[bytes] | None = None
    _offset: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics_file(self) -> Path:
        return self.workdir / "metrics.jsonl"

    @property
    def stop_file(self) -> Path:
        return self.workdir / "STOP"

    @property
    def log_file(self) -> Path:
        return self.workdir / "trial.log"

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid()

    def start(self) -> None:
        """Start (or restart after an eviction) the process; the checkpoint directory is kept."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            protocol.METRICS_FILE_ENV: str(self.metrics_file),
            protocol.STOP_FILE_ENV: str(self.stop_file),
            protocol.CHECKPOINT_ENV: str(self.checkpoint_dir),
            "ML_TRIAL_RESTARTS": str(self.restarts),
            "PYTHONUNBUFFERED": "1",
        }
        self._log = self.log_file.open("ab")
        if self.restarts:
            self._log.write(f"--- restart {self.restarts} after eviction ---\n".encode())
            self._log.flush()
        now = time.monotonic()
        if not self.started:
            self.started = now
            self.started_at = time.time()
        self._attempt_started = now
        target = warm_target(self.argv, self.cwd)
        key = f"{self.number}-{self.restarts}"
        if self.launcher is not None and self.launcher.alive():
            self.warm = self.launcher.warm and target is not None
            argv = target if self.warm and target is not None else self.argv
            self.launcher.launch(key, argv, cwd=self.cwd, env=env, log=self.log_file, run_exec=not self.warm)
            self._popen = _Handle(None, self.launcher, key)
            return
        popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=parent_death_hook(),  # no trial outlives the sweep, even a SIGKILLed one
        )
        self._popen = _Handle(popen, None, key)

    def read_reports(self) -> list[protocol.Report]:
        """Reports written since the last read (complete lines only)."""
        reports, self._offset = protocol.read_reports(self.metrics_file, offset=self._offset)
        return reports

    def exit_code(self) -> int | None:
        """The exit code once the current attempt has ended (negative: killed by that signal)."""
        assert self._popen is not None
        code = self._popen.poll()
        if code is not None and self._attempt_started:
            self._signal(signal.SIGKILL)  # what the trial started and left running (a data loader) ends with it
            self._close_attempt()
        return code

    def was_evicted(self, code: int) -> bool:
        """Died of a SIGTERM the sweep did not send: an eviction, not a bug in the trial."""
        return code in EVICTION_CODES and self.stop_reason is None

    def elapsed(self) -> float:
        """Wall seconds since the first start (the trial timeout covers restarts too)."""
        return time.monotonic() - self.started if self.started else 0.0

    def stop(self, reason: str) -> None:
        """Ask the trial to stop (STOP file + SIGTERM to its process group), then kill it after a grace."""
        self.stop_reason = reason
        self.stop_file.touch()
        if self._popen is None or self._popen.poll() is not None:
            if self._popen is not None and self._attempt_started:
                self._signal(signal.SIGKILL)  # it ended; what it started may not have
            self._close_attempt()
            return
        self._signal(signal.SIGTERM)
        if self._popen.wait(STOP_GRACE_SECONDS) is None:
            self._signal(signal.SIGKILL)
            self._popen.wait(STOP_GRACE_SECONDS)
        self._signal(signal.SIGKILL)  # anything the trial left behind in its process group
        self._close_attempt()

    def log_tail(self, lines: int = 20) -> str:
        """The end of the trial's output, for failure messages."""
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def last_error(self) -> str | None:
        """The last line of the trial's output that looks like an error (else its last line)."""
        lines = [line.strip() for line in self.log_tail(40).splitlines() if line.strip()]
        errors = [line for line in lines if _looks_like_error(line)]
        found = errors or lines
        return found[-1] if found else None

    def _signal(self, signum: int) -> None:
        assert self._popen is not None
        pid = self._popen.pid(wait=STOP_GRACE_SECONDS)  # a warm start may not have reported its pid yet
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)

    def _close_attempt(self) -> None:
        if self._attempt_started:
            self.billed_seconds += time.monotonic() - self._attempt_started
            self._attempt_started = 0.0
        if self._log is not None:
            self._log.close()
            self._log = None


def _looks_like_error(line: str) -> bool:
    head = line.split(":", 1)[0]
    return ("Error" in head or "Exception" in head or head in ("error", "ERROR", "Killed")) and ":" in line
