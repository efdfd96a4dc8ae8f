"""Production captures what it serves, and the capture expires.

Why at stack level, and why both halves in one rule: `ml monitor` can only find drift in prod if
the prod endpoint records a sample of its traffic (Azure: every OnlineDeployment's data collector
with ``model_inputs`` and ``model_outputs`` enabled; AWS: every SageMaker EndpointConfiguration's
``dataCaptureConfig`` enabled), and those records hold users' inputs, so they must not stay
forever: the storage they land in needs a lifecycle rule that deletes the capture prefix
(``mlops:monitoring.retentionDays``; Azure: the collector's ``modelDataCollector/`` path in the
workspace's blob store; AWS: the key prefix of the capture destination in the artifact bucket).
Only the whole stack can pair a capture with the rule that expires it. Dev may skip capture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from infra.guardrails.core import Finding, Guardrail, Level, Resource, Scope, get, items
from infra.guardrails.environment import PRODUCTION_SCHEMA, is_production
from ml.contract.monitoring import AZURE_CAPTURE_PREFIX, AZURE_COLLECTIONS

AZURE_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
SAGEMAKER_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
S3_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
AZURE_LIFECYCLE = "azure-native:storage:ManagementPolicy"


def _azure_capture_gap(resource: Resource) -> str | None:
    collections = get(resource.props, "properties.dataCollector.collections", {}) or {}
    off = [
        name
        for name in AZURE_COLLECTIONS
        if str((collections.get(name) or {}).get("dataCollectionMode", "Disabled")) != "Enabled"
    ]
    if off:
        return f"the deployment's data collector does not collect {', '.join(off)} (properties.dataCollector)"
    return None


def _sagemaker_capture_gap(resource: Resource) -> str | None:
    if get(resource.props, "dataCaptureConfig.enableCapture") is not True:
        return "the endpoint config does not capture (dataCaptureConfig.enableCapture is not true)"
    return None


def _s3_expiring_prefixes(resources: Sequence[Resource]) -> list[str]:
    prefixes = []
    for resource in resources:
        if resource.type != S3_LIFECYCLE:
            continue
        for rule in items(resource.props.get("rules")):
            if rule.get("status") == "Enabled" and get(rule, "expiration.days"):
                prefixes.append(str(get(rule, "filter.prefix", "") or ""))
    return prefixes


def _azure_expiring_prefixes(resources: Sequence[Resource]) -> list[str]:
    prefixes = []
    for resource in resources:
        if resource.type != AZURE_LIFECYCLE:
            continue
        for rule in items(get(resource.props, "policy.rules")):
            deletes = get(rule, "definition.actions.baseBlob.delete.daysAfterModificationGreaterThan")
            if rule.get("enabled", True) and deletes:
                prefixes += [str(p) for p in items(get(rule, "definition.filters.prefixMatch"))]
    return prefixes


def _capture_prefix(destination: Any) -> str | None:
    """The key prefix of ``s3://bucket/prefix/`` (None while the destination is not known yet)."""
    if not isinstance(destination, str) or not destination.startswith("s3://"):
        return None
    return urlparse(destination).path.lstrip("/")


def _findings(resources: Sequence[Resource]) -> Iterator[Finding]:
    azure = [r for r in resources if r.type == AZURE_DEPLOYMENT]
    sagemaker = [r for r in resources if r.type == SAGEMAKER_CONFIG]
    for resource in azure:
        gap = _azure_capture_gap(resource)
        if gap:
            yield Finding(gap, resource)
    for resource in sagemaker:
        gap = _sagemaker_capture_gap(resource)
        if gap:
            yield Finding(gap, resource)
    if any(_azure_capture_gap(r) is None for r in azure):
        expiring = _azure_expiring_prefixes(resources)
        if not any(AZURE_CAPTURE_PREFIX in prefix for prefix in expiring):
            yield Finding(
                f"captured requests never expire: no storage ManagementPolicy rule deletes the data collector's "
                f"'{AZURE_CAPTURE_PREFIX}' path"
            )
    expiring_s3 = _s3_expiring_prefixes(resources)
    for resource in sagemaker:
        if _sagemaker_capture_gap(resource) is not None:
            continue
        prefix = _capture_prefix(get(resource.props, "dataCaptureConfig.destinationS3Uri"))
        covered = (
            any(rule_prefix and prefix.startswith(rule_prefix) for rule_prefix in expiring_s3)
            if prefix
            else bool(expiring_s3)
        )
        if not covered:
            yield Finding(
                f"captured requests never expire: no S3 lifecycle rule expires the capture prefix "
                f"'{prefix or '?'}' (dataCaptureConfig.destinationS3Uri)",
                resource,
            )


def captures_and_expires(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """In a production stack, findings for serving that does not capture and captures that do not expire."""
    return list(_findings(resources)) if is_production(resources, config) else []


CAPTURE = Guardrail(
    name="prod-captures-and-expires",
    description=(
        "In production, every serving deployment captures a sample of inputs and outputs (Azure ML data "
        "collector, SageMaker data capture) and a lifecycle rule deletes the capture prefix."
    ),
    level=Level.mandatory,
    why_level=(
        "Mandatory: without capture, drift in prod goes unseen; captures hold users' inputs, so keeping them "
        "forever is a privacy breach."
    ),
    remediation=(
        "Set mlops:monitoring.enabled: true with retentionDays in the production Pulumi.<stack>.yaml; the "
        "program then enables capture on the endpoint and adds the expire-capture lifecycle rules."
    ),
    scope=Scope.stack,
    stack_rule=captures_and_expires,
    config_properties=PRODUCTION_SCHEMA,
)
