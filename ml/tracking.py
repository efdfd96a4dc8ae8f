"""Point MLflow at a stack's tracking server: the one place `ml` configures tracking.

Why one place: sweeps, registration and rollouts must all write to the same store the stack
exported (`tracking_uri`), and the environment tweaks (no telemetry) must not be repeated.
MLflow is imported lazily because it costs about a second and `ml plan` never needs it.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError

if TYPE_CHECKING:
    from mlflow import MlflowClient

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


def use_tracking(outputs: PlatformOutputs) -> MlflowClient:
    """Make the stack's tracking URI the active one and return a client bound to it."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
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
