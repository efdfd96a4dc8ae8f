"""The real rollout engine driving the Azure target, through the real azure-ai-ml SDK, against the ARM fake.

What is real: the engine, the registry and audit trail (MLflow on SQLite), the target, azure-ai-ml
and azure-core (serializers, pollers, retries) and HTTPS. What is fake: Azure itself
(`tests.fakes.arm.FakeArm`): it stores what is PUT, scripts provisioning that takes time or fails,
and answers Azure Monitor metrics from the endpoint's *current* traffic map
(`tests.fakes.azure_monitor`), so a deployment only shows evidence when the rollout gave it traffic.
Each test asserts the REST calls Azure would have received, in order.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from ml.contract import (
    AutoscaleProfile,
)
from ml.contract import azure as contract_azure
from ml.contract.errors import UserError
from ml.deploy.audit import AuditTrail
from ml.deploy.engine import RolloutEngine, RolloutResult
from ml.deploy.registry import Registry
from ml.deploy.spec import RolloutSpec, parse_spec
from ml.deploy.target import DeploymentError, ModelRef, target_for
from ml.deploy.targets import azure_monitor
from ml.deploy.targets.azure import AzureTarget
from tests.fakes import azure_client
from tests.fakes.arm import FakeArm, FakeResponse, RecordedRequest, arm_error
from tests.fakes.azure_client import azure_outputs, connection_for
from tests.fakes.azure_monitor import Serving

fake_arm = azure_client.fake_arm  # pytest fixtures used by this module
fake_arm_env = azure_client.fake_arm_env

ENDPOINT = "churn-ep"
AUTOSCALE = AutoscaleProfile(
    min_instances=1,
    max_instances=4,
    metric="cpu",
    target=70,
    scale_out_cooldown_seconds=300,
    scale_in_cooldown_seconds=600,
)
BAD = Serving(status_codes={200: 0.8, 503: 0.1, 424: 0.1})
GATES = "{max_error_rate: 0.05, min_requests: 10, max_wait: 0.5}"


class World:
    """One Azure endpoint (in the fake), one registered model, one engine factory."""

    def __init__(self, arm: FakeArm, tracking_uri: str, tmp_path: Path) -> None:
        from mlflow import MlflowClient

        self.arm = arm
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.client.create_experiment("ml-deployments", artifact_location=(tmp_path / "audit-artifacts").as_uri())
        self.model = f"churn-{uuid.uuid4().hex[:6]}"
        self.client.create_registered_model(self.model)
        arm.put(
            arm.ws("onlineEndpoints", ENDPOINT),
            {
                "location": arm.location,
                "identity": {"type": "SystemAssigned"},
                "tags": {"environment": "dev", "cost-center": "ml"},
                "properties": {"authMode": "Key", "traffic": {}, "properties": {}},
            },
        )
        self.outputs = azure_outputs(arm, endpoint=ENDPOINT, autoscale=AUTOSCALE)
        self.target = AzureTarget(
            self.outputs, ENDPOINT, connection=connection_for(arm), poll_seconds=0.02, refresh_seconds=0
        )
        self.registry = Registry(self.client)
        self.audit = AuditTrail(self.outputs, self.client)
        self.journal_dir = tmp_path / "rollouts"
        self.mark = 0

    def version(self) -> str:
        """Register a version in MLflow and (as Azure ML does for its MLflow registry) as a workspace asset."""
        version = str(self.client.create_model_version(self.model, source="azureml://models/x").version)
        self.arm.put(
            self.arm.ws("models", self.model, "versions", version), {"properties": {"modelType": "mlflow_model"}}
        )
        self.client.set_registered_model_alias(self.model, "challenger", version)
        return version

    def engine(self) -> RolloutEngine:
        return RolloutEngine(
            self.outputs, self.target, registry=self.registry, audit=self.audit, journal_dir=self.journal_dir,
            poll_interval=0.01, drain_seconds=0.0,
        )  # fmt: skip

    def spec(self, strategy: str, *, gates: str = GATES, bake: str = "0") -> RolloutSpec:
        text = f"model: models:/{self.model}@challenger\nstrategy: {strategy}\nbake_time: {bake}\ngates: {gates}\n"
        return parse_spec(text)

    def serve_first(self) -> str:
        """Version 1 serves 100% as 'blue' and is champion; later assertions see only what follows."""
        version = self.version()
        self.arm.monitor.serve(ENDPOINT, "blue", Serving())
        result = self.engine().run(self.spec("{type: blue_green}"))
        assert result.outcome == "promoted", result.message
        self.mark = len(self.arm.requests)
        return version

    def since_mark(self, method: str, pattern: str) -> list[RecordedRequest]:
        return [r for r in self.arm.find(method, pattern) if self.arm.requests.index(r) >= self.mark]

    def traffic_puts(self) -> list[tuple[dict[str, int], dict[str, int]]]:
        """Every endpoint PUT since the mark: (traffic, mirrorTraffic) exactly as Azure received them."""
        return [
            (r.body["properties"].get("traffic"), r.body["properties"].get("mirrorTraffic"))
            for r in self.since_mark("PUT", rf"/onlineEndpoints/{ENDPOINT}$")
        ]

    def deletes(self) -> list[str]:
        return [
            r.path.rsplit("/", 1)[-1] for r in self.since_mark("DELETE", rf"/onlineEndpoints/{ENDPOINT}/deployments/")
        ]

    def deployments(self) -> list[str]:
        return [info.name for info in self.target.list_deployments()]

    def champion(self) -> str | None:
        return self.registry.alias_version(self.model, "champion")

    def autoscale(self, colour: str) -> dict[str, Any] | None:
        name = azure_monitor.autoscale_setting_name(ENDPOINT, colour)
        return self.arm.resource(
            f"/subscriptions/{self.arm.subscription_id}/resourceGroups/{self.arm.resource_group}"
            f"/providers/Microsoft.Insights/autoscalesettings/{name}"
        )


@pytest.fixture
def world(fake_arm: FakeArm, fake_arm_env: pytest.MonkeyPatch, mlflow_sqlite_uri: str, tmp_path: Path) -> World:
    fake_arm_env.setenv("ML_PLATFORM_HOME", str(tmp_path / "home"))
    built = World(fake_arm, mlflow_sqlite_uri, tmp_path)
    yield built
    built.target.close()


def _ok(result: RolloutResult) -> None:
    assert result.outcome == "promoted", result.message


def test_canary_moves_traffic_in_steps_then_deletes_blue_and_moves_the_alias(world: World) -> None:
    world.serve_first()
    assert world.autoscale("blue") is not None
    second = world.version()
    world.arm.monitor.serve(ENDPOINT, "green", Serving())

    result = world.engine().run(world.spec("{type: canary, steps: [10, 50, 100]}"))

    _ok(result)
    assert world.traffic_puts() == [
        ({"blue": 90, "green": 10}, {}),
        ({"blue": 50, "green": 50}, {}),
        ({"green": 100}, {}),
        ({"green": 100}, {}),  # the commit re-asserts the final map before deleting the old colour
    ]
    assert world.deletes() == ["blue"]
    last_put = world.arm.requests.index(world.since_mark("PUT", rf"/onlineEndpoints/{ENDPOINT}$")[-1])
    assert world.arm.requests.index(world.since_mark("DELETE", "/deployments/blue$")[0]) > last_put
    assert world.deployments() == ["green"]
    assert world.champion() == second

    created = world.since_mark("PUT", rf"/onlineEndpoints/{ENDPOINT}/deployments/green$")
    assert len(created) == 1
    body = created[0].body
    assert body["properties"]["model"].endswith(f"/models/{world.model}/versions/{second}")
    assert body["properties"]["instanceType"] == "Standard_DS3_v2"
    assert body["sku"]["capacity"] == 2
    assert body["tags"]["ml.deploy.model"] == f"models:/{world.model}/{second}"
    assert body["tags"]["environment"] == "dev"  # the endpoint's tags carry over

    scale = world.autoscale("green")
    assert scale is not None and world.autoscale("blue") is None
    assert scale["properties"]["targetResourceUri"].endswith(f"/onlineEndpoints/{ENDPOINT}/deployments/green")
    profile = scale["properties"]["profiles"][0]
    assert profile["capacity"] == {"minimum": "1", "maximum": "4", "default": "2"}
    assert [r["scaleAction"]["cooldown"] for r in profile["rules"]] == ["PT5M", "PT10M"]
    assert [r["metricTrigger"]["threshold"] for r in profile["rules"]] == [70, 35]

    queries = world.since_mark("GET", rf"/onlineEndpoints/{ENDPOINT}/providers/Microsoft\.Insights/metrics$")
    filters = {(q.param("metricnames"), q.param("$filter")) for q in queries}
    assert ("RequestsPerMinute", "deployment eq 'green' and statusCodeClass eq '*' and statusCode eq '*'") in filters
    assert ("RequestLatency_P95,RequestLatency_P99", "deployment eq 'green'") in filters
    assert {q.param("api-version") for q in queries} == {"2023-10-01"}


def test_errors_in_the_canary_restore_the_traffic_map_and_delete_green(world: World) -> None:
    first = world.serve_first()
    world.version()
    world.arm.monitor.serve(ENDPOINT, "green", BAD)

    result = world.engine().run(world.spec("{type: canary, steps: [10, 50, 100]}"))

    assert result.outcome == "rolled_back"
    assert "gate failed at step 1 (10%)" in result.message and "error_rate" in result.message
    assert world.traffic_puts() == [({"blue": 90, "green": 10}, {}), ({"blue": 100}, {})]
    assert world.deletes() == ["green"]
    assert world.deployments() == ["blue"]
    assert world.champion() == first
    assert world.autoscale("green") is None
    assert world.target.get_traffic().weights == {"blue": 100}


def test_a_deployment_that_fails_provisioning_is_rolled_back_with_azures_reason(world: World) -> None:
    first = world.serve_first()
    world.version()
    world.arm.provision(
        rf"/onlineEndpoints/{ENDPOINT}/deployments/green$",
        [("Creating", 0.15), ("Failed", 0)],
        error=("ResourceNotReady", "User container has crashed or terminated: liveness probe failed"),
        logs="Loading model...\nModuleNotFoundError: No module named 'sklearn'\n",
    )

    result = world.engine().run(world.spec("{type: canary, steps: [10, 100]}"))

    assert result.outcome == "rolled_back"
    assert "provisioning state Failed" in result.message
    assert "ResourceNotReady: User container has crashed or terminated" in result.message
    assert "No module named 'sklearn'" in result.message
    assert world.traffic_puts() == [({"blue": 100}, {})]  # never got traffic; the map is restored as it was
    assert world.deletes() == ["green"]
    assert world.deployments() == ["blue"] and world.champion() == first
    assert world.autoscale("green") is None


def test_blue_green_mirrors_then_switches(world: World) -> None:
    world.serve_first()
    second = world.version()
    world.arm.monitor.serve(ENDPOINT, "green", Serving(requests_per_minute=300))
    world.arm.provision(rf"/onlineEndpoints/{ENDPOINT}/deployments/green$", [("Creating", 0.1), ("Succeeded", 0)])

    result = world.engine().run(world.spec("{type: blue_green, mirror_percent: 20, mirror_time: 0}"))

    _ok(result)
    assert world.traffic_puts() == [
        ({"blue": 100}, {"green": 20}),
        ({"green": 100}, {}),
        ({"green": 100}, {}),
    ]
    mirror = next(e for e in result.events if e.kind == "gate")
    assert mirror.gates is not None and mirror.gates["metrics"]["requests"] == 60  # 20% of 300/min, mirrored only
    assert world.deletes() == ["blue"] and world.champion() == second


def test_bad_mirror_evidence_rolls_back_before_any_user_sees_green(world: World) -> None:
    world.serve_first()
    world.version()
    world.arm.monitor.serve(ENDPOINT, "green", BAD)

    result = world.engine().run(world.spec("{type: blue_green, mirror_percent: 50, mirror_time: 0}"))

    assert result.outcome == "rolled_back"
    assert world.traffic_puts() == [({"blue": 100}, {"green": 50}), ({"blue": 100}, {})]
    assert world.deletes() == ["green"]


def test_target_calls_wait_timeout_idempotent_delete_and_listing(world: World) -> None:
    target = world.target
    version = world.version()
    world.arm.provision(rf"/onlineEndpoints/{ENDPOINT}/deployments/slow$", [("Creating", 60)])
    target.create_deployment("slow", ModelRef(world.model, version), "Standard_DS3_v2", 1)
    with pytest.raises(
        DeploymentError, match=r"deployment 'slow' on endpoint 'churn-ep' is still 'Creating' after 0.2s"
    ):
        target.wait_healthy("slow", 0.2)
    assert not target.is_healthy("slow")
    [info] = target.list_deployments()
    assert (info.name, info.model, info.state) == ("slow", f"models:/{world.model}/{version}", "starting")

    target.delete_deployment("slow")
    target.delete_deployment("slow")  # the fake answers 204 for a missing deployment, as ARM does

    def not_found(request: RecordedRequest, arm: FakeArm) -> FakeResponse | None:
        return arm_error(404, "ResourceNotFound", "deployment was not found")

    world.arm.on("DELETE", r"/deployments/never$", not_found)
    target.delete_deployment("never")  # a 404 is a no-op too
    assert target.list_deployments() == []

    with pytest.raises(DeploymentError, match=r"model '.*' version 99 is not registered in workspace 'mlw-test'"):
        target.create_deployment("green", ModelRef(world.model, "99"), "Standard_DS3_v2", 1)


def test_missing_azure_section_endpoint_or_credential_is_one_clear_error(
    fake_arm: FakeArm, fake_arm_env: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UserError) as caught:
        target_for(azure_outputs(None, endpoint=ENDPOINT, autoscale=AUTOSCALE))
    message = str(caught.value)
    assert message.startswith("stack 'dev' (cloud 'azure') exports no 'azure' section")
    assert "the Azure rollout target (`ml deploy`) needs an Azure ML stack" in message

    outputs = azure_outputs(fake_arm, endpoint=ENDPOINT, autoscale=AUTOSCALE)
    with pytest.raises(UserError) as caught:
        AzureTarget(outputs, "no-such-ep", connection=connection_for(fake_arm))
    assert str(caught.value) == (
        "online endpoint 'no-such-ep' does not exist in workspace 'mlw-test' (resource group 'rg-mlops-test') of "
        "stack 'dev'; create it with `pulumi up` (mlops:endpoint in the stack config) or fix `endpoint:` in the "
        "rollout spec"
    )

    # The production path (DefaultAzureCredential) with no credential: only the environment credential is
    # tried and its variables are unset, so it fails before any request is sent.
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"):
        fake_arm_env.delenv(name, raising=False)
    fake_arm_env.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    with pytest.raises(UserError) as caught:
        target_for(azure_outputs(fake_arm, endpoint=ENDPOINT, autoscale=AUTOSCALE))
    message = str(caught.value)
    assert message.startswith(f"cannot read online endpoint '{ENDPOINT}': no usable Azure credential")
    assert "az login" in message and "Traceback" not in message


def test_metrics_parsing_counts_5xx_408_and_424_as_errors() -> None:
    def series(code: str, value: float) -> dict[str, Any]:
        meta = [
            {"name": {"value": "statuscodeclass"}, "value": f"{code[0]}xx"},
            {"name": {"value": "statuscode"}, "value": code},
        ]
        return {"metadatavalues": meta, "data": [{"average": value}, {"average": value}]}

    body = {
        "value": [
            {
                "name": {"value": "RequestsPerMinute"},
                "timeseries": [series(c, v) for c, v in (("200", 50), ("404", 5), ("408", 1), ("424", 2), ("503", 3))],
            }
        ]
    }
    assert azure_monitor.parse_requests(body) == (122, 12)
    latency = {
        "value": [
            {"name": {"value": "RequestLatency_P95"}, "timeseries": [{"data": [{"average": 12.5}, {"average": 40.0}]}]},
            {"name": {"value": "RequestLatency_P99"}, "timeseries": [{"data": []}]},
        ]
    }
    assert azure_monitor.parse_latency(latency) == (40.0, None)  # the worst minute; no data is not zero


def test_autoscale_matches_what_the_stack_gives_its_bootstrap_deployment() -> None:
    """The target's profile for a new colour equals infra's for `blue` (same config), so no colour is special."""
    from infra.azure.inference_endpoint import autoscale_profile as infra_profile
    from infra.config import EndpointSettings

    settings = EndpointSettings.model_validate(
        {"instance_type": "Standard_DS3_v2", "instance_count": 2, "min_instances": 1, "max_instances": 4,
         "scale_rule": {"metric": "memory", "target": 60}, "scale_out_cooldown_minutes": 5,
         "scale_in_cooldown_minutes": 10}
    )  # fmt: skip
    contract = AutoscaleProfile(
        min_instances=1, max_instances=4, metric="memory", target=60,
        scale_out_cooldown_seconds=300, scale_in_cooldown_seconds=600,
    )  # fmt: skip

    def camel(value: Any) -> Any:
        if isinstance(value, dict):
            return {k.split("_")[0] + "".join(p.title() for p in k.split("_")[1:]): camel(v) for k, v in value.items()}
        return [camel(v) for v in value] if isinstance(value, list) else value

    ours = contract_azure.autoscale_profile(contract, deployment_id="/x/deployments/green", default_count=2)
    assert camel(infra_profile(settings, "/x/deployments/green")) == ours
    assert ours["rules"][0]["metricTrigger"]["metricName"] == "CpuMemoryUtilizationPercentage"
