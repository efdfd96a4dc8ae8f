"""prod-captures-and-expires: prod serving captures and the capture expires (violating / passing pairs,
through the shared rule and the pack's wrapper), never required in dev."""

from __future__ import annotations

import pytest

from infra.guardrails import Resource, evaluate
from infra.guardrails.capture import AZURE_LIFECYCLE, S3_LIFECYCLE, SAGEMAKER_CONFIG
from tests.policy.resources import PROD_TAGS, TAGS, changed, resource
from tests.policy.test_pack import validate_stack

NAME = "prod-captures-and-expires"
COLLECTOR = {
    "rollingRate": "Hour",
    "collections": {
        "model_inputs": {"dataCollectionMode": "Enabled", "samplingRate": 0.2},
        "model_outputs": {"dataCollectionMode": "Enabled", "samplingRate": 0.2},
    },
}


def deployment(tags: dict[str, str]) -> Resource:
    return resource(
        "azure-native:machinelearningservices:OnlineDeployment",
        "serving-blue",
        {"tags": dict(tags), "properties": {"endpointComputeType": "Managed", "dataCollector": COLLECTOR}},
    )


def azure_policy(prefix: str = "azureml-blobstore-1/modelDataCollector/") -> Resource:
    rule = {
        "name": "expire-capture-collector",
        "enabled": True,
        "definition": {
            "filters": {"prefixMatch": [prefix], "blobTypes": ["blockBlob", "appendBlob"]},
            "actions": {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 90.0}}},
        },
    }
    return resource(AZURE_LIFECYCLE, "artifacts-lifecycle", {"policy": {"rules": [rule]}})


def endpoint_config(tags: dict[str, str]) -> Resource:
    capture = {
        "enableCapture": True,
        "initialSamplingPercentage": 20.0,
        "destinationS3Uri": "s3://mlops-artifacts/capture/",
        "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
    }
    return resource(SAGEMAKER_CONFIG, "serving-config", {"tags": dict(tags), "dataCaptureConfig": capture})


def s3_lifecycle(prefix: str = "capture/", status: str = "Enabled") -> Resource:
    rule = {"id": "expire-capture", "status": status, "filter": {"prefix": prefix}, "expiration": {"days": 90.0}}
    return resource(S3_LIFECYCLE, "artifacts-lifecycle", {"bucket": "mlops-artifacts", "rules": [rule]})


def messages(resources: list[Resource]) -> list[tuple[str, str]]:
    shared = [(v.resource_name, v.message) for v in evaluate(resources) if v.policy == NAME]
    wrapped = [message for message, _ in validate_stack(NAME, resources)]
    assert len(wrapped) == len(shared) and all(any(m in w for w in wrapped) for _, m in shared)
    return shared


PASSING = {
    "azure": [deployment(PROD_TAGS), azure_policy()],
    "aws": [endpoint_config(PROD_TAGS), s3_lifecycle()],
}
VIOLATING: list[tuple[str, list[Resource], tuple[str, str]]] = [
    (
        "azure-collector-off",
        [changed(deployment(PROD_TAGS), "properties.dataCollector", None), azure_policy()],
        ("serving-blue", "the deployment's data collector does not collect model_inputs, model_outputs"),
    ),
    (
        "azure-outputs-off",
        [
            changed(
                deployment(PROD_TAGS),
                "properties.dataCollector.collections.model_outputs.dataCollectionMode",
                "Disabled",
            ),
            azure_policy(),
        ],
        ("serving-blue", "the deployment's data collector does not collect model_outputs"),
    ),
    (
        "azure-capture-never-expires",
        [deployment(PROD_TAGS), azure_policy(prefix="mlops/tmp/")],
        ("", "captured requests never expire: no storage ManagementPolicy rule deletes the data collector's"),
    ),
    (
        "aws-capture-off",
        [changed(endpoint_config(PROD_TAGS), "dataCaptureConfig", None), s3_lifecycle()],
        ("serving-config", "the endpoint config does not capture (dataCaptureConfig.enableCapture is not true)"),
    ),
    (
        "aws-capture-never-expires",
        [endpoint_config(PROD_TAGS), s3_lifecycle(prefix="tmp/")],
        (
            "serving-config",
            "captured requests never expire: no S3 lifecycle rule expires the capture prefix 'capture/'",
        ),
    ),
    (
        "aws-expiry-rule-disabled",
        [endpoint_config(PROD_TAGS), s3_lifecycle(status="Disabled")],
        ("serving-config", "captured requests never expire"),
    ),
]


@pytest.mark.parametrize("cloud", sorted(PASSING))
def test_prod_that_captures_and_expires_passes(cloud: str) -> None:
    assert messages(PASSING[cloud]) == []


@pytest.mark.parametrize(("case", "stack", "expected"), VIOLATING, ids=[v[0] for v in VIOLATING])
def test_prod_violations(case: str, stack: list[Resource], expected: tuple[str, str]) -> None:
    found = messages(stack)
    assert len(found) == 1 and found[0][0] == expected[0] and found[0][1].startswith(expected[1]), found


@pytest.mark.parametrize(("case", "stack", "expected"), VIOLATING, ids=[v[0] for v in VIOLATING])
def test_dev_need_not_capture(case: str, stack: list[Resource], expected: tuple[str, str]) -> None:
    dev = [changed(r, "tags", dict(TAGS)) if r.type not in (AZURE_LIFECYCLE, S3_LIFECYCLE) else r for r in stack]
    assert messages(dev) == []
