"""A GPU node pool on an existing cluster that costs nothing until a pod asks for a GPU.

Why these defaults: spot capacity is 60-90% cheaper, and serving/inference pods are replicated and
restartable; autoscaling from 0 nodes means no GPU VM runs while nothing needs one. The
`nvidia.com/gpu` taint keeps every pod off these nodes unless it tolerates the taint, so a
CPU pod never keeps an expensive node alive. Which API is used follows the stack's cloud: an AKS
user agent pool (azure-native) or an EKS managed node group (pulumi-aws); each SDK is imported
only for its own cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from infra.common import child_options
from infra.config import GPU_RESOURCE, GpuNodePoolSettings, KubernetesClusterRef

AKS_SPOT_TAINT = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
"""AKS adds this taint and label to every spot pool; declaring them avoids a permanent diff."""
AKS_SPOT_LABEL = ("kubernetes.azure.com/scalesetpriority", "spot")
_EKS_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


@dataclass(frozen=True)
class GpuNodePoolArgs:
    cloud: Literal["azure", "aws"]
    cluster: KubernetesClusterRef
    settings: GpuNodePoolSettings
    tags: dict[str, str]


def parse_taint(taint: str) -> tuple[str, str, str]:
    """'key=value:Effect' (value optional) as (key, value, effect)."""
    pair, effect = taint.rsplit(":", 1)
    key, _, value = pair.partition("=")
    return key, value, effect


def toleration(taint: str) -> dict[str, str]:
    """The pod toleration that matches one node taint exactly."""
    key, value, effect = parse_taint(taint)
    if not value:
        return {"key": key, "operator": "Exists", "effect": effect}
    return {"key": key, "operator": "Equal", "value": value, "effect": effect}


class GpuNodePool(pulumi.ComponentResource):
    """Spot GPU nodes, 0..maxNodes, tainted `nvidia.com/gpu`; exposes what pods need to land there."""

    pool_name: pulumi.Output[str]
    node_labels: dict[str, str]
    taints: list[str]
    tolerations: list[dict[str, str]]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:kubernetes:GpuNodePool", name, None, opts)
        settings = args.settings
        labels = settings.node_labels
        taints = [settings.gpu_taint, *settings.taints]
        if args.cloud == "azure":
            if settings.spot:
                taints.append(AKS_SPOT_TAINT)
                labels = {**labels, AKS_SPOT_LABEL[0]: AKS_SPOT_LABEL[1]}
            pool = self._aks(name, args, labels, taints)
        else:
            pool = self._eks(name, args, labels, taints)
        self.pool_name = pool
        self.node_labels = labels
        self.taints = taints
        self.tolerations = [toleration(t) for t in taints]
        self.register_outputs({"pool_name": self.pool_name})

    def _aks(self, name: str, args: GpuNodePoolArgs, labels: dict[str, str], taints: list[str]) -> pulumi.Output[str]:
        from pulumi_azure_native import containerservice

        settings = args.settings
        spot: dict[str, Any] = (
            # Delete (not Deallocate): evicted spot VMs stop costing disk too; -1 pays up to on-demand.
            {"scale_set_priority": "Spot", "scale_set_eviction_policy": "Delete", "spot_max_price": -1}
            if settings.spot
            else {"scale_set_priority": "Regular"}
        )
        pool = containerservice.AgentPool(
            f"{name}-aks",
            agent_pool_name=settings.name,
            resource_group_name=args.cluster.resource_group,
            resource_name_=args.cluster.name,
            mode="User",
            os_type="Linux",
            vm_size=settings.instance_type,
            os_disk_size_gb=settings.disk_size_gb,
            enable_auto_scaling=True,
            count=0,
            min_count=0,
            max_count=settings.max_nodes,
            enable_node_public_ip=False,
            gpu_profile={"driver": "Install"},
            node_labels=labels,
            node_taints=taints,
            tags=args.tags,
            **spot,
            # The cluster autoscaler owns the node count between 0 and max_count.
            opts=child_options(self, ignore_changes=["count"]),
        )
        return pool.name

    def _eks(self, name: str, args: GpuNodePoolArgs, labels: dict[str, str], taints: list[str]) -> pulumi.Output[str]:
        from pulumi_aws import eks

        settings = args.settings
        eks_taints = []
        for taint in taints:
            key, value, effect = parse_taint(taint)
            eks_taints.append({"key": key, "value": value or None, "effect": _EKS_EFFECTS[effect]})
        group = eks.NodeGroup(
            f"{name}-eks",
            cluster_name=args.cluster.name,
            node_group_name=settings.name,
            node_role_arn=args.cluster.node_role_arn,
            subnet_ids=args.cluster.subnet_ids,
            capacity_type="SPOT" if settings.spot else "ON_DEMAND",
            ami_type=settings.ami_type,
            instance_types=[settings.instance_type],
            disk_size=settings.disk_size_gb,
            scaling_config={"desired_size": 0, "min_size": 0, "max_size": settings.max_nodes},
            update_config={"max_unavailable": 1},
            labels=labels,
            taints=eks_taints,
            tags=args.tags,
            # The cluster autoscaler (or Karpenter) owns the desired size between 0 and max_size.
            opts=child_options(self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        return group.node_group_name


def gpu_tolerations() -> list[dict[str, str]]:
    """Tolerations for GPU pods when the cluster's GPU nodes are not managed by this stack."""
    return [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
