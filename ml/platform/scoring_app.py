"""MLflow's scoring server, wrapped so a model that raises answers 500 and every answer names its deployment.

Why a wrapper: MLflow's scoring app answers a model that raised while predicting with HTTP 400
("Encountered an unexpected error while evaluating the model"), the same status as a malformed
request. The proxy in front (Traefik) and every gate count errors by status class, so a failing
model must be a 5xx, while a bad request stays a 4xx the client is to blame for. The wrapper reads
the body of 400 answers only (other answers stream through untouched) and turns exactly MLflow's
model-failure 400 into a 500.

It also adds ``x-deployment: <name>`` to every answer (``ML_DEPLOYMENT_NAME``), so a client
behind the weighted proxy sees which colour served it (the load generator and tests count that).

With the capture environment of `ml.contract.monitoring.capture_env` set, it also records a
sample of requests and answers (`ml.platform.capture`): the one writer of the platform's
`CaptureRecord`s, on the local platform and in Kubernetes pods alike.

Run as ``uvicorn ml.platform.scoring_app:app`` with MLflow's model-path variable set, as
`ml.platform.model_server` does; `wrap` is the testable part.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ml.platform.capture import CaptureWriter, Pending

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODEL_ERROR_MARKER = b"unexpected error while evaluating the model"
DEPLOYMENT_ENV = "ML_DEPLOYMENT_NAME"


def is_model_failure(status: int, body: bytes) -> bool:
    """MLflow's way of saying "the model raised": a 400 whose body carries its fixed message."""
    return status == 400 and MODEL_ERROR_MARKER in body


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


def wrap(inner: ASGIApp, deployment: str | None, capture: CaptureWriter | None = None) -> ASGIApp:
    """``inner`` with model failures answered 500 and an ``x-deployment`` header on every HTTP answer.

    With ``capture``, every ``/invocations`` answer carries ``x-request-id`` (the caller's, or a
    new one: what labels are joined on later), and a sampled request's body and answer are handed
    to the writer after the answer is sent; the request path only copies bytes it sees anyway.
    """
    extra = [(b"x-deployment", deployment.encode())] if deployment else []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []
        headers = extra
        captured: dict[str, Any] | None = None
        if capture is not None and scope.get("path") == "/invocations":
            given = _header(scope, b"x-request-id")
            request_id = given.decode("latin-1") if given else uuid.uuid4().hex
            headers = [*extra, (b"x-request-id", request_id.encode("latin-1"))]
            if capture.sampled():
                captured = {"id": request_id, "t": time.time(), "t0": time.perf_counter(), "in": [], "out": []}
                inner_receive = receive

                async def receive() -> Message:
                    message = await inner_receive()
                    if message["type"] == "http.request":
                        captured["in"].append(message.get("body", b""))
                    return message

        async def relay(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
                if captured is not None:
                    captured["status"] = message["status"]
                if message["status"] == 400:
                    held = message  # decide the status once the whole body is known
                    return
                await send(message)
                return
            if captured is not None and message["type"] == "http.response.body":
                captured["out"].append(message.get("body", b""))
            if held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                if is_model_failure(held["status"], body):
                    held["status"] = 500
                if captured is not None:
                    captured["status"] = held["status"]
                await send(held)
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await inner(scope, receive, relay)
        if capture is not None and captured is not None:
            content_type = _header(scope, b"content-type") or b"application/json"
            capture.add(
                Pending(
                    request_id=captured["id"],
                    timestamp=captured["t"],
                    status_code=int(captured.get("status", 500)),
                    latency_ms=(time.perf_counter() - captured["t0"]) * 1000.0,
                    request_body=b"".join(captured["in"]),
                    content_type=content_type.decode("latin-1"),
                    response_body=b"".join(captured["out"]),
                )
            )

    return app


def __getattr__(name: str) -> ASGIApp:
    """``app``, built on first access: importing `wrap` (tests) must not load a model."""
    if name != "app":
        raise AttributeError(name)
    from mlflow.pyfunc.scoring_server.app import app as mlflow_app  # loads the model named by the env

    built = wrap(mlflow_app, os.environ.get(DEPLOYMENT_ENV), CaptureWriter.from_env())
    globals()["app"] = built
    return built
