"""`ml platform down --purge`: the local platform leaves nothing behind -- no process, no file.

`ml platform down` stops what the platform recorded (model servers, proxy, tracking server) and
keeps the state (MLflow store, artifacts, audit log) for the next `up`. `--purge` then also stops
any process still running *from* the platform home (a sweep's trial whose sweep process died, a
server whose record was lost: its command line or working directory is under the home) and
deletes the home directory itself. It refuses a home that is not a platform's to delete (the
filesystem root, the user's home, the working directory or one of its parents, a git checkout).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from ml.contract.errors import UserError
from ml.platform.process import ProcessRecord, _start_time, stop


@dataclass
class PurgeResult:
    home: Path
    stopped: list[str] = field(default_factory=list)
    removed: bool = False
    left: list[str] = field(default_factory=list)
    """What is still there after the purge (empty when it left nothing behind)."""


def _inside(path: str, home: Path) -> bool:
    return path == str(home) or path.startswith(str(home) + os.sep)


def processes_under(home: Path) -> dict[int, str]:
    """This user's processes whose command line names a path under ``home`` or whose cwd is in it."""
    found: dict[int, str] = {}
    mine, uid = os.getpid(), os.getuid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == mine:
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            argv = [a for a in (entry / "cmdline").read_bytes().decode(errors="replace").split("\0") if a]
            cwd = str((entry / "cwd").readlink())
        except (OSError, ValueError):
            continue
        if _inside(cwd, home) or any(_inside(arg, home) or f"={home}" in arg for arg in argv):
            found[int(entry.name)] = " ".join(argv)[:120]
    return found


def _refuse(home: Path) -> str | None:
    cwd = Path.cwd().resolve()
    if home in (Path("/"), Path.home().resolve()) or home == cwd or home in cwd.parents:
        return f"{home} is not a platform home to delete (root, your home, or the working directory or above)"
    if (home / ".git").exists():
        return f"{home} is a git checkout, not a platform home"
    return None


def purge_local(home: Path) -> PurgeResult:
    """Stop every process running from ``home``, delete ``home``, and report anything still left."""
    home = home.resolve()
    reason = _refuse(home)
    if reason is not None:
        raise UserError(f"refusing to purge: {reason}; set ML_PLATFORM_HOME to the platform's directory")
    result = PurgeResult(home)
    for pid, command in processes_under(home).items():
        record = ProcessRecord(name=command, pid=pid, start_time=_start_time(pid), argv=[], log="")
        if stop_process(record):
            result.stopped.append(f"pid {pid} ({command})")
    if home.exists():
        shutil.rmtree(home, ignore_errors=True)
        result.removed = not home.exists()
    result.left = leftovers_local(home)
    return result


def stop_process(record: ProcessRecord) -> bool:
    """SIGTERM, then SIGKILL: its process group when it leads one (servers the platform spawned), else the process."""
    if os.getpgid(record.pid) == record.pid:
        return stop(record, timeout=5.0)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(record.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if not record.alive():
                return True
            time.sleep(0.05)
    return not record.alive()


def leftovers_local(home: Path) -> list[str]:
    """Files and processes of the local platform still present (empty: nothing left behind)."""
    home = home.resolve()
    left = [f"process {pid}: {command}" for pid, command in processes_under(home).items()]
    if home.exists():
        left.append(f"directory {home} ({sum(1 for _ in home.rglob('*'))} entries)")
    return left
