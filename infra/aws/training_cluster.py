"""GPU training on SageMaker: a managed-spot training profile, not a standing cluster.

Why no cloud resource here: SageMaker provisions training instances per job and releases them
when it ends, so nothing idles and there is nothing to declare ahead of time (unlike Azure's
AmlCompute). What the stack owns is the *profile* every job and tuning job of `ml` starts from:
instance type, how many at once, managed spot with max run / max wait, checkpoints in this
stack's bucket, the execution role, and the VPC. It is exported through the contract so a
tuning job on this stack runs on spot capacity with checkpoints by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.config import TrainingClusterSettings


@dataclass(frozen=True)
class GpuTrainingClusterArgs:
    profile_name: str
    settings: TrainingClusterSettings
    checkpoint_uri: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]


class GpuTrainingCluster(pulumi.ComponentResource):
    """The stack's spot training profile; its outputs are what `CreateTrainingJob` needs besides the image."""

    profile_name: str
    instance_type: str
    max_instances: int
    spot: bool
    max_run_seconds: int
    max_wait_seconds: int | None
    checkpoint_uri: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    subnet_ids: list[str]
    security_group_ids: list[str]

    def __init__(self, name: str, args: GpuTrainingClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        settings = args.settings
        # The profile's cost switches as component inputs (camelCase, like provider properties), so
        # policy packs and `ml plan --policy` see them: SageMaker has no cluster resource to inspect.
        profile = {
            "instanceType": settings.instance_type,
            "enableManagedSpotTraining": settings.spot,
            "vpcConfig": {"subnets": list(settings.subnet_ids), "securityGroupIds": list(settings.security_group_ids)},
        }
        super().__init__("mlops:aws:GpuTrainingCluster", name, profile, opts)
        self.profile_name = args.profile_name
        self.instance_type = settings.instance_type
        self.max_instances = settings.max_nodes
        self.spot = settings.spot
        self.max_run_seconds = int(settings.max_run_hours * 3600)
        # SageMaker accepts MaxWaitTimeInSeconds only for managed spot training.
        self.max_wait_seconds = int(settings.max_wait_hours * 3600) if settings.spot else None
        self.checkpoint_uri = pulumi.Output.from_input(args.checkpoint_uri)
        self.role_arn = pulumi.Output.from_input(args.execution_role_arn)
        self.subnet_ids = list(settings.subnet_ids)
        self.security_group_ids = list(settings.security_group_ids)
        self.register_outputs(
            {
                "profile_name": self.profile_name,
                "instance_type": self.instance_type,
                "max_instances": self.max_instances,
                "enable_managed_spot_training": self.spot,
                "max_runtime_in_seconds": self.max_run_seconds,
                "max_wait_time_in_seconds": self.max_wait_seconds,
                "checkpoint_s3_uri": self.checkpoint_uri,
                "role_arn": self.role_arn,
                "vpc_config": {"subnets": self.subnet_ids, "security_group_ids": self.security_group_ids},
            }
        )
