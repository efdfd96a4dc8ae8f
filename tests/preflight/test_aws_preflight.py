"""AWS pre-flight against moto_server: SageMaker Service Quotas (test-side ListServiceQuotas) and the bucket name."""

from __future__ import annotations

import dataclasses

import boto3

from ml.plan.needs import AwsNeeds
from ml.preflight.aws import check_aws
from ml.preflight.checks import blockers
from tests.fakes import moto_quotas
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.moto_quotas import SageMakerQuotas
from tests.fakes.moto_server import ACCOUNT_ID, REGION, MotoServer

moto_server = moto_fixtures.moto_server  # pytest fixtures used by this module
sagemaker_quotas = moto_quotas.sagemaker_quotas

TUNING = "Maximum number of parallel training jobs per hyperparameter tuning job"
NEEDS = AwsNeeds(
    region=REGION,
    bucket_prefix="mlopsdevaws-artifacts-",
    training_instance_type="ml.g5.xlarge",
    training_instances=2,
    training_spot=True,
    endpoint_instance_type="ml.m5.large",
    endpoint_instances=4,
    tuning_parallel_jobs=2,
)
BUCKET = f"mlopsdevaws-artifacts-{ACCOUNT_ID}-{REGION}"


def generous(quotas: SageMakerQuotas) -> None:
    quotas.set("ml.g5.xlarge for spot training job usage", 4)
    quotas.set("ml.g5.xlarge for training job usage", 0)
    quotas.set("ml.m5.large for endpoint usage", 4)
    quotas.set(TUNING, 10)


def test_quotas_at_or_above_the_maxima_and_a_free_bucket_name_pass(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    generous(sagemaker_quotas)
    checks = check_aws(NEEDS)

    assert not blockers(checks)
    assert [(c.needed, c.available) for c in checks] == [
        ("2 instances", "4 instances"),
        ("4 instances", "4 instances"),
        ("2 jobs", "10 jobs"),
        ("free or ours", "free"),
    ]
    assert checks[0].check == f"quota 'ml.g5.xlarge for spot training job usage' ({REGION}, limit)"
    assert sagemaker_quotas.calls >= 1


def test_a_spot_quota_of_zero_is_a_blocker_with_the_increase_request(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    generous(sagemaker_quotas)
    sagemaker_quotas.set("ml.g5.xlarge for spot training job usage", 0)
    [blocker] = blockers(check_aws(NEEDS))

    assert (blocker.needed, blocker.available) == ("2 instances", "0 instances")
    assert (
        "aws service-quotas request-service-quota-increase --region eu-west-1 --service-code sagemaker" in blocker.fix
    )
    assert "--desired-value 2" in blocker.fix


def test_a_quota_the_account_does_not_list_is_unknown_not_ok(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    sagemaker_quotas.set("ml.g5.xlarge for spot training job usage", 4)
    checks = check_aws(NEEDS)
    assert [c.status for c in checks] == ["ok", "unknown", "unknown", "ok"]


def test_our_own_bucket_passes_and_another_accounts_bucket_blocks(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    generous(sagemaker_quotas)
    moto_server.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert check_aws(NEEDS)[-1].available == f"ours (account {ACCOUNT_ID})"

    # the same name, held by another account (moto: credentials from an assumed role act in that account)
    other = moto_server.client("sts").assume_role(
        RoleArn="arn:aws:iam::210987654321:role/other", RoleSessionName="squatter"
    )["Credentials"]
    squatter = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=moto_server.endpoint,
        aws_access_key_id=other["AccessKeyId"],
        aws_secret_access_key=other["SecretAccessKey"],
        aws_session_token=other["SessionToken"],
    )
    moto_server.client("s3").delete_bucket(Bucket=BUCKET)
    squatter.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})

    bucket = check_aws(NEEDS)[-1]
    assert (bucket.status, bucket.available) == ("blocker", "another account's")
    assert "change mlops:namePrefix" in bucket.fix


def test_a_zero_endpoint_quota_and_a_low_tuning_limit_are_blockers(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    """The endpoint fleet (2 colours x max instances) and the tuning job's parallel trials, each against its quota."""
    generous(sagemaker_quotas)
    sagemaker_quotas.set("ml.m5.large for endpoint usage", 0)
    sagemaker_quotas.set(TUNING, 1)
    found = {c.check: c for c in blockers(check_aws(NEEDS))}

    endpoint = found[f"quota 'ml.m5.large for endpoint usage' ({REGION}, limit)"]
    tuning = found[f"quota '{TUNING}' ({REGION}, limit)"]
    assert len(found) == 2
    assert (endpoint.needed, endpoint.available) == ("4 instances", "0 instances")
    assert (tuning.needed, tuning.available) == ("2 jobs", "1 jobs")
    assert "--desired-value 4" in endpoint.fix and "--desired-value 2" in tuning.fix


EKS_NEEDS = dataclasses.replace(NEEDS, node_pool_instance_type="g5.xlarge", node_pool_nodes=2, node_pool_spot=True)
SPOT_G = "All G and VT Spot Instance Requests"


def test_an_eks_gpu_pool_is_checked_against_the_ec2_spot_vcpu_quota(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    """2 nodes x 4 vCPUs (g5.xlarge, from DescribeInstanceTypes) against the G/VT spot vCPU quota: 16, then 0."""
    generous(sagemaker_quotas)
    sagemaker_quotas.set(SPOT_G, 16, service="ec2")
    rows = {c.check: c for c in check_aws(EKS_NEEDS)}
    offered = rows[f"EC2 type g5.xlarge offered in {REGION} (EKS GPU pool)"]
    quota = rows[f"quota '{SPOT_G}' ({REGION}, limit)"]
    assert (offered.status, offered.available) == ("ok", "offered (4 vCPUs)")
    assert (quota.status, quota.needed, quota.available) == ("ok", "8 vCPUs", "16 vCPUs")

    sagemaker_quotas.set(SPOT_G, 0, service="ec2")
    [blocker] = blockers(check_aws(EKS_NEEDS))
    assert (blocker.check, blocker.available) == (f"quota '{SPOT_G}' ({REGION}, limit)", "0 vCPUs")
    assert "--service-code ec2" in blocker.fix and "--desired-value 8" in blocker.fix


def test_an_eks_pool_type_the_region_does_not_offer_is_a_blocker(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    generous(sagemaker_quotas)
    [blocker] = blockers(check_aws(dataclasses.replace(EKS_NEEDS, node_pool_instance_type="g9.xlarge")))
    assert blocker.available == "not offered"
    assert f"aws ec2 describe-instance-type-offerings --region {REGION}" in blocker.fix


def test_p_types_draw_on_their_generations_spot_line() -> None:
    """Newer accounts split P spot quotas by generation; older ones have one line; G/VT is one line."""
    from ml.preflight.aws import _ec2_quota

    split = {
        name.lower(): {"QuotaName": name, "Value": 0}
        for name in ("All P4, P3 and P2 Spot Instance Requests", "All P5 Spot Instance Requests")
    }
    assert _ec2_quota(split, "p4d.24xlarge", spot=True)[0] == "All P4, P3 and P2 Spot Instance Requests"
    assert _ec2_quota(split, "p5.48xlarge", spot=True)[0] == "All P5 Spot Instance Requests"
    assert _ec2_quota({}, "p3.2xlarge", spot=True) == ("All P Spot Instance Requests", None)
    assert _ec2_quota({}, "g5.xlarge", spot=False)[0] == "Running On-Demand G and VT instances"
