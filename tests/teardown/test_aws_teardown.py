"""SageMaker teardown against moto_server: rollout configs and models, then what a destroy leaves; `ml teardown` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ml.deploy.audit import audit_path, read_records
from ml.teardown import aws as teardown_aws
from ml.teardown.cli import register
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.aws_stack import ENDPOINT, IMAGE, ROLE, aws_outputs
from tests.fakes.moto_server import MotoServer

moto_server = moto_fixtures.moto_server  # pytest fixtures used by this module

REPO = Path(__file__).resolve().parents[2]


def model_and_config(moto: MotoServer, name: str, tags: dict[str, str]) -> None:
    sagemaker = moto.client("sagemaker")
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}, Tags=tag_list)
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "primary", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
        Tags=tag_list,
    )


def seed(moto: MotoServer) -> None:
    model_and_config(moto, f"{ENDPOINT}-bootstrap", {"managed-by": "pulumi"})  # the stack's own
    model_and_config(moto, f"{ENDPOINT}-green-261204101500-ab12", {"ml.deploy.endpoint": ENDPOINT})  # a rollout's
    model_and_config(moto, "other-endpoint-green-261204101500-cd34", {"ml.deploy.endpoint": "other-endpoint"})


def test_teardown_deletes_the_rollouts_configs_and_models_only(moto_server: MotoServer) -> None:
    seed(moto_server)
    items = teardown_aws.created_by_ml(aws_outputs())
    rollout = f"{ENDPOINT}-green-261204101500-ab12"
    assert [(i.kind, i.name) for i in items] == [("endpoint config", rollout), ("model", rollout)]

    for item in items:
        assert item.delete is not None
        item.delete()
    sagemaker = moto_server.client("sagemaker")
    configs = {c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]}
    models = {m["ModelName"] for m in sagemaker.list_models()["Models"]}
    assert configs == models == {f"{ENDPOINT}-bootstrap", "other-endpoint-green-261204101500-cd34"}


def test_check_after_destroy_lists_configs_alarms_and_log_groups_then_nothing(moto_server: MotoServer) -> None:
    model_and_config(moto_server, f"{ENDPOINT}-green-261204101500-ab12", {"ml.deploy.endpoint": ENDPOINT})
    moto_server.client("cloudwatch").put_metric_alarm(
        AlarmName=f"{ENDPOINT}-primary-5xx-errors",
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    moto_server.client("logs").create_log_group(logGroupName=f"/aws/sagemaker/Endpoints/{ENDPOINT}")

    code, out = ml("teardown", "--stack", "dev-aws", "--check", "--json", "--project-dir", str(REPO))
    left = json.loads(out)["left"]
    assert code == 1
    assert [(i["kind"], i["name"]) for i in left] == [
        ("endpoint config", f"{ENDPOINT}-green-261204101500-ab12"),
        ("model", f"{ENDPOINT}-green-261204101500-ab12"),
        ("CloudWatch alarm", f"{ENDPOINT}-primary-5xx-errors"),
        ("log group", f"/aws/sagemaker/Endpoints/{ENDPOINT}"),
    ]
    assert left[3]["fix"] == f"aws logs delete-log-group --log-group-name /aws/sagemaker/Endpoints/{ENDPOINT}"

    sagemaker = moto_server.client("sagemaker")
    sagemaker.delete_endpoint_config(EndpointConfigName=f"{ENDPOINT}-green-261204101500-ab12")
    sagemaker.delete_model(ModelName=f"{ENDPOINT}-green-261204101500-ab12")
    moto_server.client("cloudwatch").delete_alarms(AlarmNames=[f"{ENDPOINT}-primary-5xx-errors"])
    moto_server.client("logs").delete_log_group(logGroupName=f"/aws/sagemaker/Endpoints/{ENDPOINT}")
    code, out = ml("teardown", "--stack", "dev-aws", "--check", "--project-dir", str(REPO))
    assert code == 0 and "nothing left" in out


def ml(*args: str, stdin: str | None = None) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)  # a second command keeps `teardown` a sub-command
    result = CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout


def test_ml_teardown_asks_then_deletes_audits_and_prints_the_destroy(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    seed(moto_server)
    document = tmp_path / "outputs.json"
    document.write_text(aws_outputs().model_dump_json())

    code, out = ml("teardown", "--stack", "dev-aws", "--outputs", str(document), stdin="n\n")
    assert code == 1 and "delete these 2 item(s)?" in out
    assert len(moto_server.client("sagemaker").list_models()["Models"]) == 3  # answered no: nothing deleted

    code, out = ml("teardown", "--stack", "dev-aws", "--outputs", str(document), "--yes")
    assert code == 0
    assert "next: `pulumi destroy --stack dev-aws`, then `ml teardown --stack dev-aws --check`" in out
    records = read_records(audit_path(aws_outputs()))
    assert [(r["what"], r["kind"], r["outcome"]) for r in records] == [
        ("teardown.delete", "endpoint config", "deleted"),
        ("teardown.delete", "model", "deleted"),
    ]
    code, out = ml("teardown", "--stack", "dev-aws", "--outputs", str(document), "--yes", "--json")
    assert code == 0 and json.loads(out)["deleted"] == []
