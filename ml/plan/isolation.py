"""The network isolation a planned stack gets, read from the resources it declares.

Why from the plan and not from the YAML: the reviewer must see what the program will actually
build (a YAML switch that the program ignored would otherwise look fine), so every line here is
derived from a planned resource's real inputs: the workspace's managed network, the public
switches, node public IPs, the private / VPC endpoints and where jobs and models run.
"""

from __future__ import annotations

from ml.contract.declared import OfflinePlan, PlannedResource
from ml.contract.props import get, items

_PUBLIC_SWITCH = {
    "azure-native:storage:StorageAccount": "publicNetworkAccess",
    "azure-native:keyvault:Vault": "properties.publicNetworkAccess",
    "azure-native:containerregistry:Registry": "publicNetworkAccess",
    "azure-native:machinelearningservices:Workspace": "publicNetworkAccess",
}


def _short(resource: PlannedResource) -> str:
    return resource.type.rsplit(":", 1)[-1]


def _azure(plan: OfflinePlan) -> list[str]:
    lines: list[str] = []
    for workspace in plan.of_type("azure-native:machinelearningservices:Workspace"):
        mode = get(workspace.inputs, "managedNetwork.isolationMode", "Disabled (default)")
        rules = get(workspace.inputs, "managedNetwork.outboundRules", {}) or {}
        approved = sorted(str(rule.get("destination")) for rule in rules.values())
        extra = f"; approved outbound: {', '.join(approved)}" if approved else ""
        lines.append(f"workspace managed network: {mode}{extra}")
    public = sorted(
        f"{_short(r)} {get(r.inputs, path, 'Enabled (default)')}"
        for r in plan.custom_resources
        for token, path in _PUBLIC_SWITCH.items()
        if r.type == token
    )
    if public:
        lines.append("public network access: " + ", ".join(public))
    for compute in sorted(plan.of_type("azure-native:machinelearningservices:Compute"), key=lambda r: r.name):
        node_ip = get(compute.inputs, "properties.properties.enableNodePublicIp", True)
        lines.append(f"compute {compute.name}: node public IPs {'on' if node_ip is not False else 'off'}")
    for pool in sorted(plan.of_type("azure-native:containerservice:AgentPool"), key=lambda r: r.name):
        node_ip = pool.inputs.get("enableNodePublicIP", False)
        name = pool.inputs.get("agentPoolName", pool.name)
        lines.append(f"AKS pool {name}: node public IPs {'on' if node_ip is True else 'off'}")
    endpoints = sorted(
        group
        for r in plan.of_type("azure-native:network:PrivateEndpoint")
        for c in items(r.inputs.get("privateLinkServiceConnections"))
        for group in items(c.get("groupIds"))
    )
    zones = sorted(str(r.inputs.get("privateZoneName")) for r in plan.of_type("azure-native:privatedns:PrivateZone"))
    lines.append(f"private endpoints: {', '.join(endpoints) if endpoints else 'none'}")
    if zones:
        lines.append(f"private DNS zones: {', '.join(zones)}")
    return lines


def _aws(plan: OfflinePlan) -> list[str]:
    lines: list[str] = []
    for profile in plan.of_type("mlops:aws:GpuTrainingCluster"):
        subnets = items(get(profile.inputs, "vpcConfig.subnets"))
        lines.append(f"training jobs: {'in subnets ' + ', '.join(subnets) if subnets else 'outside any VPC'}")
    for model in plan.of_type("aws:sagemaker/model:Model"):
        subnets = items(get(model.inputs, "vpcConfig.subnets"))
        lines.append(f"model {model.name}: {'in subnets ' + ', '.join(subnets) if subnets else 'outside any VPC'}")
    for domain in plan.of_type("aws:sagemaker/domain:Domain"):
        lines.append(f"Studio domain: {domain.inputs.get('appNetworkAccessType', 'PublicInternetOnly')}")
    endpoints = sorted(
        f"{str(r.inputs.get('serviceName', '')).split('.', 3)[-1]} ({r.inputs.get('vpcEndpointType')})"
        for r in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    )
    lines.append(f"VPC endpoints: {', '.join(endpoints) if endpoints else 'none'}")
    return lines


def isolation_summary(plan: OfflinePlan) -> list[str]:
    """One line per isolation fact of the planned stack ([] when it declares no Azure ML or SageMaker)."""
    types = {r.type for r in plan.resources}
    if "azure-native:machinelearningservices:Workspace" in types:
        return _azure(plan)
    if "mlops:aws:GpuTrainingCluster" in types:
        return _aws(plan)
    return []
