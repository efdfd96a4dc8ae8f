"""AWS pre-flight: SageMaker's Service Quotas against the stack's maxima, and the bucket's name.

What it reads, with the stack's credentials (boto3's usual chain, region from the stack):

- ``service-quotas:ListServiceQuotas`` for ``sagemaker`` (applied values, paginated), matched by
  quota name: ``<training type> for spot training job usage`` (``... for training job usage``
  when the stack trains on demand), ``<endpoint type> for endpoint usage``, and the tuning job's
  parallel-training-jobs limit. These are limits: Service Quotas does not report how many
  instances other work already holds, so "available" is the limit, and the table says so.
- with an EKS GPU node group (`mlops:kubernetes.gpuNodePool` on an AWS stack):
  ``ec2:DescribeInstanceTypes`` for its type (not offered in the region: a blocker; else its
  vCPUs), and ``ListServiceQuotas`` for ``ec2``: ``All G and VT Spot Instance Requests`` /
  ``All P Spot Instance Requests`` (``Running On-Demand G and VT instances`` / ``... P instances``
  for an on-demand pool), in vCPUs, against ``maxNodes`` x vCPUs -- the quota that makes a node
  group fail to scale up with no other sign than pods pending;
- ``sts:GetCallerIdentity`` for the account id the bucket name is built from
  (``<prefix>-artifacts-<account>-<region>``), then ``s3:HeadBucket`` and ``s3:ListBuckets``: a name
  that exists but is not one of this account's buckets belongs to someone else, and blocks.
"""

from __future__ import annotations

from typing import Any

from ml import aws
from ml.plan.needs import AwsNeeds
from ml.preflight.checks import Check, quota_check

SERVICE = "sagemaker"


def _quotas(region: str, service: str = SERVICE) -> dict[str, dict[str, Any]]:
    """Every applied quota of ``service`` (sagemaker, ec2) of the account in ``region``, by lower-cased name."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = aws.client("service-quotas", region)
    found: dict[str, dict[str, Any]] = {}
    try:
        for page in client.get_paginator("list_service_quotas").paginate(ServiceCode=service):
            for quota in page.get("Quotas", []):
                found[str(quota.get("QuotaName", "")).lower()] = quota
    except (BotoCoreError, ClientError) as exc:
        raise aws.user_error(f"list the {service} quotas in {region}", exc) from None
    return found


def _tuning_quota(quotas: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    for name, quota in quotas.items():
        if "tuning job" in name and "training job" in name and ("parallel" in name or "concurrent" in name):
            return quota
    return None


def _quota_row(
    label: str, quota: dict[str, Any] | None, needed: int, region: str, *, unit: str, service: str = SERVICE
) -> Check:
    value = float(quota["Value"]) if quota is not None and quota.get("Value") is not None else None
    if quota is None:
        fix = f"Service Quotas lists no {service} quota '{label}' in {region}: check the type is offered there"
        return quota_check("aws", f"quota '{label}' ({region})", needed=needed, available=None, unit=unit, fix=fix)
    fix = (
        f"request an increase to at least {needed}: `aws service-quotas request-service-quota-increase "
        f"--region {region} --service-code {service} --quota-code {quota.get('QuotaCode')} "
        f"--desired-value {needed}`, or lower the stack's maximum"
    )
    name = str(quota.get("QuotaName") or label)
    return quota_check("aws", f"quota '{name}' ({region}, limit)", needed=needed, available=value, unit=unit, fix=fix)


def _bucket_check(needs: AwsNeeds) -> Check:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        account = str(aws.client("sts", needs.region).get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as exc:
        raise aws.user_error("read the AWS account id (sts get-caller-identity)", exc) from None
    bucket = needs.bucket_name(account)
    label = f"bucket name '{bucket}' (global)"
    s3 = aws.client("s3", needs.region)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code, _, status = aws.error_parts(exc)
        if status == 404 or code in ("404", "NoSuchBucket", "NotFound"):
            return Check("aws", label, "free or ours", "free", "ok")
        if status != 403:
            raise aws.user_error(f"look up bucket '{bucket}'", exc) from None
    except BotoCoreError as exc:
        raise aws.user_error(f"look up bucket '{bucket}'", exc) from None
    try:
        mine = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    except (BotoCoreError, ClientError) as exc:
        raise aws.user_error("list this account's buckets", exc) from None
    if bucket in mine:
        return Check("aws", label, "free or ours", f"ours (account {account})", "ok")
    return Check(
        "aws",
        label,
        "free or ours",
        "another account's",
        "blocker",
        f"bucket '{bucket}' exists and belongs to another account: change mlops:namePrefix in the stack file",
    )


def _ec2_quota(
    quotas: dict[str, dict[str, Any]], instance_type: str, *, spot: bool
) -> tuple[str, dict[str, Any] | None]:
    """The EC2 vCPU quota a GPU type draws on: G/VT types one line; P types one line per generation on
    newer accounts (``All P4, P3 and P2 Spot Instance Requests``, ``All P5 ...``), one on older ones."""
    family = "P" if instance_type.startswith("p") else "G and VT"
    name = f"All {family} Spot Instance Requests" if spot else f"Running On-Demand {family} instances"
    if name.lower() in quotas or family != "P" or not spot:
        return name, quotas.get(name.lower())
    generation = instance_type.split(".", 1)[0].rstrip("den")  # p4d / p3dn / p5e -> p4 / p3 / p5
    for listed, quota in quotas.items():
        words = listed.replace(",", " ").split()
        if listed.startswith("all p") and listed.endswith("spot instance requests") and generation in words:
            return str(quota.get("QuotaName") or listed), quota
    return name, None


def _node_pool_checks(needs: AwsNeeds) -> list[Check]:
    """The EKS GPU node group's type offered in the region, and its EC2 vCPU quota against maxNodes."""
    from botocore.exceptions import BotoCoreError, ClientError

    instance_type, region = needs.node_pool_instance_type, needs.region
    if instance_type is None:
        return []
    label = f"EC2 type {instance_type} offered in {region} (EKS GPU pool)"
    try:
        described = aws.client("ec2", region).describe_instance_types(InstanceTypes=[instance_type])
    except ClientError as exc:
        if aws.error_parts(exc)[0] != "InvalidInstanceType":
            raise aws.user_error(f"describe EC2 type {instance_type}", exc) from None
        fix = (
            f"pick a GPU type the region offers (`aws ec2 describe-instance-type-offerings --region {region}`) "
            f"for mlops:kubernetes.gpuNodePool.instanceType"
        )
        return [Check("aws", label, "offered", "not offered", "blocker", fix)]
    except BotoCoreError as exc:
        raise aws.user_error(f"describe EC2 type {instance_type}", exc) from None
    vcpus = int(described["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"])
    name, quota = _ec2_quota(_quotas(region, "ec2"), instance_type, spot=needs.node_pool_spot)
    needed = needs.node_pool_nodes * vcpus
    return [
        Check("aws", label, "offered", f"offered ({vcpus} vCPUs)", "ok"),
        _quota_row(name, quota, needed, region, unit="vCPUs", service="ec2"),
    ]


def check_aws(needs: AwsNeeds) -> list[Check]:
    """Every AWS check for one stack: three SageMaker quotas, the EKS GPU pool's, then the bucket name."""
    quotas = _quotas(needs.region)
    kind = "spot training job usage" if needs.training_spot else "training job usage"
    training = f"{needs.training_instance_type} for {kind}"
    endpoint = f"{needs.endpoint_instance_type} for endpoint usage"
    tuning = _tuning_quota(quotas)
    return [
        _quota_row(training, quotas.get(training.lower()), needs.training_instances, needs.region, unit="instances"),
        _quota_row(endpoint, quotas.get(endpoint.lower()), needs.endpoint_instances, needs.region, unit="instances"),
        _quota_row(
            "parallel training jobs per tuning job", tuning, needs.tuning_parallel_jobs, needs.region, unit="jobs"
        ),
        *_node_pool_checks(needs),
        _bucket_check(needs),
    ]
