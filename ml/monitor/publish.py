"""Publish a window's drift where the cloud's own alerting sees it: CloudWatch, Azure Monitor, Prometheus.

Why: the stack's alert (infra/aws/drift_alarm.py, infra/azure/drift_alert.py) watches
``MLOps/Drift`` / ``DriftedFeatures`` (ml.contract.monitoring); a scheduled `ml monitor --publish`
feeds it, so drift reaches the same people as 5xx and budget alerts. AWS: PutMetricData with the
Endpoint and Model dimensions; Azure: a custom metric on the endpoint resource (Azure Monitor's
regional ingestion API); local and Kubernetes: a Prometheus textfile (``<home>/metrics/drift.prom``)
that node-exporter's textfile collector, or the proxy's scrape, reads. Cloud SDKs load when used.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ml.contract import PlatformOutputs
from ml.contract.monitoring import DRIFT_METRIC, DRIFT_NAMESPACE
from ml.monitor.core import MonitorResult


def drifted(result: MonitorResult) -> int:
    return len(result.drift.drifted_columns)


def put_cloudwatch(result: MonitorResult, *, endpoint: str, region: str, client: Any = None) -> None:
    """One datapoint of ``DriftedFeatures`` for (endpoint, model/version)."""
    from ml import aws

    cloudwatch = client or aws.client("cloudwatch", region)
    model = f"{result.model.name}/{result.model.version}"
    try:
        cloudwatch.put_metric_data(
            Namespace=DRIFT_NAMESPACE,
            MetricData=[
                {
                    "MetricName": DRIFT_METRIC,
                    "Dimensions": [{"Name": "Endpoint", "Value": endpoint}, {"Name": "Model", "Value": model}],
                    "Timestamp": dt.datetime.fromtimestamp(result.until, dt.UTC),
                    "Value": float(drifted(result)),
                    "Unit": "Count",
                }
            ],
        )
    except Exception as exc:
        raise aws.user_error(f"publish {DRIFT_NAMESPACE}/{DRIFT_METRIC} to CloudWatch", exc) from None


def azure_metric_body(result: MonitorResult) -> dict[str, Any]:
    """Azure Monitor custom-metric document (POST https://<region>.monitoring.azure.com/<resource>/metrics)."""
    value = float(drifted(result))
    return {
        "time": dt.datetime.fromtimestamp(result.until, dt.UTC).isoformat(),
        "data": {
            "baseData": {
                "metric": DRIFT_METRIC,
                "namespace": DRIFT_NAMESPACE,
                "dimNames": ["Model"],
                "series": [
                    {
                        "dimValues": [f"{result.model.name}/{result.model.version}"],
                        "min": value,
                        "max": value,
                        "sum": value,
                        "count": 1,
                    }
                ],
            }
        },
    }


def write_prometheus(result: MonitorResult, path: Path, *, endpoint: str) -> Path:
    """A Prometheus textfile gauge, replaced atomically (the textfile collector never reads half a file)."""
    labels = f'endpoint="{endpoint}",model="{result.model.name}",version="{result.model.version}"'
    text = (
        "# HELP mlops_drifted_features Columns that drifted in the last ml monitor window.\n"
        "# TYPE mlops_drifted_features gauge\n"
        f"mlops_drifted_features{{{labels}}} {drifted(result)}\n"
        f"mlops_drift_window_rows{{{labels}}} {result.stats.rows}\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(text)
    partial.replace(path)
    return path


def publish(result: MonitorResult, outputs: PlatformOutputs, *, home: Path) -> str:
    """Send the metric to the stack's cloud; returns where it went."""
    endpoint = result.endpoint or "local"
    if outputs.cloud == "aws":
        put_cloudwatch(result, endpoint=endpoint, region=outputs.region)
        return f"CloudWatch {DRIFT_NAMESPACE}/{DRIFT_METRIC}"
    if outputs.cloud == "azure" and outputs.azure is not None:
        from ml.azure import default_connection

        workspace = outputs.azure
        resource = (
            f"/subscriptions/{workspace.subscription_id}/resourceGroups/{workspace.resource_group}/providers/"
            f"Microsoft.MachineLearningServices/workspaces/{workspace.workspace_name}/onlineEndpoints/{endpoint}"
        )
        import requests

        token = default_connection().credential.get_token("https://monitoring.azure.com/.default").token
        response = requests.post(
            f"https://{outputs.region}.monitoring.azure.com{resource}/metrics",
            json=azure_metric_body(result),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        response.raise_for_status()
        return f"Azure Monitor {DRIFT_NAMESPACE}/{DRIFT_METRIC}"
    return str(write_prometheus(result, home / "metrics" / "drift.prom", endpoint=endpoint))
