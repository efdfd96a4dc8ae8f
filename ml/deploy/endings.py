"""The two ways a rollout ends: roll back to the previous traffic map, or commit and move the alias.

Why apart from the step loop: both endings work from the journal alone -- the previous traffic map,
the new colour, the model and the spec are read back from it, never from the engine's memory -- so
a recovery in a later process (`RolloutEngine.recover`) can call them exactly as a live rollout does;
an A/B test's extra arms are named in the journal (``arms``) before they exist, so both endings
delete every arm that did not win, in this process or in a recovery.
All the bookkeeping of an ending lives here: the registry's alias move, the model's tags, the audit
records and run, and the journal's close.
"""

from __future__ import annotations

import time
from typing import Any

from ml.contract.errors import UserError
from ml.deploy import journal as phases
from ml.deploy.audit import AuditTrail
from ml.deploy.events import RolloutLog, RolloutResult, StepFailedError, fmt_weights
from ml.deploy.journal import Journal
from ml.deploy.registry import Registry
from ml.deploy.spec import RolloutSpec
from ml.deploy.target import DeploymentTarget, ModelRef, Traffic
from ml.tracking import tracking_reachable


def arms_of(data: dict[str, Any]) -> list[str]:
    """The extra A/B arms a journal names (`ml.deploy.ab_rollout`): deleted by both endings unless one won."""
    return sorted(data.get("arms") or {})


class Endings:
    """Rolls back or commits the rollout the journal describes, on one target."""

    def __init__(
        self,
        target: DeploymentTarget,
        *,
        registry: Registry,
        audit: AuditTrail,
        journal: Journal,
        log: RolloutLog,
        drain_seconds: float,
    ) -> None:
        self.target = target
        self.registry = registry
        self.audit = audit
        self.journal = journal
        self.log = log
        self.drain_seconds = drain_seconds

    def roll_back(self, failure: StepFailedError) -> RolloutResult:
        """Restore the previous traffic map exactly, delete the new deployment, move no alias."""
        data = self.journal.data
        rollout_id, new = str(data["id"]), str(data["new"])
        previous = Traffic.from_dict(data["previous"])
        model = ModelRef(**data["model"])
        emit = self.log.emit
        emit("rollback", f"rolling back: {failure.reason}", outcome="fail")
        created = [new, *arms_of(data)]
        mirror = {k: v for k, v in previous.mirror.items() if k not in created}
        weights = {k: v for k, v in previous.weights.items() if k not in created}
        self.target.set_traffic(weights, mirror)
        restored = time.time()
        emit(
            "rollback",
            f"traffic restored to {fmt_weights(weights)} in {restored - failure.detected_at:.2f}s",
            outcome="ok",
            traffic=weights,
            mirror=mirror,
        )
        time.sleep(self.drain_seconds)
        for name in created:
            try:
                self.target.delete_deployment(name)
                served = model if name == new else ModelRef(**data["arms"][name])
                emit("cleanup", f"deleted '{name}' ({served.uri})")
            except Exception as exc:
                emit("cleanup", f"could not delete '{name}': {exc}; delete it by hand", outcome="warning")
        message = (
            f"rollout of {model.uri} to endpoint '{self.target.endpoint}' rolled back: {failure.reason}. "
            f"Traffic is back on {fmt_weights(weights)}; no alias moved."
        )
        self.audit.record(
            f"{data.get('kind', 'deploy')}.rolled_back",
            rollout_id=rollout_id,
            endpoint=self.target.endpoint,
            outcome="rolled_back",
            message=message,
            from_=data.get("from_model"),
            to=model.uri,
            traffic=weights,
            gates=failure.report.as_dict() if failure.report else None,
            extra={"rollback_seconds": round(restored - failure.detected_at, 3)},
        )
        self.audit.tag_model(
            rollout_id,
            self.target.endpoint,
            model.name,
            model.version,
            {"ml.deploy.last_outcome": "rolled_back", "ml.deploy.last_rollout": rollout_id},
        )
        self.audit.finish_run(
            rollout_id, self.target.endpoint, "rolled_back", {"ml.deploy.reason": failure.reason[:4000]}
        )
        self._note_pending()
        self.journal.close(phases.ROLLED_BACK)
        return RolloutResult(
            rollout_id,
            str(data.get("kind", "deploy")),
            "rolled_back",
            message,
            model,
            new,
            previous,
            list(self.log.events),
            failure.detected_at,
            restored,
        )

    def finalize(self) -> RolloutResult:
        """Commit: the new colour takes all traffic, the old ones go, the alias moves (the old version kept, tagged)."""
        data = self.journal.data
        rollout_id, new = str(data["id"]), str(data["new"])
        previous = Traffic.from_dict(data["previous"])
        model = ModelRef(**data["model"])
        spec = RolloutSpec.model_validate(data["spec"])
        kind = str(data.get("kind", "deploy"))
        self.target.set_traffic({new: 100}, {})
        time.sleep(self.drain_seconds)
        for name in sorted(set(previous.weights) | set(previous.mirror)):
            if name != new:
                self.target.delete_deployment(name)
                self.log.emit("cleanup", f"deleted the previous deployment '{name}'")
        for name in arms_of(data):  # an A/B test's arms that did not win
            if name != new:
                self.target.delete_deployment(name)
                self.log.emit("cleanup", f"deleted the losing arm '{name}'")
        try:
            promotion = self.registry.promote(
                model,
                alias=spec.promote_alias,
                endpoint=self.target.endpoint,
                rollout_id=rollout_id,
                rollback=kind == "rollback",
            )
        except Exception as exc:
            uri = self.audit.outputs.tracking_uri
            if tracking_reachable(uri):
                raise
            raise UserError(
                f"{kind} of {model.uri} committed ('{new}' serves 100% of endpoint '{self.target.endpoint}'), but the "
                f"tracking server at {uri} went away before alias '{spec.promote_alias}' could move "
                f"({type(exc).__name__}); run `ml deploy recover` when it is back to move the alias and close the "
                f"records"
            ) from None
        moved = f"alias '{promotion.alias}' -> version {promotion.version}" + (
            f" (was {promotion.previous}, kept and tagged)"
            if promotion.previous not in (None, promotion.version)
            else ""
        )
        message = f"{kind} of {model.uri} to endpoint '{self.target.endpoint}' succeeded: '{new}' serves 100%; {moved}"
        self.log.emit("promote", message, outcome="pass", traffic={new: 100})
        self.audit.record(
            f"{kind}.promoted",
            rollout_id=rollout_id,
            endpoint=self.target.endpoint,
            outcome="promoted",
            message=message,
            from_=data.get("from_model"),
            to=model.uri,
            traffic={new: 100},
            extra={"alias": promotion.alias, "previous_version": promotion.previous, "version": promotion.version},
        )
        self.audit.tag_model(
            rollout_id,
            self.target.endpoint,
            model.name,
            model.version,
            {"ml.deploy.last_outcome": "promoted", "ml.deploy.last_rollout": rollout_id},
        )
        self.audit.finish_run(rollout_id, self.target.endpoint, "promoted", {"ml.deploy.version": model.version})
        self._note_pending()
        self.journal.close(phases.DONE)
        return RolloutResult(rollout_id, kind, "promoted", message, model, new, previous, list(self.log.events))

    # --- after a tracking outage -------------------------------------------------------------------------

    def _note_pending(self) -> None:
        """Name the MLflow writes a tracking outage left undone in the journal, for `sync` to finish."""
        if not self.audit.pending:
            return
        self.journal.update(mlflow_pending=[{"action": w.action, **(w.data or {})} for w in self.audit.pending])
        self.log.emit(
            "outage",
            f"{len(self.audit.pending)} MLflow writes are held (the tracking server at "
            f"{self.audit.outputs.tracking_uri} is unreachable); they are in the audit file, and "
            f"`ml deploy recover` writes them when it is back",
            outcome="warning",
        )

    def sync(self) -> int:
        """Finish the MLflow records of rollouts that ended during a tracking outage; returns how many."""
        done = 0
        for path, data in self.journal.unsynced():
            rollout_id = str(data["id"])
            outcome = "promoted" if data.get("phase") == phases.DONE else "rolled_back"
            model = ModelRef(**data["model"])
            self.audit.start_run(rollout_id, self.target.endpoint, {"ml.deploy.model": model.uri}, data.get("run_id"))
            for held in data["mlflow_pending"]:
                if isinstance(held, dict) and "step" in held:  # the same timestamps: no duplicate if it got there
                    self.audit.log_step(rollout_id, self.target.endpoint, held["step"], held["metrics"], held["at"])
            # the alias itself moved before the journal closed (a failed move keeps the journal open, committed)
            tags = {"ml.deploy.last_outcome": outcome, "ml.deploy.last_rollout": rollout_id}
            self.audit.tag_model(rollout_id, self.target.endpoint, model.name, model.version, tags)
            self.audit.finish_run(rollout_id, self.target.endpoint, outcome, {})
            if self.audit.pending:
                return done  # the server went away again: the rest waits for the next recover
            self.journal.mark_synced(path)
            self.log.emit("recover", f"wrote the MLflow records of rollout {rollout_id} ({outcome}) held by an outage")
            done += 1
        return done
