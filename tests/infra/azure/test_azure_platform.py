"""The Azure platform's real resource inputs for the committed dev and prod stacks."""

from __future__ import annotations

import pytest

from ml.contract import PlatformOutputs
from ml.contract.declared import OfflinePlan
from tests.infra.helpers import plan_stack

STATEFUL = {
    "azure-native:resources:ResourceGroup",
    "azure-native:storage:StorageAccount",
    "azure-native:keyvault:Vault",
    "azure-native:containerregistry:Registry",
    "azure-native:machinelearningservices:Workspace",
    "azure-native:storage:BlobContainer",
}
TAGGED = {
    "azure-native:resources:ResourceGroup",
    "azure-native:storage:StorageAccount",
    "azure-native:keyvault:Vault",
    "azure-native:operationalinsights:Workspace",
    "azure-native:applicationinsights:Component",
    "azure-native:containerregistry:Registry",
    "azure-native:machinelearningservices:Workspace",
    "azure-native:machinelearningservices:Compute",
    "azure-native:machinelearningservices:OnlineEndpoint",
}


@pytest.fixture(scope="module")
def dev() -> OfflinePlan:
    return plan_stack("dev")


@pytest.fixture(scope="module")
def prod() -> OfflinePlan:
    return plan_stack("prod")


def _parent_type(resource_urn_parent: str) -> str:
    return resource_urn_parent.split("::")[2].split("$")[-1]


def test_every_resource_sits_in_its_capability_component(dev: OfflinePlan) -> None:
    components = {r.name: r.type for r in dev.resources if not r.custom}
    assert components == {
        "platform": "mlops:azure:Platform",
        "workspace": "mlops:azure:Workspace",
        "artifacts": "mlops:azure:ArtifactStore",
        "training": "mlops:azure:GpuTrainingCluster",
        "serving": "mlops:azure:InferenceEndpoint",
        "budget": "mlops:azure:Budget",
        "drift": "mlops:azure:DriftAlert",
    }
    expected_parent = {
        "azure-native:storage:ManagementPolicy": "mlops:azure:ArtifactStore",
        "azure-native:machinelearningservices:Compute": "mlops:azure:GpuTrainingCluster",
        "azure-native:machinelearningservices:OnlineEndpoint": "mlops:azure:InferenceEndpoint",
        "azure-native:consumption:Budget": "mlops:azure:Budget",
        "azure-native:machinelearningservices:Workspace": "mlops:azure:Workspace",
    }
    for resource in dev.custom_resources:
        assert resource.parent_urn, f"{resource.name} has no parent"
        if resource.type in expected_parent:
            assert _parent_type(resource.parent_urn) == expected_parent[resource.type]


def test_resource_counts(dev: OfflinePlan, prod: OfflinePlan) -> None:
    # prod adds the bootstrap `blue` deployment and its autoscale setting, and its private network:
    # VNet, subnet, and per service (blob, vault, registry) a DNS zone, VNet link, endpoint, zone group.
    # Both add the drift alert (action group + metric alert) with monitoring on.
    assert len(dev.custom_resources) == 14 + 2
    assert len(prod.custom_resources) == 16 + 2 + 3 * 4 + 2


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_required_tags_on_everything_taggable(stack: str, dev: OfflinePlan, prod: OfflinePlan) -> None:
    plan = {"dev": dev, "prod": prod}[stack]
    tagged = [r for r in plan.custom_resources if r.type in TAGGED]
    assert len(tagged) >= len(TAGGED)
    for resource in tagged:
        tags = resource.inputs["tags"]
        assert tags["environment"] == stack
        assert tags["cost-center"] == "ml-platform"
        assert tags["managed-by"] == "pulumi"


def test_storage_account_is_locked_down(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan in (dev, prod):
        account = plan.one("azure-native:storage:StorageAccount").inputs
        assert account["enableHttpsTrafficOnly"] is True
        assert account["minimumTlsVersion"] == "TLS1_2"
        assert account["allowBlobPublicAccess"] is False
        assert account["encryption"]["services"]["blob"]["enabled"] is True
        assert account["encryption"]["requireInfrastructureEncryption"] is True
    assert dev.one("azure-native:storage:StorageAccount").inputs["publicNetworkAccess"] == "Enabled"
    prod_account = prod.one("azure-native:storage:StorageAccount").inputs
    assert prod_account["publicNetworkAccess"] == "Disabled"
    assert prod_account["networkRuleSet"]["defaultAction"] == "Deny"
    assert prod_account["sku"]["name"] == "Standard_ZRS"


def test_key_vault_rbac_soft_delete_and_purge_protection_by_config(dev: OfflinePlan, prod: OfflinePlan) -> None:
    dev_vault = dev.one("azure-native:keyvault:Vault").inputs["properties"]
    prod_vault = prod.one("azure-native:keyvault:Vault").inputs["properties"]
    for vault in (dev_vault, prod_vault):
        assert vault["enableRbacAuthorization"] is True
        assert vault["enableSoftDelete"] is True
        assert vault["tenantId"] == "11111111-1111-1111-1111-111111111111"
    assert "enablePurgeProtection" not in dev_vault
    assert dev_vault["softDeleteRetentionInDays"] == 7
    assert prod_vault["enablePurgeProtection"] is True
    assert prod_vault["softDeleteRetentionInDays"] == 90
    assert prod_vault["publicNetworkAccess"] == "Disabled"


def test_workspace_identity_wiring_and_network(dev: OfflinePlan, prod: OfflinePlan) -> None:
    workspace = prod.one("azure-native:machinelearningservices:Workspace").inputs
    assert workspace["identity"] == {"type": "SystemAssigned"}
    assert workspace["publicNetworkAccess"] == "Disabled"
    assert workspace["storageAccount"].endswith("/mlopsprodst")
    assert workspace["keyVault"].endswith("/kv-mlopsprod")
    assert workspace["containerRegistry"].endswith("/mlopsprodacr")
    assert workspace["applicationInsights"].endswith("/appi-mlopsprod")
    assert dev.one("azure-native:machinelearningservices:Workspace").inputs["publicNetworkAccess"] == "Enabled"
    registry = prod.one("azure-native:containerregistry:Registry").inputs
    assert registry["adminUserEnabled"] is False
    assert registry["sku"]["name"] == "Premium"  # private registries need Premium
    assert dev.one("azure-native:containerregistry:Registry").inputs["sku"]["name"] == "Basic"


def test_prod_protects_stateful_resources_and_dev_does_not(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for resource in prod.custom_resources:
        assert resource.protect == (resource.type in STATEFUL), resource.name
    assert not any(r.protect for r in dev.resources)


def test_lifecycle_policy_tiers_and_cleanup(prod: OfflinePlan) -> None:
    rules = {r["name"]: r for r in prod.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"]}
    artifacts = rules["tier-artifacts"]["definition"]
    assert artifacts["filters"] == {"blobTypes": ["blockBlob"], "prefixMatch": ["mlops/artifacts/"]}
    assert artifacts["actions"]["baseBlob"] == {
        "tierToCool": {"daysAfterModificationGreaterThan": 30},
        "tierToArchive": {"daysAfterModificationGreaterThan": 90},
        "delete": {"daysAfterModificationGreaterThan": 365},
    }
    temp = rules["expire-temp"]["definition"]
    assert temp["filters"]["prefixMatch"] == ["mlops/tmp/"]
    assert temp["actions"]["baseBlob"] == {"delete": {"daysAfterModificationGreaterThan": 7}}
    cleanup = rules["clean-old-versions-and-snapshots"]["definition"]["actions"]
    assert cleanup["version"]["delete"]["daysAfterCreationGreaterThan"] == 30
    assert cleanup["snapshot"]["delete"]["daysAfterCreationGreaterThan"] == 30
    service = prod.one("azure-native:storage:BlobServiceProperties").inputs
    assert service["isVersioningEnabled"] is True
    assert prod.one("azure-native:storage:BlobContainer").inputs["publicAccess"] == "None"


def test_gpu_cluster_is_low_priority_and_scales_to_zero(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan, vm, max_nodes, idle in (
        (dev, "Standard_NC4as_T4_v3", 2, "PT300S"),
        (prod, "Standard_NC24ads_A100_v4", 8, "PT600S"),
    ):
        compute = plan.one("azure-native:machinelearningservices:Compute", "training-gpu").inputs
        assert compute["computeName"] == "gpu-cluster"
        assert compute["identity"] == {"type": "SystemAssigned"}
        body = compute["properties"]
        assert body["computeType"] == "AmlCompute"
        assert body["disableLocalAuth"] is True
        props = body["properties"]
        assert props["vmSize"] == vm
        assert props["vmPriority"] == "LowPriority"
        assert props["remoteLoginPortPublicAccess"] == "Disabled"
        assert props["scaleSettings"] == {
            "minNodeCount": 0,
            "maxNodeCount": max_nodes,
            "nodeIdleTimeBeforeScaleDown": idle,
        }
    assert (
        prod.one("azure-native:machinelearningservices:Compute", "training-gpu").inputs["properties"]["properties"][
            "enableNodePublicIp"
        ]
        is False
    )
    cpu = prod.one("azure-native:machinelearningservices:Compute", "training-cpu").inputs["properties"]["properties"]
    assert cpu["vmSize"] == "Standard_D4s_v3"
    assert cpu["scaleSettings"]["minNodeCount"] == 0


def test_endpoint_auth_and_autoscale(dev: OfflinePlan, prod: OfflinePlan) -> None:
    assert dev.one("azure-native:machinelearningservices:OnlineEndpoint").inputs["properties"]["authMode"] == "Key"
    endpoint = prod.one("azure-native:machinelearningservices:OnlineEndpoint").inputs
    assert endpoint["properties"] == {"authMode": "AADToken", "publicNetworkAccess": "Disabled"}
    deployment = prod.one("azure-native:machinelearningservices:OnlineDeployment").inputs
    assert deployment["deploymentName"] == "blue"
    assert deployment["properties"]["model"] == "azureml:churn-model:1"
    assert deployment["sku"]["capacity"] == 2
    autoscale = prod.one("azure-native:monitor:AutoscaleSetting").inputs
    assert autoscale["enabled"] is True
    assert autoscale["targetResourceUri"].endswith("/blue")
    profile = autoscale["profiles"][0]
    assert profile["capacity"] == {"minimum": "2", "maximum": "10", "default": "2"}
    out_rule, in_rule = profile["rules"]
    assert out_rule["metricTrigger"]["metricName"] == "CpuUtilizationPercentage"
    assert (out_rule["metricTrigger"]["operator"], out_rule["metricTrigger"]["threshold"]) == ("GreaterThan", 60)
    assert out_rule["scaleAction"] == {"direction": "Increase", "type": "ChangeCount", "value": "1", "cooldown": "PT5M"}
    assert (in_rule["metricTrigger"]["operator"], in_rule["metricTrigger"]["threshold"]) == ("LessThan", 30)
    assert in_rule["scaleAction"]["cooldown"] == "PT15M"
    assert dev.of_type("azure-native:monitor:AutoscaleSetting") == []  # no deployment in dev until `ml deploy`


def test_budget_on_resource_group_with_thresholds(dev: OfflinePlan, prod: OfflinePlan) -> None:
    budget = prod.one("azure-native:consumption:Budget").inputs
    assert budget["amount"] == 5000
    assert budget["category"] == "Cost"
    assert budget["timeGrain"] == "Monthly"
    assert budget["scope"].endswith("/rg-mlopsprod/providers/resources/rg-mlopsprod")
    assert budget["timePeriod"] == {"startDate": "2026-12-01T00:00:00Z"}
    notes = budget["notifications"]
    assert set(notes) == {
        "Actual_GreaterThanOrEqualTo_50_Percent",
        "Actual_GreaterThanOrEqualTo_80_Percent",
        "Actual_GreaterThanOrEqualTo_100_Percent",
        "Forecasted_GreaterThanOrEqualTo_100_Percent",
    }
    forecast = notes["Forecasted_GreaterThanOrEqualTo_100_Percent"]
    assert forecast["thresholdType"] == "Forecasted"
    assert forecast["contactEmails"] == ["ml-platform@example.com", "finops@example.com"]
    assert dev.one("azure-native:consumption:Budget").inputs["amount"] == 300


def test_exports_exactly_the_contract(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan, stack in ((dev, "dev"), (prod, "prod")):
        outputs = PlatformOutputs.model_validate(plan.outputs)
        assert outputs.stack == stack
        assert outputs.cloud == "azure"
        assert outputs.azure is not None and outputs.azure.workspace_name == f"mlw-mlops{stack}"
        assert outputs.tracking_uri.startswith("azureml://westeurope.api.azureml.ms/mlflow/v1.0/")
        assert outputs.training.name == "gpu-cluster"
        assert outputs.training.spot is True
        assert outputs.artifacts.uri == f"https://mlops{stack}st.blob.core.windows.net/mlops"
        assert outputs.training.checkpoint_uri == f"{outputs.artifacts.uri}/checkpoints/"
    prod_outputs = PlatformOutputs.model_validate(prod.outputs)
    assert prod_outputs.endpoint is not None
    assert prod_outputs.endpoint.autoscale.max_instances == 10
    assert prod_outputs.budget.monthly_amount == 5000
    assert "offline-plan-placeholder-key" not in str(dev.outputs)  # keys never in the contract


def test_endpoint_keys_leave_the_stack_only_as_secrets(dev: OfflinePlan, prod: OfflinePlan) -> None:
    # dev uses key auth: the primary key is exported, as a secret, outside the contract.
    assert dev.secret_exports == {"platformSecrets"}
    # prod uses AAD tokens: there is no key to export.
    assert prod.secret_exports == frozenset()


def test_pulumi_leaves_rollout_owned_fields_alone(prod: OfflinePlan) -> None:
    """`ml deploy` owns traffic and the served model; a later `pulumi up` must not revert them."""
    endpoint = prod.one("azure-native:machinelearningservices:OnlineEndpoint")
    assert set(endpoint.ignore_changes) == {"properties.traffic", "properties.mirrorTraffic"}
    deployment = prod.one("azure-native:machinelearningservices:OnlineDeployment")
    assert set(deployment.ignore_changes) == {"properties.model", "sku"}
