"""Per resource type: how a planned resource's inputs turn into a monthly cost line.

Why one small function per billed type: each reads the inputs that decide the bill (SKU, node
bounds, priority, tier, replicas and requests) exactly as the program declared them, so a config
change shows up in the estimate and in `ml plan --against`. Types that bill nothing by themselves
are in `FREE` (`ml/cost/free.py`) with the reason; private networking and alerting rules are in
`ml/cost/network_rules.py`; anything else without a rule is reported as "no price".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ml.contract.declared import PlannedResource
from ml.contract.props import get
from ml.cost.free import FREE
from ml.cost.hosting import POD_BASIS, find_ec2_price, find_hosting_price
from ml.cost.model import CostLine, SpotSaving
from ml.cost.network_rules import NETWORK_RULES
from ml.cost.prices import InstancePrice, find_price
from ml.cost.rule_kit import Context, H, Rule, as_int, no_price, service
from ml.cost.services import service_price


def _pool(
    resource: PlannedResource,
    ctx: Context,
    *,
    price: InstancePrice | None,
    instance_type: str,
    low: int,
    high: int,
    spot: bool,
    training: bool,
    where: str,
) -> CostLine:
    """A pool of identical instances between `low` and `high`: idle at `low`, max at `high`, 730 h."""
    capacity = "spot" if spot else "on-demand"
    basis = f"{low}..{high} x {instance_type} {capacity}"
    if price is None:
        return no_price(resource, basis, f"'{instance_type}' is not in {where}; add it with its source.")
    hourly = price.per_hour(spot=spot)
    if spot and training:
        ctx.spot.append(
            SpotSaving(resource.name, price.instance_type, high, high * price.on_demand_per_hour * H, high * hourly * H)
        )
    note = "" if low == 0 else f"{low} always on"
    return CostLine(
        resource.name,
        resource.type,
        f"{basis} at {hourly:g}/h",
        low * hourly * H,
        high * hourly * H,
        note,
        (price.source,),
    )


# --- Azure -------------------------------------------------------------------------------------


def aml_compute(resource: PlannedResource, ctx: Context) -> CostLine:
    """AmlCompute training cluster: vmSize x min..maxNodeCount, low priority = spot price."""
    props = get(resource.inputs, "properties.properties") or {}
    vm = str(props.get("vmSize", "?"))
    scale = props.get("scaleSettings") or {}
    return _pool(
        resource,
        ctx,
        price=find_price(vm),
        instance_type=vm,
        low=as_int(scale.get("minNodeCount")),
        high=as_int(scale.get("maxNodeCount")),
        spot=str(props.get("vmPriority", "Dedicated")) == "LowPriority",
        training=True,
        where="ml/cost/prices.py",
    )


def _autoscale_bounds(ctx: Context, target_suffix: str) -> tuple[int, int] | None:
    for setting in ctx.plan.of_type("azure-native:monitor:AutoscaleSetting"):
        uri = str(setting.inputs.get("targetResourceUri") or "")
        if uri.endswith(target_suffix):
            capacity = setting.inputs["profiles"][0]["capacity"]
            return as_int(capacity.get("minimum")), as_int(capacity.get("maximum"))
    return None


def online_deployment(resource: PlannedResource, ctx: Context) -> CostLine:
    """Managed online deployment: instance type x capacity, bounded by its autoscale setting."""
    props = resource.inputs.get("properties") or {}
    sku = str(props.get("instance_type") or props.get("instanceType") or "?")
    capacity = as_int(get(resource.inputs, "sku.capacity"), 1)
    low, high = _autoscale_bounds(ctx, f"/{resource.inputs.get('deploymentName', resource.name)}") or (
        capacity,
        capacity,
    )
    return _pool(
        resource,
        ctx,
        price=find_price(sku),
        instance_type=sku,
        low=low,
        high=high,
        spot=False,
        training=False,
        where="ml/cost/prices.py (Azure VM sizes)",
    )


def online_endpoint(resource: PlannedResource, ctx: Context) -> CostLine:
    """An endpoint bills through its deployments; with none planned, price what `ml deploy` will add."""
    endpoint_name = resource.inputs.get("endpointName")
    planned = [
        d
        for d in ctx.plan.of_type("azure-native:machinelearningservices:OnlineDeployment")
        if d.inputs.get("endpointName") == endpoint_name
    ]
    if planned:
        return CostLine(resource.name, resource.type, "billed through its deployments", 0.0, 0.0)
    return _expected_deployment(resource, ctx, find_price, "ml/cost/prices.py (Azure VM sizes)")


def _expected_deployment(
    resource: PlannedResource,
    ctx: Context,
    lookup: Callable[[str], InstancePrice | None],
    where: str,
) -> CostLine:
    endpoint = ctx.plan.outputs.get("endpoint") or {}
    autoscale = endpoint.get("autoscale") or {}
    sku = str(endpoint.get("instance_type", "?"))
    line = _pool(
        resource,
        ctx,
        price=lookup(sku),
        instance_type=sku,
        low=as_int(autoscale.get("min_instances"), 1),
        high=as_int(autoscale.get("max_instances"), 1),
        spot=False,
        training=False,
        where=where,
    )
    note = "no deployment in this plan: priced as the first `ml deploy` (mlops:endpoint min..maxInstances)"
    return CostLine(line.resource, line.type, line.basis, line.idle, line.max, note, line.sources)


def container_registry(resource: PlannedResource, ctx: Context) -> CostLine:
    tier = str(get(resource.inputs, "sku.name") or "?")
    return service(resource, f"azure:acr:{tier}", f"{tier} tier")


def storage_account(resource: PlannedResource, ctx: Context) -> CostLine:
    sku = str(get(resource.inputs, "sku.name") or "?")
    gb = ctx.assumptions.storage_gb
    return service(resource, f"azure:blob:{sku}", f"{gb:g} GB {sku} hot (assumed, cost:storageGb)", gb)


def key_vault(resource: PlannedResource, ctx: Context) -> CostLine:
    sku = str(get(resource.inputs, "properties.sku.name") or "standard")
    ops = ctx.assumptions.key_vault_operations
    return service(
        resource, f"azure:keyvault:{sku}", f"{ops:,.0f} operations (assumed, cost:keyVaultOperations)", ops / 10_000
    )


def log_analytics(resource: PlannedResource, ctx: Context) -> CostLine:
    sku = str(get(resource.inputs, "sku.name") or "PerGB2018")
    gb = ctx.assumptions.log_ingestion_gb
    return service(
        resource,
        f"azure:loganalytics:{sku}",
        f"{gb:g} GB ingested (assumed, cost:logIngestionGb)",
        gb,
        note="includes workspace-based App Insights; 5 GB free tier not applied",
    )


def agent_pool(resource: PlannedResource, ctx: Context) -> CostLine:
    """AKS node pool: vmSize x minCount..maxCount (count when not autoscaled), Spot priority = spot price."""
    inputs = resource.inputs
    vm = str(inputs.get("vmSize", "?"))
    autoscale = bool(inputs.get("enableAutoScaling"))
    count = as_int(inputs.get("count"), 1)
    return _pool(
        resource,
        ctx,
        price=find_price(vm),
        instance_type=vm,
        low=as_int(inputs.get("minCount")) if autoscale else count,
        high=as_int(inputs.get("maxCount")) if autoscale else count,
        spot=inputs.get("scaleSetPriority") == "Spot",
        training=True,
        where="ml/cost/prices.py (Azure VM sizes)",
    )


def managed_cluster(resource: PlannedResource, ctx: Context) -> CostLine:
    tier = str(get(resource.inputs, "sku.tier") or "Free")
    return service(resource, f"azure:aks:{tier}", f"AKS control plane, {tier} tier (node pools priced apart)")


# --- AWS ---------------------------------------------------------------------------------------


def _variant_bounds(ctx: Context, variant: str) -> tuple[int, int] | None:
    for target in ctx.plan.of_type("aws:appautoscaling/target:Target"):
        if str(target.inputs.get("resourceId", "")).endswith(f"/variant/{variant}"):
            return as_int(target.inputs.get("minCapacity")), as_int(target.inputs.get("maxCapacity"))
    return None


def endpoint_configuration(resource: PlannedResource, ctx: Context) -> CostLine:
    """SageMaker real-time variants: instanceType x initial count, bounded by the scaling target."""
    lines = []
    for variant in resource.inputs.get("productionVariants", []):
        sku = str(variant.get("instanceType", "?"))
        count = as_int(variant.get("initialInstanceCount"), 1)
        low, high = _variant_bounds(ctx, str(variant.get("variantName"))) or (count, count)
        lines.append(
            _pool(
                resource,
                ctx,
                price=find_hosting_price(sku),
                instance_type=sku,
                low=low,
                high=high,
                spot=False,
                training=False,
                where="ml/cost/hosting.py (SageMaker hosting)",
            )
        )
    if not lines:
        return no_price(resource, "no production variants", "serverless or empty configs are not modelled")
    if len(lines) == 1:
        return lines[0]
    if not all(line.priced for line in lines):
        return no_price(resource, "; ".join(line.basis for line in lines), "a variant's instance type has no price")
    return CostLine(
        resource.name,
        resource.type,
        "; ".join(line.basis for line in lines),
        sum(line.idle or 0.0 for line in lines),
        sum(line.max or 0.0 for line in lines),
        sources=lines[0].sources,
    )


def tracking_server(resource: PlannedResource, ctx: Context) -> CostLine:
    size = str(resource.inputs.get("trackingServerSize") or "Small")
    return service(resource, f"aws:mlflow:{size}", f"{size} tracking server, always on")


def kms_key(resource: PlannedResource, ctx: Context) -> CostLine:
    return service(resource, "aws:kms:key", "1 customer managed key (requests not modelled)")


def s3_bucket(resource: PlannedResource, ctx: Context) -> CostLine:
    gb = ctx.assumptions.storage_gb
    return service(
        resource,
        "aws:s3:STANDARD",
        f"{gb:g} GB Standard (assumed, cost:storageGb)",
        gb,
        note="lifecycle tiering to cheaper classes would lower it",
    )


def eks_node_group(resource: PlannedResource, ctx: Context) -> CostLine:
    inputs = resource.inputs
    types = inputs.get("instanceTypes") or ["?"]
    scaling = inputs.get("scalingConfig") or {}
    return _pool(
        resource,
        ctx,
        price=find_ec2_price(str(types[0])),
        instance_type=str(types[0]),
        low=as_int(scaling.get("minSize")),
        high=as_int(scaling.get("maxSize")),
        spot=str(inputs.get("capacityType", "ON_DEMAND")) == "SPOT",
        training=True,
        where="ml/cost/hosting.py (EC2)",
    )


def eks_cluster(resource: PlannedResource, ctx: Context) -> CostLine:
    return service(resource, "aws:eks:control-plane", "EKS control plane (node groups priced apart)")


# --- Kubernetes --------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_MEMORY_UNITS = {
    "": 1 / 2**30,
    "Ki": 1 / 2**20,
    "Mi": 1 / 2**10,
    "Gi": 1.0,
    "Ti": 2**10,
    "M": 1e6 / 2**30,
    "G": 1e9 / 2**30,
}


def cpu_quantity(value: Any) -> float:
    """Kubernetes CPU quantity ('500m', '1', 2) in vCPUs."""
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_gib(value: Any) -> float:
    """Kubernetes memory quantity ('1Gi', '512Mi', '2G') in GiB."""
    match = _QUANTITY.match(str(value))
    if match is None or match.group(2) not in _MEMORY_UNITS:
        raise ValueError(f"not a memory quantity: {value!r}")
    return float(match.group(1)) * _MEMORY_UNITS[match.group(2)]


def _hpa_bounds(ctx: Context, deployment: str) -> tuple[int, int] | None:
    for hpa in ctx.plan.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler"):
        spec = hpa.inputs.get("spec") or {}
        if (spec.get("scaleTargetRef") or {}).get("name") == deployment:
            return as_int(spec.get("minReplicas"), 1), as_int(spec.get("maxReplicas"), 1)
    return None


def k8s_deployment(resource: PlannedResource, ctx: Context) -> CostLine:
    """Pods on an existing cluster: replicas (or HPA min..max) x the share of a node their requests reserve."""
    spec = resource.inputs.get("spec") or {}
    pod = get(spec, "template.spec") or {}
    name = get(resource.inputs, "metadata.name") or resource.name
    cpu = memory = 0.0
    for container in pod.get("containers", []):
        requests = get(container, "resources.requests") or {}
        cpu += cpu_quantity(requests.get("cpu", 0))
        memory += memory_gib(requests.get("memory", 0))
    replicas = spec.get("replicas")
    if replicas is None:
        low, high = _hpa_bounds(ctx, str(name)) or (1, 1)
    else:
        low = high = as_int(replicas)
    hourly = POD_BASIS.per_hour(cpu=cpu, memory_gib=memory)
    basis = f"{low}..{high} pods x {cpu:g} vCPU + {memory:g} GiB requested at {hourly:g}/h"
    return CostLine(
        resource.name,
        resource.type,
        basis,
        low * hourly * H,
        high * hourly * H,
        "share of the existing cluster's nodes",
        (POD_BASIS.source,),
    )


RULES: dict[str, Rule] = {
    "azure-native:machinelearningservices:Compute": aml_compute,
    "azure-native:machinelearningservices:OnlineDeployment": online_deployment,
    "azure-native:machinelearningservices:OnlineEndpoint": online_endpoint,
    "azure-native:containerregistry:Registry": container_registry,
    "azure-native:storage:StorageAccount": storage_account,
    "azure-native:keyvault:Vault": key_vault,
    "azure-native:operationalinsights:Workspace": log_analytics,
    "azure-native:containerservice:AgentPool": agent_pool,
    "azure-native:containerservice:ManagedCluster": managed_cluster,
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": endpoint_configuration,
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": tracking_server,
    "aws:kms/key:Key": kms_key,
    "aws:s3/bucket:Bucket": s3_bucket,
    "aws:eks/nodeGroup:NodeGroup": eks_node_group,
    "aws:eks/cluster:Cluster": eks_cluster,
    "kubernetes:apps/v1:Deployment": k8s_deployment,
    **NETWORK_RULES,
}


def price_resource(resource: PlannedResource, ctx: Context) -> CostLine | None:
    """The resource's cost line; None when its type bills nothing by itself (see `FREE`)."""
    rule = RULES.get(resource.type)
    if rule is not None:
        return rule(resource, ctx)
    if resource.type in FREE:
        return None
    return no_price(
        resource, resource.type, "no cost rule for this type in ml/cost/rules.py or network_rules.py, nor in free.py"
    )


def training_jobs(ctx: Context) -> CostLine | None:
    """SageMaker training runs as jobs, not resources: price the stack's `training` profile (0..max)."""
    if ctx.plan.outputs.get("cloud") != "aws":
        return None
    training = ctx.plan.outputs.get("training") or {}
    sku = str(training.get("instance_type", "?"))
    pseudo = PlannedResource(
        urn="",
        type="aws:sagemaker:TrainingJob",
        name=f"{training.get('name', 'training')} (jobs)",
        parent_urn="",
        custom=True,
        protect=False,
        inputs={},
    )
    return _pool(
        pseudo,
        ctx,
        price=find_price(sku),
        instance_type=sku,
        low=as_int(training.get("min_nodes")),
        high=as_int(training.get("max_nodes"), 1),
        spot=bool(training.get("spot")),
        training=True,
        where="ml/cost/prices.py",
    )


__all__ = ["FREE", "RULES", "Context", "price_resource", "service_price", "training_jobs"]
