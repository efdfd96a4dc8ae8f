"""Cost rules for private networking and alerting: private / VPC endpoints, private DNS, metric alarms.

Why apart from `ml/cost/rules.py`: these bill small fixed fees per declared item (an endpoint by the
hour, a zone or an alarm by the month) plus, for endpoints, the data they process, which the plan
cannot know and prices as the assumed `cost:privateEndpointGb` per endpoint. None of them scales
with load, so each line costs the same idle and at max. Their free companions (VNet, subnet, DNS
zone group and links, action group, SNS) are in `ml/cost/free.py` with the reason.
"""

from __future__ import annotations

from ml.contract.declared import PlannedResource
from ml.contract.props import get
from ml.cost.model import CostLine
from ml.cost.rule_kit import Context, Rule, monthly, no_price, service
from ml.cost.services import find_service_price


def _endpoint_hours_and_data(
    resource: PlannedResource, ctx: Context, *, hour_key: str, data_key: str, units: int, what: str
) -> CostLine:
    """`units` hourly fees for 730 h plus the assumed GB processed through the endpoint."""
    hourly, data = find_service_price(hour_key), find_service_price(data_key)
    gb = ctx.assumptions.private_endpoint_gb
    basis = f"{units} x {what} + {gb:g} GB processed (assumed, cost:privateEndpointGb)"
    if hourly is None or data is None:
        missing = hour_key if hourly is None else data_key
        return no_price(resource, basis, f"no '{missing}' in ml/cost/services.py; add it with its source.")
    per_month = units * monthly(hourly) + gb * data.amount
    return CostLine(
        resource.name,
        resource.type,
        f"{basis} at {hourly.amount:g}/hour, {data.amount:g}/GB",
        per_month,
        per_month,
        sources=(hourly.source,),
    )


# --- Azure -------------------------------------------------------------------------------------


def private_endpoint(resource: PlannedResource, ctx: Context) -> CostLine:
    """Azure private endpoint: 0.01 USD/h while it exists plus data processed (both directions bill)."""
    return _endpoint_hours_and_data(
        resource,
        ctx,
        hour_key="azure:privatelink:endpoint",
        data_key="azure:privatelink:data",
        units=1,
        what="endpoint",
    )


def private_dns_zone(resource: PlannedResource, ctx: Context) -> CostLine:
    return service(resource, "azure:privatedns:zone", "1 private DNS zone", note="queries not modelled (0.40/million)")


def metric_alert(resource: PlannedResource, ctx: Context) -> CostLine:
    """Azure Monitor metric alert: one monitored time series per criterion, more when a dimension splits it."""
    criteria = get(resource.inputs, "criteria.allOf") or []
    series = max(len(criteria), 1)
    split = any(dimension for criterion in criteria for dimension in (criterion.get("dimensions") or []))
    note = "each value of a split dimension is one more time series" if split else ""
    return service(resource, "azure:monitor:metric-alert", f"{series} monitored time series", series, note)


# --- AWS ---------------------------------------------------------------------------------------


def vpc_endpoint(resource: PlannedResource, ctx: Context) -> CostLine:
    """Interface endpoint: 0.01 USD/h per AZ (one per subnet) plus data; a gateway endpoint (S3) is free."""
    kind = str(resource.inputs.get("vpcEndpointType") or "Gateway")
    service_name = str(resource.inputs.get("serviceName", "?")).rsplit(".", 1)[-1]
    if kind == "Gateway":
        return CostLine(
            resource.name, resource.type, f"gateway endpoint ({service_name})", 0.0, 0.0, "gateway endpoints are free"
        )
    zones = len(resource.inputs.get("subnetIds") or []) or 1
    return _endpoint_hours_and_data(
        resource,
        ctx,
        hour_key="aws:privatelink:interface-az",
        data_key="aws:privatelink:data",
        units=zones,
        what=f"AZ ({kind.lower()} endpoint, one per subnet)",
    )


def metric_alarm(resource: PlannedResource, ctx: Context) -> CostLine:
    return service(resource, "aws:cloudwatch:alarm", "1 alarm")


NETWORK_RULES: dict[str, Rule] = {
    "azure-native:network:PrivateEndpoint": private_endpoint,
    "azure-native:privatedns:PrivateZone": private_dns_zone,
    "azure-native:monitor:MetricAlert": metric_alert,
    "aws:ec2/vpcEndpoint:VpcEndpoint": vpc_endpoint,
    "aws:cloudwatch/metricAlarm:MetricAlarm": metric_alarm,
}


__all__ = ["NETWORK_RULES"]
