"""A dev-aws stack's platform outputs for the tests that run against `moto_server` (tests/fakes/moto_server.py).

Why one builder: the SageMaker rollout-target and the AWS teardown tests both need the outputs
`pulumi stack output` would give for `Pulumi.dev-aws.yaml` (endpoint, execution role, serving
image in moto's account and region); each used to build its own copy. Like
`tests.fakes.azure_client.azure_outputs` for the Azure side.
"""

from __future__ import annotations

from ml.contract import (
    ArtifactStoreRef,
    AutoscaleProfile,
    AwsWorkspaceRef,
    BudgetRef,
    EndpointRef,
    PlatformOutputs,
    TrainingProfile,
)
from tests.fakes.moto_server import ACCOUNT_ID, REGION

ENDPOINT = "mlopsdevaws-endpoint"  # what Pulumi.dev-aws.yaml names it ({namePrefix}-endpoint)
VARIANT = "primary"
BUCKET = "mlopsdevaws-artifacts"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mlopsdevaws-sagemaker-execution"
IMAGE = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/mlflow-pyfunc:3.17.2"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/11111111-2222-3333-4444-555555555555"
ALARMS = [f"{ENDPOINT}-{VARIANT}-5xx-errors", f"{ENDPOINT}-{VARIANT}-model-latency"]
SUBNETS = ["subnet-0a1b2c3d4e5f60718"]
GROUPS = ["sg-0c1d2e3f4a5b60720"]


def aws_outputs(
    *, alarms: list[str] | None = None, with_aws: bool = True, image: str | None = IMAGE
) -> PlatformOutputs:
    """The dev-aws outputs: rollback alarms (default `ALARMS`), no ``aws`` section when not `with_aws`."""
    return PlatformOutputs(
        stack="dev-aws",
        environment="dev",
        cloud="aws",
        region=REGION,
        tracking_uri=f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:mlflow-tracking-server/mlopsdevaws-mlflow",
        training=TrainingProfile(
            name="gpu",
            instance_type="ml.g5.xlarge",
            min_nodes=0,
            max_nodes=2,
            spot=True,
            subnet_ids=SUBNETS,
            security_group_ids=GROUPS,
        ),
        artifacts=ArtifactStoreRef(name=BUCKET, uri=f"s3://{BUCKET}", temp_prefix="tmp", checkpoint_prefix="ckpt"),
        budget=BudgetRef(name="b", monthly_amount=300, currency="USD", thresholds_percent=[80, 100]),
        endpoint=EndpointRef(
            name=ENDPOINT,
            instance_type="ml.m5.large",
            instance_count=2,
            auth_mode="iam",
            autoscale=AutoscaleProfile(
                min_instances=2,
                max_instances=4,
                metric="requests",
                target=70,
                scale_out_cooldown_seconds=60,
                scale_in_cooldown_seconds=300,
            ),
            rollback_alarm_names=ALARMS if alarms is None else alarms,
            variant_name=VARIANT,
        ),
        aws=AwsWorkspaceRef(account_id=ACCOUNT_ID, execution_role_arn=ROLE, kms_key_arn=KMS, serving_image=image)
        if with_aws
        else None,
    )
