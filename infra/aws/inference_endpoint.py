"""A SageMaker real-time endpoint whose one serving variant is autoscaled and guarded by alarms.

Which layer creates the first variant: this one, from config. SageMaker cannot create an endpoint
without a model, so the endpoint exists once `endpoint.bootstrapModel` (a model.tar.gz in this
stack's bucket) and `aws.servingImage` are set; until then the stack exports no endpoint and
`ml deploy` has nothing to roll out to. Together with the variant, Pulumi creates its Application
Auto Scaling target and target-tracking policy and its CloudWatch alarms, so no variant ever
serves without them. Rollouts (`ml deploy`) then only swap the *model* inside the variant
(UpdateEndpoint with a new endpoint config that keeps the variant name and instance type, with
blue/green guardrails naming the exported alarms): SageMaker keeps autoscaling attached across
such an update. The endpoint ignores later changes of its endpoint config so `pulumi up` never
rolls a deployed model back to the bootstrap one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import appautoscaling, cloudwatch, sagemaker

from infra.common import child_options
from infra.config import AwsEndpointAlarms, EndpointSettings, MonitoringSettings
from ml.contract.aws import accepts_volume_kms_key
from ml.contract.monitoring import pulumi_args, sagemaker_data_capture

VARIANT = "primary"
"""The serving variant's name; rollouts keep it so autoscaling and alarms stay attached."""

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"


@dataclass(frozen=True)
class InferenceEndpointArgs:
    endpoint_name: str
    region: str
    settings: EndpointSettings
    alarms: AwsEndpointAlarms
    serving_image: str
    model_data_url: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    subnet_ids: list[str]
    security_group_ids: list[str]
    tags: dict[str, str]
    depends_on: list[pulumi.Resource]
    """What the execution role needs before SageMaker downloads the model (its S3/KMS policy)."""
    monitoring: MonitoringSettings | None = None
    capture_uri: pulumi.Input[str] | None = None
    """``s3://<artifact bucket>/<capture prefix>``: where Data Capture writes when monitoring is on."""


class InferenceEndpoint(pulumi.ComponentResource):
    """Model, endpoint config (variant `primary`), endpoint, autoscaling target + policy, 5XX and latency alarms."""

    endpoint_name: pulumi.Output[str]
    variant_name: str
    scoring_uri: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: InferenceEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:InferenceEndpoint", name, None, opts)
        settings, region, tags = args.settings, args.region, args.tags
        vpc_config = (
            {"subnets": args.subnet_ids, "security_group_ids": args.security_group_ids} if args.subnet_ids else None
        )
        model = sagemaker.Model(
            f"{name}-bootstrap-model",
            execution_role_arn=args.execution_role_arn,
            primary_container={"image": args.serving_image, "model_data_url": args.model_data_url},
            vpc_config=vpc_config,
            region=region,
            tags=tags,
            opts=child_options(self, depends_on=args.depends_on),
        )
        config = sagemaker.EndpointConfiguration(
            f"{name}-config",
            production_variants=[
                {
                    "variant_name": VARIANT,
                    "model_name": model.name,
                    "instance_type": settings.instance_type,
                    "initial_instance_count": settings.instance_count,
                    "initial_variant_weight": 1.0,
                }
            ],
            kms_key_arn=args.key_arn if accepts_volume_kms_key(settings.instance_type) else None,
            # The same capture every config `ml deploy` creates gets (ml.contract.monitoring).
            data_capture_config=(
                pulumi_args(
                    sagemaker_data_capture(
                        args.capture_uri, sampling_percent=args.monitoring.sampling_percent, kms_key_arn=args.key_arn
                    )
                )
                if args.monitoring is not None and args.monitoring.enabled and args.capture_uri is not None
                else None
            ),
            region=region,
            tags=tags,
            opts=child_options(self),
        )
        endpoint = sagemaker.Endpoint(
            f"{name}-endpoint",
            name=args.endpoint_name,
            endpoint_config_name=config.name,
            region=region,
            tags=tags,
            # Rollouts own the endpoint config from the first `ml deploy` on; Pulumi must not revert it.
            opts=child_options(self, ignore_changes=["endpointConfigName"]),
        )
        resource_id = pulumi.Output.concat("endpoint/", endpoint.name, "/variant/", VARIANT)
        target = appautoscaling.Target(
            f"{name}-{VARIANT}-scaling-target",
            service_namespace="sagemaker",
            scalable_dimension=SCALABLE_DIMENSION,
            resource_id=resource_id,
            min_capacity=settings.min_instances,
            max_capacity=settings.max_instances,
            region=region,
            tags=tags,
            opts=child_options(self),
        )
        appautoscaling.Policy(
            f"{name}-{VARIANT}-scaling-policy",
            name=f"{args.endpoint_name}-{VARIANT}-invocations",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": settings.scale_rule.target,
                "predefined_metric_specification": {"predefined_metric_type": INVOCATIONS_PER_INSTANCE},
                "scale_out_cooldown": settings.scale_out_cooldown_minutes * 60,
                "scale_in_cooldown": settings.scale_in_cooldown_minutes * 60,
            },
            region=region,
            opts=child_options(self),
        )
        self.alarm_names = [
            self._alarm(
                name, args, endpoint.name, "5xx-errors", "Invocation5XXErrors", "Sum", args.alarms.max_5xx_errors
            ),
            self._alarm(
                name,
                args,
                endpoint.name,
                "model-latency",
                "ModelLatency",
                args.alarms.latency_statistic,
                # CloudWatch reports ModelLatency in microseconds.
                args.alarms.max_model_latency_ms * 1000,
            ),
        ]
        self.endpoint_name = endpoint.name
        self.variant_name = VARIANT
        self.scoring_uri = pulumi.Output.concat(
            "https://runtime.sagemaker.", region, ".amazonaws.com/endpoints/", endpoint.name, "/invocations"
        )
        self.register_outputs(
            {"endpoint_name": self.endpoint_name, "scoring_uri": self.scoring_uri, "alarm_names": self.alarm_names}
        )

    def _alarm(
        self,
        name: str,
        args: InferenceEndpointArgs,
        endpoint_name: pulumi.Output[str],
        suffix: str,
        metric: str,
        statistic: str,
        threshold: float,
    ) -> pulumi.Output[str]:
        alarms = args.alarms
        percentile = statistic.startswith("p")
        alarm = cloudwatch.MetricAlarm(
            f"{name}-{VARIANT}-{suffix}",
            name=f"{args.endpoint_name}-{VARIANT}-{suffix}",
            alarm_description=(
                f"{metric} of variant {VARIANT} on {args.endpoint_name}; "
                "rollouts name this alarm for automatic rollback"
            ),
            namespace="AWS/SageMaker",
            metric_name=metric,
            dimensions={"EndpointName": endpoint_name, "VariantName": VARIANT},
            statistic=None if percentile else statistic,
            extended_statistic=statistic if percentile else None,
            period=alarms.period_seconds,
            evaluation_periods=alarms.evaluation_periods,
            datapoints_to_alarm=alarms.evaluation_periods,
            threshold=float(threshold),
            comparison_operator="GreaterThanThreshold",
            # No traffic is not an error: an idle endpoint must not block or roll back a deployment.
            treat_missing_data="notBreaching",
            region=args.region,
            tags=args.tags,
            opts=child_options(self),
        )
        return alarm.name
