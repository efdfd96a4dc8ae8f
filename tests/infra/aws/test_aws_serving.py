"""The AWS stacks' serving: the bootstrap model and variant, autoscaling, rollback alarms, and a
config Pulumi never reverts after ``ml deploy`` rolled it out (Pulumi mocks, both example stacks)."""

from __future__ import annotations

from ml.contract import PlatformOutputs
from ml.contract.declared import OfflinePlan
from tests.infra.aws.test_aws_platform import ACCOUNT, ALARM, REGION, _bucket_name, _key_arn


def test_bootstrap_model_and_its_variant(dev: OfflinePlan, prod: OfflinePlan) -> None:
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlflow-pyfunc:3.17.2"
    model = prod.one("aws:sagemaker/model:Model").inputs
    assert model["primaryContainer"] == {
        "image": image,
        "modelDataUrl": f"s3://{_bucket_name(prod)}/models/churn/1/model.tar.gz",
    }
    assert model["executionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/mlopsprodaws-sagemaker-execution"
    assert model["vpcConfig"] == {
        "subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60719"],
        "securityGroupIds": ["sg-0c1d2e3f4a5b60720"],
    }
    assert "vpcConfig" not in dev.one("aws:sagemaker/model:Model").inputs
    model_name = prod.one("aws:sagemaker/model:Model").state["name"]
    config = prod.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert config.inputs["productionVariants"] == [
        {
            "variantName": "primary",
            "modelName": model_name,
            "instanceType": "ml.g5.2xlarge",
            "initialInstanceCount": 2,
            "initialVariantWeight": 1.0,
        }
    ]
    # g5 instances have NVMe instance storage, which SageMaker refuses to pair with a KMS key.
    assert "kmsKeyArn" not in config.inputs
    assert dev.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs["kmsKeyArn"] == _key_arn(dev)
    endpoint = prod.one("aws:sagemaker/endpoint:Endpoint").inputs
    assert endpoint["name"] == "mlopsprodaws-endpoint"
    assert endpoint["endpointConfigName"] == config.state["name"]


def test_every_variant_is_autoscaled_on_invocations_per_instance(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan, bounds, target, cooldowns in ((dev, (1, 2), 100, (300, 600)), (prod, (2, 10), 200, (300, 900))):
        endpoint = plan.one("aws:sagemaker/endpoint:Endpoint").inputs["name"]
        variants = plan.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs["productionVariants"]
        targets = plan.of_type("aws:appautoscaling/target:Target")
        assert [t.inputs["resourceId"] for t in targets] == [
            f"endpoint/{endpoint}/variant/{v['variantName']}" for v in variants
        ]
        scaling = targets[0].inputs
        assert scaling["serviceNamespace"] == "sagemaker"
        assert scaling["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
        assert (scaling["minCapacity"], scaling["maxCapacity"]) == bounds
        policy = plan.one("aws:appautoscaling/policy:Policy").inputs
        assert policy["policyType"] == "TargetTrackingScaling"
        assert policy["resourceId"] == scaling["resourceId"]
        assert policy["scalableDimension"] == scaling["scalableDimension"]
        assert policy["targetTrackingScalingPolicyConfiguration"] == {
            "targetValue": target,
            "predefinedMetricSpecification": {"predefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "scaleOutCooldown": cooldowns[0],
            "scaleInCooldown": cooldowns[1],
        }


def test_alarms_watch_the_variant_and_are_the_rollback_alarms(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan, max_errors, max_latency_us in ((dev, 5, 1_000_000), (prod, 10, 500_000)):
        endpoint = plan.one("aws:sagemaker/endpoint:Endpoint").inputs["name"]
        alarms = {a.inputs["metricName"]: a.inputs for a in plan.of_type(ALARM) if "metricName" in a.inputs}
        assert set(alarms) == {"Invocation5XXErrors", "ModelLatency"}
        for alarm in alarms.values():
            assert alarm["namespace"] == "AWS/SageMaker"
            assert alarm["dimensions"] == {"EndpointName": endpoint, "VariantName": "primary"}
            assert alarm["comparisonOperator"] == "GreaterThanThreshold"
            assert alarm["treatMissingData"] == "notBreaching"
            assert (alarm["period"], alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (60, 3, 3)
        errors, latency = alarms["Invocation5XXErrors"], alarms["ModelLatency"]
        assert (errors["statistic"], errors["threshold"]) == ("Sum", max_errors)
        assert "extendedStatistic" not in errors
        assert (latency["extendedStatistic"], latency["threshold"]) == ("p99", max_latency_us)
        assert "statistic" not in latency
        outputs = PlatformOutputs.model_validate(plan.outputs)
        assert outputs.endpoint is not None
        assert sorted(outputs.endpoint.rollback_alarm_names) == sorted(a["name"] for a in alarms.values())
        assert outputs.endpoint.rollback_alarm_names == [
            f"{endpoint}-primary-5xx-errors",
            f"{endpoint}-primary-model-latency",
        ]


def test_pulumi_never_reverts_a_rolled_out_endpoint_config(plan: OfflinePlan) -> None:
    """Rollouts point the endpoint at new configs; a later `pulumi up` must leave that alone."""
    endpoint = plan.one("aws:sagemaker/endpoint:Endpoint")
    assert endpoint.ignore_changes == ("endpointConfigName",)
