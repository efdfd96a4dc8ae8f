"""Azure Monitor for managed online endpoints: the metrics a rollout judges and the autoscale each colour gets.

Pure functions (no network, no SDK) so the exact queries and bodies are testable offline and
shared: the Azure rollout target sends them through ARM. The autoscale profile itself is built in
`ml/contract/azure.py`, which the stack's bootstrap deployment uses too.

Metrics (Azure's reference for ``Microsoft.MachineLearningServices/workspaces/onlineEndpoints``):

- ``RequestsPerMinute`` (Count, aggregation Average, PT1M; dimensions ``deployment``,
  ``statusCode``, ``statusCodeClass``, ``modelStatusCode``): requests are the sum of the
  per-minute values; errors are the ``5xx`` status code class plus ``424`` (the model container
  answered an error) and ``408`` (the model did not answer within ``request_timeout_ms``), the
  Azure equivalents of "a 5xx answer or a request that could not reach it";
- ``RequestLatency_P95`` and ``RequestLatency_P99`` (Milliseconds, Average, PT1M; dimension
  ``deployment``): the worst minute in the window is what the gates judge.

Autoscale (``Microsoft.Insights/autoscalesettings``, one per deployment, named
``{endpoint}-{deployment}-autoscale`` like the stack's bootstrap one): scale out by one above the
target, in by one below half of it, cooldowns and bounds from ``outputs.endpoint.autoscale``.
Deployment metric names are those of ``.../onlineEndpoints/deployments`` (memory is
``CpuMemoryUtilizationPercentage``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ml.contract import AutoscaleProfile
from ml.contract.azure import autoscale_profile

METRICS_API_VERSION = "2023-10-01"
AUTOSCALE_API_VERSION = "2022-10-01"
REQUESTS_METRIC = "RequestsPerMinute"
LATENCY_METRICS = ("RequestLatency_P95", "RequestLatency_P99")
ERROR_CLASSES = frozenset({"5xx"})
ERROR_CODES = frozenset({"408", "424"})


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metrics_queries(deployment: str, start: float, end: float) -> list[dict[str, str]]:
    """The two ``Metrics - List`` queries for one deployment between epoch times ``start`` and ``end``.

    Two because a ``$filter`` may only name dimensions every requested metric has: latency has
    ``deployment`` only.
    """
    end = max(end, start + 1)
    common = {"timespan": f"{_iso(start)}/{_iso(end)}", "interval": "PT1M", "aggregation": "Average"}
    name = deployment.replace("'", "''")
    return [
        {
            **common,
            "metricnames": REQUESTS_METRIC,
            "$filter": f"deployment eq '{name}' and statusCodeClass eq '*' and statusCode eq '*'",
        },
        {**common, "metricnames": ",".join(LATENCY_METRICS), "$filter": f"deployment eq '{name}'"},
    ]


def _dimensions(series: dict[str, Any]) -> dict[str, str]:
    return {
        str((item.get("name") or {}).get("value", "")).lower(): str(item.get("value", ""))
        for item in series.get("metadatavalues") or []
    }


def _points(series: dict[str, Any]) -> list[float]:
    return [float(point["average"]) for point in series.get("data") or [] if point.get("average") is not None]


def _metric(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    for metric in body.get("value") or []:
        if str((metric.get("name") or {}).get("value", "")).lower() == name.lower():
            return list(metric.get("timeseries") or [])
    return []


def parse_requests(body: dict[str, Any]) -> tuple[int, int]:
    """(requests, errors) from a ``RequestsPerMinute`` answer split by status code class and code."""
    requests = errors = 0.0
    for series in _metric(body, REQUESTS_METRIC):
        dims = _dimensions(series)
        total = sum(_points(series))
        requests += total
        if dims.get("statuscodeclass", "").lower() in ERROR_CLASSES or dims.get("statuscode") in ERROR_CODES:
            errors += total
    return round(requests), round(errors)


def parse_latency(body: dict[str, Any]) -> tuple[float | None, float | None]:
    """(p95, p99) in ms: the worst minute of each, None when Azure reports no data point."""

    def worst(name: str) -> float | None:
        values = [value for series in _metric(body, name) for value in _points(series)]
        return max(values) if values else None

    return worst(LATENCY_METRICS[0]), worst(LATENCY_METRICS[1])


def autoscale_setting_name(endpoint: str, deployment: str) -> str:
    """The autoscale setting of one deployment (the stack names its bootstrap one the same way)."""
    return f"{endpoint}-{deployment}-autoscale"


def autoscale_setting(
    profile: AutoscaleProfile, *, deployment_id: str, default_count: int, location: str, tags: dict[str, str]
) -> dict[str, Any]:
    """The ``PUT autoscalesettings/{name}`` body that keeps one deployment within the stack's bounds."""
    return {
        "location": location,
        "tags": dict(tags),
        "properties": {
            "enabled": True,
            "targetResourceUri": deployment_id,
            "profiles": [autoscale_profile(profile, deployment_id=deployment_id, default_count=default_count)],
        },
    }
