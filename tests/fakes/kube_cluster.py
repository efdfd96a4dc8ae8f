"""The fake Kubernetes API plus what `ml preflight` reads: CRDs and nodes.

Additive: `FakeCluster` is a `tests.fakes.kube_api.FakeKube` that first answers

- ``GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}`` from `FakeCluster.crds`
  (name -> served versions; 404 when absent), and
- ``GET /api/v1/nodes?labelSelector=k=v,...`` from `FakeCluster.nodes` (name -> labels, allocatable),

and hands every other request to `FakeKube` unchanged. `with_gateway_api()` seeds the three Gateway
API CRDs serving ``v1``; `add_node` adds a node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.kube_api import FakeKube, RecordedRequest, _status

GATEWAY_CRDS = ("gatewayclasses", "gateways", "httproutes")
_CRD = re.compile(r"^/apis/apiextensions\.k8s\.io/v1/customresourcedefinitions/(?P<name>[^/]+)$")


@dataclass
class FakeCluster(FakeKube):
    crds: dict[str, list[str]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def with_gateway_api(self, versions: tuple[str, ...] = ("v1", "v1beta1")) -> FakeCluster:
        for kind in GATEWAY_CRDS:
            self.crds[f"{kind}.gateway.networking.k8s.io"] = list(versions)
        return self

    def add_node(self, name: str, labels: dict[str, str], allocatable: dict[str, str]) -> None:
        self.nodes[name] = {"labels": dict(labels), "allocatable": dict(allocatable)}

    def handle(self, method: str, raw_path: str, content_type: str | None, body: Any) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        crd = _CRD.match(split.path)
        if method == "GET" and (crd is not None or split.path == "/api/v1/nodes"):
            with self.lock:
                self.requests.append(RecordedRequest(method, split.path, parse_qs(split.query), content_type, body))
            if crd is not None:
                return self._crd(crd.group("name"))
            return self._nodes(parse_qs(split.query))
        return super().handle(method, raw_path, content_type, body)

    def _crd(self, name: str) -> tuple[int, Any]:
        if name not in self.crds:
            return _status(404, "NotFound", f'customresourcedefinitions.apiextensions.k8s.io "{name}" not found')
        versions = [{"name": v, "served": True, "storage": i == 0} for i, v in enumerate(self.crds[name])]
        return 200, {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": name.split(".", 1)[1], "versions": versions},
        }

    def _nodes(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        selector = dict(p.split("=", 1) for p in (query.get("labelSelector") or [""])[0].split(",") if p)
        items = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": node["labels"]},
                "status": {"allocatable": node["allocatable"], "capacity": node["allocatable"]},
            }
            for name, node in sorted(self.nodes.items())
            if all(node["labels"].get(k) == v for k, v in selector.items())
        ]
        return 200, {"apiVersion": "v1", "kind": "NodeList", "items": items}
