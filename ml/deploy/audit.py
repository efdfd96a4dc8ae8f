"""The audit trail: who changed what serves users, when, from what to what, on which evidence.

Why two sinks: an append-only JSON-lines file next to the platform's state is readable with no
server (``local_home()/audit.jsonl`` for the local stack, ``local_home()/audit/<stack>.jsonl``
for the machine that drove a cloud stack), and an MLflow run per rollout (experiment
``ml-deployments``) puts the same records into the stack's tracking server and artifact store,
next to the models they moved: tags for the outcome, one metric series per gate value, and the
records themselves as the run's ``audit.jsonl`` artifact. MLflow being unreachable never blocks a
rollback: that failure is itself written to the file.

A tracking outage (the server does not answer `ml.tracking.tracking_reachable`) is not a failure of
one call: the trail records ``tracking.outage`` once, stops calling MLflow (each call would wait out
the client's retries) and keeps the MLflow writes in order in `pending`; `replay` runs them when the
server is back, so the rollout's run gets every step metric exactly once. Writes still pending when
the rollout ends are named in its journal, and `ml deploy recover` finishes them (see `Endings.sync`).

One record::

    {"ts": "2026-11-22T10:00:00+00:00", "who": {"user": "ana", "host": "ci-7"}, "stack": "local",
     "endpoint": "local", "rollout_id": "...", "what": "gate", "from": "models:/m/3",
     "to": "models:/m/4", "traffic": {"blue": 75, "green": 25}, "gates": {...}, "outcome": "pass",
     "message": "..."}
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.contract import PlatformOutputs
from ml.stack import local_home
from ml.tracking import ensure_experiment, local_artifact_root, tracking_reachable

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT = "ml-deployments"


def who() -> dict[str, str]:
    """The person (or CI job) and machine behind a change."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    actor = os.environ.get("GITHUB_ACTOR") or os.environ.get("BUILD_REQUESTEDFOR")
    return {"user": actor or user, "host": socket.gethostname()}


def audit_path(outputs: PlatformOutputs) -> Path:
    """Where the JSON-lines audit log of a stack lives on this machine."""
    home = local_home()
    return home / "audit.jsonl" if outputs.cloud == "local" else home / "audit" / f"{outputs.stack}.jsonl"


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every audit record in a log file (an absent file is an empty log)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


@dataclass
class PendingWrite:
    """An MLflow write held back during a tracking outage, replayed in order when the server returns."""

    action: str
    rollout_id: str
    endpoint: str
    call: Callable[[], Any]
    data: dict[str, Any] | None = None
    """What a later process needs to redo the write (kept in the journal), e.g. a step's metrics."""


class AuditTrail:
    """Writes audit records for one stack to the file and, when a client is given, to MLflow."""

    def __init__(self, outputs: PlatformOutputs, client: MlflowClient | None) -> None:
        self.outputs = outputs
        self.client = client
        self.path = audit_path(outputs)
        self.run_ids: dict[str, str] = {}
        self._records: dict[str, list[dict[str, Any]]] = {}
        self.down_since: float | None = None
        self.pending: list[PendingWrite] = []

    @property
    def tracking_down(self) -> bool:
        """Whether the trail is holding MLflow writes back because the tracking server went away."""
        return self.down_since is not None

    def outage(self, rollout_id: str, endpoint: str, message: str | None) -> None:
        """Hold MLflow writes from now on; the first notice of an outage is recorded (``message``) in the file."""
        if self.down_since is None:
            self.down_since = time.time()
            if message:
                self.record(
                    "tracking.outage", rollout_id=rollout_id, endpoint=endpoint, outcome="warning", message=message
                )

    def replay(self) -> bool:
        """Run the held-back writes in order; True when none is left (the outage is over for the trail)."""
        while self.pending:
            write = self.pending[0]
            try:
                write.call()
            except Exception as exc:
                if not tracking_reachable(self.outputs.tracking_uri):
                    return False
                self.record(
                    "audit.mlflow_unavailable",
                    rollout_id=write.rollout_id,
                    endpoint=write.endpoint,
                    outcome="warning",
                    message=f"could not {write.action} in MLflow at {self.outputs.tracking_uri}: {exc}",
                )
            self.pending.pop(0)
        self.down_since = None
        return True

    def record(
        self,
        what: str,
        *,
        rollout_id: str,
        endpoint: str,
        outcome: str,
        message: str = "",
        from_: str | None = None,
        to: str | None = None,
        traffic: dict[str, int] | None = None,
        gates: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one record (fsynced: it must survive the process being killed right after)."""
        entry: dict[str, Any] = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "who": who(),
            "stack": self.outputs.stack,
            "endpoint": endpoint,
            "rollout_id": rollout_id,
            "what": what,
            "from": from_,
            "to": to,
            "traffic": traffic,
            "gates": gates,
            "outcome": outcome,
            "message": message,
        }
        if extra:
            entry.update(extra)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._records.setdefault(rollout_id, []).append(entry)
        return entry

    # --- MLflow --------------------------------------------------------------------------------------

    def _mlflow(
        self, action: str, rollout_id: str, endpoint: str, call: Any, data: dict[str, Any] | None = None
    ) -> Any:
        if self.client is None:
            return None
        if self.down_since is not None:
            self.pending.append(PendingWrite(action, rollout_id, endpoint, call, data))
            return None
        try:
            return call()
        except Exception as exc:
            if not tracking_reachable(self.outputs.tracking_uri):
                self.outage(
                    rollout_id,
                    endpoint,
                    f"tracking server at {self.outputs.tracking_uri} unreachable (could not {action}): {exc}; "
                    f"MLflow writes are held and replayed when it returns; serving does not depend on it",
                )
                self.pending.append(PendingWrite(action, rollout_id, endpoint, call, data))
                return None
            self.record(
                "audit.mlflow_unavailable",
                rollout_id=rollout_id,
                endpoint=endpoint,
                outcome="warning",
                message=f"could not {action} in MLflow at {self.outputs.tracking_uri}: {exc}",
            )
            return None

    def start_run(self, rollout_id: str, endpoint: str, tags: dict[str, str], run_id: str | None = None) -> str | None:
        """Open (or re-attach to, after a crash) the MLflow run that mirrors this rollout."""
        if run_id is not None:
            self.run_ids[rollout_id] = run_id
            return run_id

        def create() -> str:
            assert self.client is not None
            experiment_id = ensure_experiment(self.client, EXPERIMENT, local_artifact_root(self.outputs))
            run = self.client.create_run(
                experiment_id,
                run_name=f"{endpoint}-{rollout_id[:8]}",
                tags={"ml.deploy.rollout_id": rollout_id, "ml.deploy.endpoint": endpoint, **tags},
            )
            return str(run.info.run_id)

        def create_and_keep() -> str:
            self.run_ids[rollout_id] = create()
            return self.run_ids[rollout_id]

        return self._mlflow("open the rollout's run", rollout_id, endpoint, create_and_keep)

    def log_step(
        self, rollout_id: str, endpoint: str, step: int, metrics: dict[str, float | None], at: int | None = None
    ) -> None:
        """One step's gate values, in one batch with fixed timestamps (a replay after an outage adds no duplicate)."""
        from mlflow.entities import Metric

        client = self.client
        if client is None:
            return
        now = at if at is not None else int(time.time() * 1000)
        batch = [Metric(key, float(value), now, step) for key, value in metrics.items() if value is not None]

        def log() -> None:
            run_id = self.run_ids.get(rollout_id)  # looked up when run: the run may be opened by a replay
            if run_id is not None:
                client.log_batch(run_id, metrics=batch)

        data = {"step": step, "metrics": metrics, "at": now}
        self._mlflow("log step metrics", rollout_id, endpoint, log, data)

    def tag_model(self, rollout_id: str, endpoint: str, name: str, version: str, tags: dict[str, str]) -> None:
        client = self.client
        if client is None:
            return

        def tag() -> None:
            for key, value in tags.items():
                client.set_model_version_tag(name, version, key, value)

        self._mlflow("tag the model version", rollout_id, endpoint, tag)

    def finish_run(self, rollout_id: str, endpoint: str, outcome: str, tags: dict[str, str]) -> None:
        """Tag the outcome, attach this rollout's records and close the run."""
        client = self.client
        if client is None:
            return

        def finish() -> None:
            run_id = self.run_ids.get(rollout_id)
            if run_id is None:
                return
            records = [r for r in read_records(self.path) if r.get("rollout_id") == rollout_id]
            client.set_tag(run_id, "ml.deploy.outcome", outcome)
            for key, value in tags.items():
                client.set_tag(run_id, key, value)
            client.log_text(run_id, "".join(json.dumps(r, default=str) + "\n" for r in records), "audit.jsonl")
            client.set_terminated(run_id, "FINISHED" if outcome in ("promoted", "unchanged") else "FAILED")

        self._mlflow("close the rollout's run", rollout_id, endpoint, finish)
