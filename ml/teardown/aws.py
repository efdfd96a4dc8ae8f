"""SageMaker: the endpoint configs and models rollouts created, tuning jobs still running; after a destroy, leftovers.

- before `pulumi destroy` (from the stack's outputs): endpoint configs and models tagged
  ``ml.deploy.endpoint: <the stack's endpoint>`` (every one `ml deploy` creates carries it; the
  stack's own bootstrap config and model do not), and hyperparameter tuning jobs tagged
  ``ml.stack: <stack>`` that are ``InProgress`` (stopped; their trials stay in MLflow);
- after it (`--check`, from the stack file): the endpoint, endpoint configs and models whose name
  contains the endpoint's, CloudWatch alarms named after it, and its log groups
  (``/aws/sagemaker/Endpoints/<endpoint>``: SageMaker creates them, Pulumi never knew them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ml import aws
from ml.contract import PlatformOutputs
from ml.deploy.targets._sagemaker_configs import TAG_ENDPOINT
from ml.plan.needs import AwsNeeds
from ml.teardown.leftovers import Leftover

TAG_STACK = "ml.stack"


def _call(what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return method(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise aws.user_error(what, exc) from None


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])
    except (BotoCoreError, ClientError) as exc:
        raise aws.user_error(f"{operation.replace('_', ' ')}", exc) from None


def _tags(client: Any, arn: str) -> dict[str, str]:
    listed = _call(f"read the tags of {arn}", client.list_tags, ResourceArn=arn)
    return {t["Key"]: t["Value"] for t in listed.get("Tags", [])}


def created_by_ml(outputs: PlatformOutputs) -> list[Leftover]:
    """Running tuning jobs of this stack, then the rollouts' endpoint configs and models."""
    sagemaker = aws.client("sagemaker", outputs.region)
    items: list[Leftover] = []
    for job in _pages(
        sagemaker, "list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries", StatusEquals="InProgress"
    ):
        name = job["HyperParameterTuningJobName"]
        if _tags(sagemaker, job["HyperParameterTuningJobArn"]).get(TAG_STACK) == outputs.stack:
            items.append(
                Leftover(
                    "aws",
                    "tuning job",
                    name,
                    "InProgress: stopped",
                    partial(
                        _call,
                        f"stop tuning job '{name}'",
                        sagemaker.stop_hyper_parameter_tuning_job,
                        HyperParameterTuningJobName=name,
                    ),
                )
            )
    if outputs.endpoint is None:
        return items
    endpoint = outputs.endpoint.name
    for kind, (listing, key, field, delete) in {
        "endpoint config": ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "delete_endpoint_config"),
        "model": ("list_models", "Models", "ModelName", "delete_model"),
    }.items():
        for resource in _pages(sagemaker, listing, key):
            name = resource[field]
            arn = resource[field.removesuffix("Name") + "Arn"]
            if _tags(sagemaker, arn).get(TAG_ENDPOINT) == endpoint:
                action = partial(_call, f"delete {kind} '{name}'", getattr(sagemaker, delete), **{field: name})
                items.append(Leftover("aws", kind, name, f"a rollout of {endpoint}", action))
    return items


def left_after_destroy(needs: AwsNeeds) -> list[Leftover]:
    """What is still there after `pulumi destroy` (nothing is deleted here)."""
    endpoint, region = needs.endpoint_name, needs.region
    sagemaker = aws.client("sagemaker", region)
    items: list[Leftover] = []
    for found in _pages(sagemaker, "list_endpoints", "Endpoints", NameContains=endpoint):
        items.append(
            Leftover(
                "aws",
                "endpoint",
                found["EndpointName"],
                str(found.get("EndpointStatus")),
                fix=f"aws sagemaker delete-endpoint --endpoint-name {found['EndpointName']}",
            )
        )
    for config in _pages(sagemaker, "list_endpoint_configs", "EndpointConfigs", NameContains=endpoint):
        name = config["EndpointConfigName"]
        items.append(
            Leftover(
                "aws",
                "endpoint config",
                name,
                "",
                fix=f"aws sagemaker delete-endpoint-config --endpoint-config-name {name}",
            )
        )
    for model in _pages(sagemaker, "list_models", "Models", NameContains=endpoint):
        name = model["ModelName"]
        items.append(Leftover("aws", "model", name, "", fix=f"aws sagemaker delete-model --model-name {name}"))
    cloudwatch = aws.client("cloudwatch", region)
    for alarm in _pages(cloudwatch, "describe_alarms", "MetricAlarms", AlarmNamePrefix=endpoint):
        name = alarm["AlarmName"]
        items.append(
            Leftover(
                "aws",
                "CloudWatch alarm",
                name,
                str(alarm.get("StateValue")),
                fix=f"aws cloudwatch delete-alarms --alarm-names {name}",
            )
        )
    logs = aws.client("logs", region)
    for group in _pages(
        logs, "describe_log_groups", "logGroups", logGroupNamePrefix=f"/aws/sagemaker/Endpoints/{endpoint}"
    ):
        name = group["logGroupName"]
        items.append(
            Leftover(
                "aws",
                "log group",
                name,
                f"{group.get('storedBytes', 0)} bytes",
                fix=f"aws logs delete-log-group --log-group-name {name}",
            )
        )
    return items
