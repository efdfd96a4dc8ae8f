"""A CloudWatch alarm on the drift metric `ml monitor` publishes, notifying the budget's contacts.

Why in the stack: drift found by a scheduled `ml monitor` must reach people through the cloud's own
alerting (where the endpoint's 5XX and latency alarms arrive), not only through a CI log.
`ml monitor` puts ``MLOps/Drift`` / ``DriftedFeatures`` (dimensions Endpoint, Model) with
PutMetricData (`ml.monitor.publish`); the alarm watches the endpoint's series over all models
through a metric-math SEARCH, so a new champion needs no new alarm. It notifies a KMS-encrypted
SNS topic of its own, subscribed by the budget's contact emails, and the budget's topic when
`mlops:aws.budgetSnsTopicArn` names one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import cloudwatch, sns

from infra.common import child_options
from ml.contract.monitoring import DRIFT_METRIC, DRIFT_NAMESPACE


@dataclass(frozen=True)
class DriftAlarmArgs:
    endpoint_name: str
    region: str
    emails: list[str]
    sns_topic_arn: str | None
    key_arn: pulumi.Input[str]
    tags: dict[str, str]


def drift_search(endpoint_name: str) -> str:
    """The metric-math expression: the endpoint's drift series, every model, maximum per period."""
    return (
        f'MAX(SEARCH(\'{{{DRIFT_NAMESPACE},Endpoint,Model}} MetricName="{DRIFT_METRIC}" '
        f"Endpoint=\"{endpoint_name}\"', 'Maximum', 3600))"
    )


class DriftAlarm(pulumi.ComponentResource):
    """SNS topic (+ email subscriptions) and an alarm when any model on the endpoint reports drifted features."""

    alarm_name: pulumi.Output[str]
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DriftAlarmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:DriftAlarm", name, None, opts)
        topic = sns.Topic(
            f"{name}-topic",
            name=f"{args.endpoint_name}-drift",
            kms_master_key_id=args.key_arn,
            region=args.region,
            tags=args.tags,
            opts=child_options(self),
        )
        for index, email in enumerate(args.emails):
            sns.TopicSubscription(
                f"{name}-email-{index}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                region=args.region,
                opts=child_options(self),
            )
        actions: list[pulumi.Input[str]] = [topic.arn]
        if args.sns_topic_arn is not None:
            actions.append(args.sns_topic_arn)
        alarm = cloudwatch.MetricAlarm(
            f"{name}-alarm",
            name=f"{args.endpoint_name}-drift",
            alarm_description="ml monitor found drifted features on the endpoint; see the monitor run in MLflow",
            comparison_operator="GreaterThanThreshold",
            threshold=0.0,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            metric_queries=[
                {
                    "id": "drift",
                    "expression": drift_search(args.endpoint_name),
                    "label": f"{DRIFT_METRIC} on {args.endpoint_name}",
                    "period": 3600,
                    "return_data": True,
                }
            ],
            # No monitor run in the hour is not drift.
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            region=args.region,
            tags=args.tags,
            opts=child_options(self),
        )
        self.alarm_name = alarm.name
        self.topic_arn = topic.arn
        self.register_outputs({"alarm_name": self.alarm_name, "topic_arn": self.topic_arn})
