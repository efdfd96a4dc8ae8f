"""Config-driven branches of the AWS platform, in one extra offline run of dev-aws with changes.

One plan covers: no bootstrap model (so no endpoint, and nothing serves), dedicated (non-spot)
training, another region, versioning off, IA/Deep Archive storage classes, the cost-allocation
tag activation and a Studio domain with public internet access.
"""

from __future__ import annotations

import json

import pytest

from ml.contract import PlatformOutputs
from ml.plan.offline import OfflinePlan, run_offline
from tests.infra.helpers import stack_config, with_changes

REGION = "us-west-2"
SUBNETS = ["subnet-0123456789abcdef0"]
GROUPS = ["sg-0123456789abcdef0"]


@pytest.fixture(scope="module")
def varied() -> OfflinePlan:
    changes = {
        "location": REGION,
        "endpoint.bootstrapModel": None,
        "aws.servingImage": None,
        "trainingCluster.priority": "Dedicated",
        "trainingCluster.subnetIds": SUBNETS,
        "trainingCluster.securityGroupIds": GROUPS,
        "artifacts.versioning": False,
        "artifacts.tiers": [
            {"prefix": "artifacts/", "coolAfterDays": 30, "archiveAfterDays": 60, "deleteAfterDays": 400},
        ],
        "aws.storageClasses": {"cool": "STANDARD_IA", "archive": "DEEP_ARCHIVE"},
        "aws.activateCostAllocationTag": True,
        "aws.sagemakerDomain": True,
        "aws.vpcId": "vpc-0123456789abcdef0",
    }
    return run_offline(with_changes(stack_config("dev-aws"), changes))


def test_without_a_bootstrap_model_no_endpoint_exists_and_none_is_exported(varied: OfflinePlan) -> None:
    serving_types = ("sagemaker/model", "sagemaker/endpoint", "appautoscaling", "cloudwatch")
    assert not [r.name for r in varied.custom_resources if any(t in r.type for t in serving_types)]
    assert not [r for r in varied.resources if r.type == "mlops:aws:InferenceEndpoint"]
    outputs = PlatformOutputs.model_validate(varied.outputs)
    assert outputs.endpoint is None
    assert outputs.aws is not None and outputs.aws.serving_image is None


def test_dedicated_training_has_no_max_wait(varied: OfflinePlan) -> None:
    training = PlatformOutputs.model_validate(varied.outputs).training
    assert training.spot is False
    assert training.name == "mlopsdevaws-gpu"
    assert training.max_wait_seconds is None
    assert training.max_run_seconds == 4 * 3600
    assert (training.subnet_ids, training.security_group_ids) == (SUBNETS, GROUPS)


def test_location_decides_the_region_of_everything(varied: OfflinePlan) -> None:
    regional = [
        r
        for r in varied.custom_resources
        if r.type.split(":")[1].split("/")[0] not in {"iam", "budgets", "costexplorer"}
    ]
    assert len(regional) == 11  # the artifact store's 9, the tracking server and the domain
    assert {r.inputs["region"] for r in regional} == {REGION}
    outputs = PlatformOutputs.model_validate(varied.outputs)
    assert outputs.region == REGION
    assert outputs.artifacts.name == f"mlopsdevaws-artifacts-123456789012-{REGION}"
    assert outputs.tracking_uri.startswith(f"arn:aws:sagemaker:{REGION}:")
    logs = next(
        s
        for r in varied.of_type("aws:iam/rolePolicy:RolePolicy")
        for s in json.loads(r.inputs["policy"])["Statement"]
        if s.get("Sid") == "SageMakerLogs"
    )
    assert logs["Resource"][0] == f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/sagemaker/*"


def test_versioning_off_and_storage_classes_from_config(varied: OfflinePlan) -> None:
    versioning = varied.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Suspended"}
    rules = varied.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    tier = next(r for r in rules if r["id"] == "tier-artifacts")
    assert tier["transitions"] == [
        {"days": 30, "storageClass": "STANDARD_IA"},
        {"days": 60, "storageClass": "DEEP_ARCHIVE"},
    ]
    assert tier["expiration"] == {"days": 400}


def test_cost_allocation_tag_is_activated_on_request(varied: OfflinePlan) -> None:
    tag = varied.one("aws:costexplorer/costAllocationTag:CostAllocationTag")
    assert tag.inputs == {"tagKey": "mlops-stack", "status": "Active"}
    assert tag.parent_urn.endswith("mlops:aws:Budget::budget")


def test_public_studio_domain_in_dev_is_deleted_with_the_stack(varied: OfflinePlan) -> None:
    domain = varied.one("aws:sagemaker/domain:Domain")
    assert domain.protect is False
    assert domain.inputs["appNetworkAccessType"] == "PublicInternetOnly"
    assert domain.inputs["retentionPolicy"] == {"homeEfsFileSystem": "Delete"}
    assert domain.inputs["subnetIds"] == SUBNETS
    assert domain.inputs["defaultUserSettings"]["securityGroups"] == GROUPS
    outputs = PlatformOutputs.model_validate(varied.outputs)
    assert outputs.aws is not None and outputs.aws.domain_id == domain.state["id"]
