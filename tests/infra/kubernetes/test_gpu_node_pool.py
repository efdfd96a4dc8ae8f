"""GpuNodePool: an AKS spot agent pool (dev-k8s) and an EKS spot node group (dev-aws + kubernetes).

Both run the whole program under the plan's mocks; the on-demand variants run the component
directly, for both clouds in one program.
"""

from __future__ import annotations

import json

import pytest

from infra.kubernetes.node_pool import GpuNodePool, GpuNodePoolArgs
from ml.contract import PlatformOutputs
from ml.plan.offline import OfflinePlan, run_offline
from ml.plan.render import key_inputs
from tests.infra.kubernetes.k8s_helpers import (
    NODE_ROLE,
    SUBNETS,
    container,
    eks_config,
    record_components,
    settings_of,
    unsecret,
)

AGENT_POOL = "azure-native:containerservice:AgentPool"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@pytest.fixture(scope="module")
def aks(dev_k8s_plan: OfflinePlan) -> OfflinePlan:
    return dev_k8s_plan


@pytest.fixture(scope="module")
def eks() -> OfflinePlan:
    """The whole AWS program (dev-aws) with an EKS kubernetes section."""
    return run_offline(eks_config())


def test_aks_pool_is_a_spot_user_pool_that_scales_from_zero(aks: OfflinePlan) -> None:
    pool = aks.one(AGENT_POOL).inputs
    assert pool["agentPoolName"] == "gpuspot"
    assert (pool["resourceName"], pool["resourceGroupName"]) == ("aks-ml-dev", "rg-aks-ml-dev")
    assert (pool["mode"], pool["osType"], pool["vmSize"]) == ("User", "Linux", "Standard_NC4as_T4_v3")
    assert (pool["scaleSetPriority"], pool["scaleSetEvictionPolicy"], pool["spotMaxPrice"]) == ("Spot", "Delete", -1)
    assert pool["enableAutoScaling"] is True
    assert (pool["count"], pool["minCount"], pool["maxCount"]) == (0, 0, 2)
    assert pool["enableNodePublicIP"] is False
    assert pool["gpuProfile"] == {"driver": "Install"}
    assert pool["osDiskSizeGB"] == 128
    assert pool["tags"]["cost-center"] == "ml-platform"


def test_aks_pool_taints_keep_non_gpu_pods_off_and_labels_select_it(aks: OfflinePlan) -> None:
    pool = aks.one(AGENT_POOL).inputs
    assert pool["nodeTaints"] == [
        "nvidia.com/gpu=present:NoSchedule",
        # AKS adds this to every spot pool; declaring it avoids a diff on every `pulumi up`.
        "kubernetes.azure.com/scalesetpriority=spot:NoSchedule",
    ]
    assert pool["nodeLabels"] == {
        "team": "ml-platform",
        "accelerator": "nvidia",
        "mlops/pool": "gpuspot",
        "kubernetes.azure.com/scalesetpriority": "spot",
    }


def test_eks_node_group_is_spot_gpu_ami_and_scales_from_zero(eks: OfflinePlan) -> None:
    plan = eks
    assert not plan.of_type(AGENT_POOL)
    group = plan.one(NODE_GROUP).inputs
    assert (group["clusterName"], group["nodeGroupName"]) == ("eks-ml-dev", "gpuspot")
    assert (group["nodeRoleArn"], group["subnetIds"]) == (NODE_ROLE, SUBNETS)
    assert (group["capacityType"], group["amiType"]) == ("SPOT", "AL2023_x86_64_NVIDIA")
    assert group["instanceTypes"] == ["g5.xlarge"]
    assert group["scalingConfig"] == {"desiredSize": 0, "minSize": 0, "maxSize": 2}
    assert group["diskSize"] == 128
    assert group["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert group["labels"] == {"team": "ml-platform", "accelerator": "nvidia", "mlops/pool": "gpuspot"}
    assert group["tags"]["managed-by"] == "pulumi"
    shown = key_inputs(plan.one(NODE_GROUP))
    assert (shown["capacityType"], shown["amiType"], shown["minSize"], shown["maxSize"]) == (
        "SPOT",
        "AL2023_x86_64_NVIDIA",
        0,
        2,
    )


def test_eks_serving_uses_a_token_exec_kubeconfig_and_exports_the_contract(eks: OfflinePlan) -> None:
    plan = eks
    provider = plan.one("pulumi:providers:kubernetes").inputs
    kubeconfig = json.loads(unsecret(provider["kubeconfig"]))
    assert provider["kubeconfig"] != unsecret(provider["kubeconfig"]), "kubeconfig must be a secret"
    exec_args = kubeconfig["users"][0]["user"]["exec"]["args"]
    assert exec_args[:4] == ["eks", "get-token", "--cluster-name", "eks-ml-dev"]
    assert exec_args[4:6] == ["--region", "eu-west-1"]
    account = plan.one("kubernetes:core/v1:ServiceAccount").inputs["metadata"]["annotations"]
    assert account == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/model-serving"}
    assert kubeconfig["clusters"][0]["cluster"]["server"].endswith(".eu-west-1.eks.amazonaws.com")
    # On AWS the pods resolve models:/ URIs through the stack's SageMaker MLflow tracking server.
    env = {e["name"]: e["value"] for e in container(plan, "blue")["env"]}
    assert env["MLFLOW_TRACKING_URI"] == plan.outputs["tracking_uri"]
    assert env["MLFLOW_TRACKING_URI"].startswith("arn:aws:sagemaker:eu-west-1:")
    ref = PlatformOutputs.model_validate(plan.outputs).kubernetes
    assert ref is not None
    assert (ref.cluster_name, ref.cluster_resource_group) == ("eks-ml-dev", None)
    assert ref.weights == {"blue": 100, "green": 0}
    components = {r.name: r.type for r in plan.resources if not r.custom}
    assert components["gpu-pool"] == "mlops:kubernetes:GpuNodePool"
    assert components["model-serving"] == "mlops:kubernetes:ModelServing"


def test_on_demand_pools_when_spot_is_turned_off() -> None:
    settings = settings_of(eks_config())
    k8s = settings.kubernetes
    assert k8s is not None and k8s.gpu_node_pool is not None
    regular = k8s.gpu_node_pool.model_copy(update={"spot": False})

    def build(parent: object) -> None:
        import pulumi

        options = pulumi.ResourceOptions(parent=parent)  # type: ignore[arg-type]
        GpuNodePool("eks", GpuNodePoolArgs("aws", k8s.cluster, regular, {}), options)
        aks_cluster = k8s.cluster.model_copy(update={"resource_group": "rg", "node_role_arn": None})
        aks_pool = regular.model_copy(update={"instance_type": "Standard_NC4as_T4_v3"})
        GpuNodePool("aks", GpuNodePoolArgs("azure", aks_cluster, aks_pool, {}), options)

    plan = record_components(build)
    assert plan.one(NODE_GROUP).inputs["capacityType"] == "ON_DEMAND"
    pool = plan.one(AGENT_POOL).inputs
    assert pool["scaleSetPriority"] == "Regular"
    assert "scaleSetEvictionPolicy" not in pool and "spotMaxPrice" not in pool
    assert pool["nodeTaints"] == ["nvidia.com/gpu=present:NoSchedule"]


def test_node_counts_belong_to_the_cluster_autoscaler(aks: OfflinePlan, eks: OfflinePlan) -> None:
    assert aks.one(AGENT_POOL).ignore_changes == ("count",)
    assert eks.one(NODE_GROUP).ignore_changes == ("scalingConfig.desiredSize",)
