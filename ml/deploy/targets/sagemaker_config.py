"""A rollout spec as SageMaker's own blue/green deployment: the pure translation, and what it refuses.

Why a separate, pure module: what a rollout *means* on SageMaker (which traffic steps, how long each
bakes, which alarms can roll it back, which gates cannot be honoured) is decided here without a
network call, so every rule is explainable and tested offline; `ml.deploy.targets.sagemaker` only
sends the result.

The mapping (API field names from the SageMaker ``DeploymentConfig`` shape):

- ``strategy.type`` -> ``BlueGreenUpdatePolicy.TrafficRoutingConfiguration.Type``: ``canary`` ->
  ``CANARY`` with ``CanarySize`` = the first step (``CAPACITY_PERCENT``; SageMaker then shifts the
  rest at once, so later canary steps collapse into that one shift); ``linear`` -> ``LINEAR`` with
  ``LinearStepSize`` = ``step_percent``; ``blue_green`` -> ``ALL_AT_ONCE``.
- ``bake_time`` -> ``WaitIntervalInSeconds`` (between shifts) and ``TerminationWaitInSeconds`` (the
  final bake with the old fleet kept, as the engine keeps the old colour for one bake);
  ``MaximumExecutionTimeoutInSeconds`` = health timeout + every bake, within SageMaker's limits.
- gates -> ``AutoRollbackConfiguration.Alarms`` = the stack's exported alarms. SageMaker judges
  nothing but alarms, so a gate is *mapped* when an alarm enforces it at least as strictly and
  *refused* otherwise (see `gate_notes`); nothing is silently dropped.

SageMaker shifts whole instances (capacity), not request percentages, so canary and linear need at
least two instances, a canary of at most 50 % and linear steps of 10..50 % (the API's limits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ml.contract.errors import UserError
from ml.deploy.spec import BlueGreen, Canary, Gates, Linear, RolloutSpec

MAX_WAIT_SECONDS = 3600
"""Upper bound of both WaitIntervalInSeconds and TerminationWaitInSeconds."""
MIN_EXECUTION_SECONDS = 600
MAX_EXECUTION_SECONDS = 28_800
MAX_ALARMS = 10
ERROR_METRICS = ("Invocation5XXErrors", "ModelError")
LATENCY_METRIC = "ModelLatency"


@dataclass(frozen=True)
class Alarm:
    """What a CloudWatch alarm watches, as far as gate mapping needs it."""

    name: str
    metric: str
    statistic: str
    """``Sum``, ``Average``, ... or an extended statistic such as ``p99``."""
    threshold: float
    period: int = 60
    evaluation_periods: int = 1

    @classmethod
    def from_cloudwatch(cls, alarm: dict[str, Any]) -> Alarm:
        return cls(
            name=str(alarm["AlarmName"]),
            metric=str(alarm.get("MetricName") or ""),
            statistic=str(alarm.get("ExtendedStatistic") or alarm.get("Statistic") or ""),
            threshold=float(alarm.get("Threshold") or 0.0),
            period=int(alarm.get("Period") or 60),
            evaluation_periods=int(alarm.get("EvaluationPeriods") or 1),
        )

    def describe(self) -> str:
        return (
            f"{self.name}: {self.statistic} of {self.metric} > {self.threshold:g} "
            f"in {self.evaluation_periods} period(s) of {self.period}s"
        )


def _percentile(statistic: str) -> float | None:
    if statistic.startswith("p"):
        try:
            return float(statistic[1:])
        except ValueError:
            return None
    return None


def shift_count(spec: RolloutSpec) -> int:
    """How many traffic shifts SageMaker makes for the spec's strategy."""
    strategy = spec.strategy
    if isinstance(strategy, Canary):
        return 1 if strategy.steps[0] == 100 else 2
    if isinstance(strategy, Linear):
        return math.ceil(100 / strategy.step_percent)
    return 1


def strategy_problems(spec: RolloutSpec, instance_count: int) -> list[str]:
    """Every reason SageMaker's blue/green update cannot run the spec's strategy as written."""
    problems: list[str] = []
    strategy = spec.strategy
    if isinstance(strategy, BlueGreen):
        if strategy.mirror_percent > 0:
            problems.append(
                "strategy.mirror_percent: SageMaker's blue/green update cannot mirror live traffic to the new "
                "fleet; remove mirror_percent/mirror_time (or use the local or kubernetes target)"
            )
        if strategy.warmup > 0:
            problems.append(
                "strategy.warmup: SageMaker shifts traffic as soon as the new fleet passes its health checks and "
                "has no warm-up wait; remove warmup (bake_time still bakes after the shift)"
            )
    elif traffic_routing(spec)["Type"] != "ALL_AT_ONCE":
        assert isinstance(strategy, Canary | Linear)
        key = "strategy.steps[0]" if isinstance(strategy, Canary) else "strategy.step_percent"
        if instance_count < 2:
            problems.append(
                f"{key}: SageMaker shifts whole instances, so a {strategy.type} rollout needs instance_count >= 2 "
                f"(got {instance_count}); set instance_count: 2 or more, or use strategy: {{type: blue_green}}"
            )
        if isinstance(strategy, Canary) and strategy.steps[0] > 50:
            problems.append(
                f"{key} = {strategy.steps[0]}: SageMaker's canary is at most 50% of the new fleet's capacity"
            )
        if isinstance(strategy, Linear) and not 10 <= strategy.step_percent <= 50:
            problems.append(
                f"{key} = {strategy.step_percent}: SageMaker's linear steps are 10..50% of the fleet's capacity"
            )
    if spec.bake_time > MAX_WAIT_SECONDS:
        problems.append(
            f"bake_time = {spec.bake_time:g}s: SageMaker waits at most {MAX_WAIT_SECONDS}s between shifts and "
            f"after the last one"
        )
    seconds = execution_seconds(spec)
    if seconds > MAX_EXECUTION_SECONDS:
        problems.append(
            f"health_timeout + {shift_count(spec) + 1} bakes = {seconds}s exceeds SageMaker's maximum deployment "
            f"time of {MAX_EXECUTION_SECONDS}s; shorten bake_time or health_timeout"
        )
    return problems


def gate_notes(gates: Gates, alarms: list[Alarm]) -> tuple[list[str], list[str]]:
    """``(notes, problems)``: how each gate is enforced by the alarms, and the gates no alarm can enforce.

    - ``max_error_rate`` is enforced by an alarm on Invocation5XXErrors (or ModelError): a count per
      period, not a rate -- noted, and refused only when no such alarm exists;
    - ``max_p95_latency_ms``/``max_p99_latency_ms``, when the spec sets them, need a ModelLatency alarm
      at that percentile or a higher one with a threshold no looser (CloudWatch reports microseconds);
    - ``min_requests`` cannot be honoured: the stack's alarms treat missing data as not breaching, so an
      idle endpoint passes. Set explicitly (> 0, with ``insufficient_traffic: fail``) it is refused;
      left at its default it is noted.
    """
    notes: list[str] = []
    problems: list[str] = []
    errors = [a for a in alarms if a.metric in ERROR_METRICS]
    if errors:
        notes.append(
            f"gates.max_error_rate ({gates.max_error_rate:g}) is enforced natively by "
            + "; ".join(a.describe() for a in errors)
            + " (a count per period, not a rate)"
        )
    else:
        problems.append(
            f"gates.max_error_rate: SageMaker judges a rollout only through its rollback alarms and none of "
            f"{', '.join(a.name for a in alarms) or 'them'} watches {' or '.join(ERROR_METRICS)}; add one "
            f"(mlops:aws.endpointAlarms, then `pulumi up`)"
        )
    for key, limit, percentile in (
        ("max_p95_latency_ms", gates.max_p95_latency_ms, 95.0),
        ("max_p99_latency_ms", gates.max_p99_latency_ms, 99.0),
    ):
        if limit is None:
            continue
        covering = [
            a
            for a in alarms
            if a.metric == LATENCY_METRIC
            and (_percentile(a.statistic) or 0.0) >= percentile
            and a.threshold <= limit * 1000
        ]
        if covering:
            notes.append(f"gates.{key} ({limit:g}) is enforced natively by {covering[0].describe()} (microseconds)")
            continue
        latency = [a.describe() for a in alarms if a.metric == LATENCY_METRIC]
        problems.append(
            f"gates.{key} = {limit:g}: no rollback alarm watches {LATENCY_METRIC} at p{percentile:g} or above "
            f"with a threshold <= {limit * 1000:g} microseconds"
            + (f" (the stack has {'; '.join(latency)})" if latency else "")
            + f"; set mlops:aws.endpointAlarms.maxModelLatencyMs <= {limit:g} with latencyStatistic "
            f"p{percentile:g} or p99 and `pulumi up`, or drop the gate"
        )
    if gates.min_requests > 0 and gates.insufficient_traffic == "fail":
        if "min_requests" in gates.model_fields_set:
            problems.append(
                f"gates.min_requests = {gates.min_requests}: SageMaker's alarms treat missing data as not "
                f"breaching, so a step with too little traffic passes; set min_requests: 0 or "
                f"insufficient_traffic: pass to accept that"
            )
        else:
            notes.append(
                f"gates.min_requests (default {gates.min_requests}) is not evaluated natively: the stack's "
                f"alarms treat missing data as not breaching"
            )
    return notes, problems


def execution_seconds(spec: RolloutSpec) -> int:
    """Health timeout plus a bake per shift and the final bake, at least SageMaker's minimum."""
    bake = math.ceil(spec.bake_time)
    total = math.ceil(spec.health_timeout) + bake * (shift_count(spec) + 1)
    return max(MIN_EXECUTION_SECONDS, total)


def traffic_routing(spec: RolloutSpec) -> dict[str, Any]:
    """``TrafficRoutingConfiguration`` for the spec's strategy."""
    wait = min(MAX_WAIT_SECONDS, math.ceil(spec.bake_time))
    strategy = spec.strategy
    if isinstance(strategy, Canary) and strategy.steps[0] < 100:
        return {
            "Type": "CANARY",
            "WaitIntervalInSeconds": wait,
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": strategy.steps[0]},
        }
    if isinstance(strategy, Linear) and strategy.step_percent < 100:
        return {
            "Type": "LINEAR",
            "WaitIntervalInSeconds": wait,
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": strategy.step_percent},
        }
    return {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": wait}


def deployment_config(spec: RolloutSpec, alarm_names: list[str]) -> dict[str, Any]:
    """The ``DeploymentConfig`` of ``UpdateEndpoint`` (call `strategy_problems` first)."""
    if not 1 <= len(alarm_names) <= MAX_ALARMS:
        raise UserError(f"SageMaker auto-rollback takes 1..{MAX_ALARMS} alarms, got {len(alarm_names)}")
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": traffic_routing(spec),
            "TerminationWaitInSeconds": min(MAX_WAIT_SECONDS, math.ceil(spec.bake_time)),
            "MaximumExecutionTimeoutInSeconds": execution_seconds(spec),
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarm_names]},
    }


def strategy_notes(spec: RolloutSpec, instance_count: int) -> list[str]:
    """What the native strategy does differently from the engine's stepping (recorded as events)."""
    strategy = spec.strategy
    if isinstance(strategy, Canary) and len(strategy.steps) > 2:
        return [
            f"canary steps {strategy.steps}: SageMaker's canary has two shifts, so it sends {strategy.steps[0]}% "
            f"of capacity ({instance_count} instances) first and the rest at once after one bake"
        ]
    if traffic_routing(spec)["Type"] != "ALL_AT_ONCE":
        return [f"SageMaker shifts whole instances of {instance_count}: traffic shares are rounded to instances"]
    return []
