"""The kubernetes section of the stack config: each bad value stops the program with one clear message."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, cpu_millicores, load_settings, memory_bytes
from ml.plan.offline import PlannedResource, run_offline
from ml.plan.stack_file import StackConfig
from tests.infra.helpers import with_changes
from tests.infra.kubernetes.k8s_helpers import eks_config, k8s_config, kubernetes_section, settings_of


def _set(config: StackConfig, changes: dict[str, Any]) -> StackConfig:
    """`changes` are dotted paths inside mlops:kubernetes; None deletes the key."""
    section = kubernetes_section(config)
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = section
        for part in path:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return with_changes(config, {"kubernetes": section})


def test_committed_stack_is_valid() -> None:
    settings = settings_of(k8s_config())
    k8s = settings.kubernetes
    assert k8s is not None and k8s.enabled
    assert (k8s.colours.blue.weight, k8s.colours.green.weight) == (100, 0)
    assert k8s.gpu_node_pool is not None and k8s.gpu_node_pool.spot
    assert not k8s.colours.green.active
    assert k8s.metrics_url is None


def test_metrics_url_is_optional_and_read_in_camel_case() -> None:
    settings = settings_of(_set(k8s_config(), {"metricsUrl": "http://prometheus.monitoring:9090"}))
    assert settings.kubernetes is not None
    assert settings.kubernetes.metrics_url == "http://prometheus.monitoring:9090"


def test_numbers_in_yaml_are_accepted_as_quantities() -> None:
    settings = settings_of(_set(k8s_config(), {"quota.cpu": 12, "serving.resources.limits.cpu": 1}))
    assert settings.kubernetes is not None
    assert (settings.kubernetes.quota.cpu, settings.kubernetes.serving.resources.limits.cpu) == ("12", "1")


@pytest.mark.parametrize(("quantity", "millicores"), [("2", 2000), ("0.5", 500), ("250m", 250), ("1.5", 1500)])
def test_cpu_quantities(quantity: str, millicores: int) -> None:
    assert cpu_millicores(quantity) == millicores


@pytest.mark.parametrize(
    ("quantity", "size"), [("512Mi", 512 * 2**20), ("2Gi", 2 * 2**30), ("1G", 10**9), ("1000", 1000)]
)
def test_memory_quantities(quantity: str, size: int) -> None:
    assert memory_bytes(quantity) == size


K = "mlops:kubernetes"
BAD_VALUES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "weights-not-100",
        {"colours.blue.weight": 60, "colours.green.weight": 30},
        [f"{K}.colours", "weights must sum to 100", "blue=60 + green=30 = 90"],
    ),
    (
        "weights-over-100",
        {"colours.green.weight": 20},
        ["weights must sum to 100", "blue=100 + green=20 = 120"],
    ),
    (
        "negative-weight",
        {"colours.blue.weight": 110, "colours.green.weight": -10},
        [f"{K}.colours.green.weight = -10", "greater than or equal to 0", f"{K}.colours.blue.weight = 110"],
    ),
    ("fractional-weight", {"colours.green.weight": 12.5}, [f"{K}.colours.green.weight = 12.5", "integer"]),
    (
        "min-over-max",
        {"colours.blue.minReplicas": 5, "colours.blue.maxReplicas": 2},
        [f"{K}.colours.blue", "minReplicas (5) is greater than maxReplicas (2)"],
    ),
    ("zero-min", {"colours.blue.minReplicas": 0}, [f"{K}.colours.blue.minReplicas = 0", "greater than or equal to 1"]),
    (
        "traffic-without-model",
        {"colours.green.modelUri": None, "colours.green.weight": 10, "colours.blue.weight": 90},
        [f"{K}.colours.green", "weight 10 sends traffic to a colour without modelUri"],
    ),
    (
        "requests-over-limits",
        {"serving.resources.requests.cpu": "2"},
        [f"{K}.serving.resources", "requests.cpu (2) is greater than limits.cpu (1)"],
    ),
    (
        "memory-requests-over-limits",
        {"serving.resources.requests.memory": "3Gi"},
        ["requests.memory (3Gi) is greater than limits.memory (2Gi)"],
    ),
    (
        "cpu-not-a-quantity",
        {"serving.resources.limits.cpu": "2 cores"},
        [f"{K}.serving.resources.limits.cpu = '2 cores'", "millicores ('500m')"],
    ),
    ("memory-not-a-quantity", {"quota.memory": "lots"}, [f"{K}.quota.memory = 'lots'", "'512Mi', '2Gi'"]),
    (
        "quota-too-small",
        {"quota.cpu": "4"},
        [
            f"{K}: quota.cpu (4) cannot hold the active colours",
            "blue (4+1) = 5 pods x limits.cpu 1",
            "raise quota.cpu or lower maxReplicas",
        ],
    ),
    ("quota-pods", {"quota.pods": 3}, ["quota.pods (3) cannot hold", "5 pods x 1 pod"]),
    (
        "gpu-without-quota",
        {"serving.resources.gpu": 1},
        ["quota.gpu (0) cannot hold", "5 pods x 1 GPU"],
    ),
    ("image-latest", {"serving.image": "ghcr.io/mlflow/mlflow:latest"}, ["moving tag 'latest'"]),
    ("image-untagged", {"serving.image": "ghcr.io/mlflow/mlflow"}, ["must name a pinned image"]),
    ("port-privileged", {"serving.port": 80}, [f"{K}.serving.port = 80", "greater than or equal to 1024"]),
    ("hpa-target", {"serving.targetCpuPercent": 150}, [f"{K}.serving.targetCpuPercent = 150"]),
    ("namespace", {"serving.namespace": "ML_Serving"}, [f"{K}.serving.namespace = 'ML_Serving'", "DNS label"]),
    (
        "secret-in-env",
        {"serving.env": {"MLFLOW_TRACKING_TOKEN": "abc"}},
        [f"{K}.serving.env", "['MLFLOW_TRACKING_TOKEN'] look like secrets", "workload identity"],
    ),
    ("reserved-env", {"serving.env": {"MODEL_URI": "x"}}, ["['MODEL_URI'] are set by the platform"]),
    ("egress-cidr", {"serving.egressCidrs": ["10.0.0.0/33"]}, ["not CIDR ranges: ['10.0.0.0/33']"]),
    (
        "path-prefix",
        {"serving.gateway.pathPrefix": "score"},
        ["serving.gateway.pathPrefix = 'score'", "start with '/'"],
    ),
    ("pool-name", {"gpuNodePool.name": "GPU_Spot"}, [f"{K}.gpuNodePool.name = 'GPU_Spot'", "1-12 lowercase"]),
    ("pool-max", {"gpuNodePool.maxNodes": 0}, [f"{K}.gpuNodePool.maxNodes = 0"]),
    ("taint", {"gpuNodePool.taints": ["dedicated=ml"]}, ["not taints of the form", "dedicated=ml"]),
    (
        "aks-cpu-sku",
        {"gpuNodePool.instanceType": "Standard_DS3_v2"},
        [f"{K}: for cloud azure", "unknown GPU VM size 'Standard_DS3_v2' for AKS", "Standard_NC*"],
    ),
    ("aks-without-rg", {"cluster.resourceGroup": None}, ["cluster.resourceGroup is required"]),
    ("aks-with-eks-keys", {"cluster.nodeRoleArn": "arn:x"}, ["cluster.nodeRoleArn applies to EKS"]),
    ("aks-ami", {"gpuNodePool.amiType": "AL2_x86_64_GPU"}, ["gpuNodePool.amiType applies to EKS"]),
    ("ami-unknown", {"gpuNodePool.amiType": "UBUNTU"}, [f"{K}.gpuNodePool.amiType = 'UBUNTU'", "AL2023_x86_64_NVIDIA"]),
    ("unknown-key", {"serving.replicas": 3}, [f"{K}.serving.replicas is not a known setting"]),
    (
        "metrics-url",
        {"metricsUrl": "prometheus:9090"},
        [f"{K}.metricsUrl = 'prometheus:9090'", "http(s) base URL of Prometheus"],
    ),
    ("missing-serving", {"serving": None}, [f"{K}.serving is required but not set"]),
]


@pytest.mark.parametrize(("changes", "fragments"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_bad_value_gets_one_clear_message(changes: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_of(_set(k8s_config(), changes))
    message = str(caught.value)
    assert message.startswith("invalid stack config in Pulumi.dev-k8s.yaml")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


EKS_BAD_VALUES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("no-role", {"cluster.nodeRoleArn": None}, [f"{K}: for cloud aws", "cluster.nodeRoleArn = None", "IAM role ARN"]),
    ("bad-role", {"cluster.nodeRoleArn": "eks-nodes"}, ["cluster.nodeRoleArn = 'eks-nodes'"]),
    ("no-subnets", {"cluster.subnetIds": []}, ["cluster.subnetIds is empty"]),
    ("bad-subnet", {"cluster.subnetIds": ["10.0.1.0/24"]}, ["cluster.subnetIds = ['10.0.1.0/24']: not subnet ids"]),
    (
        "sagemaker-type",
        {"gpuNodePool.instanceType": "ml.g5.xlarge"},
        ["unknown GPU instance type 'ml.g5.xlarge' for EKS", "without the 'ml.' prefix"],
    ),
    ("azure-sku", {"gpuNodePool.instanceType": "Standard_NC4as_T4_v3"}, ["for EKS"]),
    ("resource-group", {"cluster.resourceGroup": "rg"}, ["cluster.resourceGroup applies to AKS"]),
]


@pytest.mark.parametrize(("changes", "fragments"), [c[1:] for c in EKS_BAD_VALUES], ids=[c[0] for c in EKS_BAD_VALUES])
def test_eks_bad_value_gets_one_clear_message(changes: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_of(_set(eks_config(), changes))
    for fragment in fragments:
        assert fragment in str(caught.value), f"{fragment!r} not in {caught.value!s}"


def test_eks_without_node_pool_needs_no_node_role() -> None:
    settings = settings_of(
        _set(eks_config(), {"gpuNodePool": None, "cluster.nodeRoleArn": None, "cluster.subnetIds": []})
    )
    assert settings.kubernetes is not None and settings.kubernetes.gpu_node_pool is None


def test_bad_weights_fail_before_any_resource_is_registered() -> None:
    recorded: dict[str, PlannedResource] = {}
    config = _set(k8s_config(), {"colours.blue.weight": 70, "colours.green.weight": 20})
    with pytest.raises(ConfigError, match="weights must sum to 100"):
        run_offline(config, record_into=recorded)
    assert recorded == {}


def test_unchanged_when_config_is_loaded_twice() -> None:
    """Settings are frozen: a component cannot change the weights another one reads."""
    settings = settings_of(k8s_config())
    assert settings.kubernetes is not None
    with pytest.raises(Exception, match="frozen"):
        settings.kubernetes.colours.blue.weight = 50  # type: ignore[misc]
    assert load_settings(k8s_config().namespace("mlops"), source="x") == settings
