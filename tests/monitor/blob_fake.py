"""A small HTTP fake of Azure Blob Storage's two read calls: List Blobs and Get Blob (path-style URLs).

Why a fake: `ml monitor` reads Azure ML's data collector output with the real azure-storage-blob
client; this server answers what that client sends (``GET /{account}/{container}?restype=container
&comp=list&prefix=...`` as EnumerationResults XML, ``GET /{account}/{container}/{blob}`` with its
``Range`` header as 206 + Content-Range) for blobs the test puts in ``FakeBlobs.blobs``. Anonymous
access over plain HTTP: the client sends no bearer token, so no TLS is needed. Every request path is
recorded in ``FakeBlobs.requests``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape

import pytest

ACCOUNT = "devstoreaccount1"


@dataclass
class FakeBlobs:
    url: str
    blobs: dict[str, dict[str, bytes]] = field(default_factory=dict)
    """container -> blob name -> content."""
    requests: list[str] = field(default_factory=list)

    def container_url(self, container: str) -> str:
        return f"{self.url}/{ACCOUNT}/{container}"


def _handler(state: FakeBlobs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body)), "x-ms-version": "2025-01-05"}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            state.requests.append(parsed.path + ("?" + parsed.query if parsed.query else ""))
            parts = unquote(parsed.path).lstrip("/").split("/", 2)
            query = parse_qs(parsed.query)
            container = parts[1] if len(parts) > 1 else ""
            blobs = state.blobs.get(container)
            if blobs is None:
                body = b"<?xml version='1.0' encoding='utf-8'?><Error><Code>ContainerNotFound</Code></Error>"
                self._send(404, body, {"Content-Type": "application/xml", "x-ms-error-code": "ContainerNotFound"})
                return
            stamp = formatdate(usegmt=True)
            if query.get("comp") == ["list"]:
                prefix = query.get("prefix", [""])[0]
                items = "".join(
                    f"<Blob><Name>{escape(name)}</Name><Properties><Last-Modified>{stamp}</Last-Modified>"
                    f"<Etag>0x1</Etag><Content-Length>{len(data)}</Content-Length>"
                    f"<Content-Type>application/octet-stream</Content-Type><BlobType>BlockBlob</BlobType>"
                    f"</Properties></Blob>"
                    for name, data in sorted(blobs.items())
                    if name.startswith(prefix)
                )
                body = (
                    f"<?xml version='1.0' encoding='utf-8'?><EnumerationResults ServiceEndpoint='{state.url}/{ACCOUNT}'"
                    f" ContainerName='{container}'><Prefix>{escape(prefix)}</Prefix><Blobs>{items}</Blobs>"
                    f"<NextMarker /></EnumerationResults>"
                ).encode()
                self._send(200, body, {"Content-Type": "application/xml"})
                return
            data = blobs.get(parts[2] if len(parts) > 2 else "")
            if data is None:
                self._send(404, b"", {"x-ms-error-code": "BlobNotFound"})
                return
            headers = {
                "Content-Type": "application/octet-stream",
                "ETag": '"0x1"',
                "Last-Modified": stamp,
                "x-ms-blob-type": "BlockBlob",
            }
            requested = self.headers.get("x-ms-range") or self.headers.get("Range")
            if requested and requested.startswith("bytes="):
                start_text, _, end_text = requested.removeprefix("bytes=").partition("-")
                start = int(start_text)
                end = min(int(end_text) if end_text else len(data) - 1, len(data) - 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                self._send(206, data[start : end + 1], headers)
                return
            self._send(200, data, headers)

    return Handler


@pytest.fixture
def fake_blobs() -> Iterator[FakeBlobs]:
    """The fake on 127.0.0.1:<free port>, stopped afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = FakeBlobs(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
