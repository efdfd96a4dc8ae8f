"""Kubernetes teardown through the official client against the fake API server: HPAs rollouts created."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.contract import (
    ArtifactStoreRef,
    BudgetRef,
    KubernetesServingRef,
    PlatformOutputs,
    TrainingProfile,
)
from ml.teardown import kubernetes
from tests.fakes.kube_api import FakeKube, serve, write_kubeconfig

NS, ROUTE = "ml-serving", "churn"
BLUE, GREEN = "churn-blue", "churn-green"
HPA_SPEC = {"spec": {"minReplicas": 1, "maxReplicas": 4}}


def outputs(context: str) -> PlatformOutputs:
    return PlatformOutputs(
        stack="dev-k8s",
        environment="dev",
        cloud="azure",
        region="westeurope",
        tracking_uri="azureml://x",
        training=TrainingProfile(name="gpu", instance_type="Standard_NC4as_T4_v3", min_nodes=0, max_nodes=2, spot=True),
        artifacts=ArtifactStoreRef(name="st", uri="https://st/a", temp_prefix="tmp", checkpoint_prefix="ckpt"),
        budget=BudgetRef(name="b", monthly_amount=300, currency="USD", thresholds_percent=[80]),
        kubernetes=KubernetesServingRef(
            namespace=NS,
            route_name=ROUTE,
            services={"blue": BLUE, "green": GREEN},
            weights={"blue": 0, "green": 100},
            deployments={"blue": BLUE, "green": GREEN},
            kube_context=context,
        ),
    )


@pytest.mark.parametrize("rolled_out", [True, False])
def test_only_hpas_without_pulumis_label_are_deleted(
    rolled_out: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = FakeKube()
    pulumi_hpa = {**HPA_SPEC, "metadata": {"labels": {"app.kubernetes.io/managed-by": "pulumi"}}}
    kube.add_colour(NS, BLUE, "blue", instance=ROUTE, model="models:/m/1", replicas=1, hpa=pulumi_hpa)
    kube.add_colour(NS, GREEN, "green", instance=ROUTE, model="models:/m/2", replicas=1, hpa=None)
    if rolled_out:  # what `ml deploy` creates when it stages green
        kube.hpas[(NS, GREEN)] = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": GREEN, "namespace": NS, "labels": {"app.kubernetes.io/instance": ROUTE}},
            **HPA_SPEC,
        }
    with serve(kube) as url:
        monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", url)))
        items = kubernetes.created_by_ml(outputs("fake-cluster"))
        assert [(i.kind, i.name) for i in items] == ([("HPA", f"{NS}/{GREEN}")] if rolled_out else [])
        for item in items:
            assert item.delete is not None
            item.delete()
    assert set(kube.hpas) == {(NS, BLUE)}
