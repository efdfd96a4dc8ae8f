"""Data capture as every serving target configures it, and the drift metric the clouds' alerting watches.

Why in the contract: the stack's bootstrap deployment/endpoint config (`infra/`) and every colour
a rollout creates (`ml/deploy/targets/`) must capture the same way -- same collections, same
sampling, same destination -- and `ml monitor` must publish its drift metric under the namespace,
name and dimensions the stack's alert (Azure Monitor MetricAlert, CloudWatch MetricAlarm) watches.
One builder per cloud, imported by both layers, keeps them from drifting apart. Pure: no SDK, so
values may be strings or Pulumi Outputs.

Example::

    from ml.contract.monitoring import sagemaker_data_capture
    sagemaker_data_capture("s3://bucket/capture/", sampling_percent=20, kms_key_arn="arn:aws:kms:...")
"""

from __future__ import annotations

import re
from typing import Any

AZURE_COLLECTIONS = ("model_inputs", "model_outputs")
"""The Azure ML data collector's two standard collections (what `ml.monitor.formats` pairs by correlation id)."""

AZURE_CAPTURE_PREFIX = "modelDataCollector/"
"""Where Azure ML's collector writes in the workspace's default blob datastore (``workspaceblobstore``):
``modelDataCollector/<endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/``. Azure fixes this path
unless each collection names its own data asset, so on Azure the capture prefix is this one."""

DRIFT_NAMESPACE = "MLOps/Drift"
"""Custom metric namespace `ml monitor` publishes to (CloudWatch, Azure Monitor) and alerts watch."""
DRIFT_METRIC = "DriftedFeatures"
"""Number of columns (features + prediction) that drifted in the last window; > 0 means drift."""
DRIFT_DIMENSIONS = ("Endpoint", "Model")

CAPTURE_URI_ENV = "ML_CAPTURE_URI"
CAPTURE_SAMPLING_ENV = "ML_CAPTURE_SAMPLING_PERCENT"
CAPTURE_ENDPOINT_ENV = "ML_CAPTURE_ENDPOINT"
CAPTURE_DEPLOYMENT_ENV = "ML_CAPTURE_DEPLOYMENT"
CAPTURE_MODEL_NAME_ENV = "ML_CAPTURE_MODEL_NAME"
CAPTURE_MODEL_VERSION_ENV = "ML_CAPTURE_MODEL_VERSION"
"""Environment of a serving process that writes `CaptureRecord`s (local model server, Kubernetes pods)."""


def azure_data_collector(sampling_percent: float) -> dict[str, Any]:
    """The OnlineDeployment ``dataCollector`` (ARM wire names): inputs and outputs, sampled, hourly files."""
    rate = round(float(sampling_percent) / 100.0, 4)
    return {
        "collections": {name: {"dataCollectionMode": "Enabled", "samplingRate": rate} for name in AZURE_COLLECTIONS},
        "rollingRate": "Hour",
    }


def sagemaker_data_capture(destination: Any, *, sampling_percent: float, kms_key_arn: Any = None) -> dict[str, Any]:
    """``DataCaptureConfig`` of CreateEndpointConfig (boto3 names): Input and Output, sampled, KMS-encrypted."""
    config: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": max(1, min(100, round(float(sampling_percent)))),
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"], "CsvContentTypes": ["text/csv"]},
    }
    if kms_key_arn is not None:
        config["KmsKeyId"] = kms_key_arn
    return config


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def pulumi_args(value: Any) -> Any:
    """The same structure with snake_case keys: what pulumi-aws inputs take (``data_capture_config``)."""
    if isinstance(value, dict):
        return {_snake(key): pulumi_args(item) for key, item in value.items()}
    if isinstance(value, list):
        return [pulumi_args(item) for item in value]
    return value


def capture_env(
    capture_uri: str,
    *,
    sampling_percent: float,
    endpoint: str,
    deployment: str,
    model_name: str | None = None,
    model_version: str | None = None,
) -> dict[str, str]:
    """The environment that makes a platform serving process write sampled capture records.

    The model name and version go into every record so `ml monitor` counts only the rows of the
    version it checks (the other colour answers part of the traffic during a canary).
    """
    env = {
        CAPTURE_URI_ENV: capture_uri,
        CAPTURE_SAMPLING_ENV: f"{float(sampling_percent):g}",
        CAPTURE_ENDPOINT_ENV: endpoint,
        CAPTURE_DEPLOYMENT_ENV: deployment,
    }
    if model_name:
        env[CAPTURE_MODEL_NAME_ENV] = model_name
    if model_version:
        env[CAPTURE_MODEL_VERSION_ENV] = model_version
    return env


def join_uri(base: str, prefix: str) -> str:
    """``base`` + ``/`` + ``prefix`` with one slash between and one at the end."""
    return f"{base.rstrip('/')}/{prefix.strip('/')}/"
