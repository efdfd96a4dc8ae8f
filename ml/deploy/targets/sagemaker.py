"""The SageMaker rollout target: a rollout is one ``UpdateEndpoint`` with SageMaker's blue/green guardrails.

Why native: a SageMaker real-time endpoint cannot hold two colours of one variant at chosen
weights, but it can replace a variant's fleet itself -- canary, linear or all at once, baking
between shifts and rolling back on its own when a CloudWatch alarm fires -- and it keeps serving
while it does. So `native_rollout` hands the whole rollout to SageMaker and only waits:

1. a new SageMaker **Model** (the stack's serving image, the registered version's artifacts, the
   stack's execution role and VPC) and a new **EndpointConfig** whose one variant keeps the stack's
   variant name (so the stack's autoscaling target and alarms, whose dimension it is, stay
   attached), with the requested instance type/count and the stack's KMS key;
2. when the instance type changes and the variant is an Application Auto Scaling target,
   SageMaker refuses the update: the target and its policies are saved, removed, and restored
   after the update whatever its outcome (a model-only change keeps them, as SageMaker allows);
3. ``UpdateEndpoint`` with the ``DeploymentConfig`` from `ml.deploy.targets.sagemaker_config`
   (strategy, bakes, timeouts, ``AutoRollbackConfiguration`` naming the stack's alarms);
4. ``DescribeEndpoint`` until it is ``InService`` on the new config (success) or back on the old
   one / ``Failed`` (rolled back, with SageMaker's reason and the alarms in ALARM).

Colours: the engine's ``blue``/``green`` name the *endpoint configs* this target creates
(``<endpoint>-<colour>-<stamp>``, tagged ``ml.deploy.endpoint``/``ml.deploy.colour``/``ml.model.uri``
plus the endpoint's own tags). The config Pulumi created first is untagged and counts as ``blue``;
it and its model belong to the stack and are never deleted here. The live colour is the one whose
config the endpoint runs (100 % of traffic); the other exists only while staged or updating.

Where the parts live: this module drives (the interface, the native update, waiting, the rollback
reason); naming, tagging, reading, creating and deleting the configs and models is
`ml.deploy.targets._sagemaker_configs`; saving and restoring autoscaling around an instance-type
change is `ml.deploy.targets._sagemaker_scaling`; what a spec means as a ``DeploymentConfig`` is
`ml.deploy.targets.sagemaker_config`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from ml import aws
from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.spec import RolloutSpec
from ml.deploy.target import (
    DeploymentError,
    DeploymentInfo,
    DeploymentMetrics,
    DeploymentTarget,
    ModelRef,
    NativeRolloutRequest,
    NativeRolloutResult,
    Traffic,
)
from ml.deploy.targets import sagemaker_config as native
from ml.deploy.targets._sagemaker_configs import EndpointConfig, EndpointConfigs, call
from ml.deploy.targets._sagemaker_scaling import restore_scaling, suspend_scaling

TRANSITIONS = ("Creating", "Updating", "SystemUpdating", "RollingBack")
BROKEN = ("Failed", "UpdateRollbackFailed", "OutOfService", "Deleting")

NEEDED_FOR = "the SageMaker rollout target (`ml deploy`)"


class SageMakerTarget(DeploymentTarget):
    """One SageMaker real-time endpoint of an AWS stack."""

    kind = "sagemaker"
    supports_mirror = False
    engine_steps = False  # native blue/green with CloudWatch alarms: no relative gate, no A/B test (see ab_rollout)

    def __init__(
        self,
        outputs: PlatformOutputs,
        endpoint: str,
        *,
        poll_interval: float = 15.0,
        settle_timeout: float = 1800.0,
    ) -> None:
        super().__init__(outputs, endpoint)
        self.workspace = aws.workspace_of(outputs, needed_for=NEEDED_FOR)
        self.poll_interval = poll_interval
        self.settle_timeout = settle_timeout
        self.sagemaker = aws.client("sagemaker", outputs.region)
        self.cloudwatch = aws.client("cloudwatch", outputs.region)
        self.autoscaling = aws.client("application-autoscaling", outputs.region)
        self.configs = EndpointConfigs(
            outputs, endpoint, workspace=self.workspace, sagemaker=self.sagemaker, colours=self.colours()
        )
        self._preflighted: tuple[RolloutSpec, int, list[native.Alarm], list[str]] | None = None
        self.configs.describe()  # fails early, and clearly, on credentials and a missing endpoint

    # --- reading the endpoint ------------------------------------------------------------------------

    # --- the interface -----------------------------------------------------------------------------------

    def get_traffic(self) -> Traffic:
        """The live config's colour carries all traffic (SageMaker shifts fleets of one variant)."""
        _, live = self.configs.live()
        return Traffic(weights={live.colour: 100})

    def list_deployments(self) -> list[DeploymentInfo]:
        """The live colour, the colour being rolled out (during an update), and staged leftovers."""
        described, live = self.configs.live()
        status = str(described.get("EndpointStatus"))
        infos = {live.colour: DeploymentInfo(live.colour, live.model_uri, "failed" if status in BROKEN else "healthy")}
        pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        if pending and pending != live.name:
            config = self.configs.config(pending)
            if config is not None and config.colour != live.colour:
                infos[config.colour] = DeploymentInfo(config.colour, config.model_uri, "starting")
        for colour in self.colours():
            if colour in infos:
                continue
            staged = self.configs.managed(colour)
            if staged:
                infos[colour] = DeploymentInfo(colour, staged[0].model_uri, "unknown")
        return list(infos.values())

    def create_deployment(self, name: str, model: ModelRef, instance_type: str, count: int) -> None:
        """Create the Model and EndpointConfig of colour ``name``; nothing serves it until an update."""
        described, live = self.configs.live()
        self.configs.stage(name, model, instance_type, count, live, self.configs.variant_name(live), described)

    def wait_healthy(self, name: str, timeout: float) -> None:
        """Wait until the endpoint can take an update (SageMaker health-checks a fleet during the update)."""
        described = self._settle(timeout)
        status = described.get("EndpointStatus")
        if status != "InService":
            raise DeploymentError(
                f"SageMaker endpoint '{self.endpoint}' is {status}: {described.get('FailureReason') or 'no reason'}"
            )
        _, live = self.configs.live()
        if live.colour != name and not self.configs.managed(name):
            raise DeploymentError(f"no endpoint config for '{name}' on endpoint '{self.endpoint}'")

    def is_healthy(self, name: str) -> bool:
        described, live = self.configs.live()
        status = str(described.get("EndpointStatus"))
        if status in BROKEN:
            return False
        return live.colour == name or bool(self.configs.managed(name))

    def set_traffic(self, weights: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        """Make one colour live (an update to its newest config); splits exist only inside a native rollout."""
        if any(v > 0 for v in (mirror or {}).values()):
            raise DeploymentError("the SageMaker target cannot mirror traffic")
        live_names = [name for name, weight in weights.items() if weight > 0]
        if not live_names:
            return
        if len(live_names) > 1:
            raise DeploymentError(
                f"SageMaker splits traffic only inside a native blue/green update; cannot set {weights} directly"
            )
        wanted = live_names[0]
        self._settle(self.settle_timeout)
        _, live = self.configs.live()
        if live.colour == wanted:
            return
        candidates = [config.name for config in self.configs.managed(wanted)]
        if live.previous is not None and (previous := self.configs.config(live.previous)) and previous.colour == wanted:
            candidates.insert(0, previous.name)
        if not candidates:
            raise DeploymentError(
                f"cannot move endpoint '{self.endpoint}' to '{wanted}': no endpoint config of that colour exists"
            )
        call(
            f"update endpoint '{self.endpoint}'",
            self.sagemaker.update_endpoint,
            EndpointName=self.endpoint,
            EndpointConfigName=candidates[0],
        )
        described = self._settle(self.settle_timeout)
        if described.get("EndpointConfigName") != candidates[0] or described.get("EndpointStatus") != "InService":
            raise DeploymentError(
                f"endpoint '{self.endpoint}' did not switch to '{candidates[0]}': {described.get('EndpointStatus')} "
                f"{described.get('FailureReason') or ''}".strip()
            )

    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        """The variant's Invocations, Invocation5XXErrors and ModelLatency p95/p99 since ``since``.

        SageMaker reports per variant and both fleets of an update share it, so only the live (or
        updating) colour has metrics; one period spans the whole window so percentiles are exact.
        """
        described, live = self.configs.live()
        if name != live.colour and name not in self.configs.pending_colours(described):
            return DeploymentMetrics(0, 0)
        variant = self.configs.variant_name(live)
        # CloudWatch stamps datapoints by the minute: cover [since, now] with whole minutes, one period.
        start_minute = math.floor(since / 60) * 60
        end_minute = max(start_minute + 60, math.ceil(time.time() / 60) * 60)
        start = dt.datetime.fromtimestamp(start_minute, dt.UTC)
        end = dt.datetime.fromtimestamp(end_minute, dt.UTC)
        period = end_minute - start_minute
        dimensions = [{"Name": "EndpointName", "Value": self.endpoint}, {"Name": "VariantName", "Value": variant}]

        def stats(metric: str, **kwargs: Any) -> list[dict[str, Any]]:
            answer = call(
                f"read CloudWatch {metric} of '{self.endpoint}'",
                self.cloudwatch.get_metric_statistics,
                Namespace="AWS/SageMaker",
                MetricName=metric,
                Dimensions=dimensions,
                StartTime=start,
                EndTime=end,
                Period=period,
                **kwargs,
            )
            return list(answer.get("Datapoints", []))

        requests = sum(p.get("Sum", 0.0) for p in stats("Invocations", Statistics=["Sum"]))
        errors = sum(p.get("Sum", 0.0) for p in stats("Invocation5XXErrors", Statistics=["Sum"]))
        latency = stats("ModelLatency", ExtendedStatistics=["p95", "p99"])

        def worst(key: str) -> float | None:
            values = [p["ExtendedStatistics"][key] for p in latency if key in (p.get("ExtendedStatistics") or {})]
            return max(values) / 1000.0 if values else None  # microseconds -> ms

        return DeploymentMetrics(int(requests), int(errors), worst("p95"), worst("p99"))

    def delete_deployment(self, name: str) -> None:
        """Delete this target's configs (and their models) of colour ``name``; the stack's own are kept."""
        described, live = self.configs.live()
        if live.colour == name and live.managed:
            raise DeploymentError(f"'{name}' serves endpoint '{self.endpoint}'; move traffic off it first")
        pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        self.configs.delete_colour(name, keep=(live.name, pending))

    # --- the native rollout ---------------------------------------------------------------------------------

    def preflight(self, spec: RolloutSpec, *, instance_type: str, instance_count: int) -> None:
        """Refuse gates no alarm enforces and strategies SageMaker's blue/green update cannot run."""
        self._preflighted = (spec, instance_count, *self._refusals(spec, instance_count))

    def _checked(self, spec: RolloutSpec, instance_count: int) -> tuple[list[native.Alarm], list[str]]:
        """The preflight's alarms and notes for this very spec and count, so one command checks once.

        Why not simply check again: the check reads the alarms from CloudWatch and a second answer could
        differ from the one the preflight accepted. Called without a preflight, it checks now.
        """
        done = self._preflighted
        if done is not None and done[0] is spec and done[1] == instance_count:
            return done[2], done[3]
        return self._refusals(spec, instance_count)

    def _refusals(self, spec: RolloutSpec, instance_count: int) -> tuple[list[native.Alarm], list[str]]:
        """The stack's alarms and the notes on how gates map to them; a `UserError` listing every refusal."""
        alarms = self._alarms()
        gate_notes, gate_problems = native.gate_notes(spec.gates, alarms)
        problems = native.strategy_problems(spec, instance_count) + gate_problems
        if problems:
            raise UserError(
                f"rollout spec {spec.source} cannot run natively on SageMaker endpoint '{self.endpoint}': "
                + "; ".join(problems)
            )
        return alarms, gate_notes

    def native_rollout(self, request: NativeRolloutRequest) -> NativeRolloutResult:
        """Stage the new config, update the endpoint with blue/green guardrails, and wait for the outcome."""
        spec = request.spec
        alarms, gate_notes = self._checked(spec, request.instance_count)
        described, live = self.configs.live()
        if described.get("EndpointStatus") != "InService":
            raise UserError(
                f"SageMaker endpoint '{self.endpoint}' is {described.get('EndpointStatus')}, not InService; wait "
                f"for the running update to finish (or repair a failed endpoint) and deploy again"
            )
        variant = self.configs.variant_name(live)
        events: list[dict[str, Any]] = [{"message": note} for note in gate_notes]
        events += [{"message": note} for note in native.strategy_notes(spec, request.instance_count)]
        config = native.deployment_config(spec, [alarm.name for alarm in alarms])
        count = self._fleet_size(described, variant, live, request, events)
        new = self.configs.stage(
            request.deployment,
            request.model,
            request.instance_type,
            count,
            live,
            variant,
            described,
        )
        routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
        events.append(
            {
                "message": f"created model and endpoint config '{new}' ({request.instance_type} "
                f"x{count}, variant '{variant}'); updating with {routing['Type']} "
                f"and auto-rollback on {', '.join(a.name for a in alarms)}",
                "deployment_config": config,
            }
        )
        saved = None
        if live.instance_type != request.instance_type:
            saved = suspend_scaling(self.autoscaling, self.endpoint, variant, events)
        try:
            started = time.time()
            call(
                f"update endpoint '{self.endpoint}'",
                self.sagemaker.update_endpoint,
                EndpointName=self.endpoint,
                EndpointConfigName=new,
                DeploymentConfig=config,
            )
            timeout = config["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] + self.settle_timeout
            return self._await_update(new, live.name, started, timeout, events)
        finally:
            if saved is not None:
                restore_scaling(self.autoscaling, saved, events)

    def _fleet_size(
        self,
        described: dict[str, Any],
        variant: str,
        live: EndpointConfig,
        request: NativeRolloutRequest,
        events: list[dict[str, Any]],
    ) -> int:
        """The new fleet's instance count: never below what autoscaling runs the live variant at now.

        Why: the spec's (or stack's) count sizes a quiet endpoint; under load autoscaling may run more,
        and a blue/green switch to a smaller green fleet would push that load onto too few instances
        before autoscaling catches up. Counts of another instance type are not comparable, so a type
        change keeps the requested count.
        """
        if live.instance_type != request.instance_type:
            return request.instance_count
        running = max(
            (
                int(v.get("DesiredInstanceCount") or v.get("CurrentInstanceCount") or 0)
                for v in described.get("ProductionVariants", [])
                if v.get("VariantName") == variant
            ),
            default=0,
        )
        if running <= request.instance_count:
            return request.instance_count
        events.append(
            {
                "message": f"sized the new fleet at {running} instances, not {request.instance_count}: autoscaling "
                f"runs variant '{variant}' at {running} now"
            }
        )
        return running

    def _await_update(
        self, new: str, old: str, started: float, timeout: float, events: list[dict[str, Any]]
    ) -> NativeRolloutResult:
        deadline = time.monotonic() + timeout
        seen: tuple[str, str] | None = None
        moved = False
        while True:
            described = self.configs.describe()
            status, current = str(described.get("EndpointStatus")), str(described.get("EndpointConfigName"))
            reason = described.get("FailureReason")
            if (status, current) != seen:
                seen = (status, current)
                events.append({"message": f"endpoint {status} on config '{current}'", "status": status})
            moved = moved or status != "InService"
            modified = described.get("LastModifiedTime")
            after_start = isinstance(modified, dt.datetime) and modified.timestamp() >= started - 1.0
            if status == "InService" and current == new:
                return NativeRolloutResult(True, f"SageMaker shifted all traffic to '{new}' and baked it", events)
            if status == "InService" and current == old and (moved or reason or after_start):
                return NativeRolloutResult(False, self._rollback_reason(reason), events)
            if status in BROKEN:
                return NativeRolloutResult(
                    False, f"endpoint is {status}: {reason or 'no reason given'}; check it in the console", events
                )
            if time.monotonic() > deadline:
                return NativeRolloutResult(
                    False, f"the update did not finish within {timeout:.0f}s (endpoint {status})", events
                )
            time.sleep(self.poll_interval)

    def _rollback_reason(self, reason: str | None) -> str:
        firing = call(
            "read the rollback alarms",
            self.cloudwatch.describe_alarms,
            AlarmNames=self._alarm_names(),
            StateValue="ALARM",
        ).get("MetricAlarms", [])
        parts = [f"alarm {a['AlarmName']} is ALARM ({a.get('StateReason') or 'no reason'})" for a in firing]
        if reason:
            parts.insert(0, str(reason))
        return "SageMaker rolled the endpoint back to its previous config: " + ("; ".join(parts) or "no reason given")

    # --- helpers -----------------------------------------------------------------------------------------

    def _alarm_names(self) -> list[str]:
        names = list(self.outputs.endpoint.rollback_alarm_names) if self.outputs.endpoint is not None else []
        if not names:
            raise UserError(
                f"stack '{self.outputs.stack}' exports no rollback alarms for endpoint '{self.endpoint}' "
                f"(endpoint.rollback_alarm_names); SageMaker can only roll back on CloudWatch alarms, so "
                f"configure mlops:aws.endpointAlarms and run `pulumi up`"
            )
        return names

    def _alarms(self) -> list[native.Alarm]:
        names = self._alarm_names()
        found = call("read the rollback alarms", self.cloudwatch.describe_alarms, AlarmNames=names)
        alarms = {a["AlarmName"]: native.Alarm.from_cloudwatch(a) for a in found.get("MetricAlarms", [])}
        missing = [name for name in names if name not in alarms]
        if missing:
            raise UserError(
                f"the stack's rollback alarms {', '.join(missing)} do not exist in CloudWatch ({self.outputs.region}); "
                f"run `pulumi up` so they are created, or refresh the stack outputs"
            )
        return [alarms[name] for name in names]

    def _settle(self, timeout: float) -> dict[str, Any]:
        """DescribeEndpoint until it is not in a transition (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.configs.describe()
            if described.get("EndpointStatus") not in TRANSITIONS or time.monotonic() > deadline:
                return described
            time.sleep(self.poll_interval)


def create_target(outputs: PlatformOutputs, endpoint: str) -> DeploymentTarget:
    """The rollout target for ``endpoint`` on an AWS stack (`ml.deploy.target.target_for` calls this)."""
    return SageMakerTarget(outputs, endpoint)
