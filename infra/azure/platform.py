"""The Azure ML platform of one stack: the five components wired together.

Why a component: `pulumi stack` shows one `mlops:azure:Platform` with the capabilities under it,
and the wiring (which output feeds which input) is readable in one place.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import authorization

from infra.azure.artifact_store import ArtifactStore, ArtifactStoreArgs
from infra.azure.budget import Budget, BudgetArgs
from infra.azure.drift_alert import DriftAlert, DriftAlertArgs
from infra.azure.inference_endpoint import InferenceEndpoint, InferenceEndpointArgs
from infra.azure.network import PrivateNetwork, PrivateNetworkArgs
from infra.azure.training_cluster import GpuTrainingCluster, GpuTrainingClusterArgs
from infra.azure.workspace import Workspace, WorkspaceArgs
from infra.config import StackSettings
from infra.kubernetes.platform import build_kubernetes_serving
from infra.outputs import artifacts_section, budget_section, checkpoint_uri, endpoint_autoscale, monitoring_section
from ml.contract import SCHEMA_VERSION
from ml.contract.monitoring import AZURE_CAPTURE_PREFIX


class AzurePlatform(pulumi.ComponentResource):
    """Workspace, artifact store, GPU training cluster, inference endpoint and budget."""

    contract_fields: dict[str, Any]
    endpoint_primary_key: pulumi.Output[str] | None

    def __init__(self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:azure:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        tags = settings.resource_tags
        protect = settings.protect_stateful_resources
        public = settings.network.public_network_access

        workspace = Workspace(
            "workspace",
            WorkspaceArgs(
                name_prefix=settings.name_prefix,
                location=settings.location,
                tenant_id=client.tenant_id,
                network=settings.network,
                key_vault=settings.key_vault,
                tags=tags,
                protect=protect,
            ),
            child,
        )
        if settings.network.uses_private_endpoints:
            PrivateNetwork(
                "network",
                PrivateNetworkArgs(
                    name_prefix=settings.name_prefix,
                    location=settings.location,
                    resource_group_name=workspace.resource_group_name,
                    settings=settings.network,
                    targets={
                        "blob": workspace.storage_account_id,
                        "vault": workspace.key_vault_id,
                        "registry": workspace.registry_id,
                    },
                    tags=tags,
                ),
                child,
            )
        artifacts = ArtifactStore(
            "artifacts",
            ArtifactStoreArgs(
                resource_group_name=workspace.resource_group_name,
                account_name=workspace.storage_account_name,
                settings=settings.artifacts,
                protect=protect,
                monitoring=settings.monitoring,
                collector_container=workspace.default_blob_container,
            ),
            child,
        )
        training = GpuTrainingCluster(
            "training",
            GpuTrainingClusterArgs(
                resource_group_name=workspace.resource_group_name,
                workspace_name=workspace.workspace_name,
                location=settings.location,
                settings=settings.training_cluster,
                node_public_ip=settings.network.node_public_ip,
                tags=tags,
            ),
            child,
        )
        endpoint_name = f"{settings.name_prefix}-endpoint"
        endpoint = InferenceEndpoint(
            "serving",
            InferenceEndpointArgs(
                resource_group_name=workspace.resource_group_name,
                workspace_name=workspace.workspace_name,
                location=settings.location,
                endpoint_name=endpoint_name,
                settings=settings.endpoint,
                public_network_access=public,
                tags=tags,
                monitoring=settings.monitoring,
            ),
            child,
        )
        if settings.monitoring.enabled:
            DriftAlert(
                "drift",
                DriftAlertArgs(
                    resource_group_name=workspace.resource_group_name,
                    endpoint_name=endpoint_name,
                    endpoint_id=endpoint.endpoint_id,
                    emails=list(settings.budget.contact_emails),
                    tags=tags,
                ),
                child,
            )
        budget_name = f"budget-{settings.name_prefix}"
        Budget(
            "budget",
            BudgetArgs(
                budget_name=budget_name, resource_group_id=workspace.resource_group_id, settings=settings.budget
            ),
            child,
        )

        cluster = settings.training_cluster
        serving = settings.endpoint
        self.endpoint_primary_key = endpoint.primary_key
        self.contract_fields = {
            "schema_version": SCHEMA_VERSION,
            "stack": pulumi.get_stack(),
            "environment": settings.environment,
            "cloud": "azure",
            "region": settings.location,
            "tracking_uri": workspace.tracking_uri,
            "azure": {
                "subscription_id": client.subscription_id,
                "resource_group": workspace.resource_group_name,
                "workspace_name": workspace.workspace_name,
            },
            "training": {
                "name": training.cluster_name,
                "instance_type": cluster.instance_type,
                "min_nodes": cluster.min_nodes,
                "max_nodes": cluster.max_nodes,
                "spot": cluster.spot,
                "idle_seconds_before_scale_down": cluster.idle_seconds_before_scale_down,
                "max_run_seconds": int(cluster.max_run_hours * 3600),
                "max_wait_seconds": int(cluster.max_wait_hours * 3600),
                "checkpoint_uri": checkpoint_uri(artifacts.uri, settings.artifacts),
                "cpu_cluster_name": training.cpu_cluster_name,
            },
            "endpoint": {
                "name": endpoint.endpoint_name,
                "instance_type": serving.instance_type,
                "instance_count": serving.instance_count,
                "auth_mode": serving.auth_mode,
                "scoring_uri": endpoint.scoring_uri,
                "autoscale": endpoint_autoscale(serving).model_dump(),
            },
            "artifacts": artifacts_section(settings.artifacts, name=workspace.storage_account_name, uri=artifacts.uri),
            "budget": budget_section(settings.budget, name=budget_name),
        }
        blob = pulumi.Output.concat("https://", workspace.storage_account_name, ".blob.core.windows.net/")
        monitoring = monitoring_section(
            settings.monitoring,
            capture_uri=pulumi.Output.concat(blob, workspace.default_blob_container, "/", AZURE_CAPTURE_PREFIX),
            platform_capture_uri=pulumi.Output.concat(artifacts.uri, "/", settings.monitoring.capture_prefix),
        )
        if monitoring is not None:
            self.contract_fields["monitoring"] = monitoring
        kubernetes = build_kubernetes_serving(
            settings,
            self,
            tracking_uri=workspace.tracking_uri,
            capture_uri=monitoring["platform_capture_uri"] if monitoring is not None else None,
        )
        if kubernetes is not None:
            self.contract_fields["kubernetes"] = kubernetes
        self.register_outputs({})
