"""Private endpoints for the workspace's storage, key vault and registry, in a VNet the stack owns.

Why a component: a private stack disables public access on its storage account, vault and registry
(`infra/azure/workspace.py`), so people, pipelines and the managed network's peers reach them only
through private endpoints; each endpoint needs its private DNS zone (linked to the VNet) so the
service's usual name resolves to the private address. Keeping the VNet, the subnet, the three
endpoints and their zones in one component makes the private path of the stack readable in one place.
The workspace's own managed network (`AllowOnlyApprovedOutbound`) is set on the workspace itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns

from infra.common import child_options
from infra.config import NetworkSettings

PRIVATE_LINKS = (
    # (short name, private-link group id, private DNS zone)
    ("blob", "blob", "privatelink.blob.core.windows.net"),
    ("vault", "vault", "privatelink.vaultcore.azure.net"),
    ("registry", "registry", "privatelink.azurecr.io"),
)
"""The services a private workspace stack reaches privately: blob storage, Key Vault, ACR."""


@dataclass(frozen=True)
class PrivateNetworkArgs:
    name_prefix: str
    location: str
    resource_group_name: pulumi.Input[str]
    settings: NetworkSettings
    targets: dict[str, pulumi.Input[str]]
    """Short name (`blob`, `vault`, `registry`) -> the resource id of the service to reach privately."""
    tags: dict[str, str]


class PrivateNetwork(pulumi.ComponentResource):
    """VNet + private-endpoint subnet, one private endpoint per service, each with its linked DNS zone."""

    vnet_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]

    def __init__(self, name: str, args: PrivateNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:azure:PrivateNetwork", name, None, opts)
        group, prefix, tags = args.resource_group_name, args.name_prefix, args.tags
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=f"vnet-{prefix}",
            resource_group_name=group,
            location=args.location,
            address_space={"address_prefixes": [args.settings.address_space]},
            tags=tags,
            opts=child_options(self),
        )
        subnet = network.Subnet(
            f"{name}-pe-subnet",
            subnet_name="snet-private-endpoints",
            resource_group_name=group,
            virtual_network_name=vnet.name,
            address_prefix=args.settings.private_endpoint_subnet,
            private_endpoint_network_policies="Disabled",
            default_outbound_access=False,
            opts=child_options(self),
        )
        for short, group_id, zone_name in PRIVATE_LINKS:
            target = args.targets[short]
            zone = privatedns.PrivateZone(
                f"{name}-{short}-zone",
                private_zone_name=zone_name,
                resource_group_name=group,
                location="global",
                tags=tags,
                opts=child_options(self),
            )
            privatedns.VirtualNetworkLink(
                f"{name}-{short}-link",
                virtual_network_link_name=f"link-{prefix}-{short}",
                private_zone_name=zone.name,
                resource_group_name=group,
                location="global",
                virtual_network={"id": vnet.id},
                registration_enabled=False,
                tags=tags,
                opts=child_options(self),
            )
            endpoint = network.PrivateEndpoint(
                f"{name}-{short}-pe",
                private_endpoint_name=f"pe-{prefix}-{short}",
                resource_group_name=group,
                location=args.location,
                subnet={"id": subnet.id},
                private_link_service_connections=[
                    {"name": f"{prefix}-{short}", "private_link_service_id": target, "group_ids": [group_id]}
                ],
                tags=tags,
                opts=child_options(self),
            )
            network.PrivateDnsZoneGroup(
                f"{name}-{short}-dns",
                private_dns_zone_group_name="default",
                private_endpoint_name=endpoint.name,
                resource_group_name=group,
                private_dns_zone_configs=[{"name": short, "private_dns_zone_id": zone.id}],
                opts=child_options(self),
            )
        self.vnet_id = vnet.id
        self.subnet_id = subnet.id
        self.register_outputs({"vnet_id": self.vnet_id, "subnet_id": self.subnet_id})
