"""Azure Monitor's metrics API for managed online endpoints, as the ARM fake answers it.

Why traffic-driven: a rollout's gates are only meaningful if the numbers follow what the rollout
did. So a test does not script "the answer to query N"; it says how each deployment *serves*
(`Serving`: requests per minute at 100% of the endpoint's traffic, the share of each status code,
p95/p99 latency), and every query is answered from the endpoint's traffic and mirror maps as the
fake holds them at that moment: a deployment with no live or mirrored share has no requests, one
at 10% gets a tenth of its rate. A target that never moves traffic sees no evidence.

Shape of the API (Microsoft.Insights ``Metrics - List``, ``GET {resourceId}/providers/
Microsoft.Insights/metrics``): ``metricnames`` (comma-separated), ``timespan`` (``start/end``),
``interval``, ``aggregation`` and ``$filter`` (``dim eq 'v' and dim eq '*'``; ``'*'`` splits the
series by that dimension). The endpoint metrics and dimensions are Azure's documented ones for
``Microsoft.MachineLearningServices/workspaces/onlineEndpoints``: ``RequestsPerMinute``
(``deployment``, ``statusCode``, ``statusCodeClass``, ``modelStatusCode``) and
``RequestLatency_P50/P90/P95/P99`` (``deployment``). A dimension a metric does not have, or an
unknown metric, is a 400 as on Azure. Each answer is one PT1M data point at the timespan's start.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.arm import FakeArm, FakeResponse, RecordedRequest

REQUESTS = "RequestsPerMinute"
LATENCY = {
    "RequestLatency_P50": 0.50,
    "RequestLatency_P90": 0.90,
    "RequestLatency_P95": 0.95,
    "RequestLatency_P99": 0.99,
}
DIMENSIONS = {
    REQUESTS: ("deployment", "statusCode", "statusCodeClass", "modelStatusCode"),
    **dict.fromkeys(LATENCY, ("deployment",)),
}
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Serving:
    """How one deployment answers, per minute, when it receives 100% of the endpoint's requests."""

    requests_per_minute: float = 600.0
    status_codes: dict[int, float] = field(default_factory=lambda: {200: 1.0})
    """Share of requests answered with each status code (sums to 1)."""
    p95_ms: float = 20.0
    p99_ms: float = 30.0

    def latency(self, metric: str) -> float:
        return self.p99_ms if metric == "RequestLatency_P99" else self.p95_ms


class FakeMonitor:
    """Answers metrics queries on endpoint resources; `serve` says how a deployment behaves."""

    def __init__(self, arm: FakeArm) -> None:
        self._arm = arm
        self._serving: dict[tuple[str, str], Serving] = {}
        self._lock = threading.Lock()
        self.queries: list[RecordedRequest] = []

    def serve(self, endpoint: str, deployment: str, serving: Serving) -> None:
        """From now on, ``deployment`` behind ``endpoint`` answers as ``serving`` says."""
        with self._lock:
            self._serving[(endpoint.lower(), deployment.lower())] = serving

    def answer(self, request: RecordedRequest, resource_id: str) -> FakeResponse:
        from tests.fakes.arm import FakeResponse, arm_error

        self.queries.append(request)
        names = [n.strip() for n in (request.param("metricnames") or "").split(",") if n.strip()]
        filters: dict[str, str] = {}
        for clause in re.split(r"\s+and\s+", request.param("$filter") or "", flags=re.IGNORECASE):
            if not clause.strip():
                continue
            match = _CLAUSE.match(clause)
            if match is None:
                return arm_error(400, "BadRequest", f"cannot parse $filter clause '{clause}'")
            filters[match.group(1)] = match.group(2)
        for name in names:
            if name not in DIMENSIONS:
                return arm_error(400, "BadRequest", f"Failed to find metric configuration for provider: {name}")
            extra = [d for d in filters if d.lower() not in {x.lower() for x in DIMENSIONS[name]}]
            if extra:
                return arm_error(400, "BadRequest", f"Metric: {name} does not support requested dimension: {extra}")
        endpoint = self._arm.resource(resource_id)
        if endpoint is None:
            return arm_error(404, "ResourceNotFound", f"resource {resource_id} was not found")
        start = (request.param("timespan") or "/").split("/")[0]
        value = [self._metric(resource_id, endpoint, name, filters, start) for name in names]
        body = {
            "cost": 0,
            "timespan": request.param("timespan"),
            "interval": request.param("interval") or "PT1M",
            "namespace": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "resourceregion": endpoint.get("location"),
            "value": value,
        }
        return FakeResponse(200, body)

    def _shares(self, resource_id: str, endpoint: dict[str, Any]) -> dict[str, tuple[int, Serving]]:
        """Each serving deployment's share of requests (live + mirrored percent), if it exists and succeeded."""
        properties = endpoint.get("properties") or {}
        traffic = {k.lower(): int(v) for k, v in (properties.get("traffic") or {}).items()}
        mirror = {k.lower(): int(v) for k, v in (properties.get("mirrorTraffic") or {}).items()}
        name = resource_id.rstrip("/").split("/")[-1].lower()
        shares = {}
        with self._lock:
            serving = dict(self._serving)
        for (endpoint_name, deployment), how in serving.items():
            share = traffic.get(deployment, 0) + mirror.get(deployment, 0)
            stored = self._arm.resource(f"{resource_id}/deployments/{deployment}")
            state = ((stored or {}).get("properties") or {}).get("provisioningState")
            if endpoint_name == name and share > 0 and state == "Succeeded":
                shares[deployment] = (share, how)
        return shares

    def _metric(
        self, resource_id: str, endpoint: dict[str, Any], name: str, filters: dict[str, str], start: str
    ) -> dict[str, Any]:
        series: dict[tuple[tuple[str, str], ...], float] = {}
        for deployment, (share, how) in self._shares(resource_id, endpoint).items():
            if name == REQUESTS:
                for code, fraction in how.status_codes.items():
                    dims = {
                        "deployment": deployment,
                        "statusCode": str(code),
                        "statusCodeClass": f"{str(code)[0]}xx",
                        "modelStatusCode": "500" if code == 424 else str(code),  # 424: the model answered 5xx
                    }
                    key = self._key(dims, filters)
                    if key is not None:
                        series[key] = series.get(key, 0.0) + how.requests_per_minute * share / 100 * fraction
            else:
                key = self._key({"deployment": deployment}, filters)
                if key is not None:
                    series[key] = max(series.get(key, 0.0), how.latency(name))
        unit = "Count" if name == REQUESTS else "MilliSeconds"
        return {
            "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{name}",
            "type": "Microsoft.Insights/metrics",
            "name": {"value": name, "localizedValue": name},
            "displayDescription": "",
            "unit": unit,
            "errorCode": "Success",
            "timeseries": [
                {
                    "metadatavalues": [{"name": {"value": k.lower(), "localizedValue": k}, "value": v} for k, v in key],
                    "data": [{"timeStamp": start, "average": round(total, 6)}],
                }
                for key, total in sorted(series.items())
            ],
        }

    @staticmethod
    def _key(dims: dict[str, str], filters: dict[str, str]) -> tuple[tuple[str, str], ...] | None:
        """The series this point belongs to (its split dimensions), or None when the filter excludes it."""
        lowered = {k.lower(): (k, v) for k, v in dims.items()}
        key = []
        for dim, wanted in filters.items():
            original, value = lowered[dim.lower()]
            if wanted == "*":
                key.append((original, value))
            elif value.lower() != wanted.lower():
                return None
        return tuple(key)
