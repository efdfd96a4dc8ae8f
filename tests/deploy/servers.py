"""Real HTTP servers on 127.0.0.1 for the router tests: uvicorn in a thread, stopped by the caller."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port for the duration of the block; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def fake_model_server(name: str, *, status: int = 200, delay: float = 0.0) -> Starlette:
    """Answers /invocations like an MLflow scoring server; records every body it received."""
    received: list[bytes] = []

    async def invocations(request: Request) -> Response:
        received.append(await request.body())
        if delay:
            import asyncio

            await asyncio.sleep(delay)
        if status == 400:
            return JSONResponse(
                {"error_code": "BAD_REQUEST", "message": "Encountered an unexpected error while evaluating the model."},
                status_code=400,
            )
        return JSONResponse({"predictions": [name]}, status_code=status)

    async def ping(_: Request) -> Response:
        return Response("\n", status_code=200)

    app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"]), Route("/ping", ping)])
    app.state.received = received
    return app
