"""The stack's serving colours capture (mocks): with `mlops:monitoring` on and `serving.server: platform`,
each colour's pod runs the platform's wrapped scoring app with `capture_env` pointing at the stack's
capture prefix; with monitoring off, or a plain MLflow server, the pods get no capture environment."""

from __future__ import annotations

from typing import Any

from ml.contract.monitoring import capture_env
from ml.plan.offline import run_offline
from tests.infra.helpers import plan_stack, stack_config, with_changes

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _containers(plan: Any) -> dict[str, dict[str, Any]]:
    return {
        r.name: r.inputs["spec"]["template"]["spec"]["containers"][0] for r in plan.resources if r.type == DEPLOYMENT
    }


def _platform_server(**changes: Any) -> Any:
    config = stack_config("dev-k8s")
    section = dict(config.values["mlops:kubernetes"])
    section["serving"] = {**section["serving"], "server": "platform"}
    return run_offline(with_changes(config, {"kubernetes": section, **changes}))


def test_each_colour_writes_capture_records_to_the_stack_storage() -> None:
    containers = _containers(_platform_server())
    assert set(containers) == {"model-serving-blue", "model-serving-green"}
    for colour, version in (("blue", "1"), ("green", "2")):
        server = containers[f"model-serving-{colour}"]
        assert server["command"] == ["python", "-m", "ml.platform.serve"]
        assert server["args"] == ["--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
        env = {e["name"]: e["value"] for e in server["env"]}
        expected = capture_env(
            "https://mlopsk8sst.blob.core.windows.net/mlops/capture/",
            sampling_percent=100,
            endpoint="churn",
            deployment=colour,
            model_name="churn-model",
            model_version=version,
        )
        assert {k: v for k, v in env.items() if k.startswith("ML_CAPTURE_")} == expected
        assert env["MODEL_URI"] == f"models:/churn-model/{version}"


def test_without_monitoring_the_platform_server_captures_nothing() -> None:
    for server in _containers(_platform_server(**{"monitoring.enabled": False})).values():
        assert server["command"] == ["python", "-m", "ml.platform.serve"]
        assert not [e for e in server["env"] if e["name"].startswith("ML_CAPTURE_")]


def test_a_plain_mlflow_server_gets_no_capture_env() -> None:
    for server in _containers(plan_stack("dev-k8s")).values():  # committed: serving.server mlflow (its image)
        assert server["command"] == ["mlflow", "models", "serve"]
        assert not [e for e in server["env"] if e["name"].startswith("ML_CAPTURE_")]
