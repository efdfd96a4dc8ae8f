"""Point MLflow at a stack's tracking server: the one place `ml` configures tracking.

Why one place: sweeps, registration and rollouts must all write to the same store the stack
exported (`tracking_uri`), and the environment tweaks (no telemetry) must not be repeated.
MLflow is imported lazily because it costs about a second and `ml plan` never needs it.

Why the bounded waits live here too: MLflow's HTTP client retries a failed request 7 times with
exponential backoff and a 120 s timeout (minutes per call), so a tracking server going away turned
`ml sweep run` and `ml deploy` into silent hangs. `bound_client_waits` sets MLflow's own knobs
once, before any client exists (environment variables, so trial processes inherit them too); a user
who sets one of them keeps their value. `wait_statement` is the sentence commands print about it.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError

if TYPE_CHECKING:
    from mlflow import MlflowClient

CLIENT_WAITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
"""MLflow's request retries for every `ml` command: a refused connection fails after ~7 s, a hung one after ~80 s."""

_QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}

_PLUGIN_HINTS = {
    "azureml": "Azure ML tracking needs the `azureml-mlflow` plugin: `uv pip install azureml-mlflow`.",
    "arn": "SageMaker managed MLflow needs the `sagemaker-mlflow` plugin: `uv pip install sagemaker-mlflow`.",
}


class _SageMakerHeaderNoise(logging.Filter):
    """Drop MLflow's per-request warning caused by the sagemaker-mlflow plugin on non-SageMaker servers.

    The plugin (installed with `sagemaker`) registers a request-header provider that raises
    IndexError for any tracking URI that is not a SageMaker ARN, and MLflow logs a warning on every
    HTTP request (dozens per command against the local platform's server).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "resolving request headers" not in record.getMessage()


_HEADER_NOISE = _SageMakerHeaderNoise()


def bound_client_waits() -> None:
    """Give MLflow's HTTP client `CLIENT_WAITS` (unless the user set them) and no telemetry or run links.

    Idempotent; called by the CLI's callback and by `use_tracking`, i.e. before any client is built.
    """
    for name, value in {**CLIENT_WAITS, **_QUIET_ENV}.items():
        os.environ.setdefault(name, value)


def request_budget() -> float:
    """Worst seconds one MLflow request takes to fail against a server that refuses connections."""
    retries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", CLIENT_WAITS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]))
    factor = float(os.environ.get("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"))
    jitter = float(os.environ.get("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5"))
    return sum(factor * 2 ** (attempt - 1) + jitter for attempt in range(2, retries + 1))


def wait_statement() -> str:
    """One line saying how long an `ml` command waits on one MLflow request."""
    env = {name: os.environ.get(name, value) for name, value in CLIENT_WAITS.items()}
    return (
        f"MLflow requests: {env['MLFLOW_HTTP_REQUEST_MAX_RETRIES']} retries, {env['MLFLOW_HTTP_REQUEST_TIMEOUT']} s "
        f"timeout, ~{request_budget():.0f} s if the server is down (MLFLOW_HTTP_REQUEST_*)"
    )


def tracking_reachable(uri: str, *, timeout: float = 3.0) -> bool:
    """Whether the tracking server answers now: one short probe, no retries.

    An HTTP server is asked for ``/health``; a local store (SQLite, a directory) is always there; a
    plugin URI (Azure ML, SageMaker) is asked for one experiment with the bounded client waits.
    """
    scheme = uri.split(":", 1)[0]
    if scheme in ("http", "https"):
        try:
            probe = f"{uri.rstrip('/')}/health"  # scheme checked above: http(s) only
            with urllib.request.urlopen(probe, timeout=timeout) as response:  # noqa: S310
                return int(response.status) < 500
        except (urllib.error.URLError, OSError, ValueError):
            return False
    if scheme in _PLUGIN_HINTS:
        from mlflow import MlflowClient

        try:
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception:
            return False
    return True


_UNREACHABLE = ("Max retries exceeded", "Failed to establish a new connection", "Connection refused", "timed out")


def outage_error(exc: BaseException) -> UserError | None:
    """The one clear error for an MLflow call that failed because the tracking server is unreachable, else None."""
    text = str(exc)
    if type(exc).__module__.split(".")[0] not in ("mlflow", "requests", "urllib3") or not any(
        marker in text for marker in _UNREACHABLE
    ):
        return None
    where = text.split(" failed with exception", 1)[0].removeprefix("API request to ")
    return UserError(
        f"the tracking server did not answer ({where}); nothing more was done. Start it (local: `ml platform up`) "
        f"or check the stack's tracking URI, then run this again ({wait_statement()})"
    )


def use_tracking(outputs: PlatformOutputs) -> MlflowClient:
    """Make the stack's tracking URI the active one and return a client bound to it."""
    bound_client_waits()
    import mlflow
    from mlflow import MlflowClient

    uri = outputs.tracking_uri
    scheme = uri.split(":", 1)[0]
    if scheme in _PLUGIN_HINTS:
        try:
            mlflow.tracking._tracking_service.utils._get_store(uri)  # fails fast when the URI scheme has no plugin
        except Exception as exc:
            raise UserError(
                f"tracking URI '{uri}' of stack '{outputs.stack}' cannot be used: {exc}. {_PLUGIN_HINTS[scheme]}"
            ) from None
    if scheme != "arn":
        logging.getLogger("mlflow.tracking.request_header.registry").addFilter(_HEADER_NOISE)  # idempotent
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def local_artifact_root(outputs: PlatformOutputs) -> str | None:
    """The stack's artifact store when it is a local ``file:`` path (the local platform), else None."""
    uri = outputs.artifacts.uri
    return uri if uri.startswith("file:") else None


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    """The id of experiment ``name``, created when missing.

    Why the location: an experiment created without one on a SQLite (local) store keeps its
    artifacts in ``./mlruns`` of whatever directory the user happened to run ``ml`` from; with the
    local stack's ``artifact_root`` they stay in the platform home beside every other artifact. A
    tracking server (``artifact_root`` None) decides the location itself.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = None
    if artifact_root:
        folder = "".join(char if char.isalnum() or char in "-_." else "-" for char in name)
        location = f"{artifact_root.rstrip('/')}/mlflow/{folder}"
    return str(client.create_experiment(name, artifact_location=location))
