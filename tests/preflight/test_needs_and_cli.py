"""What a stack needs, read from its YAML through infra's settings, and `ml preflight` end to end (AWS, moto)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from ml.plan.needs import read_needs
from ml.plan.offline import run_offline
from ml.plan.stack_file import read_stack_config
from tests.fakes import moto_quotas
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.moto_quotas import SageMakerQuotas
from tests.fakes.moto_server import MotoServer

moto_server = moto_fixtures.moto_server  # pytest fixtures used by this module
sagemaker_quotas = moto_quotas.sagemaker_quotas

REPO = Path(__file__).resolve().parents[2]


def test_needs_of_an_azure_stack_with_kubernetes_serving() -> None:
    needs = read_needs("dev-k8s", REPO, subscription_id="sub-1")
    assert needs.cloud == "azure" and needs.azure is not None and needs.kubernetes is not None
    assert needs.azure.subscription_id == "sub-1"
    assert [(v.purpose, v.vm_size, v.nodes, v.low_priority, v.quota_source) for v in needs.azure.vms] == [
        ("training cluster", "Standard_NC4as_T4_v3", 2, True, "ml"),
        ("cpu cluster", "Standard_DS3_v2", 2, True, "ml"),
        ("endpoint (2 colours)", "Standard_DS3_v2", 4, False, "ml"),
        ("AKS pool gpuspot", "Standard_NC4as_T4_v3", 2, True, "compute"),
    ]
    assert (needs.kubernetes.gpu_pool, needs.kubernetes.gpu_pool_max_nodes, needs.kubernetes.gpu_quota) == (
        "gpuspot",
        2,
        0,
    )


def test_needs_of_an_aws_stack_with_an_eks_gpu_pool() -> None:
    from ml.plan.needs import needs_of
    from tests.infra.kubernetes.k8s_helpers import eks_config

    config = eks_config()
    needs = needs_of(config.stack, config.namespace("mlops"), source="eks")
    assert needs.aws is not None and needs.kubernetes is not None
    assert (needs.aws.node_pool_instance_type, needs.aws.node_pool_nodes, needs.aws.node_pool_spot) == (
        "g5.xlarge",
        2,
        True,
    )
    assert read_needs("dev-aws", REPO).aws.node_pool_instance_type is None  # type: ignore[union-attr]


def test_the_names_preflight_checks_are_the_names_the_program_declares() -> None:
    """Guards the one duplicated spelling: run the program offline and compare."""
    config = read_stack_config(REPO, "dev")
    plan = run_offline(config)
    needs = read_needs("dev", REPO, subscription_id="sub-1")
    assert needs.azure is not None
    inputs = [r.inputs for r in plan.resources]
    assert any(i.get("accountName") == needs.azure.storage_account for i in inputs)
    assert any(i.get("vaultName") == needs.azure.key_vault for i in inputs)
    assert any(i.get("workspaceName") == needs.azure.workspace for i in inputs)
    assert any(i.get("resourceGroupName") == needs.azure.resource_group for i in inputs)

    aws_plan = run_offline(read_stack_config(REPO, "dev-aws"))
    aws_needs = read_needs("dev-aws", REPO).aws
    assert aws_needs is not None
    buckets = [r.inputs["bucket"] for r in aws_plan.resources if r.type == "aws:s3/bucket:Bucket"]
    assert len(buckets) == 1
    assert buckets[0].startswith(aws_needs.bucket_prefix) and buckets[0].endswith(f"-{aws_needs.region}")


def preflight(*args: str) -> tuple[int, str]:
    from ml.preflight.cli import register

    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)  # a second command keeps `preflight` a sub-command
    result = CliRunner().invoke(app, ["preflight", *args, "--project-dir", str(REPO)], catch_exceptions=False)
    return result.exit_code, result.stdout


def test_ml_preflight_json_passes_then_blocks_on_a_zero_quota(
    moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas
) -> None:
    sagemaker_quotas.set("ml.g5.xlarge for spot training job usage", 2)
    sagemaker_quotas.set("ml.m5.large for endpoint usage", 4)
    sagemaker_quotas.set("Maximum number of parallel training jobs per hyperparameter tuning job", 10)
    code, out = preflight("--stack", "dev-aws", "--json")
    document = json.loads(out)
    assert code == 0 and document["ok"] is True and len(document["checks"]) == 4

    sagemaker_quotas.set("ml.m5.large for endpoint usage", 0)
    code, out = preflight("--stack", "dev-aws", "--json")
    document = json.loads(out)
    assert code == 2 and document["blockers"] == 1
    [blocker] = [c for c in document["checks"] if c["status"] == "blocker"]
    assert blocker["needed"] == "4 instances" and blocker["available"] == "0 instances"


def test_ml_preflight_table_names_the_fix(moto_server: MotoServer, sagemaker_quotas: SageMakerQuotas) -> None:
    code, out = preflight("--stack", "dev-aws")
    assert code == 0  # nothing listed: unknown, shown, not blocking
    assert "unknown" in out and "no blockers" in out


def test_the_deploy_workflow_runs_preflight_before_pulumi_up() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github/workflows/deploy.yml").read_text())
    for job, stack in (("dev", "dev"), ("prod", "prod")):
        steps = workflow["jobs"][job]["steps"]
        names = [step.get("run") or step.get("uses", "") for step in steps]
        preflight = names.index(f"uv run ml preflight --stack {stack}")
        up = next(i for i, step in enumerate(steps) if "pulumi/actions" in step.get("uses", ""))
        login = next(i for i, step in enumerate(steps) if "azure/login" in step.get("uses", ""))
        assert login < preflight < up
