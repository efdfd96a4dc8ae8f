"""Kubernetes pre-flight through the official client against the fake API server: CRDs and the spot pool's GPUs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ml.plan.needs import KubernetesNeeds
from ml.preflight.checks import blockers
from ml.preflight.kubernetes import check_kubernetes
from tests.fakes.kube_api import serve, write_kubeconfig
from tests.fakes.kube_cluster import FakeCluster

NEEDS = KubernetesNeeds(
    namespace="ml-serving",
    kube_context="fake-cluster",
    cluster_name="aks-ml-dev",
    cluster_resource_group="rg-aks-ml-dev",
    gpu_pool="gpuspot",
    gpu_pool_max_nodes=2,
    gpu_quota=2,
)
POOL = {"mlops/pool": "gpuspot", "accelerator": "nvidia"}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    fake = FakeCluster()
    with serve(fake) as url:
        monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", url)))
        yield fake


def test_gateway_crds_and_enough_gpus_pass(cluster: FakeCluster) -> None:
    cluster.with_gateway_api()
    cluster.add_node("gpu-0", POOL, {"nvidia.com/gpu": "1", "cpu": "4"})
    cluster.add_node("cpu-0", {"mlops/pool": "system"}, {"cpu": "8"})
    checks = check_kubernetes(NEEDS)

    assert not blockers(checks)
    assert checks[-1].needed == "2 GPU" and checks[-1].available == "2 GPU"  # 1 per node x 2 max nodes
    listed = [r for r in cluster.requests if r.path == "/api/v1/nodes"]
    assert listed[0].query["labelSelector"] == ["mlops/pool=gpuspot"]


def test_missing_crds_and_nodes_without_gpus_are_blockers(cluster: FakeCluster) -> None:
    cluster.crds["gateways.gateway.networking.k8s.io"] = ["v1beta1"]  # an old release, and no HTTPRoute CRD
    cluster.crds["gatewayclasses.gateway.networking.k8s.io"] = ["v1"]
    cluster.add_node("gpu-0", POOL, {"nvidia.com/gpu": "0", "cpu": "4"})  # the device plugin is not running
    found = {c.check: c for c in blockers(check_kubernetes(NEEDS))}

    assert set(found) == {
        "CRD gateways.gateway.networking.k8s.io",
        "CRD httproutes.gateway.networking.k8s.io",
        "GPU of pool 'gpuspot' x 2 nodes vs serving quota",
    }
    assert found["CRD httproutes.gateway.networking.k8s.io"].available == "missing"
    assert "gateway-api/releases" in found["CRD httproutes.gateway.networking.k8s.io"].fix
    assert found["CRD gateways.gateway.networking.k8s.io"].available == "v1beta1"
    assert found["GPU of pool 'gpuspot' x 2 nodes vs serving quota"].available == "0 GPU"


def test_a_pool_scaled_to_zero_is_unknown_and_a_zero_quota_needs_nothing(cluster: FakeCluster) -> None:
    cluster.with_gateway_api()
    assert check_kubernetes(NEEDS)[-1].status == "unknown"
    zero = KubernetesNeeds(**{**NEEDS.__dict__, "gpu_quota": 0})
    assert check_kubernetes(zero)[-1].status == "ok"
