"""The contract document: the sections both clouds build alike, and the whole validated against `ml.contract`.

Why validate inside the program: a field renamed in a component must fail `pulumi up` (and the
offline plan), not the first `ml` command run against the stack weeks later.

Why the shared sections live here: the budget, the artifact store and the endpoint's autoscale
profile are exported from the same settings on every cloud, and the autoscale profile is also
what Azure's bootstrap deployment scales by; built once, they cannot drift between clouds.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.config import ArtifactSettings, BudgetSettings, DeploySettings, EndpointSettings, MonitoringSettings
from ml.contract import AutoscaleProfile, BudgetRef, DeployPolicy, PlatformOutputs


def endpoint_autoscale(settings: EndpointSettings) -> AutoscaleProfile:
    """`endpoint.autoscale`: the bounds and rule every serving deployment gets (cooldowns in seconds)."""
    return AutoscaleProfile(
        min_instances=settings.min_instances,
        max_instances=settings.max_instances,
        metric=settings.scale_rule.metric,
        target=settings.scale_rule.target,
        scale_out_cooldown_seconds=settings.scale_out_cooldown_minutes * 60,
        scale_in_cooldown_seconds=settings.scale_in_cooldown_minutes * 60,
    )


def budget_section(settings: BudgetSettings, *, name: str) -> dict[str, Any]:
    """`budget`: the monthly amount and thresholds as configured, under the cloud's budget name."""
    return BudgetRef(
        name=name,
        monthly_amount=settings.amount,
        currency=settings.currency,
        thresholds_percent=[t.percent for t in settings.thresholds],
    ).model_dump(exclude_unset=True)


def checkpoint_uri(store_uri: pulumi.Input[str], settings: ArtifactSettings) -> pulumi.Output[str]:
    """Where training writes checkpoints: the artifact store's URI and `mlops:artifacts.checkpointPrefix`."""
    return pulumi.Output.concat(store_uri, "/", settings.checkpoint_prefix)


def artifacts_section(settings: ArtifactSettings, *, name: pulumi.Input[str], uri: pulumi.Input[str]) -> dict[str, Any]:
    """`artifacts`: the store's name and URI (known after `pulumi up`) and the configured prefixes."""
    return {
        "name": name,
        "uri": uri,
        "temp_prefix": settings.temp_prefix,
        "checkpoint_prefix": settings.checkpoint_prefix,
    }


def deploy_section(settings: DeploySettings) -> dict[str, Any]:
    """`deploy`: the rollout policy `ml deploy` enforces on every target (`mlops:deploy.*`)."""
    return DeployPolicy(require_approval=settings.require_approval).model_dump()


def monitoring_section(
    settings: MonitoringSettings, *, capture_uri: pulumi.Input[str], platform_capture_uri: pulumi.Input[str]
) -> dict[str, Any] | None:
    """`monitoring`: sampling, retention and where captures land (None when `mlops:monitoring.enabled` is off).

    ``capture_uri`` is where the stack's endpoint writes (Azure ML's collector path, SageMaker's
    destination); ``platform_capture_uri`` where the platform's own serving processes write
    `CaptureRecord`s (Kubernetes pods): the artifact store's capture prefix.
    """
    if not settings.enabled:
        return None
    return {
        "enabled": True,
        "sampling_percent": settings.sampling_percent,
        "capture_uri": capture_uri,
        "platform_capture_uri": platform_capture_uri,
        "retention_days": settings.retention_days,
    }


def contract_document(fields: dict[str, Any]) -> pulumi.Output[dict[str, Any]]:
    """Resolve nested Inputs in `fields` and return the JSON form of `PlatformOutputs`."""
    return pulumi.Output.from_input(fields).apply(
        lambda resolved: PlatformOutputs.model_validate(resolved).model_dump(mode="json")
    )
