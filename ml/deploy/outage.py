"""A rollout while the tracking server is away: hold the traffic, wait a stated time, then go on or roll back.

Why the engine waits at all: serving never depends on MLflow (the target serves the models it
already has), but the rollout's commit moves the registry alias, so it cannot finish without the
registry. Before each traffic change and before the commit the engine asks `hold_for_registry`;
when the server does not answer, the rollout keeps the traffic map it has (no step forward, no
rollback yet), says so on the terminal and in the audit file, keeps probing the new deployment's
liveness, and waits at most ``registry_wait`` (spec key, `ml deploy --registry-wait`). If the
server returns, the held MLflow writes are replayed and the rollout goes on; if not, it fails with
a `StepFailedError` that names the wait, and the engine rolls back exactly as for a failed gate.
"""

from __future__ import annotations

import time

from ml.deploy.audit import AuditTrail
from ml.deploy.events import RolloutLog, StepFailedError, fmt_weights
from ml.deploy.target import DeploymentTarget
from ml.tracking import tracking_reachable

PROBE_SECONDS = 2.0
"""How often a held rollout asks the tracking server (and the new deployment) whether it is back."""


def hold_for_registry(
    *,
    tracking_uri: str,
    target: DeploymentTarget,
    audit: AuditTrail,
    log: RolloutLog,
    new: str,
    traffic: dict[str, int],
    wait: float,
    dead_after: int,
    probe_seconds: float = PROBE_SECONDS,
) -> None:
    """Return at once when the registry answers; otherwise hold ``traffic`` up to ``wait`` seconds for it."""
    if not audit.tracking_down and tracking_reachable(tracking_uri):
        return
    rollout_id = str(log.journal.data.get("id", ""))
    started = time.time()
    audit.outage(rollout_id, target.endpoint, None)
    log.journal.update(outage_since=started)
    log.emit(
        "outage",
        f"tracking server at {tracking_uri} is unreachable: holding traffic at {fmt_weights(traffic)} and waiting "
        f"up to {wait:g}s for it (registry_wait); serving does not depend on it",
        outcome="warning",
        traffic=traffic,
    )
    failed_probes = 0
    while time.time() - started < wait:
        time.sleep(max(0.0, min(probe_seconds, started + wait - time.time())))
        failed_probes = 0 if target.is_healthy(new) else failed_probes + 1
        if failed_probes >= dead_after:
            raise StepFailedError(f"deployment '{new}' stopped answering its health probe during the tracking outage")
        if tracking_reachable(tracking_uri) and audit.replay():
            log.journal.update(outage_since=None)
            log.emit(
                "outage",
                f"tracking server back after {time.time() - started:.1f}s; held MLflow writes replayed; going on",
                outcome="ok",
                traffic=traffic,
            )
            return
    raise StepFailedError(
        f"the tracking server at {tracking_uri} did not come back within {wait:g}s (registry_wait): "
        f"the registry alias cannot move without it, so the rollout is rolled back"
    )
