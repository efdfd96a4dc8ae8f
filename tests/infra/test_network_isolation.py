"""Network isolation from `mlops:network`: the real inputs under mocks for dev and prod, on both clouds,
what `ml plan` summarises, and the budget-fit warning."""

from __future__ import annotations

import pytest

from ml.contract.declared import OfflinePlan
from ml.cost.estimate import estimate_plan
from ml.plan.budget_fit import budget_warnings
from ml.plan.isolation import isolation_summary
from ml.plan.offline import run_offline
from ml.plan.report import assumptions_for
from tests.infra.helpers import plan_stack, stack_config, with_changes


@pytest.fixture(scope="module")
def plans() -> dict[str, OfflinePlan]:
    return {stack: plan_stack(stack) for stack in ("dev", "prod", "dev-aws", "prod-aws")}


def test_prod_workspace_allows_only_approved_outbound(plans: dict[str, OfflinePlan]) -> None:
    prod = plans["prod"].one("azure-native:machinelearningservices:Workspace").inputs
    assert prod["managedNetwork"] == {
        "isolationMode": "AllowOnlyApprovedOutbound",
        "outboundRules": {
            "allow-pypi-org": {"type": "FQDN", "category": "UserDefined", "destination": "pypi.org"},
            "allow-files-pythonhosted-org": {
                "type": "FQDN",
                "category": "UserDefined",
                "destination": "files.pythonhosted.org",
            },
        },
    }
    dev = plans["dev"].one("azure-native:machinelearningservices:Workspace").inputs
    assert dev["managedNetwork"] == {"isolationMode": "Disabled"}


def test_training_nodes_have_no_public_ip_in_prod(plans: dict[str, OfflinePlan]) -> None:
    for stack, expected in (("prod", False), ("dev", True)):
        computes = plans[stack].of_type("azure-native:machinelearningservices:Compute")
        assert len(computes) == 2
        for compute in computes:
            assert compute.inputs["properties"]["properties"]["enableNodePublicIp"] is expected, (stack, compute.name)


def test_prod_has_private_endpoints_with_dns_zones(plans: dict[str, OfflinePlan]) -> None:
    prod = plans["prod"]
    endpoints = {
        r.inputs["privateEndpointName"]: r.inputs for r in prod.of_type("azure-native:network:PrivateEndpoint")
    }
    assert sorted(endpoints) == ["pe-mlopsprod-blob", "pe-mlopsprod-registry", "pe-mlopsprod-vault"]
    targets = {
        name: (c["groupIds"], c["privateLinkServiceId"].rsplit("/", 1)[-1])
        for name, inputs in endpoints.items()
        for c in inputs["privateLinkServiceConnections"]
    }
    assert targets == {
        "pe-mlopsprod-blob": (["blob"], "mlopsprodst"),
        "pe-mlopsprod-vault": (["vault"], "kv-mlopsprod"),
        "pe-mlopsprod-registry": (["registry"], "mlopsprodacr"),
    }
    for inputs in endpoints.values():
        assert inputs["subnet"]["id"].endswith("/snet-private-endpoints")
    zones = sorted(r.inputs["privateZoneName"] for r in prod.of_type("azure-native:privatedns:PrivateZone"))
    assert zones == ["privatelink.azurecr.io", "privatelink.blob.core.windows.net", "privatelink.vaultcore.azure.net"]
    links = prod.of_type("azure-native:privatedns:VirtualNetworkLink")
    assert {link.inputs["virtualNetwork"]["id"].rsplit("/", 1)[-1] for link in links} == {"vnet-mlopsprod"}
    groups = prod.of_type("azure-native:network:PrivateDnsZoneGroup")
    assert sorted(g.inputs["privateEndpointName"] for g in groups) == sorted(endpoints)
    subnet = prod.one("azure-native:network:Subnet").inputs
    assert (subnet["addressPrefix"], subnet["privateEndpointNetworkPolicies"]) == ("10.42.1.0/24", "Disabled")
    assert prod.one("azure-native:network:VirtualNetwork").inputs["addressSpace"] == {
        "addressPrefixes": ["10.42.0.0/16"]
    }
    for token in ("azure-native:network:PrivateEndpoint", "azure-native:network:VirtualNetwork"):
        assert plans["dev"].of_type(token) == []


def test_prod_aws_has_vpc_endpoints_in_its_private_subnets(plans: dict[str, OfflinePlan]) -> None:
    endpoints = {
        r.inputs["serviceName"]: r.inputs for r in plans["prod-aws"].of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    region = "com.amazonaws.eu-west-1"
    assert sorted(endpoints) == sorted(
        f"{region}.{s}" for s in ("s3", "sagemaker.api", "sagemaker.runtime", "ecr.api", "ecr.dkr", "logs", "sts")
    )
    s3 = endpoints[f"{region}.s3"]
    assert (s3["vpcEndpointType"], s3["routeTableIds"], s3["vpcId"]) == (
        "Gateway",
        ["rtb-0e1f2a3b4c5d60722"],
        "vpc-0d1e2f3a4b5c60721",
    )
    # logs: training jobs and endpoints in subnets without NAT write their container logs through it;
    # sts: the SDKs in those containers fetch role credentials through it.
    for service in ("sagemaker.api", "sagemaker.runtime", "ecr.api", "ecr.dkr", "logs", "sts"):
        inputs = endpoints[f"{region}.{service}"]
        assert inputs["vpcEndpointType"] == "Interface"
        assert inputs["privateDnsEnabled"] is True
        assert inputs["subnetIds"] == ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60719"]
        assert inputs["securityGroupIds"] == ["sg-0c1d2e3f4a5b60720"]
    assert plans["dev-aws"].of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []


def test_aws_vpc_endpoints_follow_the_isolation_switch_not_the_stack_name() -> None:
    """The prod YAML with isolation switched off declares no endpoint at all, Logs and STS included."""
    config = with_changes(stack_config("prod-aws"), {"network.privateEndpoints": False})
    assert run_offline(config).of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []


def test_aws_jobs_and_models_run_in_the_private_subnets(plans: dict[str, OfflinePlan]) -> None:
    prod = plans["prod-aws"]
    subnets = ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60719"]
    assert prod.outputs["training"]["subnet_ids"] == subnets
    assert prod.outputs["training"]["security_group_ids"] == ["sg-0c1d2e3f4a5b60720"]
    profile = prod.one("mlops:aws:GpuTrainingCluster").inputs
    assert profile["vpcConfig"] == {"subnets": subnets, "securityGroupIds": ["sg-0c1d2e3f4a5b60720"]}
    model = prod.one("aws:sagemaker/model:Model").inputs
    assert model["vpcConfig"]["subnets"] == subnets


def test_plan_summarises_isolation(plans: dict[str, OfflinePlan]) -> None:
    prod = isolation_summary(plans["prod"])
    assert (
        prod[0]
        == "workspace managed network: AllowOnlyApprovedOutbound; approved outbound: files.pythonhosted.org, pypi.org"
    )
    assert "compute training-gpu: node public IPs off" in prod
    assert "private endpoints: blob, registry, vault" in prod
    assert "workspace managed network: Disabled" in isolation_summary(plans["dev"])
    assert "private endpoints: none" in isolation_summary(plans["dev"])
    aws = isolation_summary(plans["prod-aws"])
    assert "training jobs: in subnets subnet-0a1b2c3d4e5f60718, subnet-0b1c2d3e4f5a60719" in aws
    assert "Studio domain: VpcOnly" in aws
    assert (
        "VPC endpoints: ecr.api (Interface), ecr.dkr (Interface), logs (Interface), s3 (Gateway), "
        "sagemaker.api (Interface), sagemaker.runtime (Interface), sts (Interface)"
    ) in aws
    assert "training jobs: outside any VPC" in isolation_summary(plans["dev-aws"])


def test_budget_far_above_the_maximum_scale_estimate_is_warned() -> None:
    config = with_changes(stack_config("dev"), {"budget.amount": 50000})
    cost = estimate_plan(run_offline(config), assumptions_for(config))
    [warning] = budget_warnings(cost)
    assert warning.startswith("budget 'budget-mlopsdev' (50,000.00 USD) is ")
    assert "x the stack's maximum-scale estimate (" in warning
    assert "lower mlops:budget.amount towards" in warning
    dev = stack_config("dev")
    assert budget_warnings(estimate_plan(run_offline(dev), assumptions_for(dev))) == []
