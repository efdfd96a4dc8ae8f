"""The sweep's MLflow writes through a tracking outage: held in order, replayed once the server is back.

Why a wrapper around the client instead of checks at each call: a local sweep writes to MLflow from
many places (reports, trial ends, progress, usage, the plot), and a tracking server that goes away
must stop none of them from training. `HoldingClient` passes reads and run creation through, and
turns a write that fails while `ml.tracking.tracking_reachable` says the server is gone into a held
write; later writes are held at once (no client retries while it is down). `resume` replays them in
their order when the server answers. Metric writes carry their own timestamps and steps, so a
replayed report lands exactly once.

Why a journal on disk too: a sweep that gives up (past ``ML_SWEEP_TRACKING_WAIT``) or is killed
would lose what it held in memory. Each held write is appended (and fsynced) to a JSON-lines journal
in the sweep's directory as it is held, with a sequence number; each write that reaches MLflow
appends ``{"done": seq}``. `replay_journal` (`ml sweep replay SWEEP`) sends what is not done, in
order, so running it twice sends nothing twice. Calls are stored by parameter name
(`inspect.signature` of the `MlflowClient` method) with the time they were held filled in where the
client would otherwise stamp the replay time (``log_metric`` timestamps, ``set_terminated`` end time).
"""

from __future__ import annotations

import fcntl
import inspect
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.contract.errors import UserError
from ml.tracking import CLIENT_WAITS, tracking_reachable

if TYPE_CHECKING:
    from mlflow import MlflowClient

TRACKING_WAIT_ENV = "ML_SWEEP_TRACKING_WAIT"
TRACKING_WAIT_SECONDS = 600.0
"""How long a sweep trains on while the tracking server is away before it stops with an error."""
PROBE_SECONDS = 2.0

WRITES = frozenset(
    {"log_batch", "log_metric", "log_param", "set_tag", "log_artifact", "log_dict", "log_text", "set_terminated"}
)
JOURNAL_NAME = "held-writes.jsonl"
"""The held writes of one sweep, in its local directory (``<platform home>/sweeps/<id>/``)."""
REPLAY_COMMAND = "ml sweep replay {sweep_id}"


class HoldingClient:
    """An `MlflowClient` whose writes are held (not lost, not blocking) while the tracking server is away."""

    def __init__(self, client: MlflowClient, uri: str, journal: Path | None = None) -> None:
        self.client = client
        self.uri = uri
        self.journal = journal
        self.down_since: float | None = None
        self.held: list[tuple[int, str, dict[str, Any]]] = []
        self.replayed = 0
        self._seq = _last_seq(journal) if journal is not None else 0

    def _unreachable(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError(f"the tracking server at {self.uri} is unreachable (MLflow writes are being held)")

    def _hold(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        call = _bound_call(name, args, kwargs)
        self._seq += 1
        self.held.append((self._seq, name, call))
        if self.journal is not None:
            _append(self.journal, {"seq": self._seq, "op": name, "kwargs": _encode(call)})

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if name not in WRITES:
            if self.down_since is None or not callable(attribute):
                return attribute
            return self._unreachable  # a read while the server is away fails now, not after MLflow's retries

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.down_since is not None:
                self._hold(name, args, kwargs)
                return None
            try:
                return attribute(*args, **kwargs)
            except Exception:
                if tracking_reachable(self.uri):
                    raise
                self.down_since = time.time()
                self._hold(name, args, kwargs)
                return None

        return write

    def resume(self) -> bool:
        """Replay the held writes in order if the server answers; True when nothing is held any more."""
        if self.down_since is None:
            return True
        if not tracking_reachable(self.uri):
            return False
        while self.held:
            seq, name, call = self.held[0]
            try:
                getattr(self.client, name)(**call)
            except Exception:
                if not tracking_reachable(self.uri):
                    return False
                raise
            self.held.pop(0)
            self.replayed += 1
            if self.journal is not None:
                _append(self.journal, {"done": seq})
        self.down_since = None
        return True


def trial_client_waits() -> dict[str, str]:
    """The bounds of a trial's own MLflow calls: the sweep's (`ml.tracking.CLIENT_WAITS`, or what the user set).

    Why stated here and not only inherited: a trial's environment is built from the spec too, and a
    trial blocked minutes in MLflow's default retries (7, 120 s timeout) during an outage is a trial
    the sweep cannot tell from a hung one.
    """
    return {name: os.environ.get(name, value) for name, value in CLIENT_WAITS.items()}


def tracking_wait() -> float:
    """The sweep's bounded wait for a tracking server that went away (`ML_SWEEP_TRACKING_WAIT`, default 600 s)."""
    value = os.environ.get(TRACKING_WAIT_ENV)
    try:
        return float(value) if value else TRACKING_WAIT_SECONDS
    except ValueError:
        raise UserError(f"{TRACKING_WAIT_ENV}={value!r} is not a number of seconds") from None


class OutageWatch:
    """The sweep loop's view of an outage: is it holding, what to say, and when to give up."""

    def __init__(self, holding: HoldingClient, *, sweep_id: str, kept: str) -> None:
        self.holding = holding
        self.sweep_id = sweep_id
        self.kept = kept
        self._next_probe = 0.0

    def check(self) -> tuple[bool, str | None]:
        """(holding, progress note): asks every few seconds whether the server is back; a `UserError` past the wait."""
        holding = self.holding
        since = holding.down_since
        if since is None:
            return False, None
        now = time.monotonic()
        if now >= self._next_probe:
            self._next_probe = now + PROBE_SECONDS
            held = len(holding.held)
            if holding.resume():
                back = time.time() - since
                return False, f"tracking server back after {back:.0f}s; {held} held MLflow writes replayed"
        waited, wait = time.time() - since, tracking_wait()
        if waited > wait:
            raise UserError(self.gave_up(wait))
        return True, (
            f"tracking server at {holding.uri} unreachable for {waited:.0f}s: trials keep training, "
            f"{len(holding.held)} MLflow writes held (replayed when it returns); giving up after {wait:g}s "
            f"({TRACKING_WAIT_ENV})"
        )

    def gave_up(self, wait: float) -> str:
        """The one error line past the wait: what stopped, where the held writes are, the command that sends them."""
        holding = self.holding
        where = holding.journal or self.kept
        replay = REPLAY_COMMAND.format(sweep_id=self.sweep_id)
        return (
            f"sweep {self.sweep_id}: the tracking server at {holding.uri} did not come back within {wait:g}s "
            f"({TRACKING_WAIT_ENV}); the sweep stopped its trials. The MLflow writes it held (every trial report, "
            f"the trials' and the sweep's ends) are kept in {where}: when the server is back, `{replay}` sends "
            f"them (each once)"
        )

    def drain(self, on_note: Callable[[str], None] | None = None) -> str | None:
        """Before the sweep ends: wait (bounded, like `check`) until every held write has reached MLflow.

        ``on_note`` gets the progress note while it waits: the last trials may end before the loop
        ever said the server was away, and a silent wait of up to the whole bound reads as a hang.
        """
        note = None
        while True:
            held, note = self.check()
            if not held:
                return note
            if note and on_note is not None:
                on_note(note)
            time.sleep(PROBE_SECONDS / 4)


# --- the journal: held writes on disk, replayed by `ml sweep replay` --------------------------------

_ENTITIES = ("Metric", "Param", "RunTag")


def _bound_call(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call as keyword arguments, with the hold time where the client would stamp the replay time."""
    from mlflow import MlflowClient

    bound = inspect.signature(getattr(MlflowClient, name)).bind(None, *args, **kwargs)
    call = {key: value for key, value in bound.arguments.items() if key != "self"}
    now = int(time.time() * 1000)
    if name == "log_metric" and call.get("timestamp") is None:
        call["timestamp"] = now
    if name == "set_terminated" and call.get("end_time") is None:
        call["end_time"] = now
    return call


def _encode(value: Any) -> Any:
    """JSON for a held call's arguments: MLflow's Metric/Param/RunTag entities as tagged objects."""
    kind = type(value).__name__
    if kind in _ENTITIES and type(value).__module__.startswith("mlflow."):
        fields = ("key", "value", "timestamp", "step") if kind == "Metric" else ("key", "value")
        return {"$entity": kind, **{field: getattr(value, field) for field in fields}}
    if isinstance(value, dict):
        return {str(key): _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and value.get("$entity") in _ENTITIES:
        from mlflow import entities

        fields = {key: item for key, item in value.items() if key != "$entity"}
        return getattr(entities, value["$entity"])(**fields)
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def _append(journal: Path, record: dict[str, Any]) -> None:
    """One line, flushed to disk before the caller goes on (a sweep killed right after loses nothing)."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=str) + "\n"
    with journal.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # whole lines even when a replay marks writes done meanwhile
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _read(journal: Path) -> tuple[list[dict[str, Any]], set[int]]:
    """The held writes in order and the sequence numbers already sent (a torn last line is skipped)."""
    held: list[dict[str, Any]] = []
    done: set[int] = set()
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "done" in record:
            done.add(int(record["done"]))
        elif "seq" in record:
            held.append(record)
    return held, done


def _last_seq(journal: Path) -> int:
    if not journal.exists():
        return 0
    held, _ = _read(journal)
    return max((int(record["seq"]) for record in held), default=0)


def pending_writes(journal: Path) -> int:
    """How many of the journal's held writes have not reached MLflow yet (0 without a journal)."""
    if not journal.exists():
        return 0
    held, done = _read(journal)
    return sum(1 for record in held if int(record["seq"]) not in done)


@contextmanager
def _replaying(journal: Path) -> Iterator[None]:
    """One replay of a journal at a time (a lock file beside it)."""
    with journal.with_suffix(".lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another `ml sweep replay` is sending {journal} now; wait for it to finish") from None
        yield


@dataclass(frozen=True)
class Replayed:
    """What one replay did: writes sent now, writes sent before (by the sweep or an earlier replay)."""

    journal: Path
    sent: int
    before: int


def replay_journal(client: MlflowClient, journal: Path, uri: str) -> Replayed:
    """Send the journal's writes not sent yet, in order.

    Each write is marked done as soon as MLflow took it, so an interrupted replay resumes where it
    stopped and a second replay sends nothing.
    """
    with _replaying(journal):
        held, done = _read(journal)
        pending = [record for record in held if int(record["seq"]) not in done]
        sent = 0
        for record in pending:
            try:
                getattr(client, record["op"])(**_decode(record["kwargs"]))
            except Exception as exc:
                if not tracking_reachable(uri):
                    raise UserError(
                        f"the tracking server at {uri} did not answer after {sent} of {len(pending)} held writes "
                        f"were sent; start it (local: `ml platform up`) and run this again (nothing is sent twice)"
                    ) from None
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise UserError(
                    f"MLflow refused held write {record['seq']} ({record['op']}) from {journal} after {sent} were "
                    f"sent: {first}"
                ) from None
            _append(journal, {"done": int(record["seq"])})
            sent += 1
        return Replayed(journal, sent, len(held) - len(pending))
