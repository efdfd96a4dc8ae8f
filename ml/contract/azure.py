"""Azure facts both layers need: the autoscale profile every managed online deployment gets.

Why in the contract: the stack's bootstrap deployment (`infra/azure/inference_endpoint.py`) and
every colour a rollout creates (`ml/deploy/targets/azure.py`) must scale the same way, from the
same values the stack exports as ``endpoint.autoscale``; one builder, imported by both, keeps
them from drifting apart. Pure: no SDK, so ``deployment_id`` may be a string or a Pulumi Output.
"""

from __future__ import annotations

from typing import Any

from ml.contract.errors import UserError
from ml.contract.outputs import AutoscaleProfile

SCALE_METRICS = {
    "cpu": ("CpuUtilizationPercentage", "Average"),
    "memory": ("CpuMemoryUtilizationPercentage", "Average"),
    "requests": ("RequestsPerMinute", "Average"),
}
"""Contract metric (``mlops:endpoint.scaleRule.metric``) -> (deployment metric, statistic)."""


def _cooldown(seconds: int) -> str:
    """An ISO 8601 duration; Azure Monitor takes 1 minute to 1 week."""
    seconds = max(60, int(seconds))
    return f"PT{seconds // 60}M" if seconds % 60 == 0 else f"PT{seconds}S"


def autoscale_profile(profile: AutoscaleProfile, *, deployment_id: Any, default_count: int) -> dict[str, Any]:
    """The Azure Monitor autoscale profile (ARM JSON) for one deployment: out above target, in below half.

    ``deployment_id`` is the deployment's resource id: a string here, a Pulumi Output when the stack
    builds the bootstrap deployment's setting (infra/azure/inference_endpoint.py) with this same function.
    """
    if profile.metric not in SCALE_METRICS:
        raise UserError(
            f"outputs.endpoint.autoscale.metric is '{profile.metric}'; Azure managed online deployments scale on "
            f"{', '.join(sorted(SCALE_METRICS))}: fix mlops:endpoint.scaleRule.metric and run `pulumi up`"
        )
    metric, statistic = SCALE_METRICS[profile.metric]
    low = max(1, profile.min_instances)
    high = max(low, profile.max_instances)

    def rule(direction: str, operator: str, threshold: float, cooldown: int) -> dict[str, Any]:
        return {
            "metricTrigger": {
                "metricName": metric,
                "metricResourceUri": deployment_id,
                "operator": operator,
                "statistic": statistic,
                "threshold": threshold,
                "timeAggregation": "Average",
                "timeGrain": "PT1M",
                "timeWindow": "PT5M",
            },
            "scaleAction": {
                "direction": direction,
                "type": "ChangeCount",
                "value": "1",
                "cooldown": _cooldown(cooldown),
            },
        }

    return {
        "name": "target-tracking",
        "capacity": {"minimum": str(low), "maximum": str(high), "default": str(min(max(default_count, low), high))},
        "rules": [
            rule("Increase", "GreaterThan", profile.target, profile.scale_out_cooldown_seconds),
            # Scale in well below target so the two rules never flap against each other.
            rule("Decrease", "LessThan", round(profile.target * 0.5, 2), profile.scale_in_cooldown_seconds),
        ],
    }
