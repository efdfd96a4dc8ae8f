"""Every colour a rollout creates captures like the stack's own endpoint (`mlops:monitoring`).

Azure through azure-ai-ml against the ARM fake (the deployment PUT's ``dataCollector``), SageMaker
against moto (the new endpoint config's ``DataCaptureConfig``); the builders are the ones the
stack uses (ml.contract.monitoring), so a rollout never turns capture off. The same capture is what an
A/B test with ``outcome: feedback`` attributes request ids from on Azure: the data collector's
events in blob storage (the blob fake of `tests.monitor.blob_fake`, read by the real azure-storage-blob client).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ml.contract import MonitoringRef
from ml.contract.capture import iso_utc
from ml.contract.errors import UserError
from ml.contract.monitoring import azure_data_collector
from ml.deploy.spec import parse_spec
from ml.deploy.target import ModelRef
from ml.deploy.targets.azure import AzureTarget
from tests.deploy import test_azure_target as azure_world
from tests.deploy import test_sagemaker_target as sagemaker_world
from tests.fakes.arm import FakeArm
from tests.fakes.azure_client import connection_for
from tests.monitor.blob_fake import FakeBlobs, fake_blobs  # noqa: F401 - the fixture

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


def _collector_event(correlation: str, deployment: str, at: float) -> str:
    """One ``model_inputs`` event as Azure ML's data collector writes it (CloudEvents JSON line)."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"in-{correlation}",
            "source": f"/subscriptions/s/.../onlineEndpoints/{azure_world.ENDPOINT}/deployments/{deployment}",
            "type": "azureml.inference.model_inputs",
            "datacontenttype": "application/json",
            "time": iso_utc(at),
            "data": [{"a": 1.0}],
            "correlationid": correlation,
            "xrequestid": correlation,
            "modelversion": "default",
        }
    )


def test_azure_feedback_is_attributed_from_the_data_collectors_blobs(
    world: azure_world.World,
    fake_arm: FakeArm,
    fake_blobs: FakeBlobs,  # noqa: F811
) -> None:
    from azure.storage.blob import ContainerClient

    now = time.time()
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(now))
    base = "modelDataCollector"
    fake_blobs.blobs["azureml"] = {
        f"{base}/{azure_world.ENDPOINT}/blue/model_inputs/{hour}/a.jsonl": (
            _collector_event("c1", "blue", now) + "\n" + _collector_event("c2", "blue", now)
        ).encode(),
        f"{base}/{azure_world.ENDPOINT}/green/model_inputs/{hour}/b.jsonl": _collector_event(
            "c3", "green", now
        ).encode(),
        f"{base}/{azure_world.ENDPOINT}/green-arm3/model_inputs/{hour}/d.jsonl": _collector_event(
            "c4", "green-arm3", now
        ).encode(),  # a third A/B arm: any deployment of the endpoint counts
        f"{base}/other-endpoint/green/model_inputs/{hour}/c.jsonl": _collector_event("x1", "green", now).encode(),
    }
    capture = fake_blobs.container_url("azureml") + f"/{base}/"
    monitoring = MonitoringRef(enabled=True, sampling_percent=100, capture_uri=capture)
    target = AzureTarget(
        world.outputs.model_copy(update={"monitoring": monitoring}), azure_world.ENDPOINT,
        connection=connection_for(fake_arm), poll_seconds=0.02,
        capture_client=ContainerClient.from_container_url(fake_blobs.container_url("azureml")),
    )  # fmt: skip
    try:
        assert target.read_assignments(now - 60) == {"c1": "blue", "c2": "blue", "c3": "green", "c4": "green-arm3"}
    finally:
        target.close()
    listings = [path for path in fake_blobs.requests if "comp=list" in path]
    assert listings and all(f"prefix={base}%2F{azure_world.ENDPOINT}%2F" in path for path in listings)  # one endpoint


def test_azure_feedback_without_a_data_collector_is_refused_up_front(world: azure_world.World) -> None:
    spec = parse_spec(
        f"model: models:/{world.model}@challenger\nstrategy: {{type: ab, outcome: feedback, duration: 60}}\n"
    )
    with pytest.raises(UserError, match=r"enable `mlops:monitoring`"):
        world.target.preflight(spec, instance_type="Standard_DS3_v2", instance_count=1)
    with pytest.raises(UserError, match="no data collector"):
        world.target.read_assignments(time.time() - 60)
