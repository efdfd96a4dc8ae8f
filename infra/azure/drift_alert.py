"""An Azure Monitor alert on the drift metric `ml monitor` publishes, mailing the budget's contacts.

Why in the stack: drift found by a scheduled `ml monitor` must reach people through the cloud's own
alerting (the same place 5xx and budget alerts arrive), not only through a CI log. `ml monitor`
posts ``MLOps/Drift`` / ``DriftedFeatures`` as a custom metric on the endpoint resource
(`ml.monitor.publish`); this alert fires when it is above 0. Custom metrics do not exist until
first emitted, so the criterion skips metric validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor

from infra.common import child_options
from ml.contract.monitoring import DRIFT_METRIC, DRIFT_NAMESPACE


@dataclass(frozen=True)
class DriftAlertArgs:
    resource_group_name: pulumi.Input[str]
    endpoint_name: str
    endpoint_id: pulumi.Input[str]
    emails: list[str]
    tags: dict[str, str]


class DriftAlert(pulumi.ComponentResource):
    """Action group (the budget's contact emails) and a metric alert on ``MLOps/Drift`` of the endpoint."""

    alert_name: pulumi.Output[str]

    def __init__(self, name: str, args: DriftAlertArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:azure:DriftAlert", name, None, opts)
        group = monitor.ActionGroup(
            f"{name}-actions",
            action_group_name=f"{args.endpoint_name}-drift",
            resource_group_name=args.resource_group_name,
            location="global",
            group_short_name="mlopsdrift",
            enabled=True,
            email_receivers=[
                {"name": f"email-{index}", "email_address": email, "use_common_alert_schema": True}
                for index, email in enumerate(args.emails)
            ],
            tags=args.tags,
            opts=child_options(self),
        )
        alert = monitor.MetricAlert(
            f"{name}-alert",
            rule_name=f"{args.endpoint_name}-drift",
            resource_group_name=args.resource_group_name,
            location="global",
            description="ml monitor found drifted features on the endpoint; see the monitor run in MLflow",
            severity=2,
            enabled=True,
            scopes=[args.endpoint_id],
            evaluation_frequency="PT5M",
            window_size="PT1H",
            auto_mitigate=True,
            criteria={
                "odata_type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                "all_of": [
                    {
                        "criterion_type": "StaticThresholdCriterion",
                        "name": "drifted-features",
                        "metric_namespace": DRIFT_NAMESPACE,
                        "metric_name": DRIFT_METRIC,
                        "operator": "GreaterThan",
                        "threshold": 0.0,
                        "time_aggregation": "Maximum",
                        "skip_metric_validation": True,
                    }
                ],
            },
            actions=[{"action_group_id": group.id}],
            tags=args.tags,
            opts=child_options(self),
        )
        self.alert_name = alert.name
        self.register_outputs({"alert_name": self.alert_name})
