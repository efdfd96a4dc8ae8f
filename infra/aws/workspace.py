"""The SageMaker side of the stack: the execution role, managed MLflow, and optionally a Studio domain.

Why one component: every job, tuning job and model of the stack runs as the one execution role,
and what that role may touch (this stack's bucket and key, ECR images, SageMaker logs and this
stack's tracking server) is the platform's security boundary. The MLflow tracking server gets a
role of its own that reaches only its artifact prefix, so a compromised server cannot read
models or checkpoints. Its ARN is the tracking URI `ml` uses (with the sagemaker-mlflow plugin).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import iam, sagemaker

from infra.aws.policies import (
    MLFLOW_PREFIX,
    execution_role_policy,
    render,
    service_trust_policy,
    tracking_access_policy,
    tracking_server_policy,
)
from infra.common import child_options
from infra.config import AwsSettings


@dataclass(frozen=True)
class WorkspaceArgs:
    name_prefix: str
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    settings: AwsSettings
    subnet_ids: list[str]
    security_group_ids: list[str]
    public_network_access: bool
    tags: dict[str, str]
    protect: bool


class Workspace(pulumi.ComponentResource):
    """Execution role + policies, MLflow role + tracking server, and the optional SageMaker domain."""

    execution_role_arn: pulumi.Output[str]
    execution_role_policy: iam.RolePolicy
    tracking_server_arn: pulumi.Output[str]
    tracking_server_url: pulumi.Output[str]
    domain_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: WorkspaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Workspace", name, None, opts)
        settings, region, tags, prefix = args.settings, args.region, args.tags, args.name_prefix
        trust = render(service_trust_policy())

        execution_role = iam.Role(
            f"{name}-execution-role",
            name=f"{prefix}-sagemaker-execution",
            description=f"SageMaker jobs and models of the {prefix} ML platform",
            assume_role_policy=trust,
            max_session_duration=12 * 3600,
            tags=tags,
            opts=child_options(self),
        )
        self.execution_role_policy = iam.RolePolicy(
            f"{name}-execution-policy",
            name="artifacts-images-logs",
            role=execution_role.id,
            policy=render(
                execution_role_policy(
                    bucket_arn=args.bucket_arn,
                    key_arn=args.key_arn,
                    partition=args.partition,
                    region=region,
                    account_id=args.account_id,
                    in_vpc=bool(args.subnet_ids),
                )
            ),
            opts=child_options(self),
        )

        server_role = iam.Role(
            f"{name}-mlflow-role",
            name=f"{prefix}-mlflow-server",
            description=f"The managed MLflow tracking server of the {prefix} ML platform",
            assume_role_policy=trust,
            tags=tags,
            opts=child_options(self),
        )
        server_policy = iam.RolePolicy(
            f"{name}-mlflow-policy",
            name="mlflow-artifacts",
            role=server_role.id,
            policy=render(tracking_server_policy(args.bucket_arn, args.key_arn)),
            opts=child_options(self),
        )
        server = sagemaker.MlflowTrackingServer(
            f"{name}-mlflow",
            tracking_server_name=f"{prefix}-mlflow",
            artifact_store_uri=pulumi.Output.concat("s3://", args.bucket_name, "/", MLFLOW_PREFIX),
            role_arn=server_role.arn,
            tracking_server_size=settings.mlflow_server_size,
            mlflow_version=settings.mlflow_version,
            # MLflow's registry is the system of record; mirroring into SageMaker's is a separate choice.
            automatic_model_registration=False,
            weekly_maintenance_window_start=settings.mlflow_maintenance_window,
            region=region,
            tags=tags,
            # The server holds every run and registered model: protected like the bucket.
            opts=child_options(self, protect=args.protect, depends_on=[server_policy]),
        )
        iam.RolePolicy(
            f"{name}-tracking-access",
            name="mlflow-tracking",
            role=execution_role.id,
            policy=render(tracking_access_policy(server.arn)),
            opts=child_options(self),
        )

        self.domain_id = None
        if settings.sagemaker_domain:
            domain = sagemaker.Domain(
                f"{name}-domain",
                domain_name=f"{prefix}-studio",
                auth_mode="IAM",
                vpc_id=settings.vpc_id,
                subnet_ids=args.subnet_ids,
                app_network_access_type="PublicInternetOnly" if args.public_network_access else "VpcOnly",
                kms_key_id=args.key_arn,
                default_user_settings={
                    "execution_role": execution_role.arn,
                    "security_groups": args.security_group_ids,
                },
                # A protected (prod) domain keeps its users' home directories if it is ever deleted.
                retention_policy={"home_efs_file_system": "Retain" if args.protect else "Delete"},
                region=region,
                tags=tags,
                opts=child_options(self, protect=args.protect),
            )
            self.domain_id = domain.id

        self.execution_role_arn = execution_role.arn
        self.tracking_server_arn = server.arn
        self.tracking_server_url = server.tracking_server_url
        self.register_outputs(
            {
                "execution_role_arn": self.execution_role_arn,
                "tracking_server_arn": self.tracking_server_arn,
                "tracking_server_url": self.tracking_server_url,
            }
        )
