"""The SageMaker ML platform of one stack: the five components wired together.

Why a component: `pulumi stack` shows one `mlops:aws:Platform` with the capabilities under it
(the same names as on Azure where the capability is the same), and the wiring (bucket and key
into the roles, the role into jobs and models) is readable in one place. Every regional
resource is created in `mlops:location`, which is also the region the contract exports.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.artifact_store import ArtifactStore, ArtifactStoreArgs
from infra.aws.budget import COST_TAG_KEY, Budget, BudgetArgs
from infra.aws.drift_alarm import DriftAlarm, DriftAlarmArgs
from infra.aws.inference_endpoint import InferenceEndpoint, InferenceEndpointArgs
from infra.aws.network import VpcEndpoints, VpcEndpointsArgs
from infra.aws.training_cluster import GpuTrainingCluster, GpuTrainingClusterArgs
from infra.aws.workspace import Workspace, WorkspaceArgs
from infra.config import StackSettings
from infra.kubernetes.platform import build_kubernetes_serving
from infra.outputs import artifacts_section, budget_section, checkpoint_uri, endpoint_autoscale, monitoring_section
from ml.contract import SCHEMA_VERSION


class AwsPlatform(pulumi.ComponentResource):
    """Artifact store, SageMaker workspace, spot training profile, inference endpoint and budget."""

    contract_fields: dict[str, Any]

    def __init__(self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke).partition
        prefix, region, aws_settings = settings.name_prefix, settings.location, settings.aws
        tags = {**settings.resource_tags, COST_TAG_KEY: prefix}
        protect = settings.protect_stateful_resources
        cluster, serving, artifact_settings = settings.training_cluster, settings.endpoint, settings.artifacts
        monitoring = settings.monitoring

        artifacts = ArtifactStore(
            "artifacts",
            ArtifactStoreArgs(
                name_prefix=prefix,
                region=region,
                account_id=identity.account_id,
                settings=artifact_settings,
                storage_classes=aws_settings.storage_classes,
                tags=tags,
                protect=protect,
                monitoring=settings.monitoring,
            ),
            child,
        )
        workspace = Workspace(
            "workspace",
            WorkspaceArgs(
                name_prefix=prefix,
                region=region,
                account_id=identity.account_id,
                partition=partition,
                bucket_name=artifacts.bucket_name,
                bucket_arn=artifacts.bucket_arn,
                key_arn=artifacts.key_arn,
                settings=aws_settings,
                subnet_ids=list(cluster.subnet_ids),
                security_group_ids=list(cluster.security_group_ids),
                public_network_access=settings.network.public_network_access,
                tags=tags,
                protect=protect,
            ),
            child,
        )
        network = settings.network
        if network.uses_private_endpoints and aws_settings.vpc_id is not None:
            VpcEndpoints(
                "network",
                VpcEndpointsArgs(
                    name_prefix=prefix,
                    region=region,
                    vpc_id=aws_settings.vpc_id,
                    subnet_ids=list(cluster.subnet_ids),
                    security_group_ids=list(cluster.security_group_ids),
                    route_table_ids=list(network.route_table_ids),
                    tags=tags,
                ),
                child,
            )
        training = GpuTrainingCluster(
            "training",
            GpuTrainingClusterArgs(
                profile_name=f"{prefix}-gpu-spot" if cluster.spot else f"{prefix}-gpu",
                settings=cluster,
                checkpoint_uri=checkpoint_uri(artifacts.uri, artifact_settings),
                execution_role_arn=workspace.execution_role_arn,
            ),
            child,
        )
        capture_uri = pulumi.Output.concat(artifacts.uri, "/", monitoring.capture_prefix)
        endpoint = None
        if serving.bootstrap_model is not None and aws_settings.serving_image is not None:
            endpoint = InferenceEndpoint(
                "serving",
                InferenceEndpointArgs(
                    endpoint_name=f"{prefix}-endpoint",
                    region=region,
                    settings=serving,
                    alarms=aws_settings.endpoint_alarms,
                    serving_image=aws_settings.serving_image,
                    model_data_url=pulumi.Output.concat(artifacts.uri, "/", serving.bootstrap_model),
                    execution_role_arn=workspace.execution_role_arn,
                    key_arn=artifacts.key_arn,
                    subnet_ids=list(cluster.subnet_ids),
                    security_group_ids=list(cluster.security_group_ids),
                    tags=tags,
                    depends_on=[workspace.execution_role_policy],
                    monitoring=monitoring,
                    capture_uri=capture_uri,
                ),
                child,
            )
            if monitoring.enabled:
                DriftAlarm(
                    "drift",
                    DriftAlarmArgs(
                        endpoint_name=f"{prefix}-endpoint",
                        region=region,
                        emails=list(settings.budget.contact_emails),
                        sns_topic_arn=aws_settings.budget_sns_topic_arn,
                        key_arn=artifacts.key_arn,
                        tags=tags,
                    ),
                    child,
                )
        budget_name = f"{prefix}-monthly"
        Budget(
            "budget",
            BudgetArgs(
                budget_name=budget_name,
                cost_tag_value=prefix,
                settings=settings.budget,
                sns_topic_arn=aws_settings.budget_sns_topic_arn,
                activate_cost_tag=aws_settings.activate_cost_allocation_tag,
                tags=tags,
            ),
            child,
        )

        self.contract_fields = {
            "schema_version": SCHEMA_VERSION,
            "stack": pulumi.get_stack(),
            "environment": settings.environment,
            "cloud": "aws",
            "region": region,
            "tracking_uri": workspace.tracking_server_arn,
            "aws": {
                "account_id": identity.account_id,
                "execution_role_arn": workspace.execution_role_arn,
                "mlflow_tracking_server_arn": workspace.tracking_server_arn,
                "domain_id": workspace.domain_id,
                "kms_key_arn": artifacts.key_arn,
                "serving_image": aws_settings.serving_image,
            },
            "training": {
                "name": training.profile_name,
                "instance_type": training.instance_type,
                "min_nodes": 0,
                "max_nodes": training.max_instances,
                "spot": training.spot,
                "max_run_seconds": training.max_run_seconds,
                "max_wait_seconds": training.max_wait_seconds,
                "checkpoint_uri": training.checkpoint_uri,
                "subnet_ids": training.subnet_ids,
                "security_group_ids": training.security_group_ids,
            },
            "endpoint": None if endpoint is None else self._endpoint_fields(settings, endpoint),
            "artifacts": artifacts_section(artifact_settings, name=artifacts.bucket_name, uri=artifacts.uri),
            "budget": budget_section(settings.budget, name=budget_name),
        }
        monitoring_fields = monitoring_section(monitoring, capture_uri=capture_uri, platform_capture_uri=capture_uri)
        if monitoring_fields is not None:
            self.contract_fields["monitoring"] = monitoring_fields
        kubernetes = build_kubernetes_serving(
            settings,
            self,
            tracking_uri=workspace.tracking_server_arn,
            capture_uri=capture_uri if monitoring_fields is not None else None,
        )
        if kubernetes is not None:
            self.contract_fields["kubernetes"] = kubernetes
        self.register_outputs({})

    @staticmethod
    def _endpoint_fields(settings: StackSettings, endpoint: InferenceEndpoint) -> dict[str, Any]:
        serving = settings.endpoint
        return {
            "name": endpoint.endpoint_name,
            "instance_type": serving.instance_type,
            "instance_count": serving.instance_count,
            # SageMaker runtime calls are SigV4-signed with the caller's IAM identity; there are no keys.
            "auth_mode": "iam",
            "scoring_uri": endpoint.scoring_uri,
            "rollback_alarm_names": endpoint.alarm_names,
            "variant_name": endpoint.variant_name,
            "autoscale": endpoint_autoscale(serving).model_dump(),
        }
