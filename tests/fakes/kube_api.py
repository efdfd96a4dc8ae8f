"""A small HTTP fake of the Kubernetes API (and of Prometheus) that the real `kubernetes` client talks to.

Why a server and not mocks: the rollout target is tested through the official client (its URL
building, content types, error handling), so what `FakeKube.requests` records is what a real API
server would receive. Only what the target calls exists, in memory:

- **Deployments** ``/apis/apps/v1/namespaces/{ns}/deployments/{name}`` (GET, PATCH with strategic
  merge or merge patch) and their ``/scale`` subresource (GET, PATCH). Any spec change bumps
  ``metadata.generation``.
- **A controller**: after a change the Deployment's status lags one read behind
  (``observedGeneration`` old), then shows ``spec.replicas`` pods updated/ready/available and the
  Pods exist (``/api/v1/namespaces/{ns}/pods?labelSelector=``). A model URI in
  `FakeKube.crashing` gives pods in ``CrashLoopBackOff`` (restartCount 4, never ready); one in
  `FakeKube.stuck` gives pods that stay ``ContainerCreating``.
- **HPAs** ``/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers[/{name}]`` (POST -> 409 if
  it exists, GET, PATCH, DELETE -> 404 if missing).
- **HTTPRoutes** ``/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/{name}`` (GET, PATCH
  as JSON merge patch honouring ``metadata.resourceVersion``). Like a gateway controller, it
  reports ``Accepted``/``ResolvedRefs`` for the new generation one read later (``ResolvedRefs``
  False for a backend naming an unknown Service); ``route_status=False`` reports no status at all.
  ``dryRun=All`` answers the patched route without storing it; ``gateway_channel="standard"`` prunes
  ``rules[].sessionPersistence`` as the standard-channel CRD's schema does (it is experimental);
  a type in ``unsupported_persistence`` is reported ``Accepted`` False, as a gateway without it does.
- **Namespaces** ``/api/v1/namespaces/{ns}`` (GET).
- ``forbidden``: ``(method, resource)`` pairs answered 403 with an RBAC message, as the API does.

`FakePrometheus` (`tests.fakes.prometheus`, served by the same `serve`) answers Prometheus queries.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.prometheus import FakePrometheus

STRATEGIC_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name"}
_PATHS = [
    ("deployment", re.compile(r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/deployments/(?P<name>[^/]+)$")),
    ("scale", re.compile(r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/deployments/(?P<name>[^/]+)/scale$")),
    ("hpas", re.compile(r"^/apis/autoscaling/v2/namespaces/(?P<ns>[^/]+)/horizontalpodautoscalers$")),
    (
        "hpa",
        re.compile(r"^/apis/autoscaling/v2/namespaces/(?P<ns>[^/]+)/horizontalpodautoscalers/(?P<name>[^/]+)$"),
    ),
    (
        "route",
        re.compile(r"^/apis/gateway.networking.k8s.io/v1/namespaces/(?P<ns>[^/]+)/httproutes/(?P<name>[^/]+)$"),
    ),
    ("pods", re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")),
    ("namespace", re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)$")),
]
RESOURCE = {
    "deployment": "deployments",
    "scale": "deployments/scale",
    "hpas": "horizontalpodautoscalers",
    "hpa": "horizontalpodautoscalers",
    "route": "httproutes",
    "pods": "pods",
    "namespace": "namespaces",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, key: str | None = None) -> Any:
    """Kubernetes' strategic merge, enough for Deployments: lists of containers/env/volumes merge by name."""
    if isinstance(patch, dict):
        result = dict(target) if isinstance(target, dict) else {}
        for name, value in patch.items():
            if value is None:
                result.pop(name, None)
            else:
                result[name] = strategic_merge_patch(result.get(name), value, name)
        return result
    if isinstance(patch, list) and key in STRATEGIC_KEYS and isinstance(target, list):
        merge_key = STRATEGIC_KEYS[key]
        result_list = [copy.deepcopy(item) for item in target]
        for item in patch:
            index = next((i for i, old in enumerate(result_list) if old.get(merge_key) == item.get(merge_key)), None)
            if index is None:
                result_list.append(copy.deepcopy(item))
            else:
                result_list[index] = strategic_merge_patch(result_list[index], item)
        return result_list
    return copy.deepcopy(patch)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any


@dataclass
class FakeKube:
    """The in-memory cluster; `serve` starts it on 127.0.0.1."""

    deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    hpas: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    routes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    services: set[tuple[str, str]] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)
    crashing: set[str] = field(default_factory=set)
    stuck: set[str] = field(default_factory=set)
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    route_status: bool = True
    gateway_channel: str = "experimental"
    unsupported_persistence: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _version: int = 100
    _lagging: set[tuple[str, str, str]] = field(default_factory=set)

    # --- seeding -------------------------------------------------------------------------------------

    def add_colour(
        self, ns: str, name: str, colour: str, *, instance: str, model: str, replicas: int, hpa: dict[str, Any] | None
    ) -> None:
        """One colour as the stack declares it: Deployment (settled), Service, optional HPA."""
        self.namespaces.add(ns)
        self.services.add((ns, name))
        labels = {"app.kubernetes.io/instance": instance, "mlops/colour": colour}
        self.deployments[(ns, name)] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": ns,
                "generation": 1,
                "resourceVersion": self._next_version(),
                "labels": dict(labels),
                "annotations": {"pulumi.com/patchForce": "true", "mlops/model-uri": model},
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "model-server",
                                "image": "ghcr.io/mlflow/mlflow:v3.1.0",
                                "env": [{"name": "MODEL_URI", "value": model}, {"name": "HOME", "value": "/tmp"}],
                            }
                        ]
                    },
                },
            },
            "status": {},
        }
        self._reconcile((ns, name))
        if hpa is not None:
            self.hpas[(ns, name)] = self._stored(
                {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name}, **hpa},
                ns,
            )

    def add_route(self, ns: str, name: str, weights: dict[str, int]) -> None:
        refs = [{"group": "", "kind": "Service", "name": svc, "port": 80, "weight": w} for svc, w in weights.items()]
        route = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": ns, "generation": 1, "resourceVersion": self._next_version()},
            "spec": {
                "parentRefs": [{"name": "ml-gateway", "namespace": "gateway"}],
                "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs}],
            },
        }
        self.routes[(ns, name)] = route
        self._route_controller(route)

    # --- what tests read -----------------------------------------------------------------------------

    def route_weights(self, ns: str, name: str) -> dict[str, int]:
        refs = self.routes[(ns, name)]["spec"]["rules"][0]["backendRefs"]
        return {ref["name"]: ref["weight"] for ref in refs}

    def route_patches(self) -> list[dict[str, int]]:
        """The backend weights of every HTTPRoute PATCH, in order."""
        return [
            {ref["name"]: ref["weight"] for ref in r.body["spec"]["rules"][0]["backendRefs"]}
            for r in self.requests
            if r.method == "PATCH" and "/httproutes/" in r.path and r.query.get("dryRun") != ["All"]
        ]

    def calls(self, method: str, fragment: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and fragment in r.path]

    def env(self, ns: str, name: str) -> dict[str, str]:
        container = self.deployments[(ns, name)]["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e["value"] for e in container["env"]}

    # --- the controllers -----------------------------------------------------------------------------

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _stored(self, obj: dict[str, Any], ns: str) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {}).update({"namespace": ns, "resourceVersion": self._next_version()})
        obj["metadata"].setdefault("generation", 1)
        return obj

    def _model(self, deployment: dict[str, Any]) -> str:
        env = deployment["spec"]["template"]["spec"]["containers"][0].get("env") or []
        return next((e.get("value", "") for e in env if e["name"] == "MODEL_URI"), "")

    def _reconcile(self, key: tuple[str, str]) -> None:
        """Set status and pods as the Deployment controller and kubelet would for the current spec."""
        deployment = self.deployments[key]
        replicas = int(deployment["spec"].get("replicas", 1))
        model = self._model(deployment)
        broken = model in self.crashing or model in self.stuck
        ready = 0 if broken else replicas
        deployment["status"] = {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        if model in self.crashing:
            state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}}
            restarts, last = 4, {"terminated": {"reason": "Error", "exitCode": 1}}
        elif model in self.stuck:
            state, restarts, last = {"waiting": {"reason": "ContainerCreating"}}, 0, {}
        else:
            state, restarts, last = {"running": {"startedAt": "2026-11-22T10:00:00Z"}}, 0, {}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        deployment["_pods"] = [
            {
                "metadata": {"name": f"{key[1]}-{deployment['metadata']['generation']}-{i}", "labels": dict(labels)},
                "status": {
                    "containerStatuses": [
                        {
                            "name": "model-server",
                            "ready": not broken,
                            "restartCount": restarts,
                            "state": state,
                            "lastState": last,
                        }
                    ]
                },
            }
            for i in range(replicas)
        ]

    def _changed_deployment(self, key: tuple[str, str], before: dict[str, Any]) -> None:
        deployment = self.deployments[key]
        deployment["metadata"]["resourceVersion"] = self._next_version()
        if deployment["spec"] != before["spec"]:
            deployment["metadata"]["generation"] += 1
            self._reconcile(key)
            # The controller catches up on the next read: until then the status is the old one.
            deployment["status"] = {**deployment["status"], "observedGeneration": before["metadata"]["generation"]}
            self._lagging.add(("deployment", *key))

    def _route_controller(self, route: dict[str, Any]) -> None:
        if not self.route_status:
            route.pop("status", None)
            return
        ns = route["metadata"]["namespace"]
        generation = route["metadata"]["generation"]
        refs = route["spec"]["rules"][0]["backendRefs"]
        missing = [ref["name"] for ref in refs if (ns, ref["name"]) not in self.services]
        resolved = {
            "type": "ResolvedRefs",
            "status": "False" if missing else "True",
            "reason": "BackendNotFound" if missing else "ResolvedRefs",
            "message": f"Service {missing} not found" if missing else "",
            "observedGeneration": generation,
        }
        accepted = {"type": "Accepted", "status": "True", "reason": "Accepted", "observedGeneration": generation}
        persistence = (route["spec"]["rules"][0].get("sessionPersistence") or {}).get("type")
        if persistence in self.unsupported_persistence:  # Header is Extended support: a gateway may reject it
            accepted.update(status="False", reason="UnsupportedValue", message=f"{persistence} session persistence")
        route["status"] = {
            "parents": [
                {
                    "parentRef": {"name": "ml-gateway", "namespace": "gateway"},
                    "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                    "conditions": [accepted, resolved],
                }
            ]
        }

    # --- HTTP ----------------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, content_type: str | None, body: Any) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        with self.lock:
            self.requests.append(RecordedRequest(method, split.path, query, content_type, copy.deepcopy(body)))
            for kind, pattern in _PATHS:
                match = pattern.match(split.path)
                if match is not None:
                    if (method, RESOURCE[kind]) in self.forbidden:
                        return _status(
                            403,
                            "Forbidden",
                            f'{RESOURCE[kind]} is forbidden: User "dev@example.com" cannot {method.lower()} resource '
                            f'"{RESOURCE[kind]}" in API group "" in the namespace "{match.group("ns")}"',
                        )
                    return getattr(self, f"_{kind}")(method, query, content_type, body, **match.groupdict())
            return _status(404, "NotFound", "the server could not find the requested resource")

    def _namespace(self, method: str, query: Any, content_type: Any, body: Any, ns: str) -> tuple[int, Any]:
        if ns not in self.namespaces:
            return _status(404, "NotFound", f'namespaces "{ns}" not found')
        return 200, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}

    def _deployment(
        self, method: str, query: Any, content_type: str | None, body: Any, ns: str, name: str
    ) -> tuple[int, Any]:
        key = (ns, name)
        if key not in self.deployments:
            return _status(404, "NotFound", f'deployments.apps "{name}" not found')
        deployment = self.deployments[key]
        if method == "PATCH":
            before = copy.deepcopy(deployment)
            patch = strategic_merge_patch if content_type == "application/strategic-merge-patch+json" else merge_patch
            pods = deployment.pop("_pods", [])
            self.deployments[key] = patch(deployment, body)
            self.deployments[key]["_pods"] = pods
            self._changed_deployment(key, before)
        elif method != "GET":
            return _status(405, "MethodNotAllowed", method)
        elif ("deployment", *key) in self._lagging:
            self._lagging.discard(("deployment", *key))
            answer = _public(deployment)
            self._reconcile(key)
            return 200, answer
        return 200, _public(self.deployments[key])

    def _scale(self, method: str, query: Any, content_type: Any, body: Any, ns: str, name: str) -> tuple[int, Any]:
        key = (ns, name)
        if key not in self.deployments:
            return _status(404, "NotFound", f'deployments.apps "{name}" not found')
        deployment = self.deployments[key]
        if method == "PATCH":
            before = copy.deepcopy(deployment)
            deployment["spec"]["replicas"] = int(body["spec"]["replicas"])
            self._changed_deployment(key, before)
        replicas = deployment["spec"]["replicas"]
        return 200, {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": name, "namespace": ns},
                     "spec": {"replicas": replicas}, "status": {"replicas": replicas}}  # fmt: skip

    def _hpas(self, method: str, query: Any, content_type: Any, body: Any, ns: str) -> tuple[int, Any]:
        if method != "POST":
            return _status(405, "MethodNotAllowed", method)
        key = (ns, body["metadata"]["name"])
        if key in self.hpas:
            return _status(409, "AlreadyExists", f'horizontalpodautoscalers.autoscaling "{key[1]}" already exists')
        self.hpas[key] = self._stored(body, ns)
        return 201, self.hpas[key]

    def _hpa(self, method: str, query: Any, content_type: Any, body: Any, ns: str, name: str) -> tuple[int, Any]:
        key = (ns, name)
        if key not in self.hpas:
            return _status(404, "NotFound", f'horizontalpodautoscalers.autoscaling "{name}" not found')
        if method == "DELETE":
            del self.hpas[key]
            return 200, _status(200, "Success", "deleted")[1]
        if method == "PATCH":
            self.hpas[key] = merge_patch(self.hpas[key], body)
            self.hpas[key]["metadata"]["resourceVersion"] = self._next_version()
        return 200, self.hpas[key]

    def _route(self, method: str, query: Any, content_type: Any, body: Any, ns: str, name: str) -> tuple[int, Any]:
        key = (ns, name)
        if key not in self.routes:
            return _status(404, "NotFound", f'httproutes.gateway.networking.k8s.io "{name}" not found')
        route = self.routes[key]
        if method == "GET":
            if ("route", *key) in self._lagging:
                self._lagging.discard(("route", *key))
                answer = copy.deepcopy(route)
                self._route_controller(route)
                return 200, answer
            return 200, route
        if content_type != "application/merge-patch+json":
            return _status(415, "UnsupportedMediaType", f"expected a merge patch, got {content_type}")
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != route["metadata"]["resourceVersion"]:
            return _status(409, "Conflict", "the object has been modified; please apply your changes to the latest")
        patched = merge_patch(route, {**body, "metadata": {k: v for k, v in (body.get("metadata") or {}).items()
                                                           if k != "resourceVersion"}})  # fmt: skip
        if self.gateway_channel == "standard":  # the standard CRD's structural schema prunes experimental fields
            for rule in patched["spec"].get("rules") or []:
                rule.pop("sessionPersistence", None)
        if query.get("dryRun") == ["All"]:
            return 200, patched  # validated, defaulted and pruned, never stored
        patched["metadata"]["resourceVersion"] = self._next_version()
        if patched["spec"] != route["spec"]:
            patched["metadata"]["generation"] += 1
            self._lagging.add(("route", *key))  # the gateway reports the new generation one read later
        self.routes[key] = patched
        return 200, patched

    def _pods(self, method: str, query: dict[str, list[str]], content_type: Any, body: Any, ns: str) -> tuple[int, Any]:
        selector = dict(part.split("=", 1) for part in (query.get("labelSelector") or [""])[0].split(",") if part)
        pods = [
            pod
            for (pod_ns, _), deployment in self.deployments.items()
            if pod_ns == ns
            for pod in deployment.get("_pods", [])
            if all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        return 200, {"apiVersion": "v1", "kind": "PodList", "items": pods}


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def _status(code: int, reason: str, message: str) -> tuple[int, Any]:
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure" if code >= 400 else "Success",
                  "message": message, "reason": reason, "code": code}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKube | FakePrometheus

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0] or None
        body: Any = None
        if raw and content_type == "application/x-www-form-urlencoded":
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        elif raw:
            body = json.loads(raw)
        code, answer = self.fake.handle(self.command, self.path, content_type, body)
        data = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve  # noqa: N815 - http.server dispatches on these names

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


@contextmanager
def serve(fake: FakeKube | FakePrometheus) -> Iterator[str]:
    """Serve ``fake`` on a free port of 127.0.0.1; yields its base URL and stops it on exit."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_kubeconfig(path: Path, server: str, *, context: str = "fake-cluster") -> Path:
    """A kubeconfig whose context ``context`` points at ``server`` with a bearer token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "dev", "user": {"token": "fake-token"}}],
        "contexts": [{"name": context, "context": {"cluster": "fake", "user": "dev", "namespace": "default"}}],
        "current-context": context,
    }
    path.write_text(json.dumps(config))
    return path
