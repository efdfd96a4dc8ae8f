"""The rollout engine: one sequence of decisions for every strategy and every target.

A rollout, whatever its strategy:

1. converge any interrupted rollout on the endpoint first (`recover`);
2. resolve the spec's model to a concrete version (an alias moving later changes nothing);
3. the new deployment takes the colour that carries no traffic (`DeploymentTarget.colours`);
4. create it and wait until it is healthy; ``blue_green`` waits ``warmup`` and, when the target
   can, mirrors ``mirror_percent`` of live traffic to it and judges the gates on that copy;
5. for each traffic step (canary steps, linear increments, or one blue/green switch): set the
   traffic map, bake while probing the new deployment's liveness, and judge the gates on its
   metrics since the step began -- waiting for ``min_requests`` first, failing early as soon as
   enough requests show a gate broken;
   with ``gates.relative``, where both colours serve (steps below 100 %, the mirror phase), the new
   colour is then judged against the old one over the same window, extended while inconclusive
   (`ml.deploy.relative_step`); ``strategy: ab`` instead holds one split until the experiment
   decides and ends by its decision (`ml.deploy.ab_rollout`);
6. all steps passed: **commit** -- delete the previous deployment, move the alias (``champion``),
   tag the version it left, close the audit run.

Any failing gate, dead deployment, failed health wait, Ctrl-C or unexpected error before the
commit: restore the previous traffic map exactly, delete the new deployment, move no alias,
and return ``rolled_back`` (the CLI exits non-zero with the reason).

Crash safety: the journal (`ml.deploy.journal`) is written before every change. When the `ml`
process dies mid-rollout, the next `ml deploy`, `ml deploy recover` or `ml rollback` on that
endpoint **rolls back** a rollout that had not committed (the gate evidence died with the process,
and serving the known-good model is the safe state), and **rolls forward** one that had committed
(every gate passed; only clean-up and the alias move were left). Each step is idempotent, so a
recovery that is itself interrupted is simply run again.

Where each part lives: this module decides (recovery, colours, the step and gate loop); the two
endings and their bookkeeping -- alias move, model tags, audit run, journal close -- are in
`ml.deploy.endings`, and what is recorded on the way (`RolloutEvent`, `RolloutResult`) in
`ml.deploy.events`.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy import journal as phases
from ml.deploy.ab_rollout import ABRollout, arm_names, resolve_challengers
from ml.deploy.ab_rollout import check as check_statistics
from ml.deploy.audit import AuditTrail
from ml.deploy.endings import Endings
from ml.deploy.events import (
    RolloutEvent,
    RolloutLog,
    RolloutResult,
    StepFailedError,
    fmt_ms,
    fmt_weights,
)
from ml.deploy.gates import GateReport, evaluate
from ml.deploy.guards import Guards
from ml.deploy.journal import Journal
from ml.deploy.outage import hold_for_registry
from ml.deploy.registry import Registry
from ml.deploy.relative_step import StepJudge
from ml.deploy.spec import BlueGreen, Gates, RolloutSpec
from ml.deploy.spec_decide import ABTest
from ml.deploy.target import DeploymentError, DeploymentTarget, ModelRef, NativeRolloutRequest, Traffic

DEAD_AFTER_FAILED_PROBES = 3


def split_traffic(previous: dict[str, int], new: str, percent: int) -> dict[str, int]:
    """Give ``new`` ``percent`` and scale the previous live weights into the rest (largest remainder)."""
    old = {name: weight for name, weight in previous.items() if weight > 0 and name != new}
    remaining = 100 - percent
    total = sum(old.values())
    if not old or remaining == 0:
        return {new: 100}
    exact = {name: remaining * weight / total for name, weight in old.items()}
    weights = {name: math.floor(value) for name, value in exact.items()}
    leftover = remaining - sum(weights.values())
    for name in sorted(exact, key=lambda n: exact[n] - weights[n], reverse=True)[:leftover]:
        weights[name] += 1
    return {**{k: v for k, v in weights.items() if v > 0}, new: percent}


def rollback_spec(model: ModelRef, *, bake_time: float, alias: str, health_timeout: float = 600.0) -> RolloutSpec:
    """The rollout `ml rollback` runs: a blue/green switch to a known-good version, judged only on errors."""
    return RolloutSpec.model_validate(
        {
            "model": model.uri,
            "strategy": {"type": "blue_green"},
            "bake_time": bake_time,
            "gates": Gates(max_error_rate=0.05, min_requests=0, insufficient_traffic="pass").model_dump(),
            "health_timeout": health_timeout,
            "promote_alias": alias,
        }
    )


_Result = TypeVar("_Result", RolloutResult, RolloutResult | None)


class RolloutEngine:
    """Drives one endpoint of one stack through rollouts, recoveries and rollbacks."""

    def __init__(
        self,
        outputs: PlatformOutputs,
        target: DeploymentTarget,
        *,
        registry: Registry,
        audit: AuditTrail,
        journal_dir: Path,
        on_event: Callable[[RolloutEvent], None] | None = None,
        poll_interval: float = 0.5,
        drain_seconds: float = 1.0,
    ) -> None:
        self.outputs = outputs
        self.target = target
        self.registry = registry
        self.audit = audit
        self.journal = Journal(journal_dir, outputs.stack, target.endpoint)
        self.poll_interval = poll_interval
        self.log = RolloutLog(target.endpoint, audit, self.journal, on_event)
        self.endings = Endings(
            target, registry=registry, audit=audit, journal=self.journal, log=self.log, drain_seconds=drain_seconds
        )
        self.guards = Guards(outputs, registry.client, audit, endpoint=target.endpoint, on_event=on_event)

    # --- public entry points ---------------------------------------------------------------------------

    def run(self, spec: RolloutSpec) -> RolloutResult:
        """Roll ``spec.model`` out on the endpoint; returns ``promoted``, ``rolled_back`` or ``unchanged``."""
        self.recover()
        model = self.registry.resolve(spec.model_name, alias=spec.model_alias, version=spec.model_version)
        # approval (where the stack requires it) and offline validation: refused here, nothing exists yet
        extra = resolve_challengers(self.registry, spec, model)  # an A/B test's further arms, checked the same way
        for ref in (model, *extra):
            self.guards.before_create(ref, spec.validation, alias=spec.promote_alias, base_dir=spec.base_dir)
        return self._carded(self._rollout(spec, model, kind="deploy", extra=extra))

    def _carded(self, result: _Result) -> _Result:
        """After a promotion, the new champion's model card is rebuilt and logged on its version."""
        if result is not None and result.outcome == "promoted" and result.model is not None:
            self.guards.after_promote(result.model, rollout_id=result.rollout_id)
        return result

    def rollback(
        self, *, model_name: str | None = None, alias: str = "champion", bake_time: float = 10.0
    ) -> RolloutResult:
        """Return traffic and ``alias`` to the previous champion (a blue/green switch with an error gate)."""
        self.recover()
        name = model_name or self._serving_model_name()
        previous = self.registry.previous_champion(name, alias=alias)
        if previous is None:
            raise UserError(
                f"model '{name}' has no previous champion to return to (no version tagged previous_champion=true "
                f"that was not itself rolled back); deploy a known-good version with `ml deploy SPEC` instead"
            )
        spec = rollback_spec(previous, bake_time=bake_time, alias=alias)
        return self._carded(self._rollout(spec, previous, kind="rollback"))

    def recover(self, *, force: bool = False) -> RolloutResult | None:
        """Converge an interrupted rollout: roll back before its commit, roll forward after; None if none."""
        data = self.journal.load()
        if data is None:
            self.endings.sync()  # MLflow records a tracking outage held back, now that the server may be back
            return None
        alive = self.journal.holder_alive()
        if alive:
            raise UserError(
                f"rollout {data.get('id')} on endpoint '{self.target.endpoint}' is still running "
                f"(pid {data.get('pid')}); wait for it to finish or stop that process, then run this again"
            )
        if alive is None and not force:
            raise UserError(
                f"rollout {data.get('id')} on endpoint '{self.target.endpoint}' was started on host "
                f"{data.get('host')}; if that run is dead, converge it with `ml deploy recover --force`"
            )
        self.journal.take_over()
        self.log.reset()
        rollout_id = str(data["id"])
        self.audit.start_run(rollout_id, self.target.endpoint, {}, run_id=data.get("run_id"))
        phase = data.get("phase")
        self.log.emit(
            "recover",
            f"found rollout {rollout_id} interrupted in phase '{phase}' (step {data.get('step')}); "
            + (
                "rolling forward: it had committed"
                if phase == phases.COMMITTED
                else "rolling back: it had not committed"
            ),
        )
        if phase in phases.BEFORE_COMMIT:
            failure = StepFailedError(f"the ml process driving rollout {rollout_id} stopped in phase '{phase}'")
            return self.endings.roll_back(failure)
        if phase == phases.COMMITTED:
            return self._carded(self.endings.finalize())
        self.journal.close(str(phase))
        return None

    # --- the rollout ------------------------------------------------------------------------------------

    def _rollout(
        self, spec: RolloutSpec, model: ModelRef, *, kind: str, extra: Sequence[ModelRef] = ()
    ) -> RolloutResult:
        self.log.reset()
        target = self.target
        previous = target.get_traffic()
        infos = {info.name: info for info in target.list_deployments()}
        colours = target.colours()
        live_colours = [c for c in colours if previous.weights.get(c, 0) > 0]
        if len(live_colours) == len(colours):
            split = ", ".join(f"{c} {previous.weights[c]}%" for c in colours)
            raise UserError(
                f"endpoint '{target.endpoint}' splits traffic between both colours ({split}) outside a recorded "
                f"rollout; put all traffic on one colour (or run `ml rollback`) before deploying"
            )
        new = next(c for c in colours if previous.weights.get(c, 0) == 0)
        live = previous.live()
        serving = infos[live[0]].model if live and live[0] in infos else None
        if len(live) == 1 and serving == model.uri and previous.weights.get(live[0]) == 100:
            rollout_id = uuid.uuid4().hex
            message = f"{model.uri} already serves 100% of endpoint '{target.endpoint}' as '{live[0]}'; nothing to do"
            self.audit.record(
                f"{kind}.unchanged",
                rollout_id=rollout_id,
                endpoint=target.endpoint,
                outcome="unchanged",
                message=message,
                from_=serving,
                to=model.uri,
                traffic=previous.weights,
            )
            return RolloutResult(rollout_id, kind, "unchanged", message, model, live[0], previous)
        instance_type, count = target.default_instance()
        instance_type = spec.instance_type or instance_type
        count = spec.instance_count or count
        target.preflight(spec, instance_type=instance_type, instance_count=count)
        check_statistics(target, spec, live=live)
        arms = arm_names(
            new, list(extra), serving={name: infos[name].model if name in infos else None for name in live}
        )
        rollout_id = uuid.uuid4().hex
        self.journal.begin(
            {
                "id": rollout_id,
                "kind": kind,
                "stack": self.outputs.stack,
                "endpoint": target.endpoint,
                "target": target.kind,
                "spec": spec.model_dump(mode="json"),
                "spec_source": spec.source,
                "model": asdict(model),
                "from_model": serving,
                "new": new,
                "arms": {name: asdict(ref) for name, ref in arms.items()},  # extra A/B arms, journaled before created
                "previous": previous.as_dict(),
                "previous_champion": self.registry.alias_version(model.name, spec.promote_alias),
                "instance_type": instance_type,
                "instance_count": count,
                "phase": phases.PREPARED,
                "step": 0,
                "started_at": time.time(),
            }
        )
        run_id = self.audit.start_run(
            rollout_id,
            target.endpoint,
            {
                "ml.deploy.kind": kind,
                "ml.deploy.model": model.uri,
                "ml.deploy.from": serving or "",
                "ml.deploy.strategy": spec.strategy.type,
                "ml.deploy.stack": self.outputs.stack,
            },
        )
        self.journal.update(run_id=run_id)
        self.log.emit(
            "start",
            f"{kind} {model.uri} to endpoint '{target.endpoint}' ({target.kind}) as '{new}' with {spec.strategy.type}; "
            f"serving now: {serving or 'nothing'} {previous.weights or ''}",
            traffic=previous.weights,
        )
        try:
            return self._drive(spec, model, new, previous, live, infos, instance_type, count)
        except StepFailedError as failure:
            return self.endings.roll_back(failure)
        except DeploymentError as exc:
            return self.endings.roll_back(StepFailedError(str(exc)))
        except KeyboardInterrupt:
            self.endings.roll_back(StepFailedError("interrupted (Ctrl-C / SIGTERM)"))
            raise
        except Exception as exc:
            if self.journal.data.get("phase") in phases.BEFORE_COMMIT:
                self.endings.roll_back(StepFailedError(f"unexpected error: {type(exc).__name__}: {exc}"))
            raise

    def _drive(
        self,
        spec: RolloutSpec,
        model: ModelRef,
        new: str,
        previous: Traffic,
        live: list[str],
        infos: dict[str, Any],
        instance_type: str,
        count: int,
    ) -> RolloutResult:
        target = self.target
        if new in infos:
            self.log.emit("cleanup", f"'{new}' exists with no traffic (left from an earlier run); deleting it first")
            target.delete_deployment(new)
        native = target.native_rollout(
            NativeRolloutRequest(spec, model, new, previous, instance_type=instance_type, instance_count=count)
        )
        if native is not None:
            for event in native.events:
                self.log.emit("native", str(event.get("message", event)), gates=event)
            if not native.succeeded:
                raise StepFailedError(f"{target.kind} rolled back natively: {native.message}")
            self.journal.update(phase=phases.COMMITTED)
            return self.endings.finalize()

        self.journal.update(phase=phases.DEPLOYING)
        self.log.emit("create", f"creating '{new}' serving {model.uri} ({instance_type} x{count})")
        target.create_deployment(new, model, instance_type, count)
        started = time.time()
        target.wait_healthy(new, spec.health_timeout)
        self.log.emit("healthy", f"'{new}' is healthy after {time.time() - started:.1f}s", outcome="pass")

        strategy = spec.strategy
        if isinstance(strategy, BlueGreen) and strategy.warmup > 0:
            self.log.emit("warmup", f"warming up '{new}' for {strategy.warmup:g}s")
            self._bake(new, strategy.warmup, since=time.time(), gates=None)
        if isinstance(strategy, ABTest):
            return ABRollout(target, log=self.log, journal=self.journal, endings=self.endings, audit=self.audit).run(
                spec, strategy, model=model, new=new, champion=live[0]
            )

        if not live:
            steps = [100]
            self.log.emit("info", "no deployment serves this endpoint yet: the first one takes all traffic at once")
        else:
            steps = spec.traffic_steps()
            if isinstance(strategy, BlueGreen) and strategy.mirror_percent > 0:
                self._mirror_phase(spec, strategy, new, previous)

        held = previous.weights
        for index, percent in enumerate(steps, start=1):
            self._hold_for_registry(spec, new, held)
            weights = held = split_traffic(previous.weights, new, percent)
            self.journal.update(phase=phases.SHIFTING, step=index, traffic=weights)
            target.set_traffic(weights, {})
            since = time.time()
            self.log.emit("step", f"step {index}/{len(steps)}: {fmt_weights(weights)}", traffic=weights)
            report = self._bake(new, spec.bake_time, since=since, gates=spec)
            assert report is not None
            self._decide(report, step=index, percent=percent, traffic=weights)
            if percent < 100 and live:
                self._relative(spec, new, live[0], since, f"step {index}/{len(steps)} ({percent}%)", weights)

        self._hold_for_registry(spec, new, held)
        self.journal.update(phase=phases.COMMITTED)
        self.log.emit("commit", f"all gates passed at 100% on '{new}': committing", outcome="pass", traffic={new: 100})
        return self.endings.finalize()

    def _hold_for_registry(self, spec: RolloutSpec, new: str, traffic: dict[str, int]) -> None:
        """Before a traffic change or the commit: wait (bounded) for an unreachable registry, see `ml.deploy.outage`.

        Probes the registry this rollout actually writes to (its client's URI), which is the stack's
        tracking URI in `ml deploy` but may be another store when a caller passes its own client.
        """
        hold_for_registry(
            tracking_uri=self.registry.client.tracking_uri,
            target=self.target,
            audit=self.audit,
            log=self.log,
            new=new,
            traffic=traffic,
            wait=spec.registry_wait,
            dead_after=DEAD_AFTER_FAILED_PROBES,
        )

    def _mirror_phase(self, spec: RolloutSpec, strategy: BlueGreen, new: str, previous: Traffic) -> None:
        if not self.target.supports_mirror:
            self.log.emit("mirror", f"the {self.target.kind} target cannot mirror traffic: skipping the mirror phase")
            return
        mirror = {**{k: v for k, v in previous.mirror.items() if k != new}, new: strategy.mirror_percent}
        self.journal.update(phase=phases.SHIFTING, step=0, traffic=previous.weights, mirror=mirror)
        self.target.set_traffic(previous.weights, mirror)
        since = time.time()
        seconds = strategy.mirror_time if strategy.mirror_time is not None else spec.bake_time
        self.log.emit(
            "mirror",
            f"mirroring {strategy.mirror_percent}% of live traffic to '{new}' for {seconds:g}s",
            traffic=previous.weights,
            mirror=mirror,
        )
        report = self._bake(new, seconds, since=since, gates=spec)
        assert report is not None
        self._decide(report, step=0, percent=0, traffic=previous.weights)
        if previous.live():
            self._relative(spec, new, previous.live()[0], since, "mirror phase", previous.weights)

    def _relative(self, spec: RolloutSpec, new: str, baseline: str, since: float, label: str, traffic: Any) -> None:
        """The relative gate where both colours serve (`ml.deploy.relative_step`): fail, or unresolved, rolls back."""
        options = spec.gates.relative
        if options is None:
            return
        judge = StepJudge(self.target, self.log.emit)
        decision = judge.judge(options, new=new, baseline=baseline, since=since, label=label, traffic=traffic)
        if decision.action(options.on_inconclusive) == "fail":
            reasons = "; ".join(decision.reasons())
            raise StepFailedError(f"relative gate {decision.outcome.value} at {label}: {reasons}")

    def _bake(self, name: str, seconds: float, *, since: float, gates: RolloutSpec | None) -> GateReport | None:
        """Wait ``seconds`` probing liveness (and, with gates, failing early); then judge with min_requests."""
        bake_end = since + seconds
        failed_probes = 0
        while True:
            now = time.time()
            if not self.target.is_healthy(name):
                failed_probes += 1
                if failed_probes >= DEAD_AFTER_FAILED_PROBES:
                    raise StepFailedError(f"deployment '{name}' stopped answering its health probe")
            else:
                failed_probes = 0
            if gates is None:
                if now >= bake_end and failed_probes == 0:
                    return None
            else:
                report = evaluate(gates.gates, self.target.read_metrics(name, since))
                if report.enough_traffic and not report.passed:
                    return report  # enough evidence that a gate is broken: decide now
                if now >= bake_end and report.enough_traffic and failed_probes == 0:
                    return report  # a step never passes while the last liveness probe failed
                if now >= bake_end + gates.gate_wait():
                    allow = gates.gates.insufficient_traffic == "pass"
                    return evaluate(gates.gates, self.target.read_metrics(name, since), insufficient_ok=allow)
            time.sleep(min(self.poll_interval, bake_end - now) if now < bake_end else self.poll_interval)

    def _decide(self, report: GateReport, *, step: int, percent: int, traffic: dict[str, int]) -> None:
        metrics = report.metrics
        self.audit.log_step(
            str(self.journal.data["id"]),
            self.target.endpoint,
            step,
            {
                "traffic_percent": percent,
                "requests": metrics.requests,
                "errors": metrics.errors,
                "error_rate": metrics.error_rate,
                "p95_ms": metrics.p95_ms,
                "p99_ms": metrics.p99_ms,
            },
        )
        summary = (
            f"{metrics.requests} req, error rate {metrics.error_rate:.2%}, "
            f"p95 {fmt_ms(metrics.p95_ms)}, p99 {fmt_ms(metrics.p99_ms)}"
        )
        if report.passed:
            self.log.emit("gate", f"gates passed: {summary}", outcome="pass", traffic=traffic, gates=report.as_dict())
            return
        reasons = "; ".join(report.failures())
        self.log.emit(
            "gate", f"gates FAILED ({reasons}): {summary}", outcome="fail", traffic=traffic, gates=report.as_dict()
        )
        raise StepFailedError(f"gate failed at step {step} ({percent}%): {reasons}", report)

    # --- helpers --------------------------------------------------------------------------------------------

    def _serving_model_name(self) -> str:
        traffic = self.target.get_traffic()
        infos = {info.name: info for info in self.target.list_deployments()}
        for name in traffic.live():
            uri = infos[name].model if name in infos else None
            if uri and uri.startswith("models:/"):
                return uri.removeprefix("models:/").split("/")[0].split("@")[0]
        raise UserError(
            f"cannot tell which registered model endpoint '{self.target.endpoint}' serves; pass `--model NAME`"
        )
