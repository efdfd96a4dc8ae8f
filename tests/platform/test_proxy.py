"""The local endpoint's proxy for real: Traefik started by `ml.platform.proxy` in front of real HTTP servers.

Upstreams are small uvicorn servers on free 127.0.0.1 ports, wrapped like the model-server
launcher wraps MLflow's scoring app (`ml.platform.scoring_app`): a model failure is a 500 and
answers name their deployment. Every test starts its own Traefik and stops it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml.deploy.targets._prometheus import metrics_from_counts
from ml.platform import proxy
from ml.platform.layout import Layout
from ml.platform.process import stop, wait_http
from ml.platform.scoring_app import wrap
from tests.deploy.servers import fake_model_server, free_port, serve

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, tuple[str, object]]]:
    apps = {
        "blue": fake_model_server("blue"),
        "green": fake_model_server("green"),
        "broken": fake_model_server("broken", status=400),  # MLflow's "model raised" 400
        "slow": fake_model_server("slow", delay=0.03),
    }
    with ExitStack() as stack:
        yield {name: (stack.enter_context(serve(wrap(app, name))), app) for name, app in apps.items()}


class Running:
    """A Traefik under ``home`` plus the client the platform uses."""

    def __init__(self, home: Path) -> None:
        self.layout = Layout(home)
        self.record = proxy.start(self.layout)
        assert wait_http(proxy.health_url(self.record), timeout=30, record=self.record)
        self.proxy = proxy.Proxy.connect(self.layout)
        self.proxy.wait_loaded()
        self.client = httpx.Client(base_url=str(self.record.url), timeout=10)

    def invoke(self, n: int) -> list[httpx.Response]:
        return [self.client.post("/invocations", json={"inputs": [[i]]}) for i in range(n)]

    def close(self) -> None:
        self.client.close()
        self.proxy.close()
        stop(self.record)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    world = Running(tmp_path)
    try:
        yield world
    finally:
        world.close()


def test_weighted_split_is_acknowledged_live_and_served(upstreams: dict, running: Running) -> None:
    p = running.proxy
    assert running.client.post("/invocations", json={}).status_code == 404  # no live deployment yet
    p.register("blue", upstreams["blue"][0])
    p.register("green", upstreams["green"][0])
    started = time.perf_counter()
    live = p.set_traffic({"blue": 90, "green": 10})
    acknowledged = time.perf_counter() - started
    assert live.weights == {"blue": 90, "green": 10} and acknowledged < 5
    assert p.state().deployments == {"blue": upstreams["blue"][0], "green": upstreams["green"][0]}
    answers = Counter(r.headers["x-deployment"] for r in running.invoke(100))
    assert answers == {"blue": 90, "green": 10}  # Traefik's weighted round robin is exact over a cycle
    p.set_traffic({"blue": 25, "green": 75})
    answers = Counter(r.json()["predictions"][0] for r in running.invoke(40))
    assert answers == {"blue": 10, "green": 30}
    assert "live" in proxy.dynamic_config(p.state())["http"]["services"]


def test_mirror_copies_its_share_and_counts_it_on_the_idle_colour(upstreams: dict, running: Running) -> None:
    p = running.proxy
    p.register("blue", upstreams["blue"][0])
    p.register("green", upstreams["green"][0])
    p.set_traffic({"blue": 100}, {"green": 20})
    assert p.state().mirror == {"green": 20}
    green_app = upstreams["green"][1]
    before = len(green_app.state.received)  # type: ignore[attr-defined]
    since = time.time()
    responses = running.invoke(50)
    assert {r.headers["x-deployment"] for r in responses} == {"blue"}
    time.sleep(0.3)  # mirrored copies are fire-and-forget
    assert len(green_app.state.received) - before == 10  # type: ignore[attr-defined]
    assert sum(p.window("green", since).by_code.values()) == 10
    assert sum(p.window("blue", since).by_code.values()) == 50
    with pytest.raises(proxy.ProxyError, match="already takes live traffic"):
        p.set_traffic({"blue": 50, "green": 50}, {"green": 10})


def test_a_dead_deployment_is_retried_on_the_live_one_and_counted_against_itself(
    upstreams: dict, running: Running
) -> None:
    p = running.proxy
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: a killed model server
    p.register("blue", upstreams["blue"][0])
    p.register("green", dead)
    since = time.time()
    p.set_traffic({"blue": 25, "green": 75})
    responses = running.invoke(30)
    assert all(r.status_code == 200 and r.headers["x-deployment"] == "blue" for r in responses)
    green = metrics_from_counts(p.window("green", since).by_class(), p.window("green", since).buckets_ms)
    assert green.requests >= 1 and green.errors == green.requests  # refused: 502 against the dead one
    assert p.window("green", since).by_code.keys() == {"502"}


@contextmanager
def resetting_server() -> Iterator[str]:
    """Reads a request and closes the connection without answering: a model server killed mid-request."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()


def test_a_request_reset_mid_flight_is_replayed_on_a_live_colour(upstreams: dict, running: Running) -> None:
    p = running.proxy
    with resetting_server() as dying:
        p.register("blue", upstreams["blue"][0])
        p.register("green", dying)
        since = time.time()
        p.set_traffic({"blue": 50, "green": 50})
        responses = running.invoke(10)
    assert [(r.status_code, r.headers.get("x-deployment")) for r in responses] == [(200, "blue")] * 10
    assert sum(p.window("green", since).by_code.values()) >= 1


def test_model_failures_are_5xx_errors_and_bad_requests_stay_4xx(upstreams: dict, running: Running) -> None:
    p = running.proxy
    p.register("broken", upstreams["broken"][0])
    p.register("blue", upstreams["blue"][0])
    since = time.time()
    p.set_traffic({"broken": 100})
    codes = Counter(r.status_code for r in running.invoke(10))
    assert codes == {500: 10}
    broken = p.window("broken", since)
    metrics = metrics_from_counts(broken.by_class(), broken.buckets_ms)
    assert (metrics.requests, metrics.errors) == (10, 10) and metrics.p95_ms is not None


def test_a_bad_request_stays_a_4xx_through_the_wrapper() -> None:
    async def invocations(_: Request) -> Response:
        return JSONResponse({"error_code": "BAD_REQUEST", "message": "Invalid input. Unknown key 'x'"}, 400)

    app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"])])
    with serve(wrap(app, "blue")) as url:
        answer = httpx.post(f"{url}/invocations", json={"x": 1}, timeout=10)
    assert answer.status_code == 400 and "Invalid input" in answer.json()["message"]
    assert answer.headers["x-deployment"] == "blue"


def test_latency_histogram_p95_is_close_to_the_client_side_p95(upstreams: dict, running: Running) -> None:
    p = running.proxy
    p.register("slow", upstreams["slow"][0])
    p.set_traffic({"slow": 100})
    since = time.time()
    running.invoke(40)
    window = p.window("slow", since)
    metrics = metrics_from_counts(window.by_class(), window.buckets_ms)
    assert metrics.requests == 40
    assert metrics.p95_ms is not None and 25 <= metrics.p95_ms <= 75  # a 30 ms model behind fine buckets


def test_validation_names_what_is_wrong(upstreams: dict, running: Running) -> None:
    p = running.proxy
    p.register("blue", upstreams["blue"][0])
    with pytest.raises(proxy.ProxyError, match="sum to 100"):
        p.set_traffic({"blue": 60})
    with pytest.raises(proxy.ProxyError, match="unknown deployment 'red'"):
        p.set_traffic({"blue": 50, "red": 50})
    with pytest.raises(proxy.ProxyError, match="integer percentage"):
        p.set_traffic({"blue": 99.5})
    with pytest.raises(proxy.ProxyError, match="http"):
        p.register("x", "ftp://nope")
    with pytest.raises(proxy.ProxyError, match="not allowed"):
        p.register("live", upstreams["blue"][0])
    p.set_traffic({"blue": 100})
    with pytest.raises(proxy.ProxyError, match="move it away first"):
        p.unregister("blue")
    p.unregister("nobody")  # idempotent


def test_the_traffic_map_survives_a_restart(upstreams: dict, tmp_path: Path) -> None:
    first = Running(tmp_path)
    try:
        first.proxy.register("blue", upstreams["blue"][0])
        first.proxy.register("green", upstreams["green"][0])
        first.proxy.set_traffic({"blue": 70, "green": 30})
    finally:
        first.close()
    again = Running(tmp_path)
    try:
        assert again.proxy.state().traffic() == {"weights": {"blue": 70, "green": 30}, "mirror": {}}
        answers = Counter(r.headers["x-deployment"] for r in again.invoke(10))
        assert answers == {"blue": 7, "green": 3}
    finally:
        again.close()


def test_metrics_text_becomes_per_deployment_counters() -> None:
    text = "\n".join(
        [
            "# TYPE traefik_service_requests_total counter",
            'traefik_service_requests_total{code="200",method="POST",protocol="http",service="blue@file"} 90',
            'traefik_service_requests_total{code="502",method="POST",protocol="http",service="blue@file"} 10',
            'traefik_service_requests_total{code="200",method="GET",protocol="http",service="api@internal"} 5',
            'traefik_service_request_duration_seconds_bucket{code="200",service="blue@file",le="0.01"} 50',
            'traefik_service_request_duration_seconds_bucket{code="502",service="blue@file",le="0.01"} 10',
            'traefik_service_request_duration_seconds_bucket{code="200",service="blue@file",le="0.02"} 90',
            'traefik_service_request_duration_seconds_bucket{code="502",service="blue@file",le="0.02"} 10',
            'traefik_service_request_duration_seconds_bucket{code="200",service="blue@file",le="+Inf"} 90',
            'traefik_service_request_duration_seconds_bucket{code="502",service="blue@file",le="+Inf"} 10',
        ]
    )
    counters = proxy.parse_metrics(text)
    assert set(counters) == {"blue"}
    blue = counters["blue"]
    assert blue.by_class() == {"2": 90, "5": 10}
    metrics = metrics_from_counts(blue.by_class(), blue.buckets_ms)
    assert (metrics.requests, metrics.errors) == (100, 10)
    assert metrics.p95_ms == pytest.approx(18.75)
    later = proxy.Counters({"200": 100.0, "502": 10.0}, blue.buckets_ms)
    assert later.minus(blue).by_code == {"200": 10.0, "502": 0.0}
    assert proxy.Counters({"200": 1.0}).minus(blue).by_code == {"200": 1.0}  # a restart resets counters
