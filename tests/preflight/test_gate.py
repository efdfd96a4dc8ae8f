"""The gate `ml sweep run` and `ml deploy` call before submitting on a cloud stack (AWS through moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.contract import ArtifactStoreRef, AwsWorkspaceRef, BudgetRef, PlatformOutputs, TrainingProfile
from ml.contract.errors import UserError
from ml.preflight.run import require_preflight
from ml.stack import default_local_outputs
from tests.fakes import moto_quotas
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.moto_quotas import SageMakerQuotas
from tests.fakes.moto_server import ACCOUNT_ID, REGION, MotoServer

moto_server = moto_fixtures.moto_server  # pytest fixtures used by this module
sagemaker_quotas = moto_quotas.sagemaker_quotas

REPO = Path(__file__).resolve().parents[2]


def aws_outputs(stack: str = "dev-aws") -> PlatformOutputs:
    return PlatformOutputs(
        stack=stack,
        environment="dev",
        cloud="aws",
        region=REGION,
        tracking_uri="arn:aws:sagemaker:x",
        training=TrainingProfile(name="gpu", instance_type="ml.g5.xlarge", min_nodes=0, max_nodes=2, spot=True),
        artifacts=ArtifactStoreRef(name="b", uri="s3://b", temp_prefix="tmp/", checkpoint_prefix="checkpoints/"),
        budget=BudgetRef(name="b", monthly_amount=800, currency="USD", thresholds_percent=[80]),
        aws=AwsWorkspaceRef(account_id=ACCOUNT_ID, execution_role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/x"),
    )


def test_the_local_stack_and_a_stack_from_another_project_are_not_checked(tmp_path: Path) -> None:
    require_preflight(default_local_outputs(tmp_path), project_dir=REPO)  # no call to any cloud
    require_preflight(aws_outputs("staging-elsewhere"), project_dir=REPO)  # no Pulumi.staging-elsewhere.yaml here


def test_the_gate_passes_then_refuses_with_every_blocker(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    sagemaker_quotas.set("ml.g5.xlarge for spot training job usage", 2)
    sagemaker_quotas.set("ml.m5.large for endpoint usage", 4)
    sagemaker_quotas.set("Maximum number of parallel training jobs per hyperparameter tuning job", 4)
    require_preflight(aws_outputs(), project_dir=REPO, parts=("aws",))

    sagemaker_quotas.set("ml.g5.xlarge for spot training job usage", 0)
    with pytest.raises(UserError) as refused:
        require_preflight(aws_outputs(), project_dir=REPO, parts=("aws",))
    message = str(refused.value)
    assert "pre-flight of stack 'dev-aws' found 1 blocker(s)" in message
    assert "needed 2 instances, available 0 instances" in message
    assert "`ml preflight --stack dev-aws` shows every check" in message
