"""`ml plan --stack dev-k8s` shows the Kubernetes resources with the inputs a reviewer checks."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ml.contract.declared import OfflinePlan
from ml.plan.render import key_inputs, plan_as_json, render_tree


@pytest.fixture(scope="module")
def dev(dev_k8s_plan: OfflinePlan) -> OfflinePlan:
    return dev_k8s_plan


def _summary(plan: OfflinePlan, type_token: str, name: str | None = None) -> dict[str, object]:
    return key_inputs(plan.one(type_token, name))


def test_key_inputs_of_serving_resources(dev: OfflinePlan) -> None:
    blue = _summary(dev, "kubernetes:apps/v1:Deployment", "model-serving-blue")
    assert blue["replicas"] == "HPA"
    assert blue["MODEL_URI"] == "models:/churn-model/1"
    assert blue["readiness"] == "GET /ping every 5s x3"
    assert blue["liveness"] == "GET /health every 10s x3"
    assert blue["securityContext"] == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert _summary(dev, "kubernetes:apps/v1:Deployment", "model-serving-green")["replicas"] == 0
    hpa = _summary(dev, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert hpa == {"replicas": "1..4", "target": "cpu 70%"}
    route = _summary(dev, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    assert route["weights"] == {"churn-blue": 100, "churn-green": 0}
    assert route["parentRefs"] == ["gateway/ml-gateway"]
    quota = _summary(dev, "kubernetes:core/v1:ResourceQuota")["hard"]
    assert isinstance(quota, dict) and quota["limits.cpu"] == "10"
    assert _summary(dev, "kubernetes:core/v1:Namespace") == {"podSecurity": "restricted"}
    deny = _summary(dev, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "model-serving-default-deny")
    assert deny == {"policyTypes": ["Ingress", "Egress"], "rules": "deny all"}
    egress = _summary(dev, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "model-serving-allow-model-egress")
    assert egress["egress"] == [
        {"to": ["dns"], "ports": ["UDP/53", "TCP/53"]},
        {"to": ["0.0.0.0/0"], "ports": ["TCP/443"]},
    ]
    assert _summary(dev, "kubernetes:policy/v1:PodDisruptionBudget", "model-serving-blue-pdb") == {"maxUnavailable": 1}


def test_key_inputs_of_the_aks_pool(dev: OfflinePlan) -> None:
    pool = _summary(dev, "azure-native:containerservice:AgentPool")
    assert (pool["scaleSetPriority"], pool["scaleSetEvictionPolicy"], pool["spotMaxPrice"]) == ("Spot", "Delete", -1)
    assert (pool["enableAutoScaling"], pool["minCount"], pool["maxCount"]) == (True, 0, 2)
    assert "nvidia.com/gpu=present:NoSchedule" in pool["nodeTaints"]  # type: ignore[operator]


def test_isolation_summary_names_the_aks_pools_node_ips(dev: OfflinePlan) -> None:
    from ml.plan.isolation import isolation_summary

    assert "AKS pool gpuspot: node public IPs off" in isolation_summary(dev)


def test_tree_and_json_show_the_kubernetes_resources(dev: OfflinePlan) -> None:
    buffer = io.StringIO()
    render_tree(dev, Console(file=buffer, width=200, no_color=True))
    tree = buffer.getvalue()
    assert "stack dev-k8s: 33 resources in 9 components" in tree
    for fragment in (
        "mlops:kubernetes:GpuNodePool gpu-pool",
        "mlops:kubernetes:ModelServing model-serving",
        'weights = {"churn-blue": 100, "churn-green": 0}',
        "replicas = 1..4",
        "scaleSetPriority = Spot",
    ):
        assert fragment in tree, fragment
    document = plan_as_json(dev)
    types = {r["type"] for r in document["resources"]}
    assert "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute" in types
    assert document["outputs"]["kubernetes"]["route_name"] == "churn"
