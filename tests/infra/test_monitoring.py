"""`mlops:monitoring`: each bad value stops the program with one clear message, and the mocks show
capture, its expiry and the drift alert as the resources really get them (prod and prod-aws)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from infra.config import ConfigError, load_settings
from ml.contract.monitoring import DRIFT_METRIC, DRIFT_NAMESPACE, azure_data_collector
from ml.plan.offline import OfflinePlan, PlannedResource
from tests.infra.helpers import plan_stack, stack_config, with_changes

BAD_VALUES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "sampling-zero",
        {"monitoring.samplingPercent": 0},
        ["monitoring.samplingPercent", "0", "greater than or equal to 1"],
    ),
    ("sampling-over", {"monitoring.samplingPercent": 101}, ["monitoring.samplingPercent", "101", "less than or equal"]),
    ("retention-zero", {"monitoring.retentionDays": 0}, ["monitoring.retentionDays", "greater than or equal to 1"]),
    ("prefix-absolute", {"monitoring.capturePrefix": "/capture/"}, ["prefix '/capture/' must be relative"]),
    ("prefix-no-slash", {"monitoring.capturePrefix": "capture"}, ["must be relative and end with '/'"]),
    (
        "prefix-overlaps-temp",
        {"monitoring.capturePrefix": "tmp/"},
        ["monitoring.capturePrefix 'tmp/' overlaps artifacts.tempPrefix 'tmp/'"],
    ),
    ("misspelt-key", {"monitoring.samplingPercentage": 20}, ["samplingPercentage", "samplingPercent"]),
]


@pytest.mark.parametrize(("changes", "fragments"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_bad_monitoring_value_gets_one_clear_message(changes: dict[str, Any], fragments: list[str]) -> None:
    config = with_changes(stack_config("prod"), changes)
    with pytest.raises(ConfigError) as caught:
        load_settings(config.namespace("mlops"), source="Pulumi.prod.yaml")
    message = str(caught.value)
    assert message.startswith("invalid stack config in Pulumi.prod.yaml"), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@cache
def _plan(stack: str) -> OfflinePlan:
    return plan_stack(stack)


def _one(plan: OfflinePlan, type_: str, name: str) -> PlannedResource:
    found = [r for r in plan.resources if r.type == type_ and r.name == name]
    assert len(found) == 1, [(r.type, r.name) for r in plan.resources if r.type == type_]
    return found[0]


def test_prod_bootstrap_deployment_collects_inputs_and_outputs_at_the_sampling_rate() -> None:
    deployment = _one(_plan("prod"), "azure-native:machinelearningservices:OnlineDeployment", "serving-blue")
    assert deployment.inputs["properties"]["dataCollector"] == azure_data_collector(20)
    assert deployment.inputs["properties"]["dataCollector"]["collections"]["model_inputs"]["samplingRate"] == 0.2


def test_prod_aws_endpoint_config_captures_to_the_bucket_with_the_stack_key() -> None:
    plan = _plan("prod-aws")
    capture = _one(plan, "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "serving-config").inputs[
        "dataCaptureConfig"
    ]
    assert capture["enableCapture"] is True and capture["initialSamplingPercentage"] == 20
    assert capture["destinationS3Uri"].startswith("s3://mlopsprodaws-artifacts-") and capture[
        "destinationS3Uri"
    ].endswith("/capture/")
    assert capture["captureOptions"] == [{"captureMode": "Input"}, {"captureMode": "Output"}]
    assert capture["kmsKeyId"].startswith("arn:aws:kms:")
    rules = _one(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "artifacts-lifecycle")
    expire = [r for r in rules.inputs["rules"] if r["id"] == "expire-capture"]
    assert expire == [
        {"id": "expire-capture", "status": "Enabled", "filter": {"prefix": "capture/"}, "expiration": {"days": 90}}
    ]


def test_prod_drift_alert_watches_the_metric_ml_monitor_publishes() -> None:
    alert = _one(_plan("prod"), "azure-native:monitor:MetricAlert", "drift-alert").inputs
    (criterion,) = alert["criteria"]["all_of"]
    assert (criterion["metric_namespace"], criterion["metric_name"]) == (DRIFT_NAMESPACE, DRIFT_METRIC)
    assert (criterion["operator"], criterion["threshold"]) == ("GreaterThan", 0)
    assert alert["actions"] and alert["scopes"][0].endswith("mlopsprod-endpoint")


def test_prod_aws_drift_alarm_watches_the_metric_ml_monitor_publishes() -> None:
    alarm = _one(_plan("prod-aws"), "aws:cloudwatch/metricAlarm:MetricAlarm", "drift-alarm").inputs
    (query,) = alarm["metricQueries"]
    assert f"{{{DRIFT_NAMESPACE},Endpoint,Model}}" in query["expression"] and DRIFT_METRIC in query["expression"]
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["treatMissingData"] == "notBreaching"
    assert any(action.endswith("-endpoint-drift") for action in alarm["alarmActions"])


def test_monitoring_off_means_no_capture_and_no_alert() -> None:
    from ml.plan.offline import run_offline

    plan = run_offline(with_changes(stack_config("prod-aws"), {"monitoring.enabled": False}))
    config = _one(plan, "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "serving-config")
    assert not config.inputs.get("dataCaptureConfig")
    assert not [r for r in plan.resources if "drift" in r.name]
