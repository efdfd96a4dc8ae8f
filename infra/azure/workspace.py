"""The Azure ML workspace and what it stands on: storage, key vault, logs, registry.

Why one component: the workspace cannot exist without these four, and each must be locked down
the same way (TLS 1.2, no public blob access, RBAC key vault, no ACR admin user), so a reader sees
the whole security posture of the workspace in one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    containerregistry,
    keyvault,
    machinelearningservices,
    operationalinsights,
    resources,
    storage,
)

from infra.common import child_options, compact_name
from infra.config import KeyVaultSettings, NetworkSettings


def managed_network(settings: NetworkSettings) -> dict[str, Any]:
    """The workspace's managed network: its isolation mode and, when outbound is approved-only, the FQDN rules.

    Why on the workspace: with `AllowOnlyApprovedOutbound` Azure ML runs compute in a managed VNet that
    reaches only the workspace's own storage, vault and registry (through managed private endpoints)
    plus the FQDNs approved here, so a training job cannot send data anywhere else.
    """
    rules = {
        f"allow-{fqdn.replace('.', '-')}": {"type": "FQDN", "category": "UserDefined", "destination": fqdn}
        for fqdn in settings.approved_outbound_fqdns
    }
    return {"isolation_mode": settings.isolation_mode, **({"outbound_rules": rules} if rules else {})}


@dataclass(frozen=True)
class WorkspaceArgs:
    name_prefix: str
    location: str
    tenant_id: pulumi.Input[str]
    network: NetworkSettings
    key_vault: KeyVaultSettings
    tags: dict[str, str]
    protect: bool


class Workspace(pulumi.ComponentResource):
    """Resource group, storage account, key vault, Log Analytics + App Insights, ACR and the AML workspace."""

    resource_group_name: pulumi.Output[str]
    resource_group_id: pulumi.Output[str]
    storage_account_name: pulumi.Output[str]
    storage_account_id: pulumi.Output[str]
    key_vault_id: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    workspace_name: pulumi.Output[str]
    workspace_id: pulumi.Output[str]
    tracking_uri: pulumi.Output[str]

    def __init__(self, name: str, args: WorkspaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:azure:Workspace", name, None, opts)
        public = args.network.public_network_access
        access = "Enabled" if public else "Disabled"
        tags = args.tags

        group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=f"rg-{args.name_prefix}",
            location=args.location,
            tags=tags,
            opts=child_options(self, protect=args.protect),
        )
        ip_rules = [{"ip_address_or_range": cidr, "action": "Allow"} for cidr in args.network.allowed_ip_ranges]
        account = storage.StorageAccount(
            f"{name}-storage",
            account_name=compact_name(args.name_prefix, "st"),
            resource_group_name=group.name,
            location=args.location,
            kind="StorageV2",
            sku={"name": "Standard_ZRS" if args.protect else "Standard_LRS"},
            access_tier="Hot",
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            allow_blob_public_access=False,
            allow_cross_tenant_replication=False,
            public_network_access=access,
            network_rule_set={
                "default_action": "Allow" if public else "Deny",
                "bypass": "AzureServices",
                "ip_rules": ip_rules,
            },
            encryption={
                "key_source": "Microsoft.Storage",
                "require_infrastructure_encryption": True,
                "services": {
                    "blob": {"enabled": True, "key_type": "Account"},
                    "file": {"enabled": True, "key_type": "Account"},
                },
            },
            tags=tags,
            opts=child_options(self, protect=args.protect),
        )
        vault = keyvault.Vault(
            f"{name}-kv",
            vault_name=f"kv-{args.name_prefix}",
            resource_group_name=group.name,
            location=args.location,
            properties={
                "tenant_id": args.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "enable_rbac_authorization": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": args.key_vault.soft_delete_retention_days,
                # Purge protection cannot be turned off once on; leave it unset rather than false.
                "enable_purge_protection": True if args.key_vault.purge_protection else None,
                "public_network_access": access,
                "network_acls": {
                    "default_action": "Allow" if public else "Deny",
                    "bypass": "AzureServices",
                    "ip_rules": [{"value": cidr} for cidr in args.network.allowed_ip_ranges],
                },
            },
            tags=tags,
            opts=child_options(self, protect=args.protect),
        )
        logs = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=f"log-{args.name_prefix}",
            resource_group_name=group.name,
            location=args.location,
            sku={"name": "PerGB2018"},
            retention_in_days=30,
            tags=tags,
            opts=child_options(self),
        )
        insights = applicationinsights.Component(
            f"{name}-appi",
            resource_name_=f"appi-{args.name_prefix}",
            resource_group_name=group.name,
            location=args.location,
            kind="web",
            application_type="web",
            ingestion_mode="LogAnalytics",
            workspace_resource_id=logs.id,
            disable_local_auth=True,
            tags=tags,
            opts=child_options(self),
        )
        registry = containerregistry.Registry(
            f"{name}-acr",
            registry_name=compact_name(args.name_prefix, "acr", max_length=50),
            resource_group_name=group.name,
            location=args.location,
            # Disabling public access on a registry needs the Premium tier.
            sku={"name": "Basic" if public else "Premium"},
            admin_user_enabled=False,
            public_network_access=access,
            tags=tags,
            opts=child_options(self, protect=args.protect),
        )
        workspace = machinelearningservices.Workspace(
            f"{name}-mlw",
            workspace_name=f"mlw-{args.name_prefix}",
            resource_group_name=group.name,
            location=args.location,
            identity={"type": "SystemAssigned"},
            sku={"name": "Basic", "tier": "Basic"},
            storage_account=account.id,
            key_vault=vault.id,
            application_insights=insights.id,
            container_registry=registry.id,
            public_network_access=access,
            managed_network=managed_network(args.network),
            system_datastores_auth_mode="identity",
            tags=tags,
            opts=child_options(self, protect=args.protect),
        )

        self.resource_group_name = group.name
        self.resource_group_id = group.id
        self.storage_account_name = account.name
        self.storage_account_id = account.id
        self.key_vault_id = vault.id
        self.registry_id = registry.id
        self.workspace_name = workspace.name
        self.workspace_id = workspace.id
        # Azure ML's default blob datastore (workspaceblobstore): where its data collector writes.
        self.default_blob_container = pulumi.Output.concat("azureml-blobstore-", workspace.workspace_id)
        self.tracking_uri = workspace.ml_flow_tracking_uri
        self.register_outputs(
            {
                "resource_group_name": self.resource_group_name,
                "workspace_name": self.workspace_name,
                "tracking_uri": self.tracking_uri,
            }
        )
