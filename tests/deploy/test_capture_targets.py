"""Every colour a rollout creates captures like the stack's own endpoint (`mlops:monitoring`).

Azure through azure-ai-ml against the ARM fake (the deployment PUT's ``dataCollector``), SageMaker
against moto (the new endpoint config's ``DataCaptureConfig``); the builders are the ones the
stack uses (ml.contract.monitoring), so a rollout never turns capture off.
"""

from __future__ import annotations

from pathlib import Path

from ml.contract import MonitoringRef
from ml.contract.monitoring import azure_data_collector
from ml.deploy.target import ModelRef
from ml.deploy.targets.azure import AzureTarget
from tests.deploy import test_azure_target as azure_world
from tests.deploy import test_sagemaker_target as sagemaker_world
from tests.fakes.arm import FakeArm
from tests.fakes.azure_client import connection_for

fake_arm = azure_world.fake_arm  # pytest fixtures used by this module
fake_arm_env = azure_world.fake_arm_env
moto_server = sagemaker_world.moto_server
endpoint_updates = sagemaker_world.endpoint_updates
stack = sagemaker_world.stack
world = azure_world.world

MONITORING = MonitoringRef(enabled=True, sampling_percent=20, capture_uri="s3://bucket/capture/", retention_days=90)


def test_azure_colour_gets_the_stacks_data_collector(world: azure_world.World, fake_arm: FakeArm) -> None:
    outputs = world.outputs.model_copy(update={"monitoring": MONITORING})
    target = AzureTarget(outputs, azure_world.ENDPOINT, connection=connection_for(fake_arm), poll_seconds=0.02)
    version = world.version()
    target.create_deployment(
        "green", ModelRef(world.model, version, f"models:/{world.model}/{version}"), "Standard_DS3_v2", 1
    )

    created = fake_arm.find("PUT", rf"/onlineEndpoints/{azure_world.ENDPOINT}/deployments/green$")
    collector = created[-1].body["properties"]["dataCollector"]
    expected = azure_data_collector(20)
    assert collector["rollingRate"] == expected["rollingRate"]
    assert set(collector["collections"]) == {"model_inputs", "model_outputs"}
    for collection in collector["collections"].values():
        assert collection["dataCollectionMode"].lower() == "enabled"
        assert collection["samplingRate"] == 0.2


def test_azure_colour_without_monitoring_has_no_collector(world: azure_world.World, fake_arm: FakeArm) -> None:
    version = world.version()
    world.target.create_deployment(
        "green", ModelRef(world.model, version, f"models:/{world.model}/{version}"), "Standard_DS3_v2", 1
    )
    created = fake_arm.find("PUT", rf"/onlineEndpoints/{azure_world.ENDPOINT}/deployments/green$")
    assert "dataCollector" not in created[-1].body["properties"]


def test_sagemaker_rollout_config_captures_input_and_output(stack: sagemaker_world.Stack, tmp_path: Path) -> None:
    outputs = sagemaker_world.aws_outputs()
    outputs = outputs.model_copy(update={"monitoring": MONITORING})
    stack.version()
    result = stack.deploy("{type: blue_green}", outputs=outputs)
    assert result.outcome == "promoted", result.message
    config = stack.sagemaker.describe_endpoint_config(EndpointConfigName=stack.serving_config())
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 20
    assert capture["DestinationS3Uri"] == "s3://bucket/capture/"
    assert outputs.aws is not None
    assert capture.get("KmsKeyId") == outputs.aws.kms_key_arn
    assert [o["CaptureMode"] for o in capture["CaptureOptions"]] == ["Input", "Output"]
