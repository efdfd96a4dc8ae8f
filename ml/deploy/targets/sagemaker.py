"""The SageMaker rollout target: a rollout is one ``UpdateEndpoint`` with SageMaker's blue/green guardrails.

Why native: a SageMaker real-time endpoint cannot hold two colours of one variant at chosen
weights, but it can replace a variant's fleet itself -- canary, linear or all at once, baking
between shifts and rolling back on its own when a CloudWatch alarm fires -- and it keeps serving
while it does. So `native_rollout` hands the whole rollout to SageMaker and only waits:

1. a new SageMaker **Model** (the stack's serving image, the registered version's artifacts, the
   stack's execution role and VPC) and a new **EndpointConfig** whose one variant keeps the stack's
   variant name (so the stack's autoscaling target and alarms, whose dimension it is, stay
   attached), with the requested instance type/count and the stack's KMS key;
2. when the instance type changes and the variant is an Application Auto Scaling target,
   SageMaker refuses the update: the target and its policies are saved, removed, and restored
   after the update whatever its outcome (a model-only change keeps them, as SageMaker allows);
3. ``UpdateEndpoint`` with the ``DeploymentConfig`` from `ml.deploy.targets.sagemaker_config`
   (strategy, bakes, timeouts, ``AutoRollbackConfiguration`` naming the stack's alarms);
4. ``DescribeEndpoint`` until it is ``InService`` on the new config (success) or back on the old
   one / ``Failed`` (rolled back, with SageMaker's reason and the alarms in ALARM).

Colours: the engine's ``blue``/``green`` name the *endpoint configs* this target creates
(``<endpoint>-<colour>-<stamp>``, tagged ``ml.deploy.endpoint``/``ml.deploy.colour``/``ml.model.uri``
plus the endpoint's own tags). The config Pulumi created first is untagged and counts as ``blue``;
it and its model belong to the stack and are never deleted here. The live colour is the one whose
config the endpoint runs (100 % of traffic); the other exists only while staged or updating.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ml import aws
from ml.contract import PlatformOutputs
from ml.contract.aws import accepts_volume_kms_key
from ml.contract.errors import UserError
from ml.deploy.spec import RolloutSpec
from ml.deploy.target import (
    DeploymentError,
    DeploymentInfo,
    DeploymentMetrics,
    DeploymentTarget,
    ModelRef,
    NativeRolloutRequest,
    NativeRolloutResult,
    Traffic,
)
from ml.deploy.targets import sagemaker_config as native

TAG_ENDPOINT = "ml.deploy.endpoint"
TAG_COLOUR = "ml.deploy.colour"
TAG_MODEL = "ml.model.uri"
TAG_PREVIOUS = "ml.deploy.previous-config"
NAME_LIMIT = 63
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
TRANSITIONS = ("Creating", "Updating", "SystemUpdating", "RollingBack")
BROKEN = ("Failed", "UpdateRollbackFailed", "OutOfService", "Deleting")

NEEDED_FOR = "the SageMaker rollout target (`ml deploy`)"


def _not_found(exc: Exception) -> bool:
    code, message, _ = aws.error_parts(exc)
    return code in ("ValidationException", "ValidationError", "ResourceNotFound") and (
        "could not find" in message.lower() or "not found" in message.lower() or "does not exist" in message.lower()
    )


@dataclass(frozen=True)
class _Config:
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


@dataclass
class _SavedScaling:
    """An Application Auto Scaling target and its policies, removed for an instance-type change."""

    target: dict[str, Any]
    policies: list[dict[str, Any]] = field(default_factory=list)


class SageMakerTarget(DeploymentTarget):
    """One SageMaker real-time endpoint of an AWS stack."""

    kind = "sagemaker"
    supports_mirror = False

    def __init__(
        self,
        outputs: PlatformOutputs,
        endpoint: str,
        *,
        poll_interval: float = 15.0,
        settle_timeout: float = 1800.0,
    ) -> None:
        super().__init__(outputs, endpoint)
        self.workspace = aws.workspace_of(outputs, needed_for=NEEDED_FOR)
        self.poll_interval = poll_interval
        self.settle_timeout = settle_timeout
        self.sagemaker = aws.client("sagemaker", outputs.region)
        self.cloudwatch = aws.client("cloudwatch", outputs.region)
        self.autoscaling = aws.client("application-autoscaling", outputs.region)
        self._describe()  # fails early, and clearly, on credentials and a missing endpoint

    # --- reading the endpoint ------------------------------------------------------------------------

    def _call(self, what: str, method: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise aws.user_error(what, exc) from None

    def _describe(self) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return dict(self.sagemaker.describe_endpoint(EndpointName=self.endpoint))
        except ClientError as exc:
            if _not_found(exc):
                raise UserError(
                    f"SageMaker endpoint '{self.endpoint}' does not exist in {self.outputs.region} (stack "
                    f"'{self.outputs.stack}'); set `endpoint.bootstrapModel` and `aws.servingImage` and run "
                    f"`pulumi up`, or fix `endpoint:` in the rollout spec"
                ) from None
            raise aws.user_error(f"read SageMaker endpoint '{self.endpoint}'", exc) from None
        except BotoCoreError as exc:
            raise aws.user_error(f"read SageMaker endpoint '{self.endpoint}'", exc) from None

    def _config(self, name: str) -> _Config | None:
        from botocore.exceptions import ClientError

        try:
            described = self.sagemaker.describe_endpoint_config(EndpointConfigName=name)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise aws.user_error(f"read endpoint config '{name}'", exc) from None
        tags = self._tags(described["EndpointConfigArn"])
        managed = tags.get(TAG_ENDPOINT) == self.endpoint
        return _Config(
            name=name,
            colour=tags.get(TAG_COLOUR, self.colours()[0]) if managed else self.colours()[0],
            model_uri=tags.get(TAG_MODEL) if managed else None,
            managed=managed,
            previous=tags.get(TAG_PREVIOUS) if managed else None,
            variants=list(described.get("ProductionVariants") or []),
        )

    def _tags(self, arn: str) -> dict[str, str]:
        listed = self._call(f"read the tags of {arn}", self.sagemaker.list_tags, ResourceArn=arn)
        return {tag["Key"]: tag["Value"] for tag in listed.get("Tags", [])}

    def _live(self) -> tuple[dict[str, Any], _Config]:
        described = self._describe()
        config = self._config(described["EndpointConfigName"])
        if config is None:
            raise UserError(
                f"SageMaker endpoint '{self.endpoint}' runs endpoint config '{described['EndpointConfigName']}', "
                f"which no longer exists; recreate it or run `pulumi up` to repair the endpoint"
            )
        return described, config

    def _managed_configs(self, colour: str) -> list[_Config]:
        """This target's configs of ``colour`` for this endpoint, newest first."""
        prefix = self._prefix(colour)
        listed = self._call(
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
            config = self._config(name)
            if config is not None and config.managed and config.colour == colour:
                configs.append(config)
        return configs

    def _pending_colours(self, described: dict[str, Any]) -> set[str]:
        """The colour an update in progress is moving to (empty when none is)."""
        pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        config = self._config(pending) if pending else None
        return {config.colour} if config is not None else set()

    def _prefix(self, colour: str) -> str:
        head = self.endpoint[: NAME_LIMIT - len(colour) - 2 - 17].rstrip("-")
        return f"{head}-{colour}-"

    # --- the interface -----------------------------------------------------------------------------------

    def get_traffic(self) -> Traffic:
        """The live config's colour carries all traffic (SageMaker shifts fleets of one variant)."""
        _, live = self._live()
        return Traffic(weights={live.colour: 100})

    def list_deployments(self) -> list[DeploymentInfo]:
        """The live colour, the colour being rolled out (during an update), and staged leftovers."""
        described, live = self._live()
        status = str(described.get("EndpointStatus"))
        infos = {live.colour: DeploymentInfo(live.colour, live.model_uri, "failed" if status in BROKEN else "healthy")}
        pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        if pending and pending != live.name:
            config = self._config(pending)
            if config is not None and config.colour != live.colour:
                infos[config.colour] = DeploymentInfo(config.colour, config.model_uri, "starting")
        for colour in self.colours():
            if colour in infos:
                continue
            staged = self._managed_configs(colour)
            if staged:
                infos[colour] = DeploymentInfo(colour, staged[0].model_uri, "unknown")
        return list(infos.values())

    def create_deployment(self, name: str, model: ModelRef, instance_type: str, count: int) -> None:
        """Create the Model and EndpointConfig of colour ``name``; nothing serves it until an update."""
        described, live = self._live()
        self._stage(name, model, instance_type, count, live, self._variant_name(live), described)

    def wait_healthy(self, name: str, timeout: float) -> None:
        """Wait until the endpoint can take an update (SageMaker health-checks a fleet during the update)."""
        described = self._settle(timeout)
        status = described.get("EndpointStatus")
        if status != "InService":
            raise DeploymentError(
                f"SageMaker endpoint '{self.endpoint}' is {status}: {described.get('FailureReason') or 'no reason'}"
            )
        _, live = self._live()
        if live.colour != name and not self._managed_configs(name):
            raise DeploymentError(f"no endpoint config for '{name}' on endpoint '{self.endpoint}'")

    def is_healthy(self, name: str) -> bool:
        described, live = self._live()
        status = str(described.get("EndpointStatus"))
        if status in BROKEN:
            return False
        return live.colour == name or bool(self._managed_configs(name))

    def set_traffic(self, weights: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        """Make one colour live (an update to its newest config); splits exist only inside a native rollout."""
        if any(v > 0 for v in (mirror or {}).values()):
            raise DeploymentError("the SageMaker target cannot mirror traffic")
        live_names = [name for name, weight in weights.items() if weight > 0]
        if not live_names:
            return
        if len(live_names) > 1:
            raise DeploymentError(
                f"SageMaker splits traffic only inside a native blue/green update; cannot set {weights} directly"
            )
        wanted = live_names[0]
        self._settle(self.settle_timeout)
        _, live = self._live()
        if live.colour == wanted:
            return
        candidates = [config.name for config in self._managed_configs(wanted)]
        if live.previous is not None and (previous := self._config(live.previous)) and previous.colour == wanted:
            candidates.insert(0, previous.name)
        if not candidates:
            raise DeploymentError(
                f"cannot move endpoint '{self.endpoint}' to '{wanted}': no endpoint config of that colour exists"
            )
        self._call(
            f"update endpoint '{self.endpoint}'",
            self.sagemaker.update_endpoint,
            EndpointName=self.endpoint,
            EndpointConfigName=candidates[0],
        )
        described = self._settle(self.settle_timeout)
        if described.get("EndpointConfigName") != candidates[0] or described.get("EndpointStatus") != "InService":
            raise DeploymentError(
                f"endpoint '{self.endpoint}' did not switch to '{candidates[0]}': {described.get('EndpointStatus')} "
                f"{described.get('FailureReason') or ''}".strip()
            )

    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        """The variant's Invocations, Invocation5XXErrors and ModelLatency p95/p99 since ``since``.

        SageMaker reports per variant and both fleets of an update share it, so only the live (or
        updating) colour has metrics; one period spans the whole window so percentiles are exact.
        """
        described, live = self._live()
        if name != live.colour and name not in self._pending_colours(described):
            return DeploymentMetrics(0, 0)
        variant = self._variant_name(live)
        # CloudWatch stamps datapoints by the minute: cover [since, now] with whole minutes, one period.
        start_minute = math.floor(since / 60) * 60
        end_minute = max(start_minute + 60, math.ceil(time.time() / 60) * 60)
        start = dt.datetime.fromtimestamp(start_minute, dt.UTC)
        end = dt.datetime.fromtimestamp(end_minute, dt.UTC)
        period = end_minute - start_minute
        dimensions = [{"Name": "EndpointName", "Value": self.endpoint}, {"Name": "VariantName", "Value": variant}]

        def stats(metric: str, **kwargs: Any) -> list[dict[str, Any]]:
            answer = self._call(
                f"read CloudWatch {metric} of '{self.endpoint}'",
                self.cloudwatch.get_metric_statistics,
                Namespace="AWS/SageMaker",
                MetricName=metric,
                Dimensions=dimensions,
                StartTime=start,
                EndTime=end,
                Period=period,
                **kwargs,
            )
            return list(answer.get("Datapoints", []))

        requests = sum(p.get("Sum", 0.0) for p in stats("Invocations", Statistics=["Sum"]))
        errors = sum(p.get("Sum", 0.0) for p in stats("Invocation5XXErrors", Statistics=["Sum"]))
        latency = stats("ModelLatency", ExtendedStatistics=["p95", "p99"])

        def worst(key: str) -> float | None:
            values = [p["ExtendedStatistics"][key] for p in latency if key in (p.get("ExtendedStatistics") or {})]
            return max(values) / 1000.0 if values else None  # microseconds -> ms

        return DeploymentMetrics(int(requests), int(errors), worst("p95"), worst("p99"))

    def delete_deployment(self, name: str) -> None:
        """Delete this target's configs (and their models) of colour ``name``; the stack's own are kept."""
        described, live = self._live()
        if live.colour == name and live.managed:
            raise DeploymentError(f"'{name}' serves endpoint '{self.endpoint}'; move traffic off it first")
        pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        for config in self._managed_configs(name):
            if config.name in (live.name, pending):
                continue
            self._delete("endpoint config", self.sagemaker.delete_endpoint_config, EndpointConfigName=config.name)
            for variant in config.variants:
                self._delete("model", self.sagemaker.delete_model, ModelName=variant["ModelName"])

    def _delete(self, what: str, method: Any, **kwargs: Any) -> None:
        from botocore.exceptions import ClientError

        try:
            method(**kwargs)
        except ClientError as exc:
            if not _not_found(exc):
                raise aws.user_error(f"delete {what} {next(iter(kwargs.values()))}", exc) from None

    # --- the native rollout ---------------------------------------------------------------------------------

    def preflight(self, spec: RolloutSpec, *, instance_type: str, instance_count: int) -> None:
        """Refuse gates no alarm enforces and strategies SageMaker's blue/green update cannot run."""
        self._refusals(spec, instance_count)

    def _refusals(self, spec: RolloutSpec, instance_count: int) -> tuple[list[native.Alarm], list[str]]:
        """The stack's alarms and the notes on how gates map to them; a `UserError` listing every refusal."""
        alarms = self._alarms()
        gate_notes, gate_problems = native.gate_notes(spec.gates, alarms)
        problems = native.strategy_problems(spec, instance_count) + gate_problems
        if problems:
            raise UserError(
                f"rollout spec {spec.source} cannot run natively on SageMaker endpoint '{self.endpoint}': "
                + "; ".join(problems)
            )
        return alarms, gate_notes

    def native_rollout(self, request: NativeRolloutRequest) -> NativeRolloutResult:
        """Stage the new config, update the endpoint with blue/green guardrails, and wait for the outcome."""
        spec = request.spec
        alarms, gate_notes = self._refusals(spec, request.instance_count)
        described, live = self._live()
        if described.get("EndpointStatus") != "InService":
            raise UserError(
                f"SageMaker endpoint '{self.endpoint}' is {described.get('EndpointStatus')}, not InService; wait "
                f"for the running update to finish (or repair a failed endpoint) and deploy again"
            )
        variant = self._variant_name(live)
        events: list[dict[str, Any]] = [{"message": note} for note in gate_notes]
        events += [{"message": note} for note in native.strategy_notes(spec, request.instance_count)]
        config = native.deployment_config(spec, [alarm.name for alarm in alarms])
        count = self._fleet_size(described, variant, live, request, events)
        new = self._stage(
            request.deployment,
            request.model,
            request.instance_type,
            count,
            live,
            variant,
            described,
        )
        routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
        events.append(
            {
                "message": f"created model and endpoint config '{new}' ({request.instance_type} "
                f"x{count}, variant '{variant}'); updating with {routing['Type']} "
                f"and auto-rollback on {', '.join(a.name for a in alarms)}",
                "deployment_config": config,
            }
        )
        saved = None
        if live.instance_type != request.instance_type:
            saved = self._suspend_scaling(variant, events)
        try:
            started = time.time()
            self._call(
                f"update endpoint '{self.endpoint}'",
                self.sagemaker.update_endpoint,
                EndpointName=self.endpoint,
                EndpointConfigName=new,
                DeploymentConfig=config,
            )
            timeout = config["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] + self.settle_timeout
            return self._await_update(new, live.name, started, timeout, events)
        finally:
            if saved is not None:
                self._restore_scaling(saved, events)

    def _fleet_size(
        self,
        described: dict[str, Any],
        variant: str,
        live: _Config,
        request: NativeRolloutRequest,
        events: list[dict[str, Any]],
    ) -> int:
        """The new fleet's instance count: never below what autoscaling runs the live variant at now.

        Why: the spec's (or stack's) count sizes a quiet endpoint; under load autoscaling may run more,
        and a blue/green switch to a smaller green fleet would push that load onto too few instances
        before autoscaling catches up. Counts of another instance type are not comparable, so a type
        change keeps the requested count.
        """
        if live.instance_type != request.instance_type:
            return request.instance_count
        running = max(
            (
                int(v.get("DesiredInstanceCount") or v.get("CurrentInstanceCount") or 0)
                for v in described.get("ProductionVariants", [])
                if v.get("VariantName") == variant
            ),
            default=0,
        )
        if running <= request.instance_count:
            return request.instance_count
        events.append(
            {
                "message": f"sized the new fleet at {running} instances, not {request.instance_count}: autoscaling "
                f"runs variant '{variant}' at {running} now"
            }
        )
        return running

    def _await_update(
        self, new: str, old: str, started: float, timeout: float, events: list[dict[str, Any]]
    ) -> NativeRolloutResult:
        deadline = time.monotonic() + timeout
        seen: tuple[str, str] | None = None
        moved = False
        while True:
            described = self._describe()
            status, current = str(described.get("EndpointStatus")), str(described.get("EndpointConfigName"))
            reason = described.get("FailureReason")
            if (status, current) != seen:
                seen = (status, current)
                events.append({"message": f"endpoint {status} on config '{current}'", "status": status})
            moved = moved or status != "InService"
            modified = described.get("LastModifiedTime")
            after_start = isinstance(modified, dt.datetime) and modified.timestamp() >= started - 1.0
            if status == "InService" and current == new:
                return NativeRolloutResult(True, f"SageMaker shifted all traffic to '{new}' and baked it", events)
            if status == "InService" and current == old and (moved or reason or after_start):
                return NativeRolloutResult(False, self._rollback_reason(reason), events)
            if status in BROKEN:
                return NativeRolloutResult(
                    False, f"endpoint is {status}: {reason or 'no reason given'}; check it in the console", events
                )
            if time.monotonic() > deadline:
                return NativeRolloutResult(
                    False, f"the update did not finish within {timeout:.0f}s (endpoint {status})", events
                )
            time.sleep(self.poll_interval)

    def _rollback_reason(self, reason: str | None) -> str:
        firing = self._call(
            "read the rollback alarms",
            self.cloudwatch.describe_alarms,
            AlarmNames=self._alarm_names(),
            StateValue="ALARM",
        ).get("MetricAlarms", [])
        parts = [f"alarm {a['AlarmName']} is ALARM ({a.get('StateReason') or 'no reason'})" for a in firing]
        if reason:
            parts.insert(0, str(reason))
        return "SageMaker rolled the endpoint back to its previous config: " + ("; ".join(parts) or "no reason given")

    # --- helpers -----------------------------------------------------------------------------------------

    def _alarm_names(self) -> list[str]:
        names = list(self.outputs.endpoint.rollback_alarm_names) if self.outputs.endpoint is not None else []
        if not names:
            raise UserError(
                f"stack '{self.outputs.stack}' exports no rollback alarms for endpoint '{self.endpoint}' "
                f"(endpoint.rollback_alarm_names); SageMaker can only roll back on CloudWatch alarms, so "
                f"configure mlops:aws.endpointAlarms and run `pulumi up`"
            )
        return names

    def _alarms(self) -> list[native.Alarm]:
        names = self._alarm_names()
        found = self._call("read the rollback alarms", self.cloudwatch.describe_alarms, AlarmNames=names)
        alarms = {a["AlarmName"]: native.Alarm.from_cloudwatch(a) for a in found.get("MetricAlarms", [])}
        missing = [name for name in names if name not in alarms]
        if missing:
            raise UserError(
                f"the stack's rollback alarms {', '.join(missing)} do not exist in CloudWatch ({self.outputs.region}); "
                f"run `pulumi up` so they are created, or refresh the stack outputs"
            )
        return [alarms[name] for name in names]

    def _variant_name(self, live: _Config) -> str:
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

    def _stage(
        self,
        colour: str,
        model: ModelRef,
        instance_type: str,
        count: int,
        live: _Config,
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
        name = f"{self._prefix(colour)}{time.strftime('%y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:4]}"
        endpoint_tags = self._tags(str(described["EndpointArn"]))
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
        self._call_deploy(f"create SageMaker model '{name}'", self.sagemaker.create_model, **model_request)
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
        self._call_deploy(f"create endpoint config '{name}'", self.sagemaker.create_endpoint_config, **config_request)
        return name

    def _call_deploy(self, what: str, method: Any, **kwargs: Any) -> Any:
        """Like `_call`, but a refusal is a `DeploymentError` (the engine rolls back and cleans up)."""
        try:
            return self._call(what, method, **kwargs)
        except DeploymentError:
            raise
        except UserError as exc:
            raise DeploymentError(str(exc)) from None

    def _settle(self, timeout: float) -> dict[str, Any]:
        """DescribeEndpoint until it is not in a transition (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while True:
            described = self._describe()
            if described.get("EndpointStatus") not in TRANSITIONS or time.monotonic() > deadline:
                return described
            time.sleep(self.poll_interval)

    def _suspend_scaling(self, variant: str, events: list[dict[str, Any]]) -> _SavedScaling | None:
        """SageMaker refuses an instance-type change on an autoscaled variant: save and remove its scaling."""
        resource = f"endpoint/{self.endpoint}/variant/{variant}"
        keys = {"ServiceNamespace": "sagemaker", "ResourceId": resource, "ScalableDimension": SCALABLE_DIMENSION}
        targets = self._call(
            f"read the autoscaling of {resource}",
            self.autoscaling.describe_scalable_targets,
            ServiceNamespace="sagemaker",
            ResourceIds=[resource],
            ScalableDimension=SCALABLE_DIMENSION,
        ).get("ScalableTargets", [])
        if not targets:
            return None
        policies = self._call(
            f"read the scaling policies of {resource}", self.autoscaling.describe_scaling_policies, **keys
        ).get("ScalingPolicies", [])
        saved = _SavedScaling(targets[0], policies)
        for policy in policies:
            self._call(
                f"delete scaling policy {policy['PolicyName']}",
                self.autoscaling.delete_scaling_policy,
                PolicyName=policy["PolicyName"],
                **keys,
            )
        self._call(f"deregister {resource} from autoscaling", self.autoscaling.deregister_scalable_target, **keys)
        events.append(
            {
                "message": f"the instance type changes: deregistered {resource} from autoscaling "
                f"({len(policies)} policies saved) for the update, as SageMaker requires"
            }
        )
        return saved

    def _restore_scaling(self, saved: _SavedScaling, events: list[dict[str, Any]]) -> None:
        target = saved.target
        keys = {
            "ServiceNamespace": target["ServiceNamespace"],
            "ResourceId": target["ResourceId"],
            "ScalableDimension": target["ScalableDimension"],
        }
        self._call(
            f"re-register {target['ResourceId']} for autoscaling",
            self.autoscaling.register_scalable_target,
            MinCapacity=target["MinCapacity"],
            MaxCapacity=target["MaxCapacity"],
            **keys,
        )
        for policy in saved.policies:
            settings = {
                key: policy[key]
                for key in ("TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration")
                if key in policy
            }
            self._call(
                f"restore scaling policy {policy['PolicyName']}",
                self.autoscaling.put_scaling_policy,
                PolicyName=policy["PolicyName"],
                PolicyType=policy["PolicyType"],
                **keys,
                **settings,
            )
        events.append(
            {
                "message": f"re-registered {target['ResourceId']} for autoscaling "
                f"({target['MinCapacity']}..{target['MaxCapacity']}) with {len(saved.policies)} policies"
            }
        )


def create_target(outputs: PlatformOutputs, endpoint: str) -> DeploymentTarget:
    """The rollout target for ``endpoint`` on an AWS stack (`ml.deploy.target.target_for` calls this)."""
    return SageMakerTarget(outputs, endpoint)
