"""Production only: stateful resources are `protect`ed, and nothing is reachable from the internet.

Why at stack level: whether a stack is production is read from its resources' `environment`
tags (see `environment.py`), and some stateful resources (a blob container) take no tags, so
only the whole stack answers the question. Both are mandatory: deleting a prod bucket or key
vault loses data for good, and a public prod endpoint is an open door. In dev both are off by
design (`mlops:protectStatefulResources: false`, `mlops:network.publicNetworkAccess: true`).
Stack policies run at the end of `pulumi preview` (every PR runs one) and of `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from infra.guardrails.core import Finding, Guardrail, Level, Resource, Scope, get, items
from infra.guardrails.environment import PRODUCTION_SCHEMA, is_production

STATEFUL_TYPES = frozenset(
    {
        "azure-native:resources:ResourceGroup",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobContainer",
        "azure-native:keyvault:Vault",
        "azure-native:containerregistry:Registry",
        "azure-native:machinelearningservices:Workspace",
        "azure-native:machinelearningservices:Registry",
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:ecr/repository:Repository",
        "aws:efs/fileSystem:FileSystem",
        "aws:sagemaker/domain:Domain",
        "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer",
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
        "kubernetes:core/v1:PersistentVolumeClaim",
        "kubernetes:core/v1:PersistentVolume",
    }
)

# Where each Azure resource keeps its public-network switch (`Disabled` is the only private value).
AZURE_PUBLIC_SWITCHES = {
    "azure-native:storage:StorageAccount": "publicNetworkAccess",
    "azure-native:containerregistry:Registry": "publicNetworkAccess",
    "azure-native:machinelearningservices:Workspace": "publicNetworkAccess",
    "azure-native:keyvault:Vault": "properties.publicNetworkAccess",
    "azure-native:machinelearningservices:OnlineEndpoint": "properties.publicNetworkAccess",
    "azure-native:machinelearningservices:OnlineDeployment": "properties.egressPublicNetworkAccess",
}
ISOLATED = "AllowOnlyApprovedOutbound"
"""The only Azure ML managed network mode in which a prod workspace's compute cannot reach the internet."""
SAGEMAKER_PROFILE = "mlops:aws:GpuTrainingCluster"
AZURE_NETWORK_ACLS = {
    "azure-native:storage:StorageAccount": "networkRuleSet.defaultAction",
    "azure-native:keyvault:Vault": "properties.networkAcls.defaultAction",
}


def _protect(resources: Sequence[Resource]) -> Iterator[Finding]:
    for resource in resources:
        if resource.type in STATEFUL_TYPES and not resource.protect:
            yield Finding(f"stateful {resource.type.split(':')[-1]} is not protected", resource)


def _public(resource: Resource) -> Iterator[str]:
    props = resource.props
    switch = AZURE_PUBLIC_SWITCHES.get(resource.type)
    if switch is not None and str(get(props, switch, "Enabled")).lower() != "disabled":
        yield f"{switch} is {get(props, switch, 'unset (defaults to Enabled)')}"
    acl = AZURE_NETWORK_ACLS.get(resource.type)
    if acl is not None and get(props, acl) == "Allow":
        yield f"{acl} is Allow"
    if resource.type == "azure-native:machinelearningservices:Workspace":
        mode = get(props, "managedNetwork.isolationMode", "Disabled")
        if mode != ISOLATED:
            yield f"managedNetwork.isolationMode is {mode}, not {ISOLATED} (workspace compute can reach the internet)"
    if resource.type == "azure-native:machinelearningservices:Compute":
        inner = get(props, "properties.properties", {})
        if inner.get("enableNodePublicIp") is not False:
            yield "compute nodes get public IPs (enableNodePublicIp is not false)"
        if inner.get("remoteLoginPortPublicAccess") not in ("Disabled", "NotSpecified", None):
            yield f"remoteLoginPortPublicAccess is {inner.get('remoteLoginPortPublicAccess')}"
    elif resource.type == "azure-native:containerservice:AgentPool" and props.get("enableNodePublicIP") is True:
        yield "node pool VMs get public IPs (enableNodePublicIP is true)"
    elif resource.type == "aws:sagemaker/domain:Domain" and props.get("appNetworkAccessType") != "VpcOnly":
        yield f"appNetworkAccessType is {props.get('appNetworkAccessType', 'PublicInternetOnly (default)')}"
    elif resource.type == "aws:sagemaker/model:Model" and not items(get(props, "vpcConfig.subnets")):
        yield "the model's containers run outside the VPC (no vpcConfig)"
    elif resource.type == SAGEMAKER_PROFILE and not items(get(props, "vpcConfig.subnets")):
        yield "training jobs run outside the VPC (the training profile has no vpcConfig.subnets)"
    elif resource.type == "kubernetes:core/v1:Service" and get(props, "spec.type") == "LoadBalancer":
        annotations = get(props, "metadata.annotations", {}) or {}
        if not any(key.endswith(("azure-load-balancer-internal", "aws-load-balancer-internal")) for key in annotations):
            yield "Service of type LoadBalancer without an internal-load-balancer annotation"


def _public_findings(resources: Sequence[Resource]) -> Iterator[Finding]:
    for resource in resources:
        for message in _public(resource):
            yield Finding(message, resource)


def protect_stateful(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """In a production stack, findings for stateful resources without `protect`."""
    return list(_protect(resources)) if is_production(resources, config) else []


def no_public_network(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """In a production stack, findings for resources reachable from (or with addresses on) the internet."""
    return list(_public_findings(resources)) if is_production(resources, config) else []


PROTECT_STATEFUL = Guardrail(
    name="prod-protect-stateful",
    description=(
        "In production, stateful resources (storage, vaults, registries, workspaces, buckets, keys) are protected."
    ),
    level=Level.mandatory,
    why_level=(
        "Mandatory: a deleted prod bucket, vault or workspace loses data for good; protect makes deletion two steps."
    ),
    remediation="Set mlops:protectStatefulResources: true in the production Pulumi.<stack>.yaml.",
    scope=Scope.stack,
    stack_rule=protect_stateful,
    config_properties=PRODUCTION_SCHEMA,
)

NO_PUBLIC_NETWORK = Guardrail(
    name="prod-no-public-network",
    description=(
        "In production, data, model and serving resources have public network access disabled, training nodes "
        "have no public IPs, the Azure ML workspace allows only approved outbound traffic and SageMaker jobs "
        "and models run in the VPC."
    ),
    level=Level.mandatory,
    why_level=(
        "Mandatory: a prod workspace, store or endpoint reachable from the internet is an open door to data and models."
    ),
    remediation=(
        "Set mlops:network.publicNetworkAccess: false in the production Pulumi.<stack>.yaml (it implies "
        "managedNetwork: AllowOnlyApprovedOutbound, no node public IPs and private endpoints; on AWS also "
        "trainingCluster.subnetIds / securityGroupIds); reach the platform through private endpoints or the VPC."
    ),
    scope=Scope.stack,
    stack_rule=no_public_network,
    config_properties=PRODUCTION_SCHEMA,
)
