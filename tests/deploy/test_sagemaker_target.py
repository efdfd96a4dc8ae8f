"""The SageMaker rollout target driven by the real engine against moto running as a real server.

boto3 is unpatched: every call is HTTP to ``moto_server`` on 127.0.0.1, validated by botocore's
service model. moto 5.2.5 lacks UpdateEndpoint, so the `endpoint_updates` fixture teaches it one
on the test side (tests/fakes/moto_server.py) that validates like SageMaker, records the request,
stays ``Updating`` for two polls and then switches configs -- or restores the old one when a named
alarm is in ALARM. The registry and audit are a real MLflow store (SQLite). What these tests
cannot show: SageMaker's real traffic shifting and baking (moto has no fleets) and percentile
latency (moto's CloudWatch computes no percentiles); both are SageMaker's own, documented behaviour.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.audit import AuditTrail
from ml.deploy.engine import RolloutEngine, RolloutResult
from ml.deploy.registry import Registry
from ml.deploy.spec import RolloutSpec, parse_spec
from ml.deploy.target import target_for
from ml.deploy.targets import sagemaker_config
from ml.deploy.targets._sagemaker_configs import TAG_COLOUR, TAG_MODEL
from ml.deploy.targets.sagemaker import SageMakerTarget
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.aws_stack import ALARMS, BUCKET, ENDPOINT, GROUPS, IMAGE, KMS, ROLE, SUBNETS, VARIANT, aws_outputs
from tests.fakes.moto_server import EndpointUpdates, MotoServer

moto_server = moto_fixtures.moto_server  # pytest fixtures used by this module
endpoint_updates = moto_fixtures.endpoint_updates

BOOTSTRAP = "serving-config-1234567"
RESOURCE = f"endpoint/{ENDPOINT}/variant/{VARIANT}"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


class Stack:
    """The endpoint as Pulumi leaves it (bootstrap model/config, autoscaling, alarms) plus a registry."""

    def __init__(self, server: MotoServer, tracking_uri: str, tmp_path: Path) -> None:
        from mlflow import MlflowClient

        self.server = server
        self.sagemaker = server.client("sagemaker")
        self.cloudwatch = server.client("cloudwatch")
        self.scaling = server.client("application-autoscaling")
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.registry = Registry(self.client)
        self.journal_dir = tmp_path / "rollouts"
        self.model = f"churn-{uuid.uuid4().hex[:6]}"
        self.client.create_registered_model(self.model)
        self.events: list[Any] = []
        self.sagemaker.create_model(
            ModelName="serving-bootstrap-model",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/bootstrap/1/model.tar.gz"},
        )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=BOOTSTRAP,
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": "serving-bootstrap-model",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 2,
                    "InitialVariantWeight": 1.0,
                }
            ],
            KmsKeyId=KMS,
        )
        self.sagemaker.create_endpoint(
            EndpointName=ENDPOINT,
            EndpointConfigName=BOOTSTRAP,
            Tags=[{"Key": "environment", "Value": "dev"}, {"Key": "cost-center", "Value": "ml"}],
        )
        self.scaling.register_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=DIMENSION, MinCapacity=2, MaxCapacity=4
        )
        self.scaling.put_scaling_policy(
            PolicyName=f"{ENDPOINT}-{VARIANT}-invocations",
            ServiceNamespace="sagemaker",
            ResourceId=RESOURCE,
            ScalableDimension=DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleOutCooldown": 60,
                "ScaleInCooldown": 300,
            },
        )
        dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}]
        common = {"Namespace": "AWS/SageMaker", "Dimensions": dims, "Period": 60, "EvaluationPeriods": 3}
        self.cloudwatch.put_metric_alarm(
            AlarmName=ALARMS[0], MetricName="Invocation5XXErrors", Statistic="Sum", Threshold=5.0,
            ComparisonOperator="GreaterThanThreshold", **common,
        )  # fmt: skip
        self.cloudwatch.put_metric_alarm(
            AlarmName=ALARMS[1], MetricName="ModelLatency", ExtendedStatistic="p99", Threshold=1_000_000.0,
            ComparisonOperator="GreaterThanThreshold", **common,
        )  # fmt: skip

    def version(self, source: str | None = None) -> str:
        created = self.client.create_model_version(self.model, source=source or f"s3://{BUCKET}/models/x/model.tar.gz")
        self.client.set_registered_model_alias(self.model, "challenger", str(created.version))
        return str(created.version)

    def target(self, outputs: PlatformOutputs | None = None) -> SageMakerTarget:
        return SageMakerTarget(outputs or aws_outputs(), ENDPOINT, poll_interval=0.01, settle_timeout=5.0)

    def engine(self, outputs: PlatformOutputs | None = None) -> RolloutEngine:
        outputs = outputs or aws_outputs()
        return RolloutEngine(
            outputs, self.target(outputs), registry=self.registry, audit=AuditTrail(outputs, self.client),
            journal_dir=self.journal_dir, on_event=self.events.append, poll_interval=0.01, drain_seconds=0.0,
        )  # fmt: skip

    def spec(self, strategy: str, extra: str = "") -> RolloutSpec:
        bake = "" if "bake_time:" in extra else "bake_time: 30s\n"
        return parse_spec(f"model: models:/{self.model}@challenger\nstrategy: {strategy}\n{bake}{extra}")

    def deploy(self, strategy: str, extra: str = "", outputs: PlatformOutputs | None = None) -> RolloutResult:
        return self.engine(outputs).run(self.spec(strategy, extra))

    def serving_config(self) -> str:
        return str(self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"])

    def champion(self) -> str | None:
        return self.registry.alias_version(self.model, "champion")

    def config_names(self) -> set[str]:
        return {c["EndpointConfigName"] for c in self.sagemaker.list_endpoint_configs()["EndpointConfigs"]}

    def model_names(self) -> set[str]:
        return {m["ModelName"] for m in self.sagemaker.list_models()["Models"]}

    def scalable_target(self) -> dict[str, Any]:
        targets = self.scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[RESOURCE])
        assert len(targets["ScalableTargets"]) == 1
        return dict(targets["ScalableTargets"][0])


@pytest.fixture
def stack(
    moto_server: MotoServer, endpoint_updates: EndpointUpdates, mlflow_sqlite_uri: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:  # fmt: skip
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path / "home"))
    yield Stack(moto_server, mlflow_sqlite_uri, tmp_path)


def _tags(stack: Stack, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in stack.sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def test_target_for_reads_the_bootstrap_endpoint_as_blue(stack: Stack) -> None:
    target = target_for(aws_outputs())
    assert isinstance(target, SageMakerTarget) and target.endpoint == ENDPOINT
    assert target.get_traffic().weights == {"blue": 100}
    [info] = target.list_deployments()
    assert (info.name, info.model, info.state) == ("blue", None, "healthy")
    assert target.supports_mirror is False


def test_canary_promotes_with_native_deployment_config(stack: Stack, endpoint_updates: EndpointUpdates) -> None:
    version = stack.version()
    scaling_before = stack.scalable_target()
    result = stack.deploy("{type: canary, steps: [10, 50, 100]}")
    assert result.outcome == "promoted", result.message
    request = endpoint_updates.last()
    assert request["EndpointName"] == ENDPOINT
    assert request["DeploymentConfig"] == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 30,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            },
            "TerminationWaitInSeconds": 30,
            "MaximumExecutionTimeoutInSeconds": 600 + 3 * 30,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in ALARMS]},
    }
    new = request["EndpointConfigName"]
    assert new.startswith(f"{ENDPOINT}-green-") and stack.serving_config() == new
    config = stack.sagemaker.describe_endpoint_config(EndpointConfigName=new)
    [variant] = config["ProductionVariants"]
    assert (variant["VariantName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        VARIANT,
        "ml.m5.large",
        2,
    )
    assert config["KmsKeyId"] == KMS
    tags = _tags(stack, config["EndpointConfigArn"])
    assert tags[TAG_COLOUR] == "green" and tags[TAG_MODEL] == f"models:/{stack.model}/{version}"
    assert tags["environment"] == "dev"  # the endpoint's own tags are carried over
    model = stack.sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{BUCKET}/models/x/model.tar.gz"
    assert model["VpcConfig"] == {"Subnets": SUBNETS, "SecurityGroupIds": GROUPS}
    assert stack.champion() == version
    assert endpoint_updates.outcomes == ["succeeded"]
    messages = [e.message for e in result.events if e.kind == "native"]
    assert any("endpoint Updating" in m for m in messages)
    assert any("SageMaker's canary has two shifts" in m for m in messages)
    assert any("max_error_rate" in m and ALARMS[0] in m for m in messages)
    # A model-only change keeps autoscaling attached: the target was never deregistered.
    assert stack.scalable_target()["ScalableTargetARN"] == scaling_before["ScalableTargetARN"]
    assert BOOTSTRAP in stack.config_names()  # the stack's own config is never deleted


def test_linear_alternates_colours_cleans_up_and_skips_what_already_serves(
    stack: Stack, endpoint_updates: EndpointUpdates
) -> None:
    first = stack.version()
    assert stack.deploy("{type: blue_green}").outcome == "promoted"
    green = stack.serving_config()
    green_model = stack.sagemaker.describe_endpoint_config(EndpointConfigName=green)["ProductionVariants"][0]
    second = stack.version(source=f"s3://{BUCKET}/mlflow/1/abc/artifacts/model")
    result = stack.deploy("{type: linear, step_percent: 25}", "bake_time: 5s\ninstance_count: 4\n")
    assert result.outcome == "promoted", result.message
    routing = endpoint_updates.last()["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert routing == {
        "TrafficRoutingConfiguration": {
            "Type": "LINEAR",
            "WaitIntervalInSeconds": 5,
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        },
        "TerminationWaitInSeconds": 5,
        "MaximumExecutionTimeoutInSeconds": 600 + 5 * 5,
    }
    blue = stack.serving_config()
    assert blue.startswith(f"{ENDPOINT}-blue-")
    variant = stack.sagemaker.describe_endpoint_config(EndpointConfigName=blue)["ProductionVariants"][0]
    assert variant["InitialInstanceCount"] == 4
    container = stack.sagemaker.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
    assert container["ModelDataSource"]["S3DataSource"] == {
        "S3Uri": f"s3://{BUCKET}/mlflow/1/abc/artifacts/model/",
        "S3DataType": "S3Prefix",
        "CompressionType": "None",
    }
    # The previous colour's config and model were deleted on commit; the stack's bootstrap stays.
    assert green not in stack.config_names() and green_model["ModelName"] not in stack.model_names()
    assert BOOTSTRAP in stack.config_names()
    assert stack.champion() == second
    assert stack.client.get_model_version(stack.model, first).tags["previous_champion"] == "true"
    again = stack.engine().run(
        stack.spec("{type: blue_green}").model_copy(update={"model": f"models:/{stack.model}/{second}"})
    )
    assert again.outcome == "unchanged"
    assert len(endpoint_updates.requests) == 2


def test_blue_green_instance_type_change_reregisters_autoscaling(
    stack: Stack, endpoint_updates: EndpointUpdates
) -> None:
    version = stack.version()
    result = stack.deploy("{type: blue_green}", "instance_type: ml.g4dn.xlarge\n")
    assert result.outcome == "promoted", result.message
    request = endpoint_updates.last()
    assert request["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE",
        "WaitIntervalInSeconds": 30,
    }
    config = stack.sagemaker.describe_endpoint_config(EndpointConfigName=request["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g4dn.xlarge"
    assert "KmsKeyId" not in config  # NVMe instance storage: SageMaker refuses a volume KMS key
    target = stack.scalable_target()
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    [policy] = stack.scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RESOURCE)[
        "ScalingPolicies"
    ]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0
    messages = [e.message for e in result.events if e.kind == "native"]
    assert any("deregistered" in m for m in messages) and any("re-registered" in m for m in messages)
    assert stack.champion() == version


def test_new_fleet_is_never_smaller_than_what_autoscaling_runs(stack: Stack, endpoint_updates: EndpointUpdates) -> None:
    stack.version()
    # under load, autoscaling has taken the variant from 2 to 4 instances
    stack.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT,
        DesiredWeightsAndCapacities=[{"VariantName": VARIANT, "DesiredWeight": 1.0, "DesiredInstanceCount": 4}],
    )
    result = stack.deploy("{type: blue_green}", "instance_count: 2\n")
    assert result.outcome == "promoted", result.message
    config = stack.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint_updates.last()["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 4
    assert any("at 4 instances, not 2" in e.message for e in result.events if e.kind == "native")
    # a quiet endpoint keeps the requested size
    stack.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT,
        DesiredWeightsAndCapacities=[{"VariantName": VARIANT, "DesiredWeight": 1.0, "DesiredInstanceCount": 1}],
    )
    stack.version()
    assert stack.deploy("{type: blue_green}", "instance_count: 2\n").outcome == "promoted"
    config = stack.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint_updates.last()["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 2


def test_alarm_in_alarm_rolls_back_and_moves_no_alias(stack: Stack, endpoint_updates: EndpointUpdates) -> None:
    champion = stack.version()
    assert stack.deploy("{type: blue_green}").outcome == "promoted"
    serving = stack.serving_config()
    stack.version()
    stack.cloudwatch.set_alarm_state(AlarmName=ALARMS[0], StateValue="ALARM", StateReason="12 5XX in 3 minutes")
    before = stack.config_names()
    result = stack.deploy("{type: canary, steps: [25, 100]}")
    assert result.outcome == "rolled_back"
    assert ALARMS[0] in result.message and "12 5XX in 3 minutes" in result.message
    assert endpoint_updates.outcomes == ["succeeded", "rolled_back"]
    assert stack.serving_config() == serving
    assert stack.champion() == champion
    # The rolled-back config and its model were cleaned up; nothing else changed.
    assert stack.config_names() == before
    assert stack.scalable_target()["MinCapacity"] == 2


def test_read_metrics_sums_the_variant_window(stack: Stack) -> None:
    import datetime as dt
    import time

    target = stack.target()
    since = time.time() - 5
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}]
    now = dt.datetime.now(dt.UTC)
    stack.cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": dims, "Value": 120.0, "Timestamp": now},
            {"MetricName": "Invocations", "Dimensions": dims, "Value": 80.0, "Timestamp": now},
            {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Value": 3.0, "Timestamp": now},
        ],
    )
    metrics = target.read_metrics("blue", since)
    assert (metrics.requests, metrics.errors) == (200, 3)
    assert target.read_metrics("green", since).requests == 0  # green does not serve


REFUSED = [
    ("{type: blue_green}", "gates: {max_p95_latency_ms: 100}\n", "gates.max_p95_latency_ms = 100: no rollback alarm"),
    ("{type: blue_green}", "gates: {min_requests: 50}\n", "gates.min_requests = 50: SageMaker's alarms treat"),
    ("{type: canary, steps: [10, 100]}", "instance_count: 1\n", "needs instance_count >= 2 (got 1)"),
    ("{type: canary, steps: [60, 100]}", "", "strategy.steps[0] = 60: SageMaker's canary is at most 50%"),
    ("{type: blue_green, mirror_percent: 10}", "", "strategy.mirror_percent: SageMaker's blue/green update cannot"),
]


def test_gates_and_strategies_sagemaker_cannot_honour_are_refused(stack: Stack) -> None:
    stack.version()
    models = stack.model_names()
    for strategy, extra, expected in REFUSED:
        with pytest.raises(UserError, match="cannot run natively on SageMaker") as caught:
            stack.deploy(strategy, extra)
        assert expected in str(caught.value), strategy
    assert stack.serving_config() == BOOTSTRAP and stack.model_names() == models and stack.champion() is None
    # refused before the engine journaled anything: no rollout to recover, no audit run opened
    assert not list(stack.journal_dir.glob("*"))
    assert stack.client.search_runs([e.experiment_id for e in stack.client.search_experiments()]) == []


def test_a_latency_gate_an_alarm_enforces_is_mapped(stack: Stack, endpoint_updates: EndpointUpdates) -> None:
    stack.version()
    result = stack.deploy("{type: blue_green}", "gates: {max_p99_latency_ms: 1500, min_requests: 0}\n")
    assert result.outcome == "promoted", result.message
    assert any("max_p99_latency_ms (1500) is enforced natively by " + ALARMS[1] in e.message for e in result.events)


def test_user_errors_name_what_to_fix(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="exports no 'aws' section"):
        target_for(aws_outputs(with_aws=False))
    with pytest.raises(UserError, match="endpoint 'nope' does not exist in eu-west-1"):
        target_for(aws_outputs(), "nope")
    stack.version()
    with pytest.raises(UserError, match="exports no rollback alarms"):
        stack.deploy("{type: blue_green}", outputs=aws_outputs(alarms=[]))
    with pytest.raises(UserError, match="rollback alarms missing-alarm do not exist"):
        stack.deploy("{type: blue_green}", outputs=aws_outputs(alarms=["missing-alarm"]))
    with pytest.raises(UserError, match=r"exports no aws\.serving_image"):
        stack.deploy("{type: blue_green}", outputs=aws_outputs(image=None))
    stack.version(source="mlflow-artifacts:/1/abc/artifacts/model")
    with pytest.raises(UserError, match="SageMaker loads models from S3"):
        stack.deploy("{type: blue_green}")
    assert stack.serving_config() == BOOTSTRAP and stack.champion() is None
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a new process: no credentials cached from earlier calls
    with pytest.raises(UserError, match="no AWS credentials found"):
        target_for(aws_outputs())


def test_native_mapping_offline() -> None:
    spec = parse_spec("model: models:/m/1\nstrategy: {type: canary, steps: [10, 25, 50, 100]}\nbake_time: 3h\n")
    problems = sagemaker_config.strategy_problems(spec, 4)
    assert any("bake_time = 10800s" in p for p in problems)
    assert any("exceeds SageMaker's maximum deployment time" in p for p in problems)
    linear = parse_spec("model: models:/m/1\nstrategy: {type: linear, step_percent: 5}\nbake_time: 1m\n")
    assert sagemaker_config.strategy_problems(linear, 4) == [
        "strategy.step_percent = 5: SageMaker's linear steps are 10..50% of the fleet's capacity"
    ]
    everything = parse_spec("model: models:/m/1\nstrategy: {type: canary, steps: [100]}\nbake_time: 0\n")
    assert sagemaker_config.traffic_routing(everything) == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    assert sagemaker_config.strategy_problems(everything, 1) == []
