"""The rollout journal: the crash-safe record of a rollout in progress, one per stack and endpoint.

Why: the `ml` process that drives a rollout can die at any moment (killed, laptop closed, CI job
cancelled) while traffic is split between two deployments. Before every change the engine writes
what it is about to do; a later `ml deploy`, `ml deploy recover` or `ml rollback` reads the
journal and converges (see `ml.deploy.engine.RolloutEngine.recover`).

The active journal doubles as the endpoint's lock: it is created with O_EXCL, so two rollouts
on one endpoint cannot interleave. Finished journals move to ``history/`` and stay readable.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from ml.contract.errors import UserError

PREPARED = "prepared"
"""Previous traffic captured; nothing changed yet."""
DEPLOYING = "deploying"
"""The new deployment is being created or warmed up; it has no live traffic."""
SHIFTING = "shifting"
"""Traffic is being moved; ``step`` says which step the journal last wrote."""
COMMITTED = "committed"
"""Every gate passed at 100 %; only clean-up and the alias move are left (recovery rolls forward)."""
DONE = "done"
ROLLED_BACK = "rolled_back"
BEFORE_COMMIT = (PREPARED, DEPLOYING, SHIFTING)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


class Journal:
    """The active-rollout file for one stack/endpoint under ``directory``."""

    def __init__(self, directory: Path, stack: str, endpoint: str) -> None:
        self.directory = directory
        self.stack, self.endpoint = stack, endpoint
        self.path = directory / f"{_safe(stack)}--{_safe(endpoint)}.json"
        self.history = directory / "history"
        self.data: dict[str, Any] = {}

    def load(self) -> dict[str, Any] | None:
        """The active journal, or None when no rollout is in progress or interrupted."""
        try:
            self.data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            raise UserError(
                f"rollout journal {self.path} is corrupt; inspect it, fix the endpoint's traffic by hand and delete it"
            ) from None
        return self.data

    def begin(self, data: dict[str, Any]) -> None:
        """Create the journal exclusively (the endpoint's lock); a `UserError` if another rollout holds it.

        The content is written to a private file first and then hard-linked into place: the link is
        both the exclusive lock and an atomic publish, so a reader never sees an empty journal.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {"pid": os.getpid(), "host": socket.gethostname(), "updated_at": time.time(), **data}
        draft = self.path.with_suffix(f".{os.getpid()}.new")
        with draft.open("w") as handle:
            json.dump(payload, handle, indent=2, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, self.path)
        except FileExistsError:
            raise UserError(
                f"another rollout on this endpoint holds {self.path}; wait for it or run `ml deploy recover`"
            ) from None
        finally:
            draft.unlink(missing_ok=True)
        self.data = payload

    def update(self, **fields: Any) -> None:
        """Write ``fields`` into the journal atomically (fsync + rename) before the change they announce."""
        self.data.update(fields, updated_at=time.time())
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as handle:
            json.dump(self.data, handle, indent=2, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)

    def take_over(self) -> None:
        """Claim an interrupted journal for this process (recovery runs under the same lock)."""
        self.update(pid=os.getpid(), host=socket.gethostname(), recovered_at=time.time())

    def close(self, phase: str) -> Path:
        """Mark the rollout finished and move its journal to history; returns the archived path."""
        self.update(phase=phase, finished_at=time.time())
        self.history.mkdir(parents=True, exist_ok=True)
        target = self.history / f"{self.data.get('id', 'rollout')}.json"
        self.path.replace(target)
        return target

    def unsynced(self) -> list[tuple[Path, dict[str, Any]]]:
        """Finished rollouts of this endpoint whose MLflow writes a tracking outage held back, oldest first."""
        found = []
        for path in sorted(self.history.glob("*.json"), key=lambda p: p.stat().st_mtime):
            with contextlib.suppress(json.JSONDecodeError, OSError):
                data = json.loads(path.read_text())
                mine = data.get("stack") == self.stack and data.get("endpoint") == self.endpoint
                if mine and data.get("mlflow_pending"):
                    found.append((path, data))
        return found

    def mark_synced(self, path: Path) -> None:
        """The held MLflow writes of an archived rollout are done."""
        data = json.loads(path.read_text())
        data["mlflow_pending"] = []
        data["synced_at"] = time.time()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(path)

    def holder_alive(self) -> bool | None:
        """Whether the process that wrote the journal still runs: None when it ran on another host."""
        if self.data.get("host") != socket.gethostname():
            return None
        pid = int(self.data.get("pid", 0))
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        with contextlib.suppress(FileNotFoundError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2] in "ZX":
                return False
        return True
