"""How long an `ml` command waits on Azure and AWS: one bound per cloud SDK call, set in one place.

Why: the SDKs' defaults wait for minutes before they give up on a service that does not answer
(azure-core: 300 s connect and read timeouts, 10 retries with up to 120 s between them; botocore:
60 s connect and read, legacy retries), so a dead endpoint or a black-holed network made
`ml sweep`, `ml deploy`, `ml preflight` and `ml teardown` look hung. Every client `ml` builds
(`ml.aws.client`, `ml.azure.ml_client`, `ml.azure.ArmClient`) takes its timeouts and retries from
`cloud_waits()`, and the error a timeout ends in names the service and the bound (`statement`).

The bound, from the environment (seconds; defaults in brackets):

- ``ML_CLOUD_CONNECT_TIMEOUT`` [10]: to open a connection (and its TLS handshake);
- ``ML_CLOUD_READ_TIMEOUT`` [60]: between bytes of an answer;
- ``ML_CLOUD_ATTEMPTS`` [3]: tries per call, the first included;
- ``ML_CLOUD_BACKOFF_MAX`` [10]: the longest pause between two tries.

So one call against a service that accepts and never answers ends within about
``attempts x (connect + read) + (attempts - 1) x backoff_max`` (230 s by default);
`worst_case_seconds` computes it for the values in force. Long-running operations (a job, an
endpoint update) are polled by `ml`'s own loops with their own stated limits; this bounds each call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ml.contract.errors import UserError

CONNECT_ENV = "ML_CLOUD_CONNECT_TIMEOUT"
READ_ENV = "ML_CLOUD_READ_TIMEOUT"
ATTEMPTS_ENV = "ML_CLOUD_ATTEMPTS"
BACKOFF_ENV = "ML_CLOUD_BACKOFF_MAX"
DEFAULTS = {CONNECT_ENV: 10.0, READ_ENV: 60.0, ATTEMPTS_ENV: 3.0, BACKOFF_ENV: 10.0}


@dataclass(frozen=True)
class CloudWaits:
    """The bound on one cloud SDK call: timeouts, tries and the longest pause between them."""

    connect: float
    read: float
    attempts: int
    backoff_max: float

    def botocore_config(self) -> Any:
        """A ``botocore.config.Config`` with these timeouts and standard-mode retries."""
        from botocore.config import Config

        return Config(
            connect_timeout=self.connect,
            read_timeout=self.read,
            retries={"mode": "standard", "max_attempts": self.attempts},
        )

    def azure_kwargs(self) -> dict[str, Any]:
        """azure-core client/pipeline keywords (``MLClient(**...)``, ``RetryPolicy``/transport settings)."""
        return {
            "connection_timeout": self.connect,
            "read_timeout": self.read,
            "retry_total": self.attempts - 1,
            "retry_backoff_max": self.backoff_max,
        }

    def storage_kwargs(self) -> dict[str, Any]:
        """azure-storage-blob client keywords (its own retry policy takes no longest pause)."""
        return {"connection_timeout": self.connect, "read_timeout": self.read, "retry_total": self.attempts - 1}

    def worst_case_seconds(self) -> float:
        """About how long one call to a service that accepts and never answers takes to fail."""
        return self.attempts * (self.connect + self.read) + (self.attempts - 1) * self.backoff_max

    def statement(self) -> str:
        """One line: the bound in force and the variables that set it."""
        return (
            f"waited at most ~{self.worst_case_seconds():.0f} s: {self.attempts} tries, {self.connect:g} s to connect, "
            f"{self.read:g} s to read ({CONNECT_ENV}, {READ_ENV}, {ATTEMPTS_ENV}, {BACKOFF_ENV})"
        )


def cloud_waits() -> CloudWaits:
    """The bound from the environment (`DEFAULTS` for what is unset); a `UserError` for a bad value."""
    values: dict[str, float] = {}
    for name, default in DEFAULTS.items():
        raw = os.environ.get(name)
        if not raw:
            values[name] = default
            continue
        try:
            values[name] = float(raw)
        except ValueError:
            raise UserError(f"{name}={raw!r} is not a number (seconds, or tries for {ATTEMPTS_ENV})") from None
        if values[name] <= 0 or (name == ATTEMPTS_ENV and not values[name].is_integer()):
            raise UserError(f"{name}={raw!r} must be a positive {'whole number' if name == ATTEMPTS_ENV else 'number'}")
    return CloudWaits(
        connect=values[CONNECT_ENV],
        read=values[READ_ENV],
        attempts=int(values[ATTEMPTS_ENV]),
        backoff_max=values[BACKOFF_ENV],
    )
