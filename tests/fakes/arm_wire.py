"""The Azure fake's wire layer: recorded requests, answers, the HTTP handler, run history and blobs.

- **Run history** (``GET /history/v1.0/.../runs/{id}/children``): the child runs stored with
  `FakeArm.add_child_run` (what ``jobs.list(parent_job_name=...)`` reads).
- **Blob storage**, path-style (``https://127.0.0.1:{port}/{account}/{container}/{blob}``):
  ``PUT`` stores bytes (single shot or block list), ``HEAD``/``GET`` read them back, so asset
  uploads (a code folder) really happen. ``codes/.../startPendingUpload`` and
  ``datastores/.../listSecrets`` answer SAS URIs / keys that point here.

Why apart from `tests.fakes.arm`: the resource model (what ARM stores, long-running operations,
hooks) is what tests read and extend; how bytes become a `RecordedRequest` and an answer becomes
bytes, and the blob service's block protocol, do not change with the resources the fake knows.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from tests.fakes.arm import FakeArm

ARM_PREFIX = re.compile(r"^/subscriptions/[^/]+(/resourceGroups/[^/]+)?(/providers/[^/]+)?", re.IGNORECASE)
_HISTORY = r"^/history/v1\.0(?P<ws>/subscriptions/.+?/workspaces/[^/]+)/runs/(?P<run>[^/]+)"
_HISTORY_CHILDREN = re.compile(_HISTORY + "/children$")
_HISTORY_RUN = re.compile(_HISTORY + "$")
BLOB_ACCOUNT = "fakeblobaccount"
BLOB_CONTAINER = "azureml-blobstore-fake"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it; ``body`` is parsed JSON (or None / raw bytes)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        """The first value of a query parameter (e.g. ``api-version``)."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class FakeResponse:
    """What a hook (or the default handling) answers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def arm_error(status: int, code: str, message: str) -> FakeResponse:
    """An ARM-shaped error answer, which azure-core turns into HttpResponseError with ``code``."""
    return FakeResponse(status, {"error": {"code": code, "message": message}})


def segments_after_namespace(path: str) -> list[str] | None:
    match = ARM_PREFIX.match(path)
    if match is None or match.group(2) is None:
        return None
    rest = path[match.end() :].strip("/")
    return rest.split("/") if rest else []


def service_defaults(path: str, resource: dict[str, Any]) -> None:
    properties = resource.get("properties")
    if not isinstance(properties, dict):
        return
    if re.search(r"/jobs/[^/]+$", path, re.IGNORECASE):
        properties.setdefault("status", "NotStarted")
    if re.search(r"/onlineEndpoints/[^/]+/deployments/[^/]+$", path, re.IGNORECASE):
        properties.setdefault("scaleSettings", {"scaleType": "Default"})
    if re.search(r"/models/[^/]+/versions/[^/]+$", path, re.IGNORECASE):
        properties.setdefault("flavors", {})


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def handler_for(fake: FakeArm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # silence the access log
            return

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = raw
            content_type = self.headers.get("Content-Type", "")
            if (
                raw
                and ("json" in content_type or raw[:1] in (b"{", b"["))
                and not split.path.startswith(f"/{BLOB_ACCOUNT}/")
            ):
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
            elif not raw:
                body = None if not split.path.startswith(f"/{BLOB_ACCOUNT}/") else b""
            request = RecordedRequest(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query),
                body=body,
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            with fake._lock:
                fake.requests.append(request)
            try:
                answer = fake.handle(request)
            except Exception as exc:  # a bug in a hook: answer 500 with the reason instead of hanging
                answer = arm_error(500, "FakeArmError", f"{type(exc).__name__}: {exc}")
            self._answer(answer)

        def _answer(self, answer: FakeResponse) -> None:
            if isinstance(answer.body, bytes):
                payload = answer.body
                content_type = answer.headers.get("Content-Type", "application/octet-stream")
            elif answer.body is None:
                payload, content_type = b"", "application/json"
            else:
                payload, content_type = json.dumps(answer.body).encode(), "application/json; charset=utf-8"
            self.send_response(answer.status)
            headers = {"Content-Type": content_type, "x-ms-request-id": str(uuid.uuid4()), **answer.headers}
            if self.command == "HEAD":
                headers.setdefault("Content-Length", str(len(payload)))
            else:
                headers["Content-Length"] = str(len(payload))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD" and payload:
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815 -- http.server's names

    return Handler


def iter_bodies(requests: list[RecordedRequest]) -> Iterator[dict[str, Any]]:
    """The JSON bodies of ``requests`` (skipping those without one)."""
    for request in requests:
        if isinstance(request.body, dict):
            yield request.body


def blob_answer(request: RecordedRequest, blobs: dict[str, bytes], blocks: dict[str, dict[str, bytes]]) -> FakeResponse:
    """The blob service's answer (block upload, commit, get, head, list); the caller holds the fake's lock."""
    name = unquote(request.path)
    comp = request.param("comp")
    headers = {
        "ETag": '"0x8D' + uuid.uuid4().hex[:12].upper() + '"',
        "Last-Modified": formatdate(usegmt=True),
        "x-ms-request-server-encrypted": "true",
        "x-ms-version": "2025-01-05",
    }
    if request.method == "PUT" and comp == "block":
        blocks.setdefault(name, {})[request.param("blockid") or ""] = request.body or b""
        return FakeResponse(201, b"", headers)
    if request.method == "PUT" and comp == "blocklist":
        uploaded = blocks.pop(name, {})
        ids = re.findall(rb"<(?:Latest|Uncommitted|Committed)>([^<]*)<", request.body or b"")
        blobs[name] = b"".join(uploaded.get(i.decode(), b"") for i in ids)
        return FakeResponse(201, b"", headers)
    if request.method == "PUT" and comp == "metadata":
        return FakeResponse(200, b"", headers)
    if request.method == "PUT":
        blobs[name] = request.body if isinstance(request.body, bytes) else b""
        return FakeResponse(201, b"", headers)
    if request.method in ("GET", "HEAD") and request.param("restype") == "container":
        return FakeResponse(200, b"", headers)
    if request.method in ("GET", "HEAD"):
        if request.param("comp") == "list":
            return FakeResponse(
                200, b'<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs/></EnumerationResults>'
            )
        data = blobs.get(name)
        if data is None:
            return FakeResponse(404, b"", {"x-ms-error-code": "BlobNotFound"})
        headers.update({"Content-Length": str(len(data)), "x-ms-blob-type": "BlockBlob"})
        return FakeResponse(200, data if request.method == "GET" else b"", headers)
    return FakeResponse(405, b"")


def history_answer(request: RecordedRequest, children_of: dict[str, list[dict[str, Any]]]) -> FakeResponse:
    """Run history: a parent's child runs (``$top`` honoured) or one run; the caller holds the fake's lock."""
    children = _HISTORY_CHILDREN.match(request.path)
    if children is not None and request.method == "GET":
        runs = copy.deepcopy(children_of.get(children.group("run"), []))
        top = request.param("$top")
        if top is not None:
            runs = runs[: int(top)]
        return FakeResponse(200, {"value": runs, "nextLink": None, "continuationToken": None})
    single = _HISTORY_RUN.match(request.path)
    if single is not None and request.method == "GET":
        for siblings in children_of.values():
            for run in siblings:
                if run.get("runId") == single.group("run"):
                    return FakeResponse(200, copy.deepcopy(run))
        return arm_error(404, "RunNotFound", f"run {single.group('run')} was not found")
    return arm_error(404, "NotFound", f"the fake run history has no route for {request.method} {request.path}")


def sdk_cloud_metadata(url: str, port: int) -> dict[str, str]:
    """What ``MLClient(cloud_metadata=)`` takes to point every endpoint at the fake at ``url``."""
    return {
        "azure_portal": f"{url}/portal/",
        "resource_manager": f"{url}/",
        "active_directory": f"{url}/login/",
        "aml_resource_id": f"{url}/",
        "storage_endpoint": f"127.0.0.1:{port}",
        "registry_discovery_endpoint": f"{url}/",
    }


def arm_cloud_document(name: str, url: str, port: int) -> dict[str, Any]:
    """The ``/metadata/endpoints`` answer describing the fake as an ARM cloud (``ARM_CLOUD_METADATA_URL``)."""
    return {
        "name": name,
        "portal": f"{url}/portal/",
        "resourceManager": f"{url}/",
        "authentication": {"loginEndpoint": f"{url}/login/", "audiences": [f"{url}/"]},
        "suffixes": {"storage": f"127.0.0.1:{port}"},
    }
