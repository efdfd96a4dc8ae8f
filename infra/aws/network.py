"""VPC endpoints: how jobs, models and Studio in the stack's private subnets reach AWS without the internet.

Why a component: a private stack runs training jobs, models and the Studio domain in its private
subnets (`mlops:trainingCluster.subnetIds`, passed to every job and model through the contract), and
those subnets have no route to the internet. SageMaker, ECR and S3 are then reached through VPC
endpoints: a gateway endpoint for S3 on the subnets' route tables (free), interface endpoints with
private DNS for the SageMaker API and runtime, ECR (api for auth and manifests, dkr for layers),
CloudWatch Logs (a training job or endpoint container writes its stdout there; without the endpoint
the job cannot log and fails) and STS (the SDKs in a container assume roles and fetch credentials),
in the same subnets and security group. One component keeps that private path readable in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import ec2

from infra.common import child_options

GATEWAY_SERVICES = ("s3",)
INTERFACE_SERVICES = ("sagemaker.api", "sagemaker.runtime", "ecr.api", "ecr.dkr", "logs", "sts")
"""The services a private SageMaker stack needs: artifacts (S3), jobs and endpoints, serving images,
their logs (CloudWatch Logs) and role credentials (STS)."""


@dataclass(frozen=True)
class VpcEndpointsArgs:
    name_prefix: str
    region: str
    vpc_id: str
    subnet_ids: list[str]
    security_group_ids: list[str]
    route_table_ids: list[str]
    tags: dict[str, str]


class VpcEndpoints(pulumi.ComponentResource):
    """One gateway endpoint (S3) and six interface endpoints (SageMaker API/runtime, ECR api/dkr, Logs, STS)."""

    endpoint_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: VpcEndpointsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:VpcEndpoints", name, None, opts)
        self.endpoint_ids = {}
        for service in GATEWAY_SERVICES:
            endpoint = ec2.VpcEndpoint(
                f"{name}-{service}",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=args.route_table_ids,
                region=args.region,
                tags={**args.tags, "Name": f"{args.name_prefix}-{service}"},
                opts=child_options(self),
            )
            self.endpoint_ids[service] = endpoint.id
        for service in INTERFACE_SERVICES:
            label = service.replace(".", "-")
            endpoint = ec2.VpcEndpoint(
                f"{name}-{label}",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                subnet_ids=args.subnet_ids,
                security_group_ids=args.security_group_ids,
                private_dns_enabled=True,
                region=args.region,
                tags={**args.tags, "Name": f"{args.name_prefix}-{label}"},
                opts=child_options(self),
            )
            self.endpoint_ids[service] = endpoint.id
        self.register_outputs({"endpoint_ids": self.endpoint_ids})
