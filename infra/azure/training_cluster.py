"""GPU training capacity on Azure ML: AmlCompute that costs nothing when idle.

Why these defaults: training is interruptible (checkpoints), so LowPriority VMs cut the bill by
60-80%; min 0 nodes plus idle scale-down means no VM runs between sweeps. Node public IPs are off
when the stack is private. Dedicated VMs or a warm minimum are explicit config choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices

from infra.common import child_options
from infra.config import TrainingClusterSettings


@dataclass(frozen=True)
class GpuTrainingClusterArgs:
    resource_group_name: pulumi.Input[str]
    workspace_name: pulumi.Input[str]
    location: str
    settings: TrainingClusterSettings
    node_public_ip: bool
    """`mlops:network`'s decision (`NetworkSettings.node_public_ip`): false on a private stack."""
    tags: dict[str, str]


def _iso_seconds(seconds: int) -> str:
    return f"PT{seconds}S"


class GpuTrainingCluster(pulumi.ComponentResource):
    """A LowPriority GPU AmlCompute (0..max nodes) and, when configured, a CPU cluster beside it."""

    cluster_name: pulumi.Output[str]
    cpu_cluster_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: GpuTrainingClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:azure:GpuTrainingCluster", name, None, opts)
        settings = args.settings
        gpu = self._cluster(
            f"{name}-gpu",
            "gpu-cluster",
            settings.instance_type,
            settings.min_nodes,
            settings.max_nodes,
            settings.priority,
            args,
        )
        self.cluster_name = gpu.name
        self.cpu_cluster_name = None
        if settings.cpu_cluster is not None:
            cpu = self._cluster(
                f"{name}-cpu",
                "cpu-cluster",
                settings.cpu_cluster.instance_type,
                0,
                settings.cpu_cluster.max_nodes,
                settings.priority,
                args,
            )
            self.cpu_cluster_name = cpu.name
        self.register_outputs({"cluster_name": self.cluster_name})

    def _cluster(
        self,
        resource_name: str,
        compute_name: str,
        vm_size: str,
        min_nodes: int,
        max_nodes: int,
        priority: str,
        args: GpuTrainingClusterArgs,
    ) -> machinelearningservices.Compute:
        return machinelearningservices.Compute(
            resource_name,
            compute_name=compute_name,
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            location=args.location,
            identity={"type": "SystemAssigned"},
            properties={
                "compute_type": "AmlCompute",
                "disable_local_auth": True,
                "properties": {
                    "vm_size": vm_size,
                    "vm_priority": priority,
                    "os_type": "Linux",
                    "enable_node_public_ip": args.node_public_ip,
                    "remote_login_port_public_access": "Disabled",
                    "scale_settings": {
                        "min_node_count": min_nodes,
                        "max_node_count": max_nodes,
                        "node_idle_time_before_scale_down": _iso_seconds(args.settings.idle_seconds_before_scale_down),
                    },
                },
            },
            tags=args.tags,
            opts=child_options(self),
        )
