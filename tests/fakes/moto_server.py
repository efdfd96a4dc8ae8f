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
"""

from __future__ import annotations

import socket
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """moto on 127.0.0.1:<free port>, with the AWS environment pointing at it; stopped afterwards."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
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
        server.stop()


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
