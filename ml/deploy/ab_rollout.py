"""``strategy: ab`` in the engine: both arms serve, the experiment decides, the winner is promoted.

Why the engine hands A/B over here after the new deployment is healthy: what comes before
(recovery, colours, journal, creation, health) is the same for every strategy; what comes after
differs -- no traffic steps, but one split held until `ml.deploy.experiment.Experiment` decides.
The endings are the engine's (`ml.deploy.endings`): a winning challenger is committed exactly
like a canary that passed (alias moved, old colour deleted, crash-safe roll-forward); a kept
champion is the rollback path -- previous traffic restored, challenger deleted -- reported as
``unchanged`` (keeping the champion is a decision, not a failure). Either way the evidence (the
last look: per-arm counts, estimates, intervals, always-valid p-values) is tagged on both model
versions and written to the audit log.

What a target must offer is checked once, before anything is created (`refusals`), with one
message per problem: a sticky assignment the target cannot do, an outcome it cannot measure,
more arms than the engine runs, a relative latency gate on a target that has only percentiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ml.contract.errors import UserError
from ml.deploy import journal as phases
from ml.deploy.audit import AuditTrail
from ml.deploy.decide import ExperimentDecision, latency_refusal
from ml.deploy.endings import Endings
from ml.deploy.events import RolloutLog, RolloutResult, StepFailedError, fmt_weights
from ml.deploy.experiment import Experiment, FeedbackSource
from ml.deploy.feedback import FeedbackStore, JoinedFeedback
from ml.deploy.journal import Journal
from ml.deploy.spec import BlueGreen, RolloutSpec
from ml.deploy.spec_decide import ABTest, StickyAssignment
from ml.deploy.target import DeploymentTarget, ModelRef
from ml.stack import local_home

MAX_ENGINE_ARMS = 2


def refusals(target: DeploymentTarget, spec: RolloutSpec) -> list[str]:
    """Everything in ``spec``'s statistical sections that ``target`` cannot honour (empty: it can)."""
    problems: list[str] = []
    relative = spec.gates.relative
    strategy = spec.strategy
    if not target.engine_steps and (relative is not None or isinstance(strategy, ABTest)):
        return [
            f"the {target.kind} target runs every rollout with the platform's own machinery ({target.kind} "
            f"judges it, not ml), so gates.relative and strategy: ab cannot run there; use the fixed gates "
            f"with a canary or blue_green strategy"
        ]
    if relative is not None:
        if relative.max_slower_probability is not None:
            why = latency_refusal(target.latency_evidence, target.kind)
            if why is not None:
                problems.append(why)
        if isinstance(strategy, BlueGreen) and strategy.mirror_percent == 0:
            problems.append(
                "gates.relative needs a step where both colours serve: blue_green without a mirror switches at once; "
                "use canary/linear steps or set strategy.mirror_percent"
            )
        if isinstance(strategy, BlueGreen) and strategy.mirror_percent > 0 and not target.supports_mirror:
            problems.append(
                f"gates.relative on blue_green needs the mirror phase, which the {target.kind} target lacks"
            )
    if isinstance(strategy, ABTest):
        problems += _ab_refusals(target, strategy)
    return problems


def _ab_refusals(target: DeploymentTarget, ab: ABTest) -> list[str]:
    problems: list[str] = []
    kind = target.kind
    if ab.arms > MAX_ENGINE_ARMS:
        problems.append(
            f"strategy.challengers: this version's engine runs A/B tests on {MAX_ENGINE_ARMS} arms (the champion and "
            f"the spec's model) because a rollout alternates two colours; drop 'challengers' (got {ab.arms} arms)"
        )
    if isinstance(ab.assignment, StickyAssignment):
        how = "cookie" if ab.assignment.cookie else "header"
        if how not in target.assignments:
            can = ", ".join(sorted(target.assignments))
            problems.append(
                f"strategy.assignment: the {kind} target cannot pin users by {ab.assignment.describe()} "
                f"(it assigns by: {can}); use one of those"
            )
    if ab.outcome == "latency" and target.latency_evidence in ("percentiles", "none"):
        problems.append(
            f"strategy.outcome latency: the {kind} target reports latency only as percentiles, not per request or "
            f"as a histogram; use outcome errors or feedback on this target"
        )
    if ab.outcome == "feedback" and not target.request_log:
        problems.append(
            f"strategy.outcome feedback: the {kind} target cannot say which deployment served each request id, so "
            f"fed-back outcomes cannot be attributed to arms; use outcome errors or latency on this target"
        )
    return problems


def check(target: DeploymentTarget, spec: RolloutSpec, *, live: list[str]) -> None:
    """Raise one `UserError` listing every refusal; nothing is created or journaled before this."""
    problems = refusals(target, spec)
    if isinstance(spec.strategy, ABTest) and len(live) != 1:
        serving = ", ".join(live) or "nothing"
        problems.append(
            f"an A/B test needs one deployment serving as the champion (serving: {serving}); "
            f"deploy a first version with `strategy: {{type: blue_green}}`"
        )
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise UserError(f"rollout spec {spec.source} cannot run on endpoint '{target.endpoint}':\n{listed}")


class ABRollout:
    """Holds the split, runs the experiment, and ends the rollout by its decision."""

    def __init__(
        self,
        target: DeploymentTarget,
        *,
        log: RolloutLog,
        journal: Journal,
        endings: Endings,
        audit: AuditTrail,
        feedback: FeedbackSource | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.target = target
        self.log = log
        self.journal = journal
        self.endings = endings
        self.audit = audit
        self.feedback = feedback
        self.timing: dict[str, Any] = {k: v for k, v in (("sleep", sleep), ("clock", clock)) if v is not None}

    def run(self, spec: RolloutSpec, ab: ABTest, *, model: ModelRef, new: str, champion: str) -> RolloutResult:
        shares = ab.shares()
        weights = {champion: shares[0], new: shares[1]}
        sticky = ab.assignment if isinstance(ab.assignment, StickyAssignment) else None
        self.journal.update(phase=phases.SHIFTING, step=1, traffic=weights)
        self.target.set_assignment(weights, sticky)
        how = "random per request" if sticky is None else f"sticky by {sticky.describe()}"
        horizon = " and ".join(
            part
            for part in (
                f"{ab.duration:g}s" if ab.duration is not None else "",
                f"{ab.max_samples} samples per arm" if ab.max_samples is not None else "",
            )
            if part
        )
        self.log.emit(
            "ab",
            f"A/B experiment: {fmt_weights(weights)} ({how}); outcome {ab.outcome}, goal {ab.test().goal}, "
            f"alpha {ab.alpha}; horizon {horizon}; a look every {ab.look_every:g}s",
            traffic=weights,
        )
        since = self.timing.get("clock", time.time)()  # the window starts once the split is served
        feedback = self.feedback
        if feedback is None and ab.outcome == "feedback":  # what `ml deploy feedback` wrote, joined by request id
            feedback = JoinedFeedback(FeedbackStore.for_endpoint(local_home(), self.target.endpoint), self.target)
        experiment = Experiment(
            self.target, self.log.emit, lambda record: self.journal.update(experiment=record),
            feedback=feedback, **self.timing,
        )  # fmt: skip
        decision = experiment.run(ab, arms=[champion, new], champion=champion, since=since)
        self._evidence(decision, model=model, new=new, champion=champion)
        if decision.winner == new:
            self.journal.update(phase=phases.COMMITTED)
            self.log.emit("commit", f"'{new}' won the A/B test: promoting it", outcome="pass", traffic={new: 100})
            return self.endings.finalize()
        result = self.endings.roll_back(StepFailedError(f"A/B experiment kept the champion: {decision.reason}"))
        result.outcome = "unchanged"
        result.message = (
            f"A/B experiment kept the champion '{champion}' ({self.journal.data.get('from_model')}): "
            f"{decision.reason}; {model.uri} was removed, no alias moved"
        )
        return result

    def _evidence(self, decision: ExperimentDecision, *, model: ModelRef, new: str, champion: str) -> None:
        data = self.journal.data
        rollout_id = str(data["id"])
        record = decision.as_dict()
        won = "challenger" if decision.winner == new else "champion"
        self.audit.record(
            "ab.decision",
            rollout_id=rollout_id,
            endpoint=self.target.endpoint,
            outcome="winner" if decision.winner else "keep_champion",
            message=f"A/B decision: {won} wins -- {decision.reason}",
            from_=data.get("from_model"),
            to=model.uri,
            gates={"experiment": record},
        )
        comparison = record["comparisons"][0] if record["comparisons"] else {}
        arms = {arm["arm"]: arm for arm in record["arms"]}
        common = {
            "ml.ab.rollout": rollout_id,
            "ml.ab.winner": won,
            "ml.ab.reason": decision.reason[:4000],
            "ml.ab.difference": str(comparison.get("difference")),
            "ml.ab.interval": str(comparison.get("always_valid_interval")),
            "ml.ab.p_value": str(comparison.get("always_valid_p")),
        }
        versions = [(model.name, model.version, new, "challenger")]
        champion_uri = str(data.get("from_model") or "")
        if champion_uri.startswith("models:/") and champion_uri.count("/") == 2:
            name, version = champion_uri.removeprefix("models:/").split("/")
            versions.append((name, version, champion, "champion"))
        for name, version, arm, role in versions:
            mine = arms.get(arm, {})
            tags = {**common, "ml.ab.role": role, "ml.ab.n": str(mine.get("n")), "ml.ab.mean": str(mine.get("mean"))}
            self.audit.tag_model(rollout_id, self.target.endpoint, name, version, tags)
