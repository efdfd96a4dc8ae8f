"""The fake Kubernetes API plus what `ml teardown --check` reads: a namespace's labels and phase, and lists.

Additive, like `tests.fakes.kube_cluster.FakeCluster`: `NamespaceFake` is a `FakeKube` that first answers

- ``GET /api/v1/namespaces/{ns}`` with the labels and phase in `NamespaceFake.namespace_meta`
  (404 when the namespace is not in `FakeKube.namespaces`), and
- ``GET`` of a namespaced collection (``.../namespaces/{ns}/<plural>[?labelSelector=k=v,...]``) for
  Deployments, Services, HPAs and HTTPRoutes from `FakeKube`'s own state, and for the other kinds
  from `NamespaceFake.extra` (plural -> objects),

and hands every other request to `FakeKube` unchanged. `remove_namespace` is what a finished
namespace deletion leaves: nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.kube_api import FakeKube, RecordedRequest, _public, _status

_COLLECTION = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[a-z]+)$")
_NAMESPACE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)$")


@dataclass
class NamespaceFake(FakeKube):
    namespace_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    """ns -> {"labels": {...}, "phase": "Active" | "Terminating"}."""
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """plural (poddisruptionbudgets, jobs, configmaps, networkpolicies) -> objects with metadata.namespace."""

    def add_object(self, plural: str, ns: str, name: str, labels: dict[str, str] | None = None) -> None:
        self.extra.setdefault(plural, []).append(
            {"metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})}}
        )

    def remove_namespace(self, ns: str) -> None:
        """What the namespace controller leaves once a deletion finishes: nothing of or in ``ns``."""
        with self.lock:
            self.namespaces.discard(ns)
            for store in (self.deployments, self.hpas, self.routes):
                for key in [k for k in store if k[0] == ns]:
                    del store[key]
            self.services = {key for key in self.services if key[0] != ns}
            for plural, objects in self.extra.items():
                self.extra[plural] = [o for o in objects if o["metadata"]["namespace"] != ns]

    def handle(self, method: str, raw_path: str, content_type: str | None, body: Any) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        namespace, collection = _NAMESPACE.match(split.path), _COLLECTION.match(split.path)
        if method != "GET" or (namespace is None and collection is None):
            return super().handle(method, raw_path, content_type, body)
        with self.lock:
            self.requests.append(RecordedRequest(method, split.path, query, content_type, body))
            if namespace is not None:
                return self._read_namespace(namespace.group("ns"))
            assert collection is not None
            ns, plural = collection.group("ns"), collection.group("plural")
            if plural == "pods":
                return super().handle(method, raw_path, content_type, body)
            selector = dict(p.split("=", 1) for p in (query.get("labelSelector") or [""])[0].split(",") if p)
            items = [
                o
                for o in self._objects(plural)
                if o["metadata"].get("namespace") == ns
                and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
            ]
            return 200, {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}

    def _read_namespace(self, ns: str) -> tuple[int, Any]:
        if ns not in self.namespaces:
            return _status(404, "NotFound", f'namespaces "{ns}" not found')
        meta = self.namespace_meta.get(ns, {})
        return 200, {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": dict(meta.get("labels") or {})},
            "status": {"phase": meta.get("phase", "Active")},
        }

    def _objects(self, plural: str) -> list[dict[str, Any]]:
        if plural == "deployments":
            return [_public(d) for d in self.deployments.values()]
        if plural == "horizontalpodautoscalers":
            return list(self.hpas.values())
        if plural == "httproutes":
            return list(self.routes.values())
        if plural == "services":
            return [
                {"metadata": {"name": name, "namespace": ns, "labels": self._service_labels(ns, name)}}
                for ns, name in sorted(self.services)
            ]
        return list(self.extra.get(plural, []))

    def _service_labels(self, ns: str, name: str) -> dict[str, str]:
        """A colour's Service carries its Deployment's labels (as the stack declares them)."""
        deployment = self.deployments.get((ns, name))
        return dict((deployment or {}).get("metadata", {}).get("labels") or {})
