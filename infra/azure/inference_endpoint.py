"""A managed online endpoint with autoscale, and its keys only as Pulumi secrets.

Why deployments mostly live outside Pulumi: rollouts (`ml deploy`) create and retire colours
behind the endpoint many times a day, which would fight a Pulumi-owned deployment. The endpoint,
its auth and the autoscale *profile* are infrastructure; the profile is exported through the
contract so every colour `ml` creates gets the same bounds. When config names a bootstrap model,
this component also serves it as `blue`, autoscaled from the first `pulumi up`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import machinelearningservices, monitor

from infra.common import child_options
from infra.config import EndpointSettings, MonitoringSettings
from infra.outputs import endpoint_autoscale
from ml.contract.azure import autoscale_profile as deployment_autoscale_profile
from ml.contract.monitoring import azure_data_collector

BOOTSTRAP_DEPLOYMENT = "blue"


@dataclass(frozen=True)
class InferenceEndpointArgs:
    resource_group_name: pulumi.Input[str]
    workspace_name: pulumi.Input[str]
    location: str
    endpoint_name: str
    settings: EndpointSettings
    public_network_access: bool
    tags: dict[str, str]
    monitoring: MonitoringSettings | None = None


def autoscale_profile(settings: EndpointSettings, deployment_id: pulumi.Input[str]) -> dict[str, Any]:
    """The bootstrap deployment's Azure Monitor autoscale profile.

    Built by the same function the rollout target uses for every later colour, from the same values
    the stack exports as ``endpoint.autoscale``, so no colour scales differently.
    """
    return deployment_autoscale_profile(
        endpoint_autoscale(settings), deployment_id=deployment_id, default_count=settings.instance_count
    )


class InferenceEndpoint(pulumi.ComponentResource):
    """The endpoint, its optional bootstrap deployment and that deployment's autoscale setting."""

    endpoint_name: pulumi.Output[str]
    endpoint_id: pulumi.Output[str]
    scoring_uri: pulumi.Output[str]
    primary_key: pulumi.Output[str] | None

    def __init__(self, name: str, args: InferenceEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:azure:InferenceEndpoint", name, None, opts)
        settings = args.settings
        endpoint = machinelearningservices.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=args.endpoint_name,
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            location=args.location,
            identity={"type": "SystemAssigned"},
            properties={
                "auth_mode": {"key": "Key", "aml_token": "AMLToken", "aad_token": "AADToken"}[settings.auth_mode],
                "public_network_access": "Enabled" if args.public_network_access else "Disabled",
            },
            tags=args.tags,
            # Traffic is owned by `ml deploy`; Pulumi must not reset it on the next `up`.
            opts=child_options(self, ignore_changes=["properties.traffic", "properties.mirrorTraffic"]),
        )
        self.endpoint_name = endpoint.name
        self.endpoint_id = endpoint.id
        self.scoring_uri = endpoint.properties.apply(lambda p: p.scoring_uri or "")

        if settings.bootstrap_model is not None:
            deployment = machinelearningservices.OnlineDeployment(
                f"{name}-{BOOTSTRAP_DEPLOYMENT}",
                deployment_name=BOOTSTRAP_DEPLOYMENT,
                endpoint_name=endpoint.name,
                resource_group_name=args.resource_group_name,
                workspace_name=args.workspace_name,
                location=args.location,
                sku={"name": "Default", "capacity": settings.instance_count},
                # A union type (Managed | Kubernetes): the SDK passes this dict through untranslated, so
                # its keys are the API's camelCase wire names (snake_case keys would be dropped by ARM).
                properties={
                    "endpointComputeType": "Managed",
                    "model": settings.bootstrap_model,
                    "instanceType": settings.instance_type,
                    "appInsightsEnabled": True,
                    "egressPublicNetworkAccess": "Enabled" if args.public_network_access else "Disabled",
                    "scaleSettings": {"scaleType": "Default"},
                    # Same collector every colour `ml deploy` creates gets (ml.contract.monitoring).
                    **(
                        {"dataCollector": azure_data_collector(args.monitoring.sampling_percent)}
                        if args.monitoring is not None and args.monitoring.enabled
                        else {}
                    ),
                },
                tags=args.tags,
                # Later rollouts replace the model and capacity; Pulumi only creates the first.
                opts=child_options(self, ignore_changes=["properties.model", "sku"]),
            )
            monitor.AutoscaleSetting(
                f"{name}-{BOOTSTRAP_DEPLOYMENT}-autoscale",
                autoscale_setting_name=f"{args.endpoint_name}-{BOOTSTRAP_DEPLOYMENT}-autoscale",
                resource_group_name=args.resource_group_name,
                location=args.location,
                enabled=True,
                target_resource_uri=deployment.id,
                profiles=[autoscale_profile(settings, deployment.id)],
                tags=args.tags,
                opts=child_options(self),
            )

        self.primary_key = None
        if settings.auth_mode == "key":
            keys = machinelearningservices.list_online_endpoint_keys_output(
                endpoint_name=endpoint.name,
                resource_group_name=args.resource_group_name,
                workspace_name=args.workspace_name,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.primary_key = pulumi.Output.secret(keys.apply(lambda k: k.primary_key or ""))
        self.register_outputs({"endpoint_name": self.endpoint_name, "scoring_uri": self.scoring_uri})
