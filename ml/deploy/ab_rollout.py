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

More than two arms (``strategy.challengers``): each extra challenger is one more deployment named
beside the new colour (``<colour>-arm<k>``, `arm_names`), journaled *before* it is created, so the
endings -- and a recovery after a crash -- delete every arm that did not win. A winning extra arm
becomes the journal's ``new`` (its model the one promoted) just before the commit; the endpoint then
serves it under its arm name, which the next rollout treats like any serving deployment.

What a target must offer is checked once, before anything is created (`refusals`), with one
message per problem: a sticky assignment the target cannot do, an outcome it cannot measure,
more arms than its traffic map holds (``DeploymentTarget.max_arms``), a relative latency gate on a
target that has only percentiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
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
from ml.deploy.registry import Registry
from ml.deploy.spec import MODEL_URI, BlueGreen, RolloutSpec
from ml.deploy.spec_decide import ABTest, StickyAssignment
from ml.deploy.target import DeploymentTarget, ModelRef
from ml.stack import local_home


def resolve_challengers(registry: Registry, spec: RolloutSpec, model: ModelRef) -> list[ModelRef]:
    """The extra arms' versions (``strategy.challengers``), resolved once; a `UserError` before anything exists.

    Why the same registered model only: the winner takes the spec's ``promote_alias`` on its model,
    and an alias on another model would leave this model's champion serving nowhere.
    """
    strategy = spec.strategy
    if not isinstance(strategy, ABTest) or not strategy.challengers:
        return []
    refs: list[ModelRef] = []
    for uri in strategy.challengers:
        match = MODEL_URI.match(uri)
        assert match is not None  # the spec validated the pattern
        if match.group("name") != model.name:
            raise UserError(
                f"strategy.challengers: {uri} is a version of '{match.group('name')}', but the experiment promotes "
                f"alias '{spec.promote_alias}' of '{model.name}'; every arm must be a version of '{model.name}'"
            )
        refs.append(registry.resolve(model.name, alias=match.group("alias"), version=match.group("version")))
    versions = [model.version, *(ref.version for ref in refs)]
    if len(set(versions)) != len(versions):
        raise UserError(
            f"strategy.challengers: the arms resolve to versions {versions} of '{model.name}'; each arm must be a "
            f"different version (the spec's model is the first challenger)"
        )
    return refs


def arm_names(new: str, extra: list[ModelRef], *, serving: dict[str, str | None]) -> dict[str, ModelRef]:
    """Deployment names of the extra arms: ``<new>-arm2``, ``<new>-arm3``, ... skipping any that serves now.

    ``serving`` maps each live deployment to the model URI it serves; an arm serving the champion's own
    version would compare the champion with itself, so that is refused.
    """
    for ref in extra:
        if ref.uri in serving.values():
            raise UserError(
                f"strategy.challengers: {ref.uri} serves the endpoint now (it is the champion); list only new versions"
            )
    names: dict[str, ModelRef] = {}
    k = 2
    for ref in extra:
        while f"{new}-arm{k}" in serving:
            k += 1
        names[f"{new}-arm{k}"] = ref
        k += 1
    return names


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
    if ab.arms > target.max_arms:
        problems.append(
            f"strategy.challengers: the {kind} target serves at most {target.max_arms} deployments side by side "
            f"({target.max_arms_reason}); got {ab.arms} arms (champion, model, {len(ab.challengers)} challengers)"
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
        extra = {name: ModelRef(**ref) for name, ref in (self.journal.data.get("arms") or {}).items()}
        self._create_arms(spec, extra)
        arms = [champion, new, *extra]
        weights = dict(zip(arms, ab.shares(), strict=True))
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
        decision = experiment.run(ab, arms=arms, champion=champion, since=since)
        refs = {new: model, **extra}
        self._evidence(decision, refs=refs, champion=champion)
        winner = decision.winner
        if winner is not None and winner in refs:
            # one atomic write: an extra arm that won becomes the one the commit promotes, the colour joins the losers
            losers = {name: asdict(ref) for name, ref in refs.items() if name != winner}
            self.journal.update(phase=phases.COMMITTED, new=winner, model=asdict(refs[winner]), arms=losers)
            self.log.emit(
                "commit", f"'{winner}' ({refs[winner].uri}) won the A/B test: promoting it", outcome="pass",
                traffic={winner: 100},
            )  # fmt: skip
            return self.endings.finalize()
        result = self.endings.roll_back(StepFailedError(f"A/B experiment kept the champion: {decision.reason}"))
        result.outcome = "unchanged"
        removed = ", ".join(ref.uri for ref in refs.values())
        result.message = (
            f"A/B experiment kept the champion '{champion}' ({self.journal.data.get('from_model')}): "
            f"{decision.reason}; {removed} {'was' if len(refs) == 1 else 'were'} removed, no alias moved"
        )
        return result

    def _create_arms(self, spec: RolloutSpec, extra: dict[str, ModelRef]) -> None:
        """Create the extra arms (already in the journal) and wait until each is healthy; a failure rolls back all."""
        if not extra:
            return
        data = self.journal.data
        existing = {info.name for info in self.target.list_deployments()}
        for name, ref in extra.items():
            if name in existing:  # left by a run that crashed before journaling it: it serves nothing
                self.target.delete_deployment(name)
            self.log.emit("create", f"creating arm '{name}' serving {ref.uri}")
            self.target.create_deployment(name, ref, str(data["instance_type"]), int(data["instance_count"]))
        started = time.time()
        for name in extra:
            self.target.wait_healthy(name, spec.health_timeout)
        self.log.emit(
            "healthy", f"arms {', '.join(extra)} are healthy after {time.time() - started:.1f}s", outcome="pass"
        )

    def _evidence(self, decision: ExperimentDecision, *, refs: dict[str, ModelRef], champion: str) -> None:
        """The decision in the audit log, and tagged on every arm's model version (the champion's too)."""
        data = self.journal.data
        rollout_id = str(data["id"])
        record = decision.as_dict()
        winner = decision.winner
        won = "challenger" if winner is not None and winner != champion else "champion"
        winner_uri = refs[winner].uri if winner in refs else data.get("from_model")
        self.audit.record(
            "ab.decision",
            rollout_id=rollout_id,
            endpoint=self.target.endpoint,
            outcome="winner" if winner else "keep_champion",
            message=f"A/B decision: {won} wins ({winner or champion}: {winner_uri}) -- {decision.reason}",
            from_=data.get("from_model"),
            to=str(winner_uri),
            gates={"experiment": record},
        )
        comparisons = {c["arm"]: c for c in record["comparisons"]}
        headline = comparisons.get(str(winner)) or (record["comparisons"][0] if record["comparisons"] else {})
        arms = {arm["arm"]: arm for arm in record["arms"]}
        common = {
            "ml.ab.rollout": rollout_id,
            "ml.ab.winner": won,
            "ml.ab.winner_model": str(winner_uri),
            "ml.ab.arms": str(len(record["arms"])),
            "ml.ab.reason": decision.reason[:4000],
        }
        versions = [(ref.name, ref.version, name, "challenger") for name, ref in refs.items()]
        champion_uri = str(data.get("from_model") or "")
        if champion_uri.startswith("models:/") and champion_uri.count("/") == 2:
            name, version = champion_uri.removeprefix("models:/").split("/")
            versions.append((name, version, champion, "champion"))
        for name, version, arm, role in versions:
            mine = arms.get(arm, {})
            compared = comparisons.get(arm, headline)  # the champion carries the deciding comparison
            tags = {
                **common,
                "ml.ab.role": role,
                "ml.ab.arm": arm,
                "ml.ab.n": str(mine.get("n")),
                "ml.ab.mean": str(mine.get("mean")),
                "ml.ab.difference": str(compared.get("difference")),
                "ml.ab.interval": str(compared.get("always_valid_interval")),
                "ml.ab.p_value": str(compared.get("always_valid_p")),
            }
            self.audit.tag_model(rollout_id, self.target.endpoint, name, version, tags)
