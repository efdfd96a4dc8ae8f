"""Every serving endpoint autoscales, and every autoscaler has a maximum.

Why two policies: `autoscaler-has-maximum` looks at one autoscaler (Azure Monitor autoscale
setting, Application Auto Scaling target, Kubernetes HPA) and runs before it is created; whether
each serving deployment *has* an autoscaler needs the whole stack (`endpoints-autoscale`). Both
are mandatory: without autoscaling an endpoint either falls over under load or is sized for the
peak all day; without a maximum, a traffic spike or a metrics bug scales spend without bound.

Deployments with 0 replicas (an idle blue/green colour) hold no capacity and need no autoscaler.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from infra.guardrails.core import Finding, Guardrail, Level, Resource, Scope, get, items, number, of_type

AZURE_AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
AWS_SCALING_TARGET = "aws:appautoscaling/target:Target"
HPAS = (
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
)
AZURE_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
SAGEMAKER_ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
K8S_DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _bounds(minimum: Any, maximum: Any, what: str) -> Iterator[str]:
    low, high = number(minimum), number(maximum)
    if high is None or high <= 0:
        yield f"{what} has no maximum"
    elif low is not None and high < low:
        yield f"{what} maximum {high:g} is below its minimum {low:g}"


def _autoscaler(resource: Resource) -> Iterator[str]:
    props = resource.props
    if resource.type == AZURE_AUTOSCALE:
        if props.get("enabled") is False:
            yield "autoscale setting is disabled"
        profiles = items(props.get("profiles"))
        if not profiles:
            yield "autoscale setting has no profile"
        for profile in profiles:
            capacity = get(profile, "capacity", {})
            yield from _bounds(capacity.get("minimum"), capacity.get("maximum"), f"profile {get(profile, 'name')!r}")
    elif resource.type == AWS_SCALING_TARGET:
        yield from _bounds(props.get("minCapacity"), props.get("maxCapacity"), "scalable target")
    elif resource.type in HPAS:
        yield from _bounds(get(props, "spec.minReplicas", 1), get(props, "spec.maxReplicas"), "HPA")


def autoscaler_has_maximum(resource: Resource, config: Mapping[str, Any]) -> list[str]:
    """Messages for an autoscaler that is disabled or has no (or an inverted) maximum."""
    return list(_autoscaler(resource))


def _azure_targets(resources: Sequence[Resource]) -> list[str]:
    return [str(r.props.get("targetResourceUri", "")).lower() for r in of_type(resources, AZURE_AUTOSCALE)]


def _azure_scaled(deployment: Resource, targets: list[str]) -> bool:
    name = str(deployment.props.get("deploymentName", deployment.name)).lower()
    endpoint = str(deployment.props.get("endpointName", "")).lower()
    for uri in targets:
        same_endpoint = "/onlineendpoints/" not in uri or f"/onlineendpoints/{endpoint}/" in uri
        if uri.endswith(f"/{name}") and same_endpoint:
            return True
    return False


def _k8s_scaled(deployment: Resource, hpas: list[Resource]) -> bool:
    name = get(deployment.props, "metadata.name", deployment.name)
    namespace = get(deployment.props, "metadata.namespace", "default")
    return any(
        get(h.props, "spec.scaleTargetRef.kind") == "Deployment"
        and get(h.props, "spec.scaleTargetRef.name") == name
        and get(h.props, "metadata.namespace", "default") == namespace
        for h in hpas
    )


def _unscaled(resources: Sequence[Resource]) -> Iterator[Finding]:
    targets = _azure_targets(resources)
    for deployment in of_type(resources, AZURE_DEPLOYMENT):
        if not _azure_scaled(deployment, targets):
            yield Finding(
                f"online deployment {deployment.props.get('deploymentName')} has no autoscale setting", deployment
            )
    scaling_ids = [
        str(t.props.get("resourceId", ""))
        for t in of_type(resources, AWS_SCALING_TARGET)
        if t.props.get("serviceNamespace") == "sagemaker"
    ]
    for endpoint in of_type(resources, SAGEMAKER_ENDPOINT):
        prefix = f"endpoint/{endpoint.props.get('name')}/variant/"
        if not any(resource_id.startswith(prefix) for resource_id in scaling_ids):
            yield Finding(f"SageMaker endpoint {endpoint.props.get('name')} has no scalable target", endpoint)
    hpas = of_type(resources, *HPAS)
    for deployment in of_type(resources, K8S_DEPLOYMENT):
        if number(get(deployment.props, "spec.replicas", 1)) != 0 and not _k8s_scaled(deployment, hpas):
            yield Finding(
                f"Deployment {get(deployment.props, 'metadata.name')} has no HorizontalPodAutoscaler", deployment
            )


def endpoints_autoscale(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """Findings for serving deployments (Azure ML, SageMaker, Kubernetes) that no autoscaler targets."""
    return list(_unscaled(resources))


HAS_MAXIMUM = Guardrail(
    name="autoscaler-has-maximum",
    description="Every autoscaler (Azure autoscale setting, App Auto Scaling target, HPA) is enabled with a maximum.",
    level=Level.mandatory,
    why_level="Mandatory: an autoscaler without a ceiling turns a traffic spike or a metrics bug into unbounded spend.",
    remediation="Set mlops:endpoint.maxInstances (or mlops:kubernetes serving maxReplicas) in Pulumi.<stack>.yaml.",
    scope=Scope.resource,
    resource_rule=autoscaler_has_maximum,
)

ENDPOINTS_AUTOSCALE = Guardrail(
    name="endpoints-autoscale",
    description="Every serving deployment with capacity is the target of an autoscaler.",
    level=Level.mandatory,
    why_level="Mandatory: a fixed-size endpoint is either down at peak or paid for at peak all day.",
    remediation=(
        "Create endpoints through the InferenceEndpoint / ModelServing components, which attach an autoscale "
        "setting, scalable target or HPA to each deployment; or set the deployment's replicas to 0."
    ),
    scope=Scope.stack,
    stack_rule=endpoints_autoscale,
)
