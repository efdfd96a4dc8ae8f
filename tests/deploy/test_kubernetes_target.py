"""The kubernetes rollout target, driven by the real engine through the real `kubernetes` client.

The cluster is `tests.fakes.kube_api.FakeKube` on 127.0.0.1 (Deployments, HPAs, Pods, an HTTPRoute
whose gateway reports status), reached through a kubeconfig; gate metrics come from a fake
Prometheus whose answers each test sets. The registry and audit trail are MLflow on SQLite. The
tests pin the HTTPRoute weights each strategy produces, what a failed gate or a colour that never
becomes ready leaves behind, what is written back to Pulumi.<stack>.yaml, and the errors a user sees.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml.contract import (
    SCHEMA_VERSION,
    ArtifactStoreRef,
    BudgetRef,
    KubernetesServingRef,
    PlatformOutputs,
    TrainingProfile,
)
from ml.contract.errors import UserError
from ml.deploy.audit import AuditTrail
from ml.deploy.engine import RolloutEngine, RolloutResult
from ml.deploy.registry import Registry
from ml.deploy.spec import parse_spec
from ml.deploy.target import DeploymentError, DeploymentInfo, target_for
from ml.deploy.targets._k8s_health import colour_health
from ml.deploy.targets._prometheus import PromQueries, histogram_quantile
from ml.deploy.targets._stack_file_colours import rewrite
from ml.deploy.targets.kubernetes import KubernetesTarget
from ml.tracking import use_tracking
from tests.fakes.kube_api import FakeKube, FakePrometheus, serve, write_kubeconfig

REPO = Path(__file__).resolve().parents[2]
NS, ROUTE, MODEL = "ml-serving", "churn", "churn-model"
BLUE, GREEN = "churn-blue", "churn-green"
SERVING_HPA = {
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": BLUE},
        "minReplicas": 1,
        "maxReplicas": 4,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}},
            }
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
    }
}
HEALTHY: dict[str, dict[str, float]] = {
    "classes": {"2": 195, "4": 5},
    "buckets": {"25": 150, "50": 190, "100": 200, "+Inf": 200},
}
FAILING: dict[str, dict[str, float]] = {
    "classes": {"2": 160, "5": 40},
    "buckets": {"25": 150, "50": 190, "100": 200, "+Inf": 200},
}
GATES = "{min_requests: 10, max_wait: 0.5, max_p95_latency_ms: 250}"


@dataclass
class World:
    kube: FakeKube
    prom: FakePrometheus
    outputs: PlatformOutputs
    project: Path
    client: Any
    events: list

    def target(self, **overrides: object) -> KubernetesTarget:
        options: dict[str, Any] = {
            "poll_interval": 0.01,
            "route_timeout": 2.0,
            "project_dir": self.project,
            **overrides,
        }
        return KubernetesTarget(self.outputs, ROUTE, **options)

    def engine(self, target: KubernetesTarget) -> RolloutEngine:
        return RolloutEngine(
            self.outputs, target, registry=Registry(self.client), audit=AuditTrail(self.outputs, self.client),
            journal_dir=self.project / "rollouts", on_event=self.events.append, poll_interval=0.01, drain_seconds=0.0,
        )  # fmt: skip

    def rollout(self, strategy: str, gates: str = GATES, *, health_timeout: str = "5s") -> RolloutResult:
        spec = parse_spec(
            f"model: models:/{MODEL}@challenger\nstrategy: {strategy}\nbake_time: 0\n"
            f"health_timeout: {health_timeout}\ngates: {gates}\n"
        )
        target = self.target()
        try:
            return self.engine(target).run(spec)
        finally:
            target.close()

    def champion(self) -> str | None:
        return Registry(self.client).alias_version(MODEL, "champion")

    def replicas(self, name: str) -> int:
        return int(self.kube.deployments[(NS, name)]["spec"]["replicas"])

    def colours_in_config(self) -> dict:
        return yaml.safe_load((self.project / "Pulumi.dev-k8s.yaml").read_text())["config"]["mlops:kubernetes"][
            "colours"
        ]


def outputs_for(tracking_uri: str, metrics_url: str | None, **ref: object) -> PlatformOutputs:
    kubernetes = {
        "namespace": NS,
        "route_name": ROUTE,
        "services": {"blue": BLUE, "green": GREEN},
        "deployments": {"blue": BLUE, "green": GREEN},
        "weights": {"blue": 100, "green": 0},
        "model_uris": {"blue": f"models:/{MODEL}/1", "green": f"models:/{MODEL}/2"},
        "min_replicas": {"blue": 1, "green": 2},
        "max_replicas": {"blue": 4, "green": 4},
        "cluster_name": "aks-ml-dev",
        "cluster_resource_group": "rg-aks-ml-dev",
        "kube_context": "fake-cluster",
        "metrics_url": metrics_url,
        **ref,
    }
    return PlatformOutputs(
        schema_version=SCHEMA_VERSION, stack="dev-k8s", environment="dev", cloud="azure", region="westeurope",
        tracking_uri=tracking_uri,
        training=TrainingProfile(name="gpu", instance_type="Standard_NC4as_T4_v3", min_nodes=0, max_nodes=2, spot=True),
        artifacts=ArtifactStoreRef(name="a", uri="file:///tmp/a", temp_prefix="tmp/", checkpoint_prefix="ckpt/"),
        budget=BudgetRef(name="b", monthly_amount=300.0, currency="USD", thresholds_percent=[80.0]),
        kubernetes=KubernetesServingRef(**kubernetes),
    )  # fmt: skip


def seeded_cluster() -> FakeKube:
    """What `pulumi up` of dev-k8s leaves: blue serves v1 at 100 % with its HPA, green idle at 0 replicas."""
    kube = FakeKube()
    kube.add_colour(NS, BLUE, "blue", instance=ROUTE, model=f"models:/{MODEL}/1", replicas=1, hpa=SERVING_HPA)
    kube.add_colour(NS, GREEN, "green", instance=ROUTE, model=f"models:/{MODEL}/2", replicas=0, hpa=None)
    kube.add_route(NS, ROUTE, {BLUE: 100, GREEN: 0})
    return kube


@pytest.fixture
def world(tmp_path: Path, mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root (./mlruns) stays in the test's directory
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for variable in ("ML_K8S_PROMQL_STATUS", "ML_K8S_PROMQL_LATENCY", "ML_K8S_PROMQL_CLUSTER"):
        monkeypatch.delenv(variable, raising=False)
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev-k8s.yaml"):
        shutil.copy(REPO / name, project / name)
    kube, prom = seeded_cluster(), FakePrometheus()
    with serve(kube) as kube_url, serve(prom) as prom_url:
        monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", kube_url)))
        outputs = outputs_for(mlflow_sqlite_uri, prom_url)
        client = use_tracking(outputs)
        client.create_registered_model(MODEL)
        for _ in range(3):
            client.create_model_version(MODEL, source="file:///tmp/model")
        client.set_registered_model_alias(MODEL, "champion", "1")
        client.set_registered_model_alias(MODEL, "challenger", "3")
        yield World(kube, prom, outputs, project, client, [])


def test_canary_moves_route_weights_step_by_step_then_promotes_and_persists(world: World) -> None:
    world.prom.answers["backend/1"] = HEALTHY
    target = world.target()
    assert target.get_traffic().weights == {"blue": 100, "green": 0}
    assert target.list_deployments() == [DeploymentInfo("blue", f"models:/{MODEL}/1", "healthy")]
    target.close()
    original = (world.project / "Pulumi.dev-k8s.yaml").read_text()

    result = world.rollout("{type: canary, steps: [10, 50, 100]}")

    assert result.outcome == "promoted", result.message
    assert world.kube.route_patches() == [
        {BLUE: 90, GREEN: 10},
        {BLUE: 50, GREEN: 50},
        {BLUE: 0, GREEN: 100},
    ]
    patch = world.kube.calls("PATCH", "/httproutes/")[0]
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["metadata"]["resourceVersion"]  # optimistic concurrency on the full rules list
    assert patch.body["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    staged = world.kube.calls("PATCH", f"/deployments/{GREEN}")[0]
    assert staged.content_type == "application/strategic-merge-patch+json"
    assert world.kube.env(NS, GREEN)["MODEL_URI"] == f"models:/{MODEL}/3"
    assert world.kube.env(NS, GREEN)["HOME"] == "/tmp"  # strategic merge kept the other env entries
    green = world.kube.deployments[(NS, GREEN)]
    assert green["metadata"]["annotations"]["mlops/model-uri"] == f"models:/{MODEL}/3"
    assert green["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
    assert world.replicas(GREEN) == 2
    hpa = world.kube.hpas[(NS, GREEN)]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    assert hpa["scaleTargetRef"]["name"] == GREEN
    assert hpa["metrics"] == SERVING_HPA["spec"]["metrics"]  # copied from the serving colour's HPA
    assert world.replicas(BLUE) == 0 and (NS, BLUE) not in world.kube.hpas
    assert world.champion() == "3"
    assert any('envoy_cluster_name="httproute/ml-serving/churn/rule/0/backend/1"' in q for q in world.prom.queries)
    gate = [e for e in result.events if e.kind == "gate"]
    assert len(gate) == 3 and gate[0].gates is not None
    assert gate[0].gates["metrics"]["p95_ms"] == pytest.approx(50.0)

    colours = world.colours_in_config()
    assert colours["blue"] == {"modelUri": f"models:/{MODEL}/1", "weight": 0, "minReplicas": 1, "maxReplicas": 4}
    assert colours["green"] == {"modelUri": f"models:/{MODEL}/3", "weight": 100, "minReplicas": 1, "maxReplicas": 4}
    before, after = original.splitlines(), (world.project / "Pulumi.dev-k8s.yaml").read_text().splitlines()
    assert len(before) == len(after)
    changed = [(old.strip(), new.strip()) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [
        ("weight: 100", "weight: 0"),
        (f"modelUri: models:/{MODEL}/2", f"modelUri: models:/{MODEL}/3"),
        ("weight: 0", "weight: 100"),
    ]


def test_blue_green_switches_once_and_records_that_it_cannot_mirror(world: World) -> None:
    world.prom.answers["backend/1"] = HEALTHY
    result = world.rollout("{type: blue_green, mirror_percent: 10}")
    assert result.outcome == "promoted", result.message
    assert world.kube.route_patches() == [{BLUE: 0, GREEN: 100}]
    assert any(e.kind == "mirror" and "cannot mirror" in e.message for e in result.events)
    assert world.colours_in_config()["green"]["weight"] == 100


def test_error_rate_gate_restores_weights_and_retires_the_new_colour(world: World) -> None:
    world.prom.answers["backend/1"] = FAILING
    world.prom.answers["backend/0"] = HEALTHY
    result = world.rollout("{type: canary, steps: [10, 50, 100]}")

    assert result.outcome == "rolled_back"
    assert "error_rate 0.2 > 0.01" in result.message
    assert world.kube.route_patches() == [{BLUE: 90, GREEN: 10}, {BLUE: 100, GREEN: 0}]
    assert world.replicas(GREEN) == 0
    assert world.kube.calls("DELETE", f"/horizontalpodautoscalers/{GREEN}")
    assert (NS, GREEN) not in world.kube.hpas
    assert world.replicas(BLUE) == 1 and (NS, BLUE) in world.kube.hpas
    assert world.champion() == "1"
    colours = world.colours_in_config()
    assert (colours["blue"]["weight"], colours["green"]["weight"]) == (100, 0)


@pytest.mark.parametrize(
    ("broken", "timeout", "reason"),
    [
        ("crashing", "5s", "CrashLoopBackOff: back-off 40s restarting failed container (restarted 4 times"),
        ("stuck", "300ms", "was not ready within 0.3s: Deployment churn-green: updatedReplicas 2/2, readyReplicas 0/2"),
    ],
)
def test_a_colour_that_never_becomes_ready_is_rolled_back(world: World, broken: str, timeout: str, reason: str) -> None:
    getattr(world.kube, broken).add(f"models:/{MODEL}/3")
    result = world.rollout("{type: canary, steps: [10, 100]}", health_timeout=timeout)
    assert result.outcome == "rolled_back"
    assert reason in result.message
    assert world.kube.route_patches() == []  # it never took traffic
    assert world.replicas(GREEN) == 0 and (NS, GREEN) not in world.kube.hpas
    assert world.champion() == "1"


def test_gates_without_metrics_url_fail_up_front_naming_the_key(world: World, mlflow_sqlite_uri: str) -> None:
    world.outputs = outputs_for(mlflow_sqlite_uri, None)
    with pytest.raises(UserError, match=r"set `mlops:kubernetes\.metricsUrl`"):
        world.rollout("{type: canary, steps: [10, 100]}")
    assert world.kube.calls("PATCH", "") == [] and world.kube.calls("POST", "") == []
    assert world.prom.queries == []
    # refused before the engine journaled anything: no rollout to recover, no audit run opened
    assert not list((world.project / "rollouts").glob("*"))
    assert world.client.search_runs([e.experiment_id for e in world.client.search_experiments()]) == []
    # Judging nothing has to be said explicitly; then readiness is the only check.
    result = world.rollout("{type: blue_green}", gates="{max_error_rate: 1, min_requests: 0}")
    assert result.outcome == "promoted", result.message
    assert world.kube.route_patches() == [{BLUE: 0, GREEN: 100}]
    # `ml rollback`'s gates (min_requests 0, insufficient traffic passes) are not blocked either
    world.client.set_registered_model_alias(MODEL, "challenger", "1")
    back = world.rollout(
        "{type: blue_green}", gates="{max_error_rate: 0.05, min_requests: 0, insufficient_traffic: pass}"
    )
    assert back.outcome == "promoted", back.message
    assert world.kube.route_patches()[-1] == {BLUE: 100, GREEN: 0}


def test_missing_route_or_namespace_is_one_clear_error(world: World, mlflow_sqlite_uri: str) -> None:
    del world.kube.routes[(NS, ROUTE)]
    with pytest.raises(UserError, match=r"HTTPRoute 'churn' not found in namespace 'ml-serving'.*pulumi up"):
        target_for(world.outputs, ROUTE)
    with pytest.raises(UserError, match=r"namespace 'elsewhere' does not exist"):
        target_for(outputs_for(mlflow_sqlite_uri, None, namespace="elsewhere"), ROUTE)


def test_rbac_forbidden_and_rejected_route_are_clear_errors(world: World) -> None:
    target = world.target()
    world.kube.services.discard((NS, GREEN))
    with pytest.raises(DeploymentError, match=r"ResolvedRefs False \(BackendNotFound"):
        target.set_traffic({"blue": 90, "green": 10})
    world.kube.forbidden.add(("PATCH", "httproutes"))
    with pytest.raises(UserError, match=r"forbidden by RBAC to patch HTTPRoute 'churn'.*cannot patch resource"):
        target.set_traffic({"blue": 100})
    target.api.close()


def test_missing_kubeconfig_or_context_says_how_to_get_one(
    world: World, mlflow_sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UserError, match=r"context 'elsewhere'.*make context 'elsewhere' available"):
        target_for(outputs_for(mlflow_sqlite_uri, None, kube_context="elsewhere"), ROUTE)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(UserError, match=r"az aks get-credentials -g rg-aks-ml-dev -n aks-ml-dev"):
        target_for(outputs_for(mlflow_sqlite_uri, None, kube_context=None), ROUTE)


def test_without_the_stack_file_the_exact_config_commands_are_printed(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = world.target(project_dir=tmp_path / "elsewhere")
    target.set_traffic({"blue": 90, "green": 10})
    target.close()
    printed = capsys.readouterr().err
    assert "stack config not written" in printed
    for command in (
        "pulumi config set --stack dev-k8s --path mlops:kubernetes.colours.blue.weight 90",
        "pulumi config set --stack dev-k8s --path mlops:kubernetes.colours.green.weight 10",
        f"pulumi config set --stack dev-k8s --path mlops:kubernetes.colours.green.modelUri models:/{MODEL}/2",
    ):
        assert command in printed


def test_read_only_use_writes_no_config(world: World) -> None:
    original = (world.project / "Pulumi.dev-k8s.yaml").read_text()
    target = world.target()
    target.set_traffic({"blue": 100})  # already so: no patch, nothing changed
    target.close()
    assert world.kube.route_patches() == []
    assert (world.project / "Pulumi.dev-k8s.yaml").read_text() == original


@pytest.mark.parametrize(
    ("quantile", "expected"),
    [(0.5, 10.0), (0.95, 19.0), (0.999, 19.98), (1.0, 20.0)],
)
def test_histogram_quantile_interpolates_like_promql(quantile: float, expected: float) -> None:
    assert histogram_quantile(quantile, {10.0: 50, 20.0: 100, float("inf"): 100}) == pytest.approx(expected)
    assert histogram_quantile(0.9, {10.0: 50, float("inf"): 100}) == 10.0  # beyond the last finite bucket
    assert histogram_quantile(0.5, {float("inf"): 0}) is None


def test_promql_templates_can_be_overridden_from_the_environment() -> None:
    queries = PromQueries.from_env({"ML_K8S_PROMQL_CLUSTER": "$namespace/$service"})
    rendered = queries.render("status", {"namespace": NS, "service": GREEN, "window": 30})
    assert 'envoy_cluster_name="ml-serving/churn-green"' in rendered and "[30s]" in rendered
    with pytest.raises(UserError, match="ML_K8S_PROMQL_STATUS"):
        PromQueries(status="sum($nope)").render("status", {"window": 1})


def test_rollout_status_needs_the_controller_to_have_seen_the_spec() -> None:
    deployment: dict[str, Any] = {
        "metadata": {"name": "d", "generation": 3},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                   "availableReplicas": 2},
    }  # fmt: skip
    assert colour_health(deployment, []).state == "starting"
    deployment["status"]["observedGeneration"] = 3
    assert colour_health(deployment, []).state == "ready"
    deployment["status"]["replicas"] = 3  # an old pod is still there
    assert colour_health(deployment, []).state == "starting"


def test_stack_file_editor_keeps_comments_and_refuses_what_it_cannot_rewrite_safely() -> None:
    text = "config:\n  mlops:kubernetes:\n    colours:\n      blue:\n        weight: 100  # live\n"
    assert rewrite(text, {"blue": {"weight": 0}}) == text.replace("100", "0")
    flow = "config:\n  mlops:kubernetes: {colours: {blue: {weight: 100}}}\n"
    assert rewrite(flow, {"blue": {"weight": 0}}) is None
