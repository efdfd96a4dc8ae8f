"""Azure (azure-native) for the offline plan: provider outputs, invoke answers, key inputs to show."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pulumi

from ml.plan.providers.base import Summary, pick_paths

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
TENANT_ID = "11111111-1111-1111-1111-111111111111"
PACKAGE = "azure-native"

# Which input carries the physical name of an azure-native resource.
_AZURE_NAME_INPUTS = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:storage:BlobContainer": "containerName",
    "azure-native:storage:BlobServiceProperties": "blobServicesName",
    "azure-native:storage:ManagementPolicy": "managementPolicyName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:operationalinsights:Workspace": "workspaceName",
    "azure-native:applicationinsights:Component": "resourceName",
    "azure-native:containerregistry:Registry": "registryName",
    "azure-native:machinelearningservices:Workspace": "workspaceName",
    "azure-native:machinelearningservices:Compute": "computeName",
    "azure-native:machinelearningservices:OnlineEndpoint": "endpointName",
    "azure-native:machinelearningservices:OnlineDeployment": "deploymentName",
    "azure-native:monitor:AutoscaleSetting": "autoscaleSettingName",
    "azure-native:consumption:Budget": "budgetName",
    "azure-native:containerservice:AgentPool": "agentPoolName",
    "azure-native:network:VirtualNetwork": "virtualNetworkName",
    "azure-native:network:Subnet": "subnetName",
    "azure-native:network:PrivateEndpoint": "privateEndpointName",
    "azure-native:network:PrivateDnsZoneGroup": "privateDnsZoneGroupName",
    "azure-native:privatedns:PrivateZone": "privateZoneName",
    "azure-native:privatedns:VirtualNetworkLink": "virtualNetworkLinkName",
}


def fill_outputs(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    inputs = args.inputs
    name = inputs.get(_AZURE_NAME_INPUTS.get(args.typ, ""), args.name)
    group = inputs.get("resourceGroupName", name)
    provider = args.typ.split(":")[1]
    state: dict[str, Any] = {
        **inputs,
        "name": name,
        "id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}/providers/{provider}/{name}",
    }
    location = inputs.get("location", "westeurope")
    if args.typ == "azure-native:machinelearningservices:Workspace":
        state["mlFlowTrackingUri"] = (
            f"azureml://{location}.api.azureml.ms/mlflow/v1.0/subscriptions/{SUBSCRIPTION_ID}"
            f"/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/workspaces/{name}"
        )
        # The workspace GUID names its default blob container (azureml-blobstore-<guid>).
        state["workspaceId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{group}/{name}"))
    if args.typ == "azure-native:machinelearningservices:OnlineEndpoint":
        state["properties"] = {
            **inputs.get("properties", {}),
            "scoringUri": f"https://{name}.{location}.inference.ml.azure.com/score",
        }
    return state


def _placeholder_kubeconfig(cluster: str) -> str:
    server = f"https://{cluster}.hcp.westeurope.azmk8s.io:443"
    document = (
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n"
        f"contexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: offline-plan\n"
        f"current-context: {cluster}\nusers:\n- name: offline-plan\n  user: {{}}\n"
    )
    return base64.b64encode(document.encode()).decode()


INVOKES = {
    "azure-native:authorization:getClientConfig": lambda _: {
        "clientId": "22222222-2222-2222-2222-222222222222",
        "objectId": "33333333-3333-3333-3333-333333333333",
        "subscriptionId": SUBSCRIPTION_ID,
        "tenantId": TENANT_ID,
    },
    # A placeholder kubeconfig (base64, as the API returns it) for the AKS serving provider.
    "azure-native:containerservice:listManagedClusterUserCredentials": lambda args: {
        "kubeconfigs": [{"name": "clusterUser", "value": _placeholder_kubeconfig(args.get("resourceName", "aks"))}]
    },
    "azure-native:machinelearningservices:listOnlineEndpointKeys": lambda _: {
        "primaryKey": "offline-plan-placeholder-key",
        "secondaryKey": "offline-plan-placeholder-key-2",
    },
}


def _lifecycle(inputs: dict[str, Any]) -> dict[str, Any]:
    rules = {}
    for rule in inputs.get("policy", {}).get("rules", []):
        definition = rule["definition"]
        prefixes = ",".join(definition["filters"].get("prefixMatch", []))
        actions = {
            f"{target}.{action}": int(next(iter(when.values())))
            for target, steps in definition["actions"].items()
            for action, when in steps.items()
        }
        rules[prefixes] = actions
    return {"rules": rules}


def _autoscale(inputs: dict[str, Any]) -> dict[str, Any]:
    profile = inputs["profiles"][0]
    rules = [
        f"{r['scaleAction']['direction']} when {r['metricTrigger']['metricName']} "
        f"{r['metricTrigger']['operator']} {r['metricTrigger']['threshold']:g} "
        f"(cooldown {r['scaleAction']['cooldown']})"
        for r in profile["rules"]
    ]
    return {"capacity": profile["capacity"], "rules": rules}


def _budget(inputs: dict[str, Any]) -> dict[str, Any]:
    thresholds = [f"{n['thresholdType']} {n['threshold']:g}%" for n in inputs.get("notifications", {}).values()]
    emails = sorted({e for n in inputs.get("notifications", {}).values() for e in n["contactEmails"]})
    return {"amount": inputs.get("amount"), "timeGrain": inputs.get("timeGrain"), "alerts": thresholds, "to": emails}


def _workspace(inputs: dict[str, Any]) -> dict[str, Any]:
    network = inputs.get("managedNetwork") or {}
    summary = pick_paths("identity.type", "publicNetworkAccess")(inputs)
    summary["isolationMode"] = network.get("isolationMode", "Disabled (default)")
    rules = network.get("outboundRules") or {}
    if rules:
        summary["approvedOutbound"] = sorted(str(rule.get("destination")) for rule in rules.values())
    return summary


def _private_endpoint(inputs: dict[str, Any]) -> dict[str, Any]:
    connections = inputs.get("privateLinkServiceConnections") or []
    return {
        "groupIds": [group for c in connections for group in c.get("groupIds", [])],
        "target": [str(c.get("privateLinkServiceId", "")).rsplit("/", 1)[-1] for c in connections],
    }


KEY_INPUTS: dict[str, Summary] = {
    "azure-native:network:VirtualNetwork": pick_paths("addressSpace.addressPrefixes"),
    "azure-native:network:Subnet": pick_paths("addressPrefix", "privateEndpointNetworkPolicies"),
    "azure-native:network:PrivateEndpoint": _private_endpoint,
    "azure-native:privatedns:PrivateZone": pick_paths("privateZoneName"),
    "azure-native:resources:ResourceGroup": pick_paths("location"),
    "azure-native:storage:StorageAccount": pick_paths(
        "sku.name", "minimumTlsVersion", "allowBlobPublicAccess", "publicNetworkAccess", "enableHttpsTrafficOnly"
    ),
    "azure-native:storage:BlobServiceProperties": pick_paths("isVersioningEnabled", "deleteRetentionPolicy.days"),
    "azure-native:storage:BlobContainer": pick_paths("publicAccess"),
    "azure-native:storage:ManagementPolicy": _lifecycle,
    "azure-native:keyvault:Vault": pick_paths(
        "properties.enableRbacAuthorization",
        "properties.softDeleteRetentionInDays",
        "properties.enablePurgeProtection",
        "properties.publicNetworkAccess",
    ),
    "azure-native:containerregistry:Registry": pick_paths("sku.name", "adminUserEnabled", "publicNetworkAccess"),
    "azure-native:machinelearningservices:Workspace": _workspace,
    "azure-native:machinelearningservices:Compute": pick_paths(
        "properties.properties.vmSize",
        "properties.properties.vmPriority",
        "properties.properties.enableNodePublicIp",
        "properties.properties.scaleSettings.minNodeCount",
        "properties.properties.scaleSettings.maxNodeCount",
        "properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown",
    ),
    "azure-native:machinelearningservices:OnlineEndpoint": pick_paths(
        "properties.authMode", "properties.publicNetworkAccess"
    ),
    "azure-native:machinelearningservices:OnlineDeployment": pick_paths(
        "properties.model", "properties.instanceType", "sku.capacity", "properties.dataCollector"
    ),
    "azure-native:monitor:AutoscaleSetting": _autoscale,
    "azure-native:consumption:Budget": _budget,
    "azure-native:containerservice:AgentPool": pick_paths(
        "vmSize",
        "scaleSetPriority",
        "scaleSetEvictionPolicy",
        "spotMaxPrice",
        "enableAutoScaling",
        "minCount",
        "maxCount",
        "nodeTaints",
        "nodeLabels",
    ),
}
