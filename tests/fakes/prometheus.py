"""A fake Prometheus query API for the gateway metrics the Kubernetes target reads (served by `kube_api.serve`).

It answers ``/api/v1/query`` from `FakePrometheus.answers` (first key found in the query wins), as a
vector by status class or by ``le`` bucket, and records every query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakePrometheus:
    """``answers[key] = {"classes": {"2": 190, "5": 10}, "buckets": {"50": 150, "+Inf": 200}}``."""

    answers: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)

    def handle(self, method: str, raw_path: str, content_type: str | None, body: Any) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        params = {k: v[0] for k, v in parse_qs(split.query).items()}
        if isinstance(body, dict):
            params.update(body)
        if split.path != "/api/v1/query" or "query" not in params:
            return 404, {"status": "error", "error": f"not found: {split.path}"}
        query = params["query"]
        self.queries.append(query)
        answer = next((value for key, value in self.answers.items() if key in query), {})
        if "_bucket" in query:
            series = [({"le": le}, count) for le, count in answer.get("buckets", {}).items()]
        else:
            series = [({"envoy_response_code_class": cls}, count) for cls, count in answer.get("classes", {}).items()]
        result = [{"metric": metric, "value": [float(params.get("time", 0)), str(count)]} for metric, count in series]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}
