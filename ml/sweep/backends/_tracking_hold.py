"""The sweep's MLflow writes through a tracking outage: held in order, replayed once the server is back.

Why a wrapper around the client instead of checks at each call: a local sweep writes to MLflow from
many places (reports, trial ends, progress, usage, the plot), and a tracking server that goes away
must stop none of them from training. `HoldingClient` passes reads and run creation through, and
turns a write that fails while `ml.tracking.tracking_reachable` says the server is gone into a held
write; later writes are held at once (no client retries while it is down). `resume` replays them in
their order when the server answers. Metric writes carry their own timestamps and steps, so a
replayed report lands exactly once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ml.contract.errors import UserError
from ml.tracking import tracking_reachable

if TYPE_CHECKING:
    from mlflow import MlflowClient

TRACKING_WAIT_ENV = "ML_SWEEP_TRACKING_WAIT"
TRACKING_WAIT_SECONDS = 600.0
"""How long a sweep trains on while the tracking server is away before it stops with an error."""
PROBE_SECONDS = 2.0

WRITES = frozenset(
    {"log_batch", "log_metric", "log_param", "set_tag", "log_artifact", "log_dict", "log_text", "set_terminated"}
)


class HoldingClient:
    """An `MlflowClient` whose writes are held (not lost, not blocking) while the tracking server is away."""

    def __init__(self, client: MlflowClient, uri: str) -> None:
        self.client = client
        self.uri = uri
        self.down_since: float | None = None
        self.held: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.replayed = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if name not in WRITES:
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.down_since is not None:
                self.held.append((name, args, kwargs))
                return None
            try:
                return attribute(*args, **kwargs)
            except Exception:
                if tracking_reachable(self.uri):
                    raise
                self.down_since = time.time()
                self.held.append((name, args, kwargs))
                return None

        return write

    def resume(self) -> bool:
        """Replay the held writes in order if the server answers; True when nothing is held any more."""
        if self.down_since is None:
            return True
        if not tracking_reachable(self.uri):
            return False
        while self.held:
            name, args, kwargs = self.held[0]
            try:
                getattr(self.client, name)(*args, **kwargs)
            except Exception:
                if not tracking_reachable(self.uri):
                    return False
                raise
            self.held.pop(0)
            self.replayed += 1
        self.down_since = None
        return True


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
            raise UserError(
                f"sweep {self.sweep_id}: the tracking server at {holding.uri} did not come back within {wait:g}s "
                f"({TRACKING_WAIT_ENV}); the sweep stopped its trials. Every report is kept in {self.kept}; "
                f"`ml sweep status {self.sweep_id}` shows what reached MLflow"
            )
        return True, (
            f"tracking server at {holding.uri} unreachable for {waited:.0f}s: trials keep training, "
            f"{len(holding.held)} MLflow writes held (replayed when it returns); giving up after {wait:g}s "
            f"({TRACKING_WAIT_ENV})"
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
