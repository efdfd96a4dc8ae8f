"""AWS stack config: every bad value stops the program with one message naming key, value and rule."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, load_settings
from ml.plan.offline import PlannedResource, run_offline
from tests.infra.helpers import stack_config, with_changes


@pytest.mark.parametrize("stack", ["dev-aws", "prod-aws"])
def test_committed_aws_stacks_are_valid(stack: str) -> None:
    config = stack_config(stack)
    settings = load_settings(config.namespace("mlops"), source=stack)
    assert settings.cloud == "aws"
    assert settings.training_cluster.spot
    # The provider's default region and the stack's location agree (see the YAML comment).
    assert config.values["aws:region"] == settings.location


def _tiers(*tiers: dict[str, Any]) -> list[dict[str, Any]]:
    return list(tiers)


BAD_VALUES: list[tuple[dict[str, Any], list[str]]] = [
    ({"location": "westeurope"}, ["mlops:location = 'westeurope'", "not an AWS region", "eu-west-1"]),
    ({"endpoint.authMode": "key"}, ["mlops:endpoint.authMode = 'key'", "IAM (SigV4)"]),
    ({"endpoint.scaleRule.metric": "cpu"}, ["mlops:endpoint.scaleRule.metric = 'cpu'", "'requests' only"]),
    ({"trainingCluster.minNodes": 1}, ["mlops:trainingCluster.minNodes = 1", "no standing cluster", "use 0"]),
    (
        {"trainingCluster.cpuCluster": {"instanceType": "ml.m5.xlarge", "maxNodes": 2}},
        ["mlops:trainingCluster.cpuCluster", "remove it"],
    ),
    ({"trainingCluster.idleSecondsBeforeScaleDown": 300}, ["idleSecondsBeforeScaleDown", "managed spot"]),
    (
        {"trainingCluster.subnetIds": ["subnet-0a1b2c3d4e5f60718"]},
        ["subnetIds and securityGroupIds", "both or neither"],
    ),
    (
        {"trainingCluster.subnetIds": ["private-a"], "trainingCluster.securityGroupIds": ["sg-0c1d2e3f4a5b60720"]},
        ["mlops:trainingCluster.subnetIds = ['private-a']", "not subnet ids"],
    ),
    (
        {"endpoint.bootstrapModel": "s3://other-bucket/model.tar.gz"},
        ["mlops:endpoint.bootstrapModel = 's3://other-bucket/model.tar.gz'", "no s3://"],
    ),
    ({"endpoint.bootstrapModel": "models/../../secrets.tar.gz"}, ["endpoint.bootstrapModel", "artifact bucket"]),
    ({"aws.servingImage": None}, ["mlops:aws.servingImage is required with endpoint.bootstrapModel"]),
    ({"endpoint.bootstrapModel": None}, ["mlops:aws.servingImage is only used with endpoint.bootstrapModel"]),
    ({"aws.servingImage": "nginx:1.25"}, ["mlops:aws.servingImage = 'nginx:1.25'", "pinned ECR image"]),
    (
        {"aws.servingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlflow-pyfunc:latest"},
        ["moving tag 'latest'"],
    ),
    (
        {"aws.sagemakerDomain": True},
        ["mlops:aws.vpcId is required with aws.sagemakerDomain", "mlops:trainingCluster.subnetIds is empty"],
    ),
    ({"aws.vpcId": "vpc-0d1e2f3a4b5c60721"}, ["mlops:aws.vpcId is only used by the SageMaker domain"]),
    ({"aws.vpcId": "my-vpc"}, ["mlops:aws.vpcId = 'my-vpc'", "not a VPC id"]),
    (
        {"aws.storageClasses": {"cool": "STANDARD_IA", "archive": "GLACIER"}},
        ["mlops:artifacts.tiers[1].coolAfterDays = 14", "STANDARD_IA only after 30 days", "INTELLIGENT_TIERING"],
    ),
    (
        {
            "aws.storageClasses": {"cool": "STANDARD_IA", "archive": "GLACIER"},
            "artifacts.tiers": _tiers({"prefix": "artifacts/", "coolAfterDays": 30, "archiveAfterDays": 45}),
        },
        ["mlops:artifacts.tiers[0]: archiveAfterDays (45) must be at least 30 days after coolAfterDays (30)"],
    ),
    (
        {"aws.storageClasses": {"cool": "GLACIER_IR", "archive": "GLACIER_IR"}},
        ["mlops:aws.storageClasses", "archive class GLACIER_IR must be colder than cool class GLACIER_IR"],
    ),
    ({"aws.storageClasses": {"cool": "STANDARD"}}, ["mlops:aws.storageClasses.cool = 'STANDARD'", "STANDARD_IA"]),
    ({"aws.endpointAlarms.max5xxErrors": -1}, ["mlops:aws.endpointAlarms.max5xxErrors = -1"]),
    ({"aws.endpointAlarms.periodSeconds": 90}, ["mlops:aws.endpointAlarms.periodSeconds = 90", "multiple of 60"]),
    ({"aws.endpointAlarms.latencyStatistic": "p42"}, ["mlops:aws.endpointAlarms.latencyStatistic = 'p42'", "'p99'"]),
    ({"aws.endpointAlarms.maxModelLatencyMs": 0}, ["mlops:aws.endpointAlarms.maxModelLatencyMs = 0"]),
    ({"aws.mlflowServerSize": "Huge"}, ["mlops:aws.mlflowServerSize = 'Huge'", "'Small'", "'Large'"]),
    ({"aws.mlflowMaintenanceWindow": "Sunday 3am"}, ["mlops:aws.mlflowMaintenanceWindow = 'Sunday 3am'"]),
    ({"aws.budgetSnsTopicArn": "budget-topic"}, ["mlops:aws.budgetSnsTopicArn = 'budget-topic'", "SNS topic ARN"]),
    ({"aws.sagemakerDomian": True}, ["mlops:aws.sagemakerDomian is not a known setting"]),
    ({"budget.currency": "EUR"}, ["mlops:budget.currency = 'EUR'", "in USD"]),
    (
        {"budget.thresholds": [{"percent": p, "kind": "actual"} for p in (10, 20, 30, 40, 50, 60)]},
        ["mlops:budget.thresholds has 6 entries", "at most 5 notifications"],
    ),
    (
        {"budget.contactEmails": [f"person{i}@example.com" for i in range(11)]},
        ["mlops:budget.contactEmails has 11 addresses", "at most 10", "budgetSnsTopicArn"],
    ),
    ({"keyVault": {"purgeProtection": True}}, ["mlops:keyVault configures Azure Key Vault"]),
    ({"network.allowedIpRanges": ["10.0.0.0/8"]}, ["mlops:network.allowedIpRanges has no effect on cloud aws"]),
]


@pytest.mark.parametrize(("changes", "fragments"), BAD_VALUES, ids=[",".join(c) for c, _ in BAD_VALUES])
def test_bad_aws_value_gets_one_clear_message(changes: dict[str, Any], fragments: list[str]) -> None:
    config = with_changes(stack_config("dev-aws"), changes)
    with pytest.raises(ConfigError) as caught:
        load_settings(config.namespace("mlops"), source="Pulumi.dev-aws.yaml")
    message = str(caught.value)
    assert message.startswith("invalid stack config in Pulumi.dev-aws.yaml")
    for fragment in fragments:
        assert fragment in message


def test_every_aws_problem_is_listed_on_its_own_line() -> None:
    config = with_changes(
        stack_config("dev-aws"),
        {"location": "westeurope", "endpoint.authMode": "key", "budget.currency": "EUR"},
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config.namespace("mlops"), source="Pulumi.dev-aws.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid stack config in Pulumi.dev-aws.yaml:"
    assert [line.split(" = ")[0] for line in lines[1:]] == [
        "  - mlops:location",
        "  - mlops:endpoint.authMode",
        "  - mlops:budget.currency",
    ]


def test_aws_section_on_an_azure_stack_is_rejected() -> None:
    config = with_changes(stack_config("dev"), {"aws": {"mlflowServerSize": "Large"}})
    with pytest.raises(ConfigError, match=r"mlops:aws applies to cloud aws only; this stack's cloud is azure"):
        load_settings(config.namespace("mlops"), source="Pulumi.dev.yaml")


def test_bad_aws_config_registers_no_resource() -> None:
    config = with_changes(stack_config("prod-aws"), {"location": "westeurope"})
    registered: dict[str, PlannedResource] = {}
    with pytest.raises(ConfigError, match=r"mlops:location = 'westeurope': not an AWS region"):
        run_offline(config, record_into=registered)
    assert registered == {}
