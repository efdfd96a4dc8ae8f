"""`mlops:network`: who can reach the platform, and how the platform reaches the services it uses.

Why one section for both clouds: "is this stack private?" is one decision (`publicNetworkAccess`);
what follows from it is derived here, once, so a private stack is isolated by default and a
reader sees in one place what each switch turns on:

- `managedNetwork` (Azure): the Azure ML workspace's managed network isolation mode; a private
  stack gets `AllowOnlyApprovedOutbound` (only the workspace's own dependencies and the FQDNs in
  `approvedOutboundFqdns` are reachable), a public one `Disabled`;
- `privateEndpoints` (both): Azure: private endpoints (and private DNS zones) for the storage
  account's blob service, the key vault and the container registry in a VNet the stack owns
  (`addressSpace`, `privateEndpointSubnet`); AWS: VPC endpoints for S3 (gateway, on
  `routeTableIds`), the SageMaker API and runtime, ECR (api, dkr), CloudWatch Logs and STS in the
  stack's private subnets;
- training nodes never get public IPs on a private stack (`nodePublicIp`).

Each derived switch can be set explicitly; the checks that need the stack's cloud (a VPC id, the
route tables) are in `infra.config.rules` / `infra.config.input_rules`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from infra.config.base import Section

IsolationMode = Literal["Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound"]
PRIVATE_ISOLATION: IsolationMode = "AllowOnlyApprovedOutbound"


class NetworkSettings(Section):
    """Public access and, derived from it unless set, workspace isolation and private endpoints."""

    public_network_access: bool = False
    allowed_ip_ranges: list[str] = Field(default_factory=list)
    managed_network: IsolationMode | None = None
    approved_outbound_fqdns: list[str] = Field(default_factory=list)
    private_endpoints: bool | None = None
    address_space: str = "10.42.0.0/16"
    private_endpoint_subnet: str = "10.42.1.0/24"
    route_table_ids: list[str] = Field(default_factory=list)

    @property
    def isolation_mode(self) -> IsolationMode:
        """The Azure ML managed network mode: the explicit one, else approved-outbound-only when private."""
        if self.managed_network is not None:
            return self.managed_network
        return "Disabled" if self.public_network_access else PRIVATE_ISOLATION

    @property
    def uses_private_endpoints(self) -> bool:
        """Private endpoints (Azure) / VPC endpoints (AWS): the explicit choice, else on when private."""
        return (not self.public_network_access) if self.private_endpoints is None else self.private_endpoints

    @property
    def node_public_ip(self) -> bool:
        """Training nodes get public IPs only on a public stack (never behind a managed network)."""
        return self.public_network_access and self.isolation_mode == "Disabled"

    @field_validator("address_space", "private_endpoint_subnet")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.ip_network(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a CIDR range such as 10.42.0.0/16") from None
        return value

    @field_validator("allowed_ip_ranges")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        bad = []
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                bad.append(cidr)
        if bad:
            raise ValueError(f"not IP addresses or CIDR ranges: {bad}")
        duplicates = sorted({c for c in value if value.count(c) > 1})
        if duplicates:
            raise ValueError(f"repeated entries: {duplicates}; list each range once")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NetworkSettings:
        subnet = ipaddress.ip_network(self.private_endpoint_subnet)
        space = ipaddress.ip_network(self.address_space)
        if subnet.version != space.version or not subnet.subnet_of(space):  # type: ignore[arg-type]
            raise ValueError(
                f"privateEndpointSubnet {self.private_endpoint_subnet} must lie inside "
                f"addressSpace {self.address_space}"
            )
        if self.approved_outbound_fqdns and self.isolation_mode != PRIVATE_ISOLATION:
            raise ValueError(
                f"approvedOutboundFqdns applies only with managedNetwork {PRIVATE_ISOLATION} "
                f"(this stack's mode is {self.isolation_mode}); remove it or make the stack private"
            )
        duplicates = sorted({f for f in self.approved_outbound_fqdns if self.approved_outbound_fqdns.count(f) > 1})
        if duplicates:
            raise ValueError(f"approvedOutboundFqdns repeats {duplicates}; list each name once")
        return self


AZURE_ONLY_KEYS = ("managed_network", "approved_outbound_fqdns", "address_space", "private_endpoint_subnet")
AWS_ONLY_KEYS = ("route_table_ids",)


def network_problems(
    cloud: str, network: NetworkSettings, *, vpc_id: str | None, subnet_ids: list[str], security_group_ids: list[str]
) -> list[str]:
    """What the stack's cloud needs for its network choice: one line per problem, keys spelt as in YAML.

    Why here: on AWS, VPC endpoints need the VPC (`mlops:aws.vpcId`), the private subnets and security
    group training already uses, and the route tables the S3 gateway endpoint is added to; keys of the
    other cloud are refused rather than silently ignored.
    """
    from pydantic.alias_generators import to_camel

    problems: list[str] = []
    foreign = AWS_ONLY_KEYS if cloud == "azure" else AZURE_ONLY_KEYS
    problems += [
        f"mlops:network.{to_camel(key)} has no effect on cloud {cloud}; remove it"
        for key in foreign
        if key in network.model_fields_set
    ]
    if cloud != "aws" or not network.uses_private_endpoints:
        return problems
    why = "the VPC endpoints of a private stack (network.privateEndpoints)"
    if vpc_id is None:
        problems.append(f"mlops:aws.vpcId is required for {why}: the VPC of the private subnets")
    if not subnet_ids or not security_group_ids:
        problems.append(
            f"mlops:trainingCluster.subnetIds and securityGroupIds are required for {why}: jobs, models and the "
            f"interface endpoints live in those private subnets"
        )
    if not network.route_table_ids:
        problems.append(
            "mlops:network.routeTableIds is empty: the S3 gateway endpoint is added to the private subnets' "
            "route tables (rtb-...); or set network.privateEndpoints: false to reach S3 through a NAT"
        )
    bad = [r for r in network.route_table_ids if not r.startswith("rtb-")]
    if bad:
        problems.append(f"mlops:network.routeTableIds = {bad}: not route table ids (rtb-0123abcd...)")
    return problems
