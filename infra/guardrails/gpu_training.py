"""GPU training capacity scales to zero, and runs on spot / low-priority capacity.

Why two policies with different levels: an idle GPU node that never scales down bills around
the clock for nothing, so `gpu-training-scale-to-zero` is mandatory. Spot capacity is cheaper
per hour but can be short or evicted before a deadline; choosing dedicated nodes is a
legitimate, visible trade-off (`mlops:trainingCluster.priority: Dedicated`), so
`gpu-training-spot` is advisory: it warns on every preview instead of blocking.

Covered: AmlCompute clusters, AKS agent pools and EKS node groups with GPU VM/instance types, and
the SageMaker training profile (`mlops:aws:GpuTrainingCluster`, which has no cloud resource since
SageMaker provisions per job: its spot setting is a component input).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from infra.guardrails.core import Guardrail, Level, Resource, Scope, get, items, number

AML_COMPUTE = "azure-native:machinelearningservices:Compute"
AKS_POOL = "azure-native:containerservice:AgentPool"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SAGEMAKER_PROFILE = "mlops:aws:GpuTrainingCluster"

AZURE_GPU = re.compile(r"^Standard_N", re.IGNORECASE)
AWS_GPU = re.compile(r"^(ml\.)?(g\d|p\d|gr\d)", re.IGNORECASE)


def _aml_gpu(resource: Resource) -> Mapping[str, Any] | None:
    """The AmlCompute properties of a GPU cluster, or None for anything else."""
    if resource.type != AML_COMPUTE or get(resource.props, "properties.computeType") != "AmlCompute":
        return None
    inner = get(resource.props, "properties.properties", {})
    return inner if AZURE_GPU.match(str(inner.get("vmSize", ""))) else None


def _aks_gpu(resource: Resource) -> bool:
    props = resource.props
    return resource.type == AKS_POOL and (bool(AZURE_GPU.match(str(props.get("vmSize", "")))) or "gpuProfile" in props)


def _eks_gpu(resource: Resource) -> bool:
    props = resource.props
    gpu_ami = any(word in str(props.get("amiType", "")).upper() for word in ("NVIDIA", "GPU"))
    return resource.type == EKS_NODE_GROUP and (
        gpu_ami or any(AWS_GPU.match(str(t)) for t in items(props.get("instanceTypes")))
    )


def _shown(value: Any) -> str:
    """Engine numbers are floats (1.0): show them as the YAML wrote them (1)."""
    parsed = number(value)
    return f"{parsed:g}" if parsed is not None else repr(value)


def _scale_to_zero(resource: Resource) -> Iterator[str]:
    props = resource.props
    aml = _aml_gpu(resource)
    if aml is not None:
        minimum = get(aml, "scaleSettings.minNodeCount", 0)
        if number(minimum) != 0:
            yield f"GPU cluster {aml.get('vmSize')} keeps minNodeCount={_shown(minimum)} nodes running when idle"
    elif _aks_gpu(resource):
        if props.get("enableAutoScaling") is not True:
            yield "GPU node pool does not autoscale, so it cannot scale to zero"
        elif number(props.get("minCount")) != 0:
            yield f"GPU node pool keeps minCount={_shown(props.get('minCount'))} nodes when idle"
    elif _eks_gpu(resource):
        minimum = get(props, "scalingConfig.minSize")
        if number(minimum) != 0:
            yield f"GPU node group keeps scalingConfig.minSize={_shown(minimum)} nodes when idle"


def _spot(resource: Resource) -> Iterator[str]:
    props = resource.props
    aml = _aml_gpu(resource)
    if aml is not None and aml.get("vmPriority") != "LowPriority":
        yield f"GPU cluster runs on {aml.get('vmPriority', 'Dedicated')} nodes, not LowPriority"
    elif _aks_gpu(resource) and props.get("scaleSetPriority") != "Spot":
        yield f"GPU node pool runs on {props.get('scaleSetPriority', 'Regular')} VMs, not Spot"
    elif _eks_gpu(resource) and props.get("capacityType") != "SPOT":
        yield f"GPU node group runs on {props.get('capacityType', 'ON_DEMAND')} capacity, not SPOT"
    elif resource.type == SAGEMAKER_PROFILE and props.get("enableManagedSpotTraining") is not True:
        yield f"SageMaker training profile ({props.get('instanceType')}) does not use managed spot training"


def scale_to_zero(resource: Resource, config: Mapping[str, Any]) -> list[str]:
    """Messages for GPU training capacity with a non-zero floor."""
    return list(_scale_to_zero(resource))


def spot_capacity(resource: Resource, config: Mapping[str, Any]) -> list[str]:
    """Messages for GPU training capacity on dedicated / on-demand instead of spot."""
    return list(_spot(resource))


SCALE_TO_ZERO = Guardrail(
    name="gpu-training-scale-to-zero",
    description="GPU training clusters, node pools and node groups have 0 minimum nodes.",
    level=Level.mandatory,
    why_level="Mandatory: an idle GPU node bills 24/7 (hundreds to thousands per month) and no job needs a warm one.",
    remediation="Set mlops:trainingCluster.minNodes: 0 (and autoscaling on for node pools) in Pulumi.<stack>.yaml.",
    scope=Scope.resource,
    resource_rule=scale_to_zero,
)

SPOT = Guardrail(
    name="gpu-training-spot",
    description="GPU training runs on spot / low-priority capacity.",
    level=Level.advisory,
    why_level=(
        "Advisory: dedicated capacity is a legitimate choice for deadlines or missing spot quota; it costs more "
        "per hour but never idles (scale-to-zero is mandatory) and the budget alerts on the difference."
    ),
    remediation="Set mlops:trainingCluster.priority: LowPriority (spot on AWS and node pools), with checkpointing.",
    scope=Scope.resource,
    resource_rule=spot_capacity,
)
