"""The fakes themselves: what other tests (rollouts on managed online endpoints, sweeps) rely on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import azure_client
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.arm import FakeArm, FakeResponse, RecordedRequest, arm_error
from tests.fakes.moto_server import MotoServer, TuningTrials

fake_arm = azure_client.fake_arm  # pytest fixtures used by this module
fake_arm_env = azure_client.fake_arm_env
ml_client = azure_client.ml_client
moto_server = moto_fixtures.moto_server
tuning_trials = moto_fixtures.tuning_trials


def test_online_endpoint_lifecycle_through_the_sdk(fake_arm: FakeArm, ml_client: Any) -> None:
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

    fake_arm.put(fake_arm.ws("models", "churn", "versions", "3"), {"properties": {"modelType": "mlflow_model"}})
    ml_client.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep1", auth_mode="key")).result()
    for colour in ("blue", "green"):
        deployment = ManagedOnlineDeployment(
            name=colour, endpoint_name="ep1", model="azureml:churn:3", instance_type="Standard_DS3_v2", instance_count=1
        )
        ml_client.online_deployments.begin_create_or_update(deployment).result()
    endpoint = ml_client.online_endpoints.get("ep1")
    endpoint.traffic = {"blue": 90, "green": 10}
    ml_client.online_endpoints.begin_create_or_update(endpoint).result()

    assert ml_client.online_endpoints.get("ep1").traffic == {"blue": 90, "green": 10}
    assert sorted(d.name for d in ml_client.online_deployments.list("ep1")) == ["blue", "green"]
    traffic_put = fake_arm.find("PUT", r"/onlineEndpoints/ep1$")[-1]
    assert traffic_put.body["properties"]["traffic"] == {"blue": 90, "green": 10}
    assert fake_arm.resource(fake_arm.ws("onlineEndpoints", "ep1", "deployments", "blue"))["properties"][
        "scaleSettings"
    ] == {"scaleType": "Default"}

    ml_client.online_deployments.begin_delete(name="green", endpoint_name="ep1").result()
    assert [d.name for d in ml_client.online_deployments.list("ep1")] == ["blue"]
    assert fake_arm.find("GET", r"^/operations/op-")  # every long-running operation was polled once, at once


def test_hooks_answer_first_and_store_hooks_rewrite(fake_arm: FakeArm, ml_client: Any) -> None:
    from azure.ai.ml.entities import ManagedOnlineEndpoint
    from azure.core.exceptions import HttpResponseError

    def quota(request: RecordedRequest, arm: FakeArm) -> FakeResponse | None:
        return arm_error(409, "QuotaExceeded", "no quota left") if request.path.endswith("/full-ep") else None

    def scoring_uri(resource: dict[str, Any], request: RecordedRequest) -> None:
        name = request.path.rsplit("/", 1)[-1]
        resource["properties"]["scoringUri"] = f"https://{name}.westeurope.inference.ml.azure.com/score"

    fake_arm.on("PUT", r"/onlineEndpoints/[^/]+$", quota)
    fake_arm.on_store(r"/onlineEndpoints/[^/]+$", scoring_uri)
    with pytest.raises(HttpResponseError, match="no quota left"):
        ml_client.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="full-ep")).result()
    ml_client.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ok-ep")).result()
    assert (
        ml_client.online_endpoints.get("ok-ep").scoring_uri == "https://ok-ep.westeurope.inference.ml.azure.com/score"
    )
    assert fake_arm.resource(fake_arm.ws("onlineEndpoints", "full-ep")) is None


def test_tuning_trials_extension_pages_like_the_service(moto_server: MotoServer, tuning_trials: TuningTrials) -> None:
    sagemaker = moto_server.client("sagemaker")
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-1",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1},
        },
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": "image:1", "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        },
    )
    for index in range(3):
        tuning_trials.add(
            "tune-1", f"tune-1-{index:03d}", status="Completed", params={"x": str(index)}, metric="m", value=index
        )
    first = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-1", MaxResults=2
    )
    second = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-1", MaxResults=2, NextToken=first["NextToken"]
    )
    names = [s["TrainingJobName"] for s in first["TrainingJobSummaries"] + second["TrainingJobSummaries"]]
    assert names == ["tune-1-000", "tune-1-001", "tune-1-002"] and "NextToken" not in second
    assert second["TrainingJobSummaries"][0]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 2
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
