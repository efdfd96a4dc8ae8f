"""Kubernetes teardown through the official client against the fake API server: HPAs rollouts created, and
`--check` after a destroy: the serving namespace and what it still holds (clean -> 0, leftovers -> 1)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ml.contract import (
    ArtifactStoreRef,
    BudgetRef,
    KubernetesServingRef,
    PlatformOutputs,
    TrainingProfile,
)
from ml.plan.needs import KubernetesNeeds
from ml.teardown import kubernetes
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.kube_api import FakeKube, serve, write_kubeconfig
from tests.fakes.moto_server import MotoServer
from tests.infra.kubernetes.k8s_helpers import eks_config
from tests.teardown.kube_namespace import NamespaceFake
from tests.teardown.test_aws_teardown import REPO, ml

moto_server = moto_fixtures.moto_server  # pytest fixtures used by this module

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


# --- `ml teardown --check` after a destroy: the serving namespace and what it still holds -----------

PLATFORM = {"app.kubernetes.io/part-of": "mlops-platform", "app.kubernetes.io/managed-by": "pulumi"}
CHECK_NEEDS = KubernetesNeeds(
    namespace=NS,
    kube_context="fake-cluster",
    cluster_name="aks-ml-dev",
    cluster_resource_group="rg-aks-ml-dev",
    gpu_pool="gpuspot",
    gpu_pool_max_nodes=2,
    gpu_quota=0,
    serving_name=ROUTE,
)


def seed_half_destroyed(kube: NamespaceFake, ns: str = NS, *, owned: bool = True) -> None:
    """A destroy that stopped half-way: both colours, the route, a rollout's HPA, a PDB, a sweep Job."""
    kube.namespaces.add(ns)
    kube.namespace_meta[ns] = {"labels": PLATFORM if owned else {}, "phase": "Terminating" if owned else "Active"}
    for name, colour in ((BLUE, "blue"), (GREEN, "green")):
        kube.add_colour(ns, name, colour, instance=ROUTE, model="models:/m/1", replicas=1, hpa=None)
    kube.add_route(ns, ROUTE, {BLUE: 0, GREEN: 100})
    kube.routes[(ns, ROUTE)]["metadata"]["labels"] = {"app.kubernetes.io/instance": ROUTE}
    kube.hpas[(ns, GREEN)] = {
        "metadata": {"name": GREEN, "namespace": ns, "labels": {"app.kubernetes.io/instance": ROUTE}}
    }
    kube.add_object("poddisruptionbudgets", ns, BLUE, {"app.kubernetes.io/instance": ROUTE})
    kube.add_object("jobs", ns, "sweep-churn-1", {"app.kubernetes.io/instance": ROUTE})
    kube.add_object("resourcequotas", ns, "serving-quota", {"app.kubernetes.io/instance": ROUTE})
    kube.add_object("serviceaccounts", ns, ROUTE, {"app.kubernetes.io/instance": ROUTE})
    kube.add_object("configmaps", ns, "kube-root-ca.crt")  # the API server's own: never leftovers
    kube.add_object("serviceaccounts", ns, "default")


@pytest.fixture
def namespace_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NamespaceFake]:
    fake = NamespaceFake()
    with serve(fake) as url:
        monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", url)))
        yield fake


def test_check_lists_the_stacks_namespace_and_what_it_holds_then_nothing(namespace_fake: NamespaceFake) -> None:
    assert kubernetes.left_after_destroy(CHECK_NEEDS) == []  # clean: the namespace is gone

    seed_half_destroyed(namespace_fake)
    left = kubernetes.left_after_destroy(CHECK_NEEDS)

    assert [(i.kind, i.name) for i in left] == [
        ("namespace", NS),
        ("Deployment", f"{NS}/{BLUE}"),
        ("Deployment", f"{NS}/{GREEN}"),
        ("Service", f"{NS}/{BLUE}"),
        ("Service", f"{NS}/{GREEN}"),
        ("HPA", f"{NS}/{GREEN}"),
        ("PodDisruptionBudget", f"{NS}/{BLUE}"),
        ("Job", f"{NS}/sweep-churn-1"),
        ("ResourceQuota", f"{NS}/serving-quota"),
        ("ServiceAccount", f"{NS}/{ROUTE}"),
        ("HTTPRoute", f"{NS}/{ROUTE}"),
    ]
    assert left[0].detail == "Terminating; created by the stack (a finalizer holds it)"
    assert left[0].fix == f"kubectl delete namespace {NS}"
    assert left[-1].fix == f"kubectl -n {NS} delete httproute {ROUTE}"
    assert all(i.delete is None for i in left)  # --check deletes nothing

    namespace_fake.remove_namespace(NS)
    assert kubernetes.left_after_destroy(CHECK_NEEDS) == []


def test_check_in_a_namespace_the_stack_does_not_own_lists_only_its_objects(namespace_fake: NamespaceFake) -> None:
    shared = "team-shared"
    seed_half_destroyed(namespace_fake, shared, owned=False)
    namespace_fake.add_object("jobs", shared, "someone-elses-job", {"app.kubernetes.io/instance": "other"})
    needs = dataclasses.replace(CHECK_NEEDS, namespace=shared)

    left = kubernetes.left_after_destroy(needs)

    kinds = [(i.kind, i.name.split("/", 1)[1]) for i in left]
    assert ("namespace", shared) not in [(i.kind, i.name) for i in left]
    assert ("Job", "sweep-churn-1") in kinds and ("Job", "someone-elses-job") not in kinds
    assert ("Deployment", GREEN) in kinds and ("HTTPRoute", ROUTE) in kinds
    listed = [r for r in namespace_fake.requests if r.path.endswith("/jobs")]
    assert listed[0].query["labelSelector"] == [f"app.kubernetes.io/instance={ROUTE}"]


def test_ml_teardown_check_exits_1_with_the_list_then_0(
    namespace_fake: NamespaceFake, moto_server: MotoServer, tmp_path: Path
) -> None:
    """The CLI on an EKS stack file: moto answers the SageMaker half (empty), the fake the namespace."""
    config = eks_config()
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.eks.yaml").write_text(yaml.safe_dump({"config": config.values}))
    seed_half_destroyed(namespace_fake)

    code, out = ml("teardown", "--stack", "eks", "--check", "--json", "--project-dir", str(project))
    left = json.loads(out)["left"]
    assert code == 1
    assert left[0] == {
        "cloud": "kubernetes",
        "kind": "namespace",
        "name": NS,
        "detail": "Terminating; created by the stack (a finalizer holds it)",
        "fix": f"kubectl delete namespace {NS}",
    }
    assert len(left) == 11

    namespace_fake.remove_namespace(NS)
    code, out = ml("teardown", "--stack", "eks", "--check", "--project-dir", str(project))
    assert code == 0 and "nothing left" in out
