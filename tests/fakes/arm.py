"""A small HTTPS fake of Azure Resource Manager and the Azure ML endpoints that azure-ai-ml calls.

Why a fake server instead of mocks: the tests drive the *real* azure-ai-ml SDK (its serializers,
asset resolution, pollers and retries), so what the fake records is exactly what Azure would
receive. Bearer tokens are refused over plain HTTP by azure-core, hence HTTPS with a throw-away CA
from `trustme` (``FakeArm.ca_path``; give it to the SDK as ``connection_verify`` and set
``REQUESTS_CA_BUNDLE`` for the blob client, see `tests.fakes.azure_client`).

How it answers (every request is first appended to ``FakeArm.requests`` as a `RecordedRequest`
with method, path, query, parsed JSON body and headers):

- **A generic ARM resource store** keyed by the lower-cased resource path
  (``/subscriptions/{s}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}/...``):
  ``PUT`` stores the body (adding ``id``, ``name``, ``type``, ``systemData`` and
  ``properties.provisioningState = "Succeeded"``) and answers 201 (new) or 200; ``PATCH`` merges;
  ``GET`` answers the stored resource or an ARM 404 (``ResourceNotFound``); ``DELETE`` removes it.
  Service defaults are filled as Azure does: a job stored without ``properties.status`` gets
  ``NotStarted``; an online deployment without ``properties.scaleSettings`` gets ``{"scaleType":
  "Default"}`` (azure-ai-ml cannot read a deployment without it); a model version gets ``flavors``
  (``{}``), which azure-ai-ml needs to read one.
  A ``GET`` on a collection path (an odd number of type/name segments after the namespace, e.g.
  ``.../workspaces/w/onlineEndpoints``) lists the direct children as ``{"value": [...]}``.
- **Long-running operations complete at once**: every ``PUT``/``PATCH``/``DELETE`` answer carries
  ``Azure-AsyncOperation`` and ``Location`` headers pointing at ``/operations/{id}`` (which answers
  ``{"status": "Succeeded"}``) and ``retry-after-ms: 20``, so the SDK's pollers (which otherwise
  wait 30 s, or 5 s for deployments; ``Retry-After: 0`` reads as "no hint") finish at once. ``DELETE`` answers 202.
- **Seeded resources**: the workspace (with ``discoveryUrl`` and ``mlFlowTrackingUri``) and its
  default blob datastore ``workspaceblobstore`` (account-key credentials, see below).
- **Workspace discovery** (``GET /discovery``): every data-plane service URL is this server.
- **Run history** and **blob storage** (path-style, real uploads): see `tests.fakes.arm_wire`.
- **Provisioning that takes time or fails** (`FakeArm.provision`): a ``PUT`` on a matching path
  stores the resource in the first scripted ``provisioningState`` and moves through the script
  by wall-clock time; the PUT's long-running operation answers ``InProgress`` until the state is
  terminal, then ``Succeeded`` or ``Failed`` with the scripted ARM error (what azure-core's poller
  raises). ``POST .../getLogs`` answers the scripted container log (``FakeArm.logs``).
- **Azure Monitor metrics** (``GET {resource}/providers/Microsoft.Insights/metrics``): answered by
  `FakeArm.monitor` (`tests.fakes.azure_monitor.FakeMonitor`) from the endpoint's current traffic.
- **Cloud metadata** (``GET /metadata/endpoints``): this server as an ARM cloud, for
  ``ARM_CLOUD_METADATA_URL``; `FakeArm.cloud_metadata` is the same for ``MLClient(cloud_metadata=)``.

Hooks make it extensible without editing this module: ``fake.on("PUT", r"/onlineEndpoints/[^/]+$",
hook)`` registers ``hook(request, fake) -> FakeResponse | None`` that runs before the default
handling (``None`` falls through), and ``fake.on_store(pattern, fn)`` lets ``fn(resource, request)``
rewrite a resource before a ``PUT``/``PATCH`` stores it (e.g. to fill ``properties.traffic``, set a
job's status or add ``scaleSettings`` as the service does). Patterns are regexes searched in the
request path (case-insensitive). Tests read state back with `FakeArm.resource`, `FakeArm.put` (seed)
and `FakeArm.find` (recorded requests).

Example::

    with FakeArm() as arm:
        client = ml_client_for(arm)   # tests.fakes.azure_client
        client.workspaces.get(arm.workspace_name)
        assert arm.find("GET", "/workspaces/")
"""

from __future__ import annotations

import copy
import itertools
import re
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

from tests.fakes.arm_wire import (
    ARM_PREFIX,
    BLOB_ACCOUNT,
    BLOB_CONTAINER,
    FakeResponse,
    RecordedRequest,
    arm_cloud_document,
    arm_error,
    blob_answer,
    handler_for,
    history_answer,
    iter_bodies,
    merge_patch,
    sdk_cloud_metadata,
    segments_after_namespace,
    service_defaults,
)
from tests.fakes.azure_monitor import FakeMonitor

__all__ = ["BLOB_ACCOUNT", "BLOB_CONTAINER", "FakeArm", "FakeResponse", "RecordedRequest", "arm_error", "iter_bodies"]

ML_NAMESPACE = "Microsoft.MachineLearningServices"
_METRICS = re.compile(r"^(?P<resource>/subscriptions/.+?)/providers/Microsoft\.Insights/metrics$", re.IGNORECASE)
_TERMINAL = {"Succeeded", "Failed", "Canceled"}


Hook = Callable[[RecordedRequest, "FakeArm"], FakeResponse | None]
StoreHook = Callable[[dict[str, Any], RecordedRequest], None]


class FakeArm:
    """The fake server; start with `start()` or ``with FakeArm() as arm:``. See the module docstring."""

    def __init__(
        self,
        *,
        subscription_id: str = "00000000-0000-0000-0000-000000000001",
        resource_group: str = "rg-mlops-test",
        workspace_name: str = "mlw-test",
        location: str = "westeurope",
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace_name = workspace_name
        self.location = location
        self.requests: list[RecordedRequest] = []
        self.blobs: dict[str, bytes] = {}
        self._resources: dict[str, dict[str, Any]] = {}
        self._children: dict[str, list[dict[str, Any]]] = {}
        self._blocks: dict[str, dict[str, bytes]] = {}
        self._hooks: list[tuple[str, re.Pattern[str], Hook]] = []
        self._store_hooks: list[tuple[re.Pattern[str], StoreHook]] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-arm-")
        self._ca = trustme.CA()
        self.ca_path = Path(self._tmp.name) / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        self._op_counter = itertools.count(1)
        self._scripts: list[tuple[re.Pattern[str], list[tuple[str, float]], dict[str, str] | None]] = []
        self._running: dict[str, tuple[float, list[tuple[str, float]], dict[str, str] | None]] = {}
        self._operations: dict[str, str] = {}
        self.logs: dict[str, str] = {}
        self._script_logs: dict[str, str] = {}
        """Container logs by lower-cased deployment path, answered by ``POST .../getLogs``."""
        self.monitor = FakeMonitor(self)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeArm:
        """Bind 127.0.0.1 on a free port, serve HTTPS in a thread, seed the workspace."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        # poll for shutdown every 50 ms: the default 0.5 s was half a second of every Azure test's teardown
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-arm", daemon=True
        )
        self._thread.start()
        self._seed()
        return self

    def stop(self) -> None:
        """Stop serving and remove the CA file."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._tmp.cleanup()

    def __enter__(self) -> FakeArm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``https://127.0.0.1:{port}`` (no trailing slash)."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def cloud_name(self) -> str:
        """A cloud name unique to this server (azure-ai-ml refuses to redefine a known cloud)."""
        return f"FakeArmCloud{self.port}"

    @property
    def cloud_metadata(self) -> dict[str, str]:
        """``MLClient(cloud=arm.cloud_name, cloud_metadata=arm.cloud_metadata)`` points every endpoint here."""
        return sdk_cloud_metadata(self.url, self.port)

    @property
    def workspace_path(self) -> str:
        """The workspace's ARM id."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{ML_NAMESPACE}/workspaces/{self.workspace_name}"
        )

    def blob_url(self, container: str = BLOB_CONTAINER) -> str:
        """The path-style URL of a blob container served by this fake."""
        return f"{self.url}/{BLOB_ACCOUNT}/{container}"

    # -- extension points ----------------------------------------------------------------------

    def on(self, method: str, pattern: str, hook: Hook) -> None:
        """Answer ``method`` requests whose path matches ``pattern`` with ``hook`` (None falls through)."""
        self._hooks.append((method.upper(), re.compile(pattern, re.IGNORECASE), hook))

    def on_store(self, pattern: str, hook: StoreHook) -> None:
        """Let ``hook(resource, request)`` rewrite a resource a PUT/PATCH on ``pattern`` is about to store."""
        self._store_hooks.append((re.compile(pattern, re.IGNORECASE), hook))

    def provision(
        self,
        pattern: str,
        states: list[tuple[str, float]],
        *,
        error: tuple[str, str] | None = None,
        logs: str | None = None,
    ) -> None:
        """Resources PUT on ``pattern`` go through ``states`` ((provisioningState, seconds) pairs, the last
        one kept) instead of succeeding at once; a ``Failed`` end carries ``error`` = (code, message) on
        the PUT's operation, and ``logs`` becomes the resource's container log."""
        with self._lock:
            self._scripts.append(
                (
                    re.compile(pattern, re.IGNORECASE),
                    list(states),
                    {"code": error[0], "message": error[1]} if error else None,
                )
            )
            if logs is not None:
                self._script_logs[pattern] = logs

    # -- state ---------------------------------------------------------------------------------

    def put(self, path: str, resource: dict[str, Any]) -> dict[str, Any]:
        """Seed (or replace) a resource as if it had been PUT, without recording a request."""
        with self._lock:
            seeded = copy.deepcopy(resource)
            service_defaults(path, seeded)
            stored = self._complete(path, seeded)
            self._resources[path.lower().rstrip("/")] = stored
            return copy.deepcopy(stored)

    def update(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge ``patch`` into a stored resource (e.g. ``{"properties": {"status": "Completed"}}``)."""
        with self._lock:
            stored = self._resources[path.lower().rstrip("/")]
            merge_patch(stored, patch)
            return copy.deepcopy(stored)

    def resource(self, path: str) -> dict[str, Any] | None:
        """The stored resource at an ARM path (case-insensitive), or None."""
        with self._lock:
            found = self._resources.get(path.lower().rstrip("/"))
            return copy.deepcopy(found) if found is not None else None

    def ws(self, *parts: str) -> str:
        """An ARM path under the workspace: ``arm.ws("jobs", "my-sweep")``."""
        return "/".join([self.workspace_path, *parts])

    def add_child_run(self, parent: str, run: dict[str, Any]) -> None:
        """Add a run-history child run of job ``parent`` (fields: runId, status, properties, tags, ...)."""
        with self._lock:
            self._children.setdefault(parent, []).append(copy.deepcopy(run))

    def find(self, method: str | None = None, pattern: str = "") -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches ``pattern`` (regex, case-insensitive)."""
        regex = re.compile(pattern, re.IGNORECASE)
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method.upper()) and regex.search(r.path)]

    # -- default handling ----------------------------------------------------------------------

    def _seed(self) -> None:
        self.put(
            self.workspace_path,
            {
                "location": self.location,
                "identity": {"type": "SystemAssigned"},
                "properties": {
                    "friendlyName": self.workspace_name,
                    "discoveryUrl": f"{self.url}/discovery",
                    "mlFlowTrackingUri": f"azureml://{self.location}.api.azureml.ms/mlflow/v1.0{self.workspace_path}",
                    "workspaceId": str(uuid.uuid5(uuid.NAMESPACE_URL, self.workspace_path)),
                    "storageAccount": (
                        f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                        f"/providers/Microsoft.Storage/storageAccounts/{BLOB_ACCOUNT}"
                    ),
                },
            },
        )
        self.put(
            self.ws("datastores", "workspaceblobstore"),
            {
                "properties": {
                    "datastoreType": "AzureBlob",
                    "accountName": BLOB_ACCOUNT,
                    "containerName": BLOB_CONTAINER,
                    "endpoint": f"127.0.0.1:{self.port}",
                    "protocol": "https",
                    "isDefault": True,
                    "credentials": {"credentialsType": "AccountKey"},
                }
            },
        )

    def _complete(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        segments = segments_after_namespace(path) or []
        provider = ARM_PREFIX.match(path)
        namespace = provider.group(2).split("/")[-1] if provider and provider.group(2) else ML_NAMESPACE
        types = segments[0::2]
        body["id"] = path
        body.setdefault("name", path.rstrip("/").split("/")[-1])
        body["type"] = "/".join([namespace, *types]) if types else namespace
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body.setdefault("systemData", {"createdAt": now, "createdBy": "fake-arm", "createdByType": "User"})
        body["systemData"]["lastModifiedAt"] = now
        properties = body.setdefault("properties", {})
        if isinstance(properties, dict):
            properties.setdefault("provisioningState", "Succeeded")
        return body

    def _lro_headers(self, key: str | None = None) -> dict[str, str]:
        op_id = f"op-{next(self._op_counter)}"
        if key is not None and key in self._running:
            self._operations[op_id] = key
        operation = f"{self.url}/operations/{op_id}"
        # Not Retry-After: 0, which azure-core reads as "no hint" (azure-ai-ml's deployment poller then waits 5 s).
        return {"Azure-AsyncOperation": operation, "Location": operation, "retry-after-ms": "20"}

    def _start_script(self, key: str, path: str) -> None:
        """After a PUT: put a scripted resource into its first state and start its clock."""
        for pattern, states, error in self._scripts:
            if pattern.search(path):
                self._running[key] = (time.monotonic(), states, error)
                for script_pattern, text in self._script_logs.items():
                    if re.search(script_pattern, path, re.IGNORECASE):
                        self.logs[key] = text
                self._resources[key].setdefault("properties", {})["provisioningState"] = states[0][0]
                return

    def _advance(self) -> None:
        """Move every scripted resource to the state its clock says."""
        now = time.monotonic()
        for key, (started, states, _error) in list(self._running.items()):
            resource = self._resources.get(key)
            if resource is None:
                del self._running[key]
                continue
            elapsed, state = now - started, states[-1][0]
            for name, seconds in states:
                if elapsed < seconds:
                    state = name
                    break
                elapsed -= seconds
            resource.setdefault("properties", {})["provisioningState"] = state

    def _operation(self, op_id: str) -> FakeResponse:
        key = self._operations.get(op_id)
        if key is None or key not in self._running:
            return FakeResponse(200, {"status": "Succeeded"}, {"Retry-After": "0"})
        state = (self._resources[key].get("properties") or {}).get("provisioningState", "Succeeded")
        if state not in _TERMINAL:
            return FakeResponse(200, {"status": "InProgress"}, {"retry-after-ms": "20"})
        error = self._running[key][2]
        if state == "Failed" and error is not None:
            return FakeResponse(200, {"status": "Failed", "error": dict(error)}, {"Retry-After": "0"})
        return FakeResponse(200, {"status": state}, {"Retry-After": "0"})

    def handle(self, request: RecordedRequest) -> FakeResponse:
        """Hooks first, then the default behaviour described in the module docstring."""
        for method, pattern, hook in list(self._hooks):
            if method == request.method and pattern.search(request.path):
                answer = hook(request, self)
                if answer is not None:
                    return answer
        path = request.path
        with self._lock:
            self._advance()
            if path.startswith("/operations/"):
                return self._operation(path.rsplit("/", 1)[-1])
        metrics = _METRICS.match(path)
        if metrics is not None and request.method == "GET":
            return self.monitor.answer(request, metrics.group("resource"))
        if path == "/discovery":
            return FakeResponse(200, {k: self.url for k in ("api", "catalog", "experimentation", "history", "mfe")})
        if path.startswith("/metadata/endpoints"):
            return FakeResponse(200, [arm_cloud_document(self.cloud_name, self.url, self.port)])
        if path.startswith("/history/"):
            return self._history(request)
        if path.startswith(f"/{BLOB_ACCOUNT}/"):
            return self._blob(request)
        if segments_after_namespace(path) is None:
            return arm_error(404, "NotFound", f"the fake ARM has no route for {request.method} {path}")
        if request.method == "POST":
            return self._action(request)
        return self._resource(request)

    def _resource(self, request: RecordedRequest) -> FakeResponse:
        path = request.path.rstrip("/")
        key = path.lower()
        segments = segments_after_namespace(path) or []
        with self._lock:
            if request.method == "GET":
                if len(segments) % 2 == 1:
                    prefix = key + "/"
                    children = [
                        copy.deepcopy(res)
                        for k, res in self._resources.items()
                        if k.startswith(prefix) and "/" not in k[len(prefix) :]
                    ]
                    return FakeResponse(200, {"value": children})
                found = self._resources.get(key)
                if found is None:
                    return arm_error(404, "ResourceNotFound", f"resource {path} was not found")
                return FakeResponse(200, copy.deepcopy(found))
            if request.method in ("PUT", "PATCH"):
                existing = self._resources.get(key)
                body = request.body if isinstance(request.body, dict) else {}
                if request.method == "PATCH":
                    if existing is None:
                        return arm_error(404, "ResourceNotFound", f"resource {path} was not found")
                    resource = copy.deepcopy(existing)
                    merge_patch(resource, body)
                else:
                    resource = copy.deepcopy(body)
                    if existing is not None and "systemData" in existing:
                        resource["systemData"] = copy.deepcopy(existing["systemData"])
                service_defaults(path, resource)
                for pattern, store_hook in self._store_hooks:
                    if pattern.search(path):
                        store_hook(resource, request)
                stored = self._complete(path, resource)
                self._resources[key] = stored
                if request.method == "PUT":
                    self._running.pop(key, None)
                    self._start_script(key, path)
                status = 200 if existing is not None else 201
                return FakeResponse(status, copy.deepcopy(stored), self._lro_headers(key))
            if request.method == "DELETE":
                removed = self._resources.pop(key, None)
                for other in [k for k in self._resources if k.startswith(key + "/")]:
                    del self._resources[other]
                if removed is None:
                    return FakeResponse(204, None, {"Retry-After": "0"})
                return FakeResponse(202, None, self._lro_headers())
        return arm_error(405, "MethodNotAllowed", f"{request.method} is not supported on {path}")

    def _action(self, request: RecordedRequest) -> FakeResponse:
        path = request.path.rstrip("/")
        action = path.split("/")[-1].lower()
        target = path.rsplit("/", 1)[0]
        if action == "getlogs":
            with self._lock:
                return FakeResponse(200, {"content": self.logs.get(target.lower(), "")})
        if action == "listsecrets":
            return FakeResponse(200, {"secretsType": "AccountKey", "key": "ZmFrZS1hY2NvdW50LWtleQ=="})
        if action == "startpendingupload":
            blob = f"LocalUpload/{uuid.uuid4().hex}"
            uri = f"{self.blob_url()}/{blob}"
            return FakeResponse(
                200,
                {
                    "blobReferenceForConsumption": {
                        "blobUri": uri,
                        "storageAccountArmId": f"/subscriptions/{self.subscription_id}/storageAccounts/{BLOB_ACCOUNT}",
                        "credential": {"credentialType": "SAS", "sasUri": f"{uri}?sv=2023-01-03&sig=fake"},
                    },
                    "pendingUploadId": uuid.uuid4().hex,
                    "pendingUploadType": "TemporaryBlobReference",
                },
            )
        if action == "cancel":
            with self._lock:
                if target.lower() in self._resources:
                    merge_patch(self._resources[target.lower()], {"properties": {"status": "CancelRequested"}})
            return FakeResponse(202, None, self._lro_headers())
        return arm_error(404, "NotFound", f"the fake ARM has no action '{action}' ({path})")

    def _history(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            return history_answer(request, self._children)

    def _blob(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            return blob_answer(request, self.blobs, self._blocks)
