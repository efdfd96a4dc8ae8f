"""Kubernetes capture: the colour a rollout creates gets the stack's capture environment, naming the
model version it now serves (the fake Kubernetes API records the strategic-merge patch)."""

from __future__ import annotations

from ml.contract import MonitoringRef
from ml.contract.monitoring import (
    CAPTURE_DEPLOYMENT_ENV,
    CAPTURE_ENDPOINT_ENV,
    CAPTURE_MODEL_NAME_ENV,
    CAPTURE_MODEL_VERSION_ENV,
    CAPTURE_SAMPLING_ENV,
    CAPTURE_URI_ENV,
)
from ml.deploy.target import ModelRef
from tests.deploy.test_kubernetes_target import GREEN, HEALTHY, MODEL, NS, ROUTE, World, world  # noqa: F401

CAPTURE_URI = "https://mlopsk8sst.blob.core.windows.net/mlops/capture/"


def test_the_new_colour_captures_with_the_stack_settings_and_its_model(world: World) -> None:  # noqa: F811
    world.prom.answers["backend/1"] = HEALTHY
    monitoring = MonitoringRef(enabled=True, sampling_percent=25, capture_uri="x", platform_capture_uri=CAPTURE_URI)
    world.outputs = world.outputs.model_copy(update={"monitoring": monitoring})
    container = world.kube.deployments[(NS, GREEN)]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", "-m", "ml.platform.serve"]  # serving.server: platform
    target = world.target()
    try:
        target.create_deployment("green", ModelRef(MODEL, "3"), "cpu", 1)
    finally:
        target.close()
    env = world.kube.env(NS, GREEN)
    assert env["MODEL_URI"] == f"models:/{MODEL}/3" and env["HOME"] == "/tmp"  # the template's entries kept
    assert {key: env[key] for key in env if key.startswith("ML_CAPTURE_")} == {
        CAPTURE_URI_ENV: CAPTURE_URI,
        CAPTURE_SAMPLING_ENV: "25",
        CAPTURE_ENDPOINT_ENV: ROUTE,
        CAPTURE_DEPLOYMENT_ENV: "green",
        CAPTURE_MODEL_NAME_ENV: MODEL,
        CAPTURE_MODEL_VERSION_ENV: "3",
    }


def test_a_plain_mlflow_server_gets_no_capture_env(world: World) -> None:  # noqa: F811
    monitoring = MonitoringRef(enabled=True, sampling_percent=25, capture_uri="x", platform_capture_uri=CAPTURE_URI)
    world.outputs = world.outputs.model_copy(update={"monitoring": monitoring})
    target = world.target()
    try:
        target.create_deployment("green", ModelRef(MODEL, "3"), "cpu", 1)
    finally:
        target.close()
    assert not [key for key in world.kube.env(NS, GREEN) if key.startswith("ML_CAPTURE_")]
