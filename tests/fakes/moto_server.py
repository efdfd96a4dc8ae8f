"""moto 5.2.5 as a real HTTP server on 127.0.0.1, and a test-side extension of its SageMaker API.

Why a server and not `mock_aws`: the code under test uses boto3 exactly as in production, with
only the endpoint changed through the environment (``AWS_ENDPOINT_URL``), so the requests are
real HTTP calls validated by botocore's service model, and nothing in boto3 is patched.

`moto_server` (fixture) starts `moto.server.ThreadedMotoServer` on a free port, resets moto's
in-process state, and sets for the test: ``AWS_ENDPOINT_URL`` (boto3 and sagemaker 3.27 both
honour it), ``AWS_DEFAULT_REGION``, fake credentials, ``SAGEMAKER_VALIDATE_ROLE=false``; it stops
the server at the end. `MotoServer.client(name)` returns a boto3 client bound to it.

moto 5.2.5 answers ``CreateHyperParameterTuningJob`` and ``DescribeHyperParameterTuningJob``
(status Completed at once, canned counters and best job) but answers HTTP 500 for
``ListTrainingJobsForHyperParameterTuningJob``. `tuning_trials` (fixture) registers that
operation on moto's SageMaker response class *for one test*: it answers the training-job
summaries the test adds with `TuningTrials.add` (and ``ResourceNotFound`` for an unknown tuning
job, paginated with ``MaxResults``/``NextToken`` like the service). A test that does not request
`tuning_trials` sees moto's 500, i.e. a service or emulator lacking the call.

moto 5.2.5 also answers HTTP 500 for ``UpdateEndpoint``. `endpoint_updates` (fixture) registers it
for one test, playing SageMaker's blue/green update as the rollout target relies on it: it
validates like the service (endpoint InService, config exists, blue/green keeps the variant names,
an instance-type change on a variant that is an Application Auto Scaling target is refused), records
each request (`EndpointUpdates.requests`), answers ``Updating`` with a ``PendingDeploymentSummary``
for `EndpointUpdates.polls` DescribeEndpoint calls, then switches the endpoint to the new config --
unless one of the ``AutoRollbackConfiguration`` alarms is in ALARM (set with ``SetAlarmState``) at a
poll, in which case it restores the old config with a ``FailureReason``, as an auto-rollback does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass(frozen=True)
class MotoServer:
    """A running moto server: its endpoint and a boto3 client factory."""

    endpoint: str
    region: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint)


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """moto on 127.0.0.1:<free port>, with the AWS environment pointing at it; stopped afterwards.

    The app and request handler are moto's own (what `moto.server.ThreadedMotoServer` serves); the
    loop is ours only to poll for shutdown every 50 ms: ThreadedMotoServer's default 0.5 s made
    stopping it half a second of every AWS test's teardown.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    try:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        monkeypatch.setenv("AWS_REGION", REGION)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
        yield MotoServer(endpoint=endpoint, region=REGION)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class TuningTrials:
    """The training jobs `ListTrainingJobsForHyperParameterTuningJob` reports, per tuning job."""

    def __init__(self) -> None:
        self._jobs: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def add(
        self,
        tuning_job: str,
        name: str,
        *,
        status: str,
        params: dict[str, str],
        metric: str | None = None,
        value: float | None = None,
        objective_type: str = "Maximize",
        seconds: float = 60.0,
    ) -> None:
        """Add a training job summary (status: InProgress, Completed, Failed, Stopping, Stopped)."""
        now = datetime.now(UTC)
        summary: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:training-job/{name}",
            "TuningJobName": tuning_job,
            "CreationTime": now,
            "TrainingStartTime": now,
            "TrainingJobStatus": status,
            "TunedHyperParameters": dict(params),
            "ObjectiveStatus": "Pending",
        }
        if status in ("Completed", "Failed", "Stopped"):
            summary["TrainingEndTime"] = datetime.fromtimestamp(now.timestamp() + seconds, UTC)
        if status == "Failed":
            summary["FailureReason"] = "AlgorithmError: the training script exited with status 1"
            summary["ObjectiveStatus"] = "Failed"
        if value is not None and metric is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective_type,
                "MetricName": metric,
                "Value": value,
            }
            summary["ObjectiveStatus"] = "Succeeded"
        with self._lock:
            self._jobs.setdefault(tuning_job, []).append(summary)

    def summaries(self, tuning_job: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._jobs.get(tuning_job, []))


@pytest.fixture
def tuning_trials(moto_server: MotoServer) -> Iterator[TuningTrials]:
    """Teach moto's SageMaker API ListTrainingJobsForHyperParameterTuningJob for this test only."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ResourceNotFound
    from moto.sagemaker.responses import SageMakerResponse

    store = TuningTrials()
    attribute = "list_training_jobs_for_hyper_parameter_tuning_job"
    assert not hasattr(SageMakerResponse, attribute), "moto implements this call now; drop the test-side extension"

    def list_training_jobs_for_hyper_parameter_tuning_job(self: Any) -> Any:
        name = self._get_param("HyperParameterTuningJobName")
        if name not in self.sagemaker_backend.hyper_parameter_tuning_jobs:
            raise ResourceNotFound(message=f"Amazon SageMaker can't find a tuning job with name {name}")
        store.calls += 1
        summaries = store.summaries(name)
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 50)
        page = summaries[start : start + size]
        result: dict[str, Any] = {"TrainingJobSummaries": page}
        if start + size < len(summaries):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    setattr(SageMakerResponse, attribute, list_training_jobs_for_hyper_parameter_tuning_job)
    try:
        yield store
    finally:
        delattr(SageMakerResponse, attribute)


class EndpointUpdates:
    """What the test-side ``UpdateEndpoint`` received, and how long an update stays ``Updating``."""

    def __init__(self, polls: int = 2) -> None:
        self.polls = polls
        self.requests: list[dict[str, Any]] = []
        self.outcomes: list[str] = []
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def last(self) -> dict[str, Any]:
        with self._lock:
            assert self.requests, "no UpdateEndpoint request was made"
            return self.requests[-1]


@pytest.fixture
def endpoint_updates(moto_server: MotoServer) -> Iterator[EndpointUpdates]:
    """Teach moto's SageMaker API UpdateEndpoint (blue/green with alarm auto-rollback) for this test only."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    store = EndpointUpdates()
    assert not hasattr(SageMakerResponse, "update_endpoint"), "moto implements UpdateEndpoint now; drop this"
    original_describe = SageMakerResponse.describe_endpoint

    def update_endpoint(self: Any) -> Any:
        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        config_name = self._get_param("EndpointConfigName")
        deployment = self._get_param("DeploymentConfig") or {}
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(message=f"Could not find endpoint '{name}'.")
        if endpoint.endpoint_status != "InService":
            raise ValidationError(message=f"Cannot update in-progress endpoint '{name}'.")
        new = backend.endpoint_configs.get(config_name)
        if new is None:
            raise ValidationError(message=f"Could not find endpoint configuration '{config_name}'.")
        old = backend.endpoint_configs[endpoint.endpoint_config_name]
        old_variants = {v["VariantName"]: v for v in old.production_variants}
        new_variants = {v["VariantName"]: v for v in new.production_variants}
        if set(old_variants) != set(new_variants):
            raise ValidationError(
                message=f"a blue/green update must keep the variant names {sorted(old_variants)}, "
                f"got {sorted(new_variants)}"
            )
        scaling = applicationautoscaling_backends[self.current_account][self.region]
        registered = scaling.targets.get("sagemaker:variant:DesiredInstanceCount", {})
        for variant, settings in new_variants.items():
            changed = settings.get("InstanceType") != old_variants[variant].get("InstanceType")
            if changed and f"endpoint/{name}/variant/{variant}" in registered:
                raise ValidationError(
                    message=f"The variant {variant} is registered for autoscaling: deregister it before changing "
                    f"its instance type"
                )
        alarms = [a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        with store._lock:
            store.requests.append(
                {
                    "EndpointName": name,
                    "EndpointConfigName": config_name,
                    "DeploymentConfig": deployment,
                    "RetainAllVariantProperties": self._get_param("RetainAllVariantProperties"),
                }
            )
            store._pending[name] = {
                "new": config_name,
                "old": endpoint.endpoint_config_name,
                "alarms": alarms,
                "polls": store.polls,
            }
        endpoint.endpoint_status = "Updating"
        endpoint.pending_deployment_summary = {"EndpointConfigName": config_name}
        endpoint.failure_reason = None
        endpoint.last_modified_time = datetime.now(UTC)
        return ActionResult({"EndpointArn": endpoint.arn})

    def describe_endpoint(self: Any) -> Any:
        name = self._get_param("EndpointName")
        endpoint = self.sagemaker_backend.endpoints.get(name)
        with store._lock:
            pending = store._pending.get(name)
            if endpoint is not None and pending is not None:
                watch = cloudwatch_backends[self.current_account][self.region].alarms
                firing = [a for a in pending["alarms"] if a in watch and watch[a].state_value == "ALARM"]
                pending["polls"] -= 1
                if firing or pending["polls"] < 0:
                    del store._pending[name]
                    endpoint.endpoint_status = "InService"
                    endpoint.pending_deployment_summary = None
                    endpoint.last_modified_time = datetime.now(UTC)
                    if firing:
                        endpoint.failure_reason = f"Auto-rollback: alarm(s) {', '.join(firing)} in ALARM state"
                        store.outcomes.append("rolled_back")
                    else:
                        config = self.sagemaker_backend.endpoint_configs[pending["new"]]
                        endpoint.endpoint_config_name = pending["new"]
                        endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
                        store.outcomes.append("succeeded")
        return original_describe(self)

    SageMakerResponse.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerResponse.describe_endpoint = describe_endpoint  # type: ignore[method-assign]
    try:
        yield store
    finally:
        SageMakerResponse.describe_endpoint = original_describe  # type: ignore[method-assign]
        del SageMakerResponse.update_endpoint  # type: ignore[attr-defined]
