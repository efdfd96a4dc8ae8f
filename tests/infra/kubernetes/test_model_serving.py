"""The real Kubernetes manifests ModelServing declares, for the committed AKS stack and a prod variant.

dev-k8s (committed): CPU serving, blue 100 / green 0, credentials from AKS.
prod-k8s (prod + a kubernetes section): GPU serving on the spot pool, a 90/10 canary, larger
bounds, and a kubeconfig context instead of fetched credentials.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.kubernetes.platform import build_kubernetes_serving
from ml.contract import PlatformOutputs
from ml.plan.offline import OfflinePlan, run_offline
from ml.plan.stack_file import StackConfig
from tests.infra.helpers import stack_config, with_changes
from tests.infra.kubernetes.k8s_helpers import (
    container,
    k8s_config,
    kubernetes_section,
    pod_spec,
    settings_of,
    unsecret,
)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
SERVICE = "kubernetes:core/v1:Service"


def prod_k8s_config() -> StackConfig:
    section = kubernetes_section()
    section["cluster"] = {"name": "aks-ml-prod", "resourceGroup": "rg-aks-ml-prod", "kubeconfigContext": "aks-ml-prod"}
    section["gpuNodePool"].update({"instanceType": "Standard_NC24ads_A100_v4", "maxNodes": 6, "labels": {}})
    section["quota"] = {"cpu": "40", "memory": "160Gi", "gpu": 12, "pods": 40}
    section["serving"]["resources"] = {
        "requests": {"cpu": "2", "memory": "8Gi"},
        "limits": {"cpu": "4", "memory": "16Gi"},
        "gpu": 1,
    }
    section["serving"]["targetCpuPercent"] = 60
    section["metricsUrl"] = "https://prometheus.prod.example.com"
    section["colours"] = {
        "blue": {"modelUri": "models:/churn-model/7", "weight": 90, "minReplicas": 2, "maxReplicas": 4},
        "green": {"modelUri": "models:/churn-model/8", "weight": 10, "minReplicas": 2, "maxReplicas": 4},
    }
    return with_changes(stack_config("prod"), {"kubernetes": section}, stack="prod-k8s")


@pytest.fixture(scope="module")
def dev(dev_k8s_plan: OfflinePlan) -> OfflinePlan:
    return dev_k8s_plan


@pytest.fixture(scope="module")
def prod() -> OfflinePlan:
    return run_offline(prod_k8s_config())


@pytest.fixture(scope="module")
def plans(dev: OfflinePlan, prod: OfflinePlan) -> dict[str, OfflinePlan]:
    return {"dev": dev, "prod": prod}


def _parent_type(plan: OfflinePlan, resource_urn: str) -> str:
    return next(r.type for r in plan.resources if r.urn == resource_urn)


def test_serving_and_node_pool_are_components_of_the_platform(dev: OfflinePlan) -> None:
    components = {r.name: r.type for r in dev.resources if not r.custom}
    assert components["gpu-pool"] == "mlops:kubernetes:GpuNodePool"
    assert components["model-serving"] == "mlops:kubernetes:ModelServing"
    for name in ("gpu-pool", "model-serving"):
        component = next(r for r in dev.resources if r.name == name)
        assert _parent_type(dev, component.parent_urn) == "mlops:azure:Platform"
    kubernetes = [r for r in dev.custom_resources if r.type.startswith("kubernetes:")]
    assert len(kubernetes) == 15  # ns, quota, limits, sa, 3 policies, 2x(deploy, pdb, svc), 1 hpa, route
    assert {_parent_type(dev, r.parent_urn) for r in kubernetes} == {"mlops:kubernetes:ModelServing"}


def test_provider_targets_the_configured_cluster(dev: OfflinePlan, prod: OfflinePlan) -> None:
    fetched = dev.one("pulumi:providers:kubernetes").inputs
    assert fetched["kubeconfig"]["4dabf18193072939515e22adb298388d"], "kubeconfig must be a secret"
    assert "server: https://aks-ml-dev." in unsecret(fetched["kubeconfig"])
    assert prod.one("pulumi:providers:kubernetes").inputs["context"] == "aks-ml-prod"
    assert "kubeconfig" not in prod.one("pulumi:providers:kubernetes").inputs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_namespace_enforces_restricted_pod_security(stack: str, plans: dict[str, OfflinePlan]) -> None:
    namespace = plans[stack].one("kubernetes:core/v1:Namespace").inputs["metadata"]
    assert namespace["name"] == "ml-serving"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for kind in (DEPLOYMENT, SERVICE, HPA, PDB, POLICY, ROUTE):
        assert {r.inputs["metadata"]["namespace"] for r in plans[stack].of_type(kind)} == {"ml-serving"}


def test_quota_caps_cpu_memory_gpu_pods_and_forbids_bypassing_the_gateway(dev: OfflinePlan, prod: OfflinePlan) -> None:
    hard = dev.one("kubernetes:core/v1:ResourceQuota").inputs["spec"]["hard"]
    assert hard == {
        "requests.cpu": "10",
        "limits.cpu": "10",
        "requests.memory": "20Gi",
        "limits.memory": "20Gi",
        "requests.nvidia.com/gpu": "0",
        "pods": "20",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    prod_hard = prod.one("kubernetes:core/v1:ResourceQuota").inputs["spec"]["hard"]
    assert (prod_hard["limits.cpu"], prod_hard["limits.memory"], prod_hard["requests.nvidia.com/gpu"]) == (
        "40",
        "160Gi",
        "12",
    )


def test_limit_range_defaults_and_caps_containers(prod: OfflinePlan) -> None:
    (limits,) = prod.one("kubernetes:core/v1:LimitRange").inputs["spec"]["limits"]
    assert limits == {
        "type": "Container",
        "defaultRequest": {"cpu": "2", "memory": "8Gi"},
        "default": {"cpu": "4", "memory": "16Gi"},
        "max": {"cpu": "4", "memory": "16Gi"},
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("colour", ["blue", "green"])
def test_probes_on_ping_and_health(stack: str, colour: str, plans: dict[str, OfflinePlan]) -> None:
    server = container(plans[stack], colour)
    assert server["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert server["readinessProbe"]["httpGet"] == {"path": "/ping", "port": "http", "scheme": "HTTP"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http", "scheme": "HTTP"}
    assert server["startupProbe"]["httpGet"]["path"] == "/ping"
    # Liveness waits for the startup probe, which allows 5 minutes to download and load the model.
    assert server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"] == 300


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("colour", ["blue", "green"])
def test_pods_run_locked_down(stack: str, colour: str, plans: dict[str, OfflinePlan]) -> None:
    pod = pod_spec(plans[stack], colour)
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "churn"
    context = container(plans[stack], colour)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # The only writable path is an emptyDir on /tmp, where HOME points.
    assert container(plans[stack], colour)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}]


def test_each_colour_serves_its_model_with_mlflow(dev: OfflinePlan) -> None:
    for colour, model in (("blue", "models:/churn-model/1"), ("green", "models:/churn-model/2")):
        server = container(dev, colour)
        env = {e["name"]: e["value"] for e in server["env"]}
        assert env["MODEL_URI"] == model
        assert env["HOME"] == "/tmp"
        assert env["MLFLOW_TRACKING_URI"] == dev.outputs["tracking_uri"]
        assert env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "60"
        assert server["command"] == ["mlflow", "models", "serve"]
        assert server["args"] == [
            "-m",
            "$(MODEL_URI)",
            "--env-manager",
            "local",
            "-h",
            "0.0.0.0",
            "-p",
            "8080",
            "-w",
            "2",
        ]
        assert server["image"] == "ghcr.io/mlflow/mlflow:v3.1.0"
    deployment = dev.one(DEPLOYMENT, "model-serving-blue").inputs["metadata"]
    assert deployment["annotations"]["pulumi.com/patchForce"] == "true"
    assert deployment["annotations"]["mlops/model-uri"] == "models:/churn-model/1"


def test_workload_identity_on_service_account_and_pods(dev: OfflinePlan) -> None:
    account = dev.one("kubernetes:core/v1:ServiceAccount").inputs
    assert account["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": "44444444-4444-4444-4444-444444444444"
    }
    assert account["automountServiceAccountToken"] is False
    labels = dev.one(DEPLOYMENT, "model-serving-blue").inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


def test_cpu_serving_has_requests_limits_and_no_gpu_placement(dev: OfflinePlan) -> None:
    server = container(dev, "blue")
    assert server["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert "nodeSelector" not in pod_spec(dev, "blue")
    assert "tolerations" not in pod_spec(dev, "blue")


def test_gpu_serving_lands_on_the_spot_gpu_pool(prod: OfflinePlan) -> None:
    resources = container(prod, "green")["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == "1"
    pool = prod.one("azure-native:containerservice:AgentPool").inputs
    pod = pod_spec(prod, "green")
    assert pod["nodeSelector"] == pool["nodeLabels"]
    assert pod["nodeSelector"]["accelerator"] == "nvidia"
    tolerated = {(t["key"], t.get("value", ""), t["effect"]) for t in pod["tolerations"]}
    for taint in pool["nodeTaints"]:
        pair, effect = taint.rsplit(":", 1)
        key, _, value = pair.partition("=")
        assert (key, value, effect) in tolerated


def test_active_colour_scales_by_hpa_and_idle_colour_runs_nothing(dev: OfflinePlan) -> None:
    blue = dev.one(DEPLOYMENT, "model-serving-blue").inputs["spec"]
    green = dev.one(DEPLOYMENT, "model-serving-green").inputs["spec"]
    assert "replicas" not in blue, "an HPA-managed Deployment must leave replicas to the HPA"
    assert green["replicas"] == 0
    assert [r.name for r in dev.of_type(HPA)] == ["model-serving-blue-hpa"]
    assert blue["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def _hpa_spec(plan: OfflinePlan, colour: str) -> dict[str, Any]:
    return plan.one(HPA, f"model-serving-{colour}-hpa").inputs["spec"]


@pytest.mark.parametrize(
    ("stack", "colour", "bounds", "target"),
    [("dev", "blue", (1, 4), 70), ("prod", "blue", (2, 4), 60), ("prod", "green", (2, 4), 60)],
)
def test_hpa_bounds_and_target(
    stack: str, colour: str, bounds: tuple[int, int], target: int, plans: dict[str, OfflinePlan]
) -> None:
    spec = _hpa_spec(plans[stack], colour)
    assert (spec["minReplicas"], spec["maxReplicas"]) == bounds
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"churn-{colour}"}
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}},
        }
    ]
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_disruption_budget_per_colour(stack: str, plans: dict[str, OfflinePlan]) -> None:
    budgets = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plans[stack].of_type(PDB)}
    assert set(budgets) == {"churn-blue", "churn-green"}
    for colour in ("blue", "green"):
        spec = budgets[f"churn-{colour}"]
        assert spec["maxUnavailable"] == 1
        assert spec["selector"]["matchLabels"]["mlops/colour"] == colour
        pod_labels = plans[stack].one(DEPLOYMENT, f"model-serving-{colour}").inputs["spec"]["template"]["metadata"]
        assert spec["selector"]["matchLabels"].items() <= pod_labels["labels"].items()


def test_network_policies_deny_by_default_and_admit_only_the_gateway(dev: OfflinePlan) -> None:
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in dev.of_type(POLICY)}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress = policies["allow-gateway-ingress"]
    assert ingress["policyTypes"] == ["Ingress"]
    assert ingress["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/component": "proxy"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    egress = policies["allow-model-egress"]
    assert egress["policyTypes"] == ["Egress"]
    dns, https = egress["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert https == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    served = dev.one(DEPLOYMENT, "model-serving-blue").inputs["spec"]["template"]["metadata"]["labels"]
    assert ingress["podSelector"]["matchLabels"].items() <= served.items()


@pytest.mark.parametrize(("stack", "weights"), [("dev", (100, 0)), ("prod", (90, 10))])
def test_route_splits_traffic_by_configured_weights(
    stack: str, weights: tuple[int, int], plans: dict[str, OfflinePlan]
) -> None:
    plan = plans[stack]
    route = plan.one(ROUTE).inputs
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1" and route["kind"] == "HTTPRoute"
    assert route["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "ml-gateway", "namespace": "gateway"}
    ]
    assert route["spec"]["hostnames"] == ["churn.dev.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    refs = {ref["name"]: ref for ref in rule["backendRefs"]}
    assert (refs["churn-blue"]["weight"], refs["churn-green"]["weight"]) == weights
    services = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.of_type(SERVICE)}
    for name, ref in refs.items():
        assert ref["port"] == services[name]["ports"][0]["port"] == 80
        assert services[name]["type"] == "ClusterIP"
        assert services[name]["ports"][0]["targetPort"] == "http"


def test_contract_exports_what_a_rollout_needs(dev: OfflinePlan, prod: OfflinePlan) -> None:
    ref = PlatformOutputs.model_validate(dev.outputs).kubernetes
    assert ref is not None
    assert (ref.namespace, ref.route_name) == ("ml-serving", "churn")
    assert ref.services == ref.deployments == {"blue": "churn-blue", "green": "churn-green"}
    assert ref.weights == {"blue": 100, "green": 0}
    assert ref.model_uris == {"blue": "models:/churn-model/1", "green": "models:/churn-model/2"}
    assert (ref.min_replicas, ref.max_replicas) == ({"blue": 1, "green": 1}, {"blue": 4, "green": 4})
    assert (ref.cluster_name, ref.cluster_resource_group, ref.kube_context) == ("aks-ml-dev", "rg-aks-ml-dev", None)
    assert ref.metrics_url is None  # committed dev-k8s: no Prometheus, so rollouts with gates are refused
    assert prod.outputs["kubernetes"]["weights"] == {"blue": 90, "green": 10}
    assert prod.outputs["kubernetes"]["kube_context"] == "aks-ml-prod"
    assert prod.outputs["kubernetes"]["metrics_url"] == "https://prometheus.prod.example.com"


def test_a_weight_change_is_a_canary_step(dev: OfflinePlan) -> None:
    """50/50 from 100/0: the route's weights change, green gets an HPA floor; nothing else moves."""
    section = kubernetes_section()
    section["colours"]["blue"]["weight"] = 50
    section["colours"]["green"]["weight"] = 50
    step = run_offline(with_changes(k8s_config(), {"kubernetes": section}))
    refs = {r["name"]: r["weight"] for r in step.one(ROUTE).inputs["spec"]["rules"][0]["backendRefs"]}
    assert refs == {"churn-blue": 50, "churn-green": 50}
    assert "replicas" not in step.one(DEPLOYMENT, "model-serving-green").inputs["spec"]
    assert _hpa_spec(step, "green")["minReplicas"] == 1
    before = {(r.type, r.name): r.inputs for r in dev.custom_resources}
    after = {(r.type, r.name): r.inputs for r in step.custom_resources}
    assert set(after) - set(before) == {(HPA, "model-serving-green-hpa")}
    changed = {key for key in before if key in after and before[key] != after[key]}
    assert changed == {(ROUTE, "model-serving-route"), (DEPLOYMENT, "model-serving-green")}
    assert step.outputs["kubernetes"]["weights"] == {"blue": 50, "green": 50}


def test_disabled_or_absent_section_builds_nothing() -> None:
    section = kubernetes_section()
    section["enabled"] = False
    disabled = settings_of(with_changes(k8s_config(), {"kubernetes": section}))
    absent = settings_of(with_changes(k8s_config(), {"kubernetes": None}))
    assert disabled.kubernetes is not None and absent.kubernetes is None
    # Returns before touching the parent or registering anything.
    assert build_kubernetes_serving(disabled, parent=None) is None  # type: ignore[arg-type]
    assert build_kubernetes_serving(absent, parent=None) is None  # type: ignore[arg-type]
