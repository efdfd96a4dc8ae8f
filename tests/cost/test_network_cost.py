"""Private networking and drift alerting are priced (or listed free with a reason), never left unpriced."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ml.cost.assumptions import Assumptions
from ml.cost.estimate import estimate_plan
from ml.cost.model import CostLine, StackCost
from ml.cost.services import service_price
from ml.plan.offline import OfflinePlan

H = 730
Planned = Callable[[str], tuple[OfflinePlan, StackCost]]


def line(cost: StackCost, name: str) -> CostLine:
    found = [x for x in cost.lines if x.resource == name]
    assert len(found) == 1, [x.key for x in cost.lines]
    return found[0]


def free_types(cost: StackCost) -> set[str]:
    return {entry.split(" ", 1)[0] for entry in cost.free}


@pytest.mark.parametrize("stack", ["dev", "prod", "dev-aws", "prod-aws", "dev-k8s"])
def test_every_committed_stack_is_fully_priced(planned: Planned, stack: str) -> None:
    _, cost = planned(stack)
    assert not cost.unpriced, [x.key for x in cost.unpriced]
    assert not [w for w in cost.warnings() if w.startswith("no price")]


def test_azure_private_endpoints_by_the_hour_plus_assumed_data_and_dns_zones_by_the_month(planned: Planned) -> None:
    _, cost = planned("prod")
    gb = Assumptions().private_endpoint_gb
    per_endpoint = (
        service_price("azure:privatelink:endpoint").amount * H + gb * service_price("azure:privatelink:data").amount
    )
    for short in ("blob", "vault", "registry"):
        endpoint = line(cost, f"network-{short}-pe")
        assert endpoint.idle == endpoint.max == pytest.approx(per_endpoint)
        assert "cost:privateEndpointGb" in endpoint.basis
        assert endpoint.sources[0].url.endswith("/private-link/")
        zone = line(cost, f"network-{short}-zone")
        assert zone.idle == zone.max == service_price("azure:privatedns:zone").amount
    assert {
        "azure-native:network:VirtualNetwork",
        "azure-native:network:Subnet",
        "azure-native:network:PrivateDnsZoneGroup",
        "azure-native:privatedns:VirtualNetworkLink",
    } <= free_types(cost)


def test_azure_drift_alert_is_one_time_series_and_its_action_group_is_free(planned: Planned) -> None:
    for stack in ("dev", "prod", "dev-k8s"):
        _, cost = planned(stack)
        alert = line(cost, "drift-alert")
        assert alert.idle == alert.max == pytest.approx(service_price("azure:monitor:metric-alert").amount)
        assert alert.basis.startswith("1 monitored time series")
        assert "azure-native:monitor:ActionGroup" in free_types(cost)


def test_aws_interface_endpoints_per_az_plus_data_and_the_s3_gateway_is_free(planned: Planned) -> None:
    plan, cost = planned("prod-aws")
    gb = Assumptions().private_endpoint_gb
    interface = [
        r for r in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if r.inputs["vpcEndpointType"] == "Interface"
    ]
    assert len(interface) == 6  # SageMaker API/runtime, ECR api/dkr, CloudWatch Logs, STS
    for resource in interface:
        zones = len(resource.inputs["subnetIds"])
        assert zones == 2
        expected = (
            zones * service_price("aws:privatelink:interface-az").amount * H
            + gb * service_price("aws:privatelink:data").amount
        )
        priced = line(cost, resource.name)
        assert priced.idle == priced.max == pytest.approx(expected)
    gateway = line(cost, "network-s3")
    assert gateway.idle == gateway.max == 0.0 and "free" in gateway.note


def test_aws_drift_alarm_is_one_standard_alarm_and_sns_is_free(planned: Planned) -> None:
    for stack in ("dev-aws", "prod-aws"):
        _, cost = planned(stack)
        assert line(cost, "drift-alarm").max == service_price("aws:cloudwatch:alarm").amount
        assert {"aws:sns/topic:Topic", "aws:sns/topicSubscription:TopicSubscription"} <= free_types(cost)


def test_assumed_endpoint_traffic_moves_the_endpoint_lines(planned: Planned) -> None:
    plan, base = planned("prod-aws")
    more = estimate_plan(plan, Assumptions(private_endpoint_gb=1000))
    delta = (1000 - Assumptions().private_endpoint_gb) * service_price("aws:privatelink:data").amount
    assert line(more, "network-ecr-dkr").max == pytest.approx((line(base, "network-ecr-dkr").max or 0.0) + delta)
