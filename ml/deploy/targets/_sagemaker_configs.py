"""The endpoint configs and models the SageMaker target names, tags, reads, creates and deletes.

Why apart from the target: what a colour *is* on SageMaker -- an endpoint config named
``<endpoint>-<colour>-<stamp>`` and tagged with the endpoint, colour, model URI and the config it
replaces, plus the Model it serves -- is bookkeeping that every call of the interface reads, while
`ml.deploy.targets.sagemaker` decides what to do with it (switch, update natively, wait, roll back).
The config Pulumi created first is untagged: it counts as the first colour and is never deleted here.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from ml import aws
from ml.contract import AwsWorkspaceRef, PlatformOutputs
from ml.contract.aws import accepts_volume_kms_key
from ml.contract.errors import UserError
from ml.contract.monitoring import sagemaker_data_capture
from ml.deploy.target import DeploymentError, ModelRef

TAG_ENDPOINT = "ml.deploy.endpoint"
TAG_COLOUR = "ml.deploy.colour"
TAG_MODEL = "ml.model.uri"
TAG_PREVIOUS = "ml.deploy.previous-config"
NAME_LIMIT = 63


def not_found(exc: Exception) -> bool:
    """Whether a SageMaker error says the named resource does not exist (its codes vary by call)."""
    code, message, _ = aws.error_parts(exc)
    return code in ("ValidationException", "ValidationError", "ResourceNotFound") and (
        "could not find" in message.lower() or "not found" in message.lower() or "does not exist" in message.lower()
    )


def call(what: str, method: Any, **kwargs: Any) -> Any:
    """Call an AWS API; its failure becomes a `UserError` that says what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return method(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise aws.user_error(what, exc) from None


def call_deploy(what: str, method: Any, **kwargs: Any) -> Any:
    """Like `call`, but a refusal is a `DeploymentError` (the engine rolls back and cleans up)."""
    try:
        return call(what, method, **kwargs)
    except DeploymentError:
        raise
    except UserError as exc:
        raise DeploymentError(str(exc)) from None


@dataclass(frozen=True)
class EndpointConfig:
    """One endpoint config as this target reads it."""

    name: str
    colour: str
    model_uri: str | None
    managed: bool
    previous: str | None
    variants: list[dict[str, Any]]

    @property
    def instance_type(self) -> str | None:
        return self.variants[0].get("InstanceType") if self.variants else None


class EndpointConfigs:
    """The configs and models of one endpoint, by colour."""

    def __init__(
        self,
        outputs: PlatformOutputs,
        endpoint: str,
        *,
        workspace: AwsWorkspaceRef,
        sagemaker: Any,
        colours: tuple[str, str],
    ) -> None:
        self.outputs = outputs
        self.endpoint = endpoint
        self.workspace = workspace
        self.sagemaker = sagemaker
        self.colours = colours

    def describe(self) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return dict(self.sagemaker.describe_endpoint(EndpointName=self.endpoint))
        except ClientError as exc:
            if not_found(exc):
                raise UserError(
                    f"SageMaker endpoint '{self.endpoint}' does not exist in {self.outputs.region} (stack "
                    f"'{self.outputs.stack}'); set `endpoint.bootstrapModel` and `aws.servingImage` and run "
                    f"`pulumi up`, or fix `endpoint:` in the rollout spec"
                ) from None
            raise aws.user_error(f"read SageMaker endpoint '{self.endpoint}'", exc) from None
        except BotoCoreError as exc:
            raise aws.user_error(f"read SageMaker endpoint '{self.endpoint}'", exc) from None

    def live(self) -> tuple[dict[str, Any], EndpointConfig]:
        described = self.describe()
        config = self.config(described["EndpointConfigName"])
        if config is None:
            raise UserError(
                f"SageMaker endpoint '{self.endpoint}' runs endpoint config '{described['EndpointConfigName']}', "
                f"which no longer exists; recreate it or run `pulumi up` to repair the endpoint"
            )
        return described, config

    def config(self, name: str) -> EndpointConfig | None:
        from botocore.exceptions import ClientError

        try:
            described = self.sagemaker.describe_endpoint_config(EndpointConfigName=name)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise aws.user_error(f"read endpoint config '{name}'", exc) from None
        tags = self.tags(described["EndpointConfigArn"])
        managed = tags.get(TAG_ENDPOINT) == self.endpoint
        return EndpointConfig(
            name=name,
            colour=tags.get(TAG_COLOUR, self.colours[0]) if managed else self.colours[0],
            model_uri=tags.get(TAG_MODEL) if managed else None,
            managed=managed,
            previous=tags.get(TAG_PREVIOUS) if managed else None,
            variants=list(described.get("ProductionVariants") or []),
        )

    def tags(self, arn: str) -> dict[str, str]:
        listed = call(f"read the tags of {arn}", self.sagemaker.list_tags, ResourceArn=arn)
        return {tag["Key"]: tag["Value"] for tag in listed.get("Tags", [])}

    def managed(self, colour: str) -> list[EndpointConfig]:
        """This target's configs of ``colour`` for this endpoint, newest first."""
        prefix = self.prefix(colour)
        listed = call(
            f"list endpoint configs of '{self.endpoint}'",
            self.sagemaker.list_endpoint_configs,
            NameContains=prefix,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=100,
        )
        configs = []
        for summary in listed.get("EndpointConfigs", []):
            name = summary["EndpointConfigName"]
            if not name.startswith(prefix):
                continue
            config = self.config(name)
            if config is not None and config.managed and config.colour == colour:
                configs.append(config)
        return configs

    def pending_colours(self, described: dict[str, Any]) -> set[str]:
        """The colour an update in progress is moving to (empty when none is)."""
        pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        config = self.config(pending) if pending else None
        return {config.colour} if config is not None else set()

    def prefix(self, colour: str) -> str:
        head = self.endpoint[: NAME_LIMIT - len(colour) - 2 - 17].rstrip("-")
        return f"{head}-{colour}-"

    def variant_name(self, live: EndpointConfig) -> str:
        exported = self.outputs.endpoint.variant_name if self.outputs.endpoint is not None else None
        names = [v["VariantName"] for v in live.variants]
        if len(names) != 1:
            raise UserError(
                f"endpoint '{self.endpoint}' runs {len(names)} production variants ({', '.join(names)}); the "
                f"SageMaker target rolls out one variant -- the stack's -- so restore a single-variant config"
            )
        if exported is not None and names[0] != exported:
            raise UserError(
                f"endpoint '{self.endpoint}' serves variant '{names[0]}' but the stack's alarms and autoscaling "
                f"watch '{exported}'; run `pulumi up` to repair the endpoint before deploying"
            )
        return str(names[0])

    def stage(
        self,
        colour: str,
        model: ModelRef,
        instance_type: str,
        count: int,
        live: EndpointConfig,
        variant: str,
        described: dict[str, Any],
    ) -> str:
        image = self.workspace.serving_image
        if not image:
            raise UserError(
                f"stack '{self.outputs.stack}' exports no aws.serving_image; set mlops:aws.servingImage (the ECR "
                f"image that serves MLflow models) and run `pulumi up`"
            )
        source = model.source or ""
        if not source.startswith("s3://"):
            raise UserError(
                f"{model.uri} stores its artifacts at '{source or 'an unknown location'}'; SageMaker loads models "
                f"from S3, so register the version from a run on the stack's tracking server (artifacts in "
                f"{self.outputs.artifacts.uri})"
            )
        name = f"{self.prefix(colour)}{time.strftime('%y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:4]}"
        endpoint_tags = self.tags(str(described["EndpointArn"]))
        tags = {key: value for key, value in endpoint_tags.items() if not key.startswith("aws:")}
        tags.update({TAG_ENDPOINT: self.endpoint, TAG_COLOUR: colour, TAG_MODEL: model.uri, TAG_PREVIOUS: live.name})
        tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
        container: dict[str, Any] = {"Image": image}
        if source.endswith(".tar.gz"):
            container["ModelDataUrl"] = source
        else:  # an MLflow model directory: SageMaker copies the prefix uncompressed to /opt/ml/model
            container["ModelDataSource"] = {
                "S3DataSource": {"S3Uri": source.rstrip("/") + "/", "S3DataType": "S3Prefix", "CompressionType": "None"}
            }
        model_request: dict[str, Any] = {
            "ModelName": name,
            "ExecutionRoleArn": self.workspace.execution_role_arn,
            "PrimaryContainer": container,
            "Tags": tag_list,
        }
        training = self.outputs.training
        if training.subnet_ids:
            model_request["VpcConfig"] = {
                "Subnets": list(training.subnet_ids),
                "SecurityGroupIds": list(training.security_group_ids),
            }
        call_deploy(f"create SageMaker model '{name}'", self.sagemaker.create_model, **model_request)
        config_request: dict[str, Any] = {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": variant,
                    "ModelName": name,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": count,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "Tags": tag_list,
        }
        if self.workspace.kms_key_arn and accepts_volume_kms_key(instance_type):
            config_request["KmsKeyId"] = self.workspace.kms_key_arn
        monitoring = self.outputs.monitoring
        if monitoring is not None and monitoring.enabled:
            # The capture the stack's own config has (ml.contract.monitoring), so a rollout never stops it.
            config_request["DataCaptureConfig"] = sagemaker_data_capture(
                monitoring.capture_uri,
                sampling_percent=monitoring.sampling_percent,
                kms_key_arn=self.workspace.kms_key_arn,
            )
        call_deploy(f"create endpoint config '{name}'", self.sagemaker.create_endpoint_config, **config_request)
        return name

    def delete_colour(self, colour: str, *, keep: tuple[str | None, ...]) -> None:
        """Delete this target's configs of ``colour`` and their models, except the configs named in ``keep``."""
        for config in self.managed(colour):
            if config.name in keep:
                continue
            self.delete("endpoint config", self.sagemaker.delete_endpoint_config, EndpointConfigName=config.name)
            for variant in config.variants:
                self.delete("model", self.sagemaker.delete_model, ModelName=variant["ModelName"])

    def delete(self, what: str, method: Any, **kwargs: Any) -> None:
        """Call a SageMaker delete; a resource already gone is what was wanted."""
        from botocore.exceptions import ClientError

        try:
            method(**kwargs)
        except ClientError as exc:
            if not not_found(exc):
                raise aws.user_error(f"delete {what} {next(iter(kwargs.values()))}", exc) from None
