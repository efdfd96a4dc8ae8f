"""Gate metrics from Prometheus-style counters: per-colour request counts and a latency histogram.

One reader for two targets: Kubernetes asks Prometheus for the gateway's counters over the window
(`PrometheusMetrics`); the local target gets the same shapes -- requests by status class and
cumulative latency buckets in ms -- from the local proxy's own metrics (`ml.platform.proxy`). Both
turn them into gate metrics with `metrics_from_counts`, so errors and p95/p99 mean the same thing
on every target (PromQL's ``histogram_quantile`` interpolation).

Kubernetes: per-colour request counts and latency from the gateway, via Prometheus.

Why the gateway and why Prometheus: Kubernetes itself reports readiness and restarts, not error
rates or latency, and MLflow's scoring server exports no metrics. The gateway in front of both
colours sees every request, and its proxy's metrics are scraped by Prometheus in most clusters.

Two instant queries per judgement, both over the window ``[since, now]``:

- ``status``: requests by response status class (``1``..``5``); errors are the ``error_classes``
  (5xx, which for Envoy includes the 503 it answers when a colour cannot be reached);
- ``latency``: the request-time histogram's bucket counts by ``le`` (milliseconds); p95/p99 are
  interpolated from them here exactly as PromQL's ``histogram_quantile`` does.

The queries are `string.Template` strings (``$name``, so PromQL's braces need no escaping) with
``$cluster``, ``$namespace``, ``$route``, ``$service``, ``$colour``, ``$index`` (the colour's
position in the route's backendRefs) and ``$window`` (seconds). The defaults read Envoy Gateway's
Envoy stats (``envoy_cluster_upstream_rq_xx``, ``envoy_cluster_upstream_rq_time_bucket``) of the
per-backend cluster ``httproute/<ns>/<route>/rule/0/backend/<index>``. Envoy Gateway creates one
cluster per backendRef when the backendRefs carry filters and otherwise one per rule, in which case
the colours cannot be told apart; other gateways name things differently. Override any template
with the environment variables in `ENV_OVERRIDES`; for Istio, for example::

    ML_K8S_PROMQL_CLASS_LABEL=response_code_class
    ML_K8S_PROMQL_STATUS='sum by (response_code_class)
        (increase(istio_requests_total{destination_service_name="$service"}[${window}s]))'

"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

import httpx

from ml.contract.errors import UserError
from ml.deploy.decide import ColourWindow, LatencyDistribution
from ml.deploy.target import DeploymentMetrics

ENV_OVERRIDES = {
    "status": "ML_K8S_PROMQL_STATUS",
    "latency": "ML_K8S_PROMQL_LATENCY",
    "cluster": "ML_K8S_PROMQL_CLUSTER",
    "class_label": "ML_K8S_PROMQL_CLASS_LABEL",
}


@dataclass(frozen=True, kw_only=True)
class PromQueries:
    """The PromQL templates the gates read; defaults fit Envoy Gateway's per-backend Envoy clusters."""

    status: str = (
        'sum by (envoy_response_code_class) (increase(envoy_cluster_upstream_rq_xx{envoy_cluster_name="$cluster"}'
        "[${window}s]))"
    )
    latency: str = (
        'sum by (le) (increase(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="$cluster"}[${window}s]))'
    )
    cluster: str = "httproute/$namespace/$route/rule/0/backend/$index"
    class_label: str = "envoy_response_code_class"
    error_classes: tuple[str, ...] = ("5",)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PromQueries:
        """Defaults, with any template replaced by its `ENV_OVERRIDES` variable."""
        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {name: env[var] for name, var in ENV_OVERRIDES.items() if env.get(var)}
        return cls(**changes)

    def render(self, which: str, values: Mapping[str, Any]) -> str:
        """One query with its placeholders filled; an unknown ``$name`` is a `UserError` naming the variable."""
        strings = {k: str(v) for k, v in values.items()}
        try:
            cluster = Template(self.cluster).substitute(strings)
            return str(Template(getattr(self, which)).substitute({**strings, "cluster": cluster}))
        except (KeyError, ValueError) as exc:
            names = ", ".join(f"${f}" for f in ("cluster", *values))
            raise UserError(
                f"PromQL template '{which}' ({ENV_OVERRIDES.get(which, which)}) has a bad placeholder {exc}; "
                f"allowed: {names}"
            ) from None


def histogram_quantile(quantile: float, buckets: Mapping[float, float]) -> float | None:
    """PromQL's ``histogram_quantile`` over cumulative bucket counts keyed by upper bound (``inf`` last).

    >>> histogram_quantile(0.5, {10.0: 50, 20.0: 100, math.inf: 100})
    10.0
    >>> histogram_quantile(0.95, {10.0: 50, 20.0: 100, math.inf: 100})
    19.0
    """
    bounds = sorted(buckets)
    if not bounds or math.isfinite(bounds[-1]):
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = quantile * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if not math.isfinite(bound):
                return lower  # above the highest finite bucket: its bound is the best estimate
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def metrics_from_counts(
    by_class: Mapping[str, float], buckets: Mapping[float, float], *, error_classes: tuple[str, ...] = ("5",)
) -> DeploymentMetrics:
    """Gate metrics from a window's requests by status class (``"2"`` or ``"2xx"``) and cumulative ms buckets.

    >>> metrics_from_counts({"2xx": 95, "5": 5}, {10.0: 50, 20.0: 100, math.inf: 100}).errors
    5
    """
    requests = round(sum(by_class.values()))
    errors = round(sum(v for k, v in by_class.items() if k.removesuffix("xx") in error_classes))
    return DeploymentMetrics(
        requests=requests,
        errors=errors,
        p95_ms=histogram_quantile(0.95, buckets),
        p99_ms=histogram_quantile(0.99, buckets),
    )


class PrometheusMetrics:
    """Reads one colour's window of gateway metrics from Prometheus' HTTP API (``/api/v1/query``)."""

    def __init__(self, url: str, *, queries: PromQueries | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.queries = queries or PromQueries.from_env()
        self.client = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def _query(self, promql: str, at: float) -> list[dict[str, Any]]:
        where = f"Prometheus at {self.url} (mlops:kubernetes.metricsUrl)"
        try:
            response = self.client.post("/api/v1/query", data={"query": promql, "time": f"{at:.3f}"})
        except httpx.HTTPError as exc:
            raise UserError(f"cannot reach {where}: {type(exc).__name__}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or body.get("status") != "success":
            error = body.get("error") or response.text[:300]
            raise UserError(f"{where} answered {response.status_code} to `{promql}`: {error}")
        return list(body.get("data", {}).get("result") or [])

    def read(self, values: Mapping[str, Any], since: float, *, now: float | None = None) -> DeploymentMetrics:
        """Requests, errors and p95/p99 of one colour from ``since`` to ``now`` (``values`` fill the templates)."""
        by_class, buckets = self.read_counts(values, since, now=now)
        return metrics_from_counts(by_class, buckets, error_classes=self.queries.error_classes)

    def read_window(self, values: Mapping[str, Any], since: float, *, now: float | None = None) -> ColourWindow:
        """The same window for the statistical gates: counts plus the latency histogram's buckets."""
        by_class, buckets = self.read_counts(values, since, now=now)
        metrics = metrics_from_counts(by_class, buckets, error_classes=self.queries.error_classes)
        return ColourWindow(
            requests=metrics.requests,
            errors=metrics.errors,
            latency=LatencyDistribution.from_cumulative(buckets) if buckets else None,
            p95_ms=metrics.p95_ms,
            p99_ms=metrics.p99_ms,
        )

    def read_counts(
        self, values: Mapping[str, Any], since: float, *, now: float | None = None
    ) -> tuple[dict[str, float], dict[float, float]]:
        """Requests by status class and cumulative latency buckets (ms) of one colour from ``since`` to ``now``."""
        now = time.time() if now is None else now
        window = max(1, math.ceil(now - since))
        filled = {**values, "window": window}
        by_class: dict[str, float] = {}
        for series in self._query(self.queries.render("status", filled), now):
            label = str(series.get("metric", {}).get(self.queries.class_label, ""))
            by_class[label] = by_class.get(label, 0.0) + _value(series)
        buckets: dict[float, float] = {}
        for series in self._query(self.queries.render("latency", filled), now):
            le = series.get("metric", {}).get("le")
            if le is not None:
                bound = math.inf if le in ("+Inf", "Inf", "inf") else float(le)
                buckets[bound] = buckets.get(bound, 0.0) + _value(series)
        return by_class, buckets


def _value(series: Mapping[str, Any]) -> float:
    value = float(series.get("value", [0, "0"])[1])
    return 0.0 if math.isnan(value) else value


__all__ = ["ENV_OVERRIDES", "PromQueries", "PrometheusMetrics", "histogram_quantile", "metrics_from_counts"]
