"""The Azure rollout target: colours are deployments behind the stack's managed online endpoint.

Why it is built this way:

- the endpoint, its auth and the autoscale *profile* belong to the stack
  (`infra/azure/inference_endpoint.py`); this target only adds and retires deployments behind it
  and replaces the endpoint's ``traffic`` / ``mirror_traffic`` maps -- one endpoint PUT per
  change, which Azure applies as a whole (the SDK drops zero weights; an empty map clears it);
- the model comes from the workspace's registry: on an Azure stack the MLflow registry *is* the
  workspace's, so version V of model M is the asset ``azureml:M:V``; the deployment is tagged with
  ``models:/M/V`` so `list_deployments` reports what the engine resolved;
- health is the deployment's ``provisioning_state``; when it fails, the reason is the service's
  (the create operation's ARM error and the tail of the container log), never a guess;
- metrics come from Azure Monitor on the endpoint resource (`ml.deploy.targets.azure_monitor`),
  sent through ARM with the same credential, so tests answer them from the ARM fake. Azure
  Monitor has per-minute grain and a 1-3 minute ingestion delay: Azure rollouts need bake times
  of minutes (see docs/deploy.md). Reads are rate-limited by ``refresh_seconds``;
- autoscale: the stack creates an Azure Monitor autoscale setting only for its bootstrap ``blue``;
  this target PUTs ``{endpoint}-{colour}-autoscale`` from ``outputs.endpoint.autoscale`` for every
  colour it creates once it is healthy, and deletes it with the deployment.

Every user-fixable problem (no ``azure`` section, no credential, no endpoint) is a `UserError`;
service failures while creating or moving traffic are `DeploymentError`s, which the engine
answers with a rollback.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from ml.azure import (
    ArmClient,
    AzureConnection,
    azure_errors,
    default_connection,
    ml_client,
    service_message,
    workspace_of,
)
from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.contract.monitoring import azure_data_collector
from ml.deploy.spec import RolloutSpec
from ml.deploy.spec_decide import ABTest
from ml.deploy.target import DeploymentError, DeploymentInfo, DeploymentMetrics, DeploymentTarget, ModelRef, Traffic
from ml.deploy.targets import azure_monitor
from ml.deploy.targets._capture_assignments import CaptureAssignments

NEEDED_FOR = "the Azure rollout target (`ml deploy`)"
TAG_MODEL = "ml.deploy.model"
TAG_MANAGED_BY = "managed-by"
LOG_LINES = 20
_STATES = {
    "succeeded": "healthy",
    "creating": "starting",
    "updating": "starting",
    "scaling": "starting",
    "failed": "failed",
    "canceled": "failed",
    "deleting": "failed",
}
_ASSET_ID = re.compile(r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", re.IGNORECASE)
_ASSET_REF = re.compile(r"^azureml:(?P<name>[^:/]+):(?P<version>[^:/]+)$")


def model_asset(model: ModelRef) -> str:
    """The workspace model asset a deployment serves for a registry version."""
    return f"azureml:{model.name}:{model.version}"


def model_uri_of(asset: str | None) -> str | None:
    """``models:/M/V`` for an asset id (``.../models/M/versions/V``) or reference (``azureml:M:V``)."""
    if not asset:
        return None
    match = _ASSET_ID.search(asset) or _ASSET_REF.match(asset)
    return f"models:/{match.group('name')}/{match.group('version')}" if match else asset


def _state_name(deployment: Any) -> str:
    """The provisioning state as Azure spells it (the SDK returns an enum or a string)."""
    state = getattr(deployment, "provisioning_state", None)
    return str(getattr(state, "value", state) or "Unknown")


class AzureTarget(DeploymentTarget):
    """One managed online endpoint in the stack's Azure ML workspace.

    ``connection`` says how to reach Azure (default: `DefaultAzureCredential` on the public cloud);
    ``poll_seconds`` is how often `wait_healthy` reads the provisioning state; ``refresh_seconds``
    is the least time between two reads of health or of the same metrics window (Azure Monitor is
    per minute, and ARM throttles reads), 0 = always read.
    """

    kind = "azure"
    supports_mirror = True
    # The endpoint splits each request by weight and has no session affinity: a caller can only choose a
    # deployment itself (header ``azureml-model-deployment``), which is not an assignment. Cookie/header refused.
    assignments = frozenset({"random"})
    request_log = True  # the data collector's records name each request's deployment (needs mlops:monitoring)
    max_arms = 10  # an endpoint's traffic map names any of its deployments (Azure allows 20 per endpoint)

    def __init__(
        self,
        outputs: PlatformOutputs,
        endpoint: str,
        *,
        connection: AzureConnection | None = None,
        poll_seconds: float = 10.0,
        refresh_seconds: float = 15.0,
        capture_client: Any = None,
    ) -> None:
        super().__init__(outputs, endpoint)
        self.workspace = workspace_of(outputs, needed_for=NEEDED_FOR)
        self.connection = connection or default_connection()
        self.poll_seconds = poll_seconds
        self.refresh_seconds = refresh_seconds
        self.client = ml_client(self.workspace, self.connection)
        self.arm = ArmClient(self.connection)
        self._pollers: dict[str, Any] = {}
        self._capture_client = capture_client  # a blob ContainerClient (default: built with the Azure credential)
        self._assignments: CaptureAssignments | None = None
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}
        missing = (
            f"online endpoint '{endpoint}' does not exist in workspace '{self.workspace.workspace_name}' "
            f"(resource group '{self.workspace.resource_group}') of stack '{outputs.stack}'; create it with "
            f"`pulumi up` (mlops:endpoint in the stack config) or fix `endpoint:` in the rollout spec"
        )
        with azure_errors(f"read online endpoint '{endpoint}'", self.workspace, not_found=missing):
            found = self.client.online_endpoints.get(endpoint)
        self.endpoint_id: str = found.id
        self.location: str = found.location or outputs.region
        self.tags: dict[str, str] = dict(found.tags or {})

    # --- helpers ----------------------------------------------------------------------------------------

    def _errors(self, what: str, *, not_found: str | None = None) -> Any:
        """Service failures during a rollout step are `DeploymentError`s (the engine rolls back)."""
        return azure_errors(what, self.workspace, not_found=not_found, error=DeploymentError)

    def _cached(self, key: tuple[str, ...], read: Any) -> Any:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.refresh_seconds:
            return hit[1]
        value = read()
        self._cache[key] = (now, value)
        return value

    def _deployment(self, name: str) -> Any | None:
        """The deployment as the SDK reads it, None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        with azure_errors(f"read deployment '{name}' of endpoint '{self.endpoint}'", self.workspace):
            try:
                return self.client.online_deployments.get(name=name, endpoint_name=self.endpoint)
            except ResourceNotFoundError:
                return None

    # --- the interface --------------------------------------------------------------------------------

    def create_deployment(self, name: str, model: ModelRef, instance_type: str, count: int) -> None:
        from azure.ai.ml.entities import ManagedOnlineDeployment

        asset = model_asset(model)
        unregistered = (
            f"model '{model.name}' version {model.version} is not registered in workspace "
            f"'{self.workspace.workspace_name}'; on an Azure stack register models through the workspace's MLflow "
            f"(tracking URI {self.outputs.tracking_uri}), e.g. `ml sweep best --stack {self.outputs.stack}`"
        )
        with self._errors(f"find model {asset}", not_found=unregistered):
            self.client.models.get(name=model.name, version=model.version)
        deployment = ManagedOnlineDeployment(
            data_collector=self._data_collector(),
            name=name,
            endpoint_name=self.endpoint,
            model=asset,
            instance_type=instance_type,
            instance_count=count,
            tags={**self.tags, TAG_MODEL: model.uri, TAG_MANAGED_BY: "ml deploy"},
        )
        with self._errors(f"create deployment '{name}' ({asset}, {instance_type} x{count}) on '{self.endpoint}'"):
            self._pollers[name] = self.client.online_deployments.begin_create_or_update(deployment)
        self._cache.clear()

    def _data_collector(self) -> Any:
        """The stack's capture (`mlops:monitoring`): the collector the bootstrap deployment has, or None."""
        monitoring = self.outputs.monitoring
        if monitoring is None or not monitoring.enabled:
            return None
        from azure.ai.ml.entities import DataCollector, DeploymentCollection

        wire = azure_data_collector(monitoring.sampling_percent)
        return DataCollector(
            collections={name: DeploymentCollection(enabled="true") for name in wire["collections"]},
            rolling_rate=wire["rollingRate"],
            sampling_rate=next(iter(wire["collections"].values()))["samplingRate"],
        )

    def wait_healthy(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            deployment = self._deployment(name)
            if deployment is None:
                raise DeploymentError(f"deployment '{name}' was never created on endpoint '{self.endpoint}'")
            state = _state_name(deployment)
            if state == "Succeeded":
                self._apply_autoscale(name, deployment)
                return
            if state in ("Failed", "Canceled"):
                raise DeploymentError(
                    f"deployment '{name}' on endpoint '{self.endpoint}' ended in provisioning state {state}: "
                    f"{self._failure_reason(name)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeploymentError(
                    f"deployment '{name}' on endpoint '{self.endpoint}' is still '{state}' after {timeout:g}s "
                    f"(health_timeout); {self._log_tail(name) or 'no container log yet'}"
                )
            time.sleep(min(self.poll_seconds, remaining))

    def is_healthy(self, name: str) -> bool:
        def read() -> bool:
            try:
                deployment = self._deployment(name)
            except UserError:
                return False  # a failed read is a failed probe; the engine needs several in a row
            return deployment is not None and _state_name(deployment) == "Succeeded"

        healthy: bool = self._cached(("health", name), read)
        return healthy

    def get_traffic(self) -> Traffic:
        with azure_errors(f"read the traffic of endpoint '{self.endpoint}'", self.workspace):
            found = self.client.online_endpoints.get(self.endpoint)
        return Traffic(
            weights={str(k): int(v) for k, v in (found.traffic or {}).items() if int(v) > 0},
            mirror={str(k): int(v) for k, v in (found.mirror_traffic or {}).items() if int(v) > 0},
        )

    def set_traffic(self, weights: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        with self._errors(f"set the traffic of endpoint '{self.endpoint}' to {weights} (mirror {mirror or {}})"):
            found = self.client.online_endpoints.get(self.endpoint)
            found.traffic = {k: int(v) for k, v in weights.items()}
            found.mirror_traffic = {k: int(v) for k, v in (mirror or {}).items()}
            self.client.online_endpoints.begin_create_or_update(found).result()

    def preflight(self, spec: RolloutSpec, *, instance_type: str, instance_count: int) -> None:
        """Refuse a feedback A/B test when no data collector records which deployment served a request."""
        if isinstance(spec.strategy, ABTest) and spec.strategy.outcome == "feedback" and self._collector_off():
            raise UserError(
                f"strategy.outcome feedback on the azure target joins fed-back request ids to deployments through "
                f"the data collector's records, and stack '{self.outputs.stack}' collects nothing: enable "
                f"`mlops:monitoring` and run `pulumi up`; or use outcome errors"
            )

    def _collector_off(self) -> bool:
        monitoring = self.outputs.monitoring
        return monitoring is None or not monitoring.enabled

    def read_assignments(self, since: float) -> dict[str, str]:
        """Request id (the collector's ``correlationid``) -> deployment, from the data collector's blobs."""
        monitoring = self.outputs.monitoring
        if monitoring is None or not monitoring.enabled:
            raise UserError(
                f"stack '{self.outputs.stack}' has no data collector (mlops:monitoring) to attribute requests"
            )
        if self._assignments is None:
            self._assignments = CaptureAssignments(
                monitoring.capture_uri, endpoint=self.endpoint, region=self.outputs.region,
                client=self._capture_client,  # every deployment of the endpoint: A/B arms beyond the two colours too
            )  # fmt: skip
        return self._assignments.read(since)

    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        def read() -> DeploymentMetrics:
            path = f"{self.endpoint_id}/providers/Microsoft.Insights/metrics"
            requests_query, latency_query = azure_monitor.metrics_queries(name, since, time.time())
            with self._errors(f"read Azure Monitor metrics of deployment '{name}'"):
                counts = self.arm.request(
                    "GET", path, api_version=azure_monitor.METRICS_API_VERSION, params=requests_query
                )
                latency = self.arm.request(
                    "GET", path, api_version=azure_monitor.METRICS_API_VERSION, params=latency_query
                )
            requests, errors = azure_monitor.parse_requests(counts or {})
            p95, p99 = azure_monitor.parse_latency(latency or {})
            return DeploymentMetrics(requests=requests, errors=errors, p95_ms=p95, p99_ms=p99)

        metrics: DeploymentMetrics = self._cached(("metrics", name, repr(since)), read)
        return metrics

    def delete_deployment(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        traffic = self.get_traffic()
        if name in traffic.mirror:  # Azure refuses to delete a deployment that receives mirrored traffic
            self.set_traffic(traffic.weights, {k: v for k, v in traffic.mirror.items() if k != name})
        try:
            with self._errors(f"delete deployment '{name}' of endpoint '{self.endpoint}'"):
                with contextlib.suppress(ResourceNotFoundError):  # already gone: deleting is idempotent
                    self.client.online_deployments.begin_delete(name=name, endpoint_name=self.endpoint).result()
                self._delete_autoscale(name)
        finally:
            self._pollers.pop(name, None)
            self._cache.clear()

    def list_deployments(self) -> list[DeploymentInfo]:
        with azure_errors(f"list the deployments of endpoint '{self.endpoint}'", self.workspace):
            found = list(self.client.online_deployments.list(self.endpoint))
        infos = []
        for deployment in sorted(found, key=lambda d: str(d.name)):
            tags = dict(getattr(deployment, "tags", None) or {})
            model = tags.get(TAG_MODEL) or model_uri_of(getattr(deployment, "model", None))
            state = _STATES.get(_state_name(deployment).lower(), "unknown")
            infos.append(DeploymentInfo(name=str(deployment.name), model=model, state=state))
        return infos

    def close(self) -> None:
        self.arm.close()

    # --- autoscale and failure reasons ----------------------------------------------------------------------

    def _autoscale_path(self, name: str) -> str:
        setting = azure_monitor.autoscale_setting_name(self.endpoint, name)
        return (
            f"/subscriptions/{self.workspace.subscription_id}/resourceGroups/{self.workspace.resource_group}"
            f"/providers/Microsoft.Insights/autoscalesettings/{setting}"
        )

    def _apply_autoscale(self, name: str, deployment: Any) -> None:
        """Give a healthy colour the stack's autoscale profile (a no-op for a stack that exports none)."""
        if self.outputs.endpoint is None:
            return
        body = azure_monitor.autoscale_setting(
            self.outputs.endpoint.autoscale,
            deployment_id=str(deployment.id),
            default_count=int(getattr(deployment, "instance_count", None) or self.outputs.endpoint.instance_count),
            location=self.location,
            tags=self.tags,
        )
        with self._errors(f"apply the stack's autoscale profile to deployment '{name}'"):
            self.arm.request(
                "PUT", self._autoscale_path(name), api_version=azure_monitor.AUTOSCALE_API_VERSION, body=body
            )

    def _delete_autoscale(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self.arm.request("DELETE", self._autoscale_path(name), api_version=azure_monitor.AUTOSCALE_API_VERSION)

    def _failure_reason(self, name: str) -> str:
        """The create operation's error (when this process started it) and the container log's tail."""
        from azure.core.exceptions import HttpResponseError

        reasons = []
        poller = self._pollers.get(name)
        if poller is not None:
            try:  # the service may report the state a moment before the operation; wait() re-raises its error
                poller.wait(timeout=max(self.poll_seconds, 2.0))
            except HttpResponseError as exc:
                reasons.append(_operation_error(exc))
        logs = self._log_tail(name)
        if logs:
            reasons.append(logs)
        return "; ".join(reasons) or "Azure gave no reason; see the deployment's logs in Azure ML studio"

    def _log_tail(self, name: str) -> str:
        """The last lines of the deployment's container log, '' when Azure has none (best effort)."""
        from azure.core.exceptions import AzureError

        try:
            text = self.client.online_deployments.get_logs(name=name, endpoint_name=self.endpoint, lines=LOG_LINES)
        except AzureError:
            return ""
        lines = [line for line in str(text or "").splitlines() if line.strip()]
        return "container log: " + " | ".join(lines[-LOG_LINES:]) if lines else ""


def _operation_error(exc: Exception) -> str:
    """``Code: message`` of a failed long-running operation, from its ARM error body when present."""
    response = getattr(exc, "response", None)
    try:
        error = response.json().get("error") if response is not None else None
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and error.get("message"):
        return f"{error.get('code', 'Failed')}: {error['message']}"
    return service_message(exc)


def create_target(outputs: PlatformOutputs, endpoint: str) -> DeploymentTarget:
    """The module-level factory `ml.deploy.target.target_for` calls."""
    return AzureTarget(outputs, endpoint)
