"""prod-no-public-network on isolation: public node IPs, a workspace that may reach the internet, and
SageMaker training outside the VPC are refused in prod (violating / passing pairs), never in dev."""

from __future__ import annotations

import pytest

from infra.guardrails import Resource
from infra.guardrails.registry import GUARDRAILS
from tests.policy.resources import PROD_TAGS, TAGS, aml_compute, changed, resource

RULE = next(g for g in GUARDRAILS if g.name == "prod-no-public-network")
PROD_MARKER = resource(
    "azure-native:storage:StorageAccount",
    "workspace-storage",
    {"publicNetworkAccess": "Disabled", "networkRuleSet": {"defaultAction": "Deny"}, "tags": dict(PROD_TAGS)},
)
WORKSPACE = resource(
    "azure-native:machinelearningservices:Workspace",
    "workspace-mlw",
    {
        "publicNetworkAccess": "Disabled",
        "managedNetwork": {"isolationMode": "AllowOnlyApprovedOutbound"},
        "tags": dict(PROD_TAGS),
    },
)
PROFILE = resource(
    "mlops:aws:GpuTrainingCluster",
    "training",
    {"instanceType": "ml.g5.xlarge", "enableManagedSpotTraining": True, "vpcConfig": {"subnets": ["subnet-0a1b2c3d"]}},
)

AKS_POOL = resource(
    "azure-native:containerservice:AgentPool",
    "gpu-pool",
    {"vmSize": "Standard_NC4as_T4_v3", "scaleSetPriority": "Spot", "enableNodePublicIP": False},
)
MODEL = resource(
    "aws:sagemaker/model:Model",
    "serving-bootstrap-model",
    {"vpcConfig": {"subnets": ["subnet-0a1b2c3d"], "securityGroupIds": ["sg-0a1b2c3d"]}},
)
DOMAIN = resource("aws:sagemaker/domain:Domain", "studio", {"appNetworkAccessType": "VpcOnly"})

CASES: list[tuple[str, Resource, Resource, str]] = [
    (
        "aks-node-public-ip",
        changed(AKS_POOL, "enableNodePublicIP", True),
        AKS_POOL,
        "node pool VMs get public IPs (enableNodePublicIP is true)",
    ),
    (
        "sagemaker-model-outside-vpc",
        changed(MODEL, "vpcConfig", None),
        MODEL,
        "the model's containers run outside the VPC (no vpcConfig)",
    ),
    (
        "studio-domain-public",
        changed(DOMAIN, "appNetworkAccessType", "PublicInternetOnly"),
        DOMAIN,
        "appNetworkAccessType is PublicInternetOnly",
    ),
    (
        "node-public-ip",
        changed(aml_compute(), "properties.properties.enableNodePublicIp", True),
        aml_compute(),
        "compute nodes get public IPs (enableNodePublicIp is not false)",
    ),
    (
        "node-public-ip-default",
        changed(aml_compute(), "properties.properties.enableNodePublicIp", None),
        aml_compute(),
        "compute nodes get public IPs (enableNodePublicIp is not false)",
    ),
    (
        "workspace-open-outbound",
        changed(WORKSPACE, "managedNetwork.isolationMode", "AllowInternetOutbound"),
        WORKSPACE,
        "managedNetwork.isolationMode is AllowInternetOutbound, not AllowOnlyApprovedOutbound (workspace compute can "
        "reach the internet)",
    ),
    (
        "workspace-no-managed-network",
        changed(WORKSPACE, "managedNetwork", None),
        WORKSPACE,
        "managedNetwork.isolationMode is Disabled, not AllowOnlyApprovedOutbound (workspace compute can reach the "
        "internet)",
    ),
    (
        "training-outside-vpc",
        changed(PROFILE, "vpcConfig", None),
        PROFILE,
        "training jobs run outside the VPC (the training profile has no vpcConfig.subnets)",
    ),
]


@pytest.mark.parametrize(("case", "violating", "passing", "expected"), CASES, ids=[c[0] for c in CASES])
def test_isolation_violations_in_prod(case: str, violating: Resource, passing: Resource, expected: str) -> None:
    messages = [f.message for f in RULE.findings([PROD_MARKER, violating], {})]
    assert expected in messages, messages
    assert RULE.findings([PROD_MARKER, passing], {}) == []


@pytest.mark.parametrize(("case", "violating", "passing", "expected"), CASES, ids=[c[0] for c in CASES])
def test_isolation_is_not_required_in_dev(case: str, violating: Resource, passing: Resource, expected: str) -> None:
    dev_marker = changed(PROD_MARKER, "tags", dict(TAGS))
    assert RULE.findings([dev_marker, changed(violating, "tags", dict(TAGS))], {}) == []
