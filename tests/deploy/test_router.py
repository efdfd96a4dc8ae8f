"""The local router as a real HTTP server in front of small real upstream servers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from ml.platform.router import create_app, percentile
from tests.deploy.servers import fake_model_server, free_port, serve


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, tuple[str, object]]]:
    apps = {
        "blue": fake_model_server("blue"),
        "green": fake_model_server("green"),
        "broken": fake_model_server("broken", status=400),
        "fivexx": fake_model_server("fivexx", status=503),
    }
    with ExitStack() as stack:
        yield {name: (stack.enter_context(serve(app)), app) for name, app in apps.items()}


@pytest.fixture
def router(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with serve(create_app(tmp_path)) as url:
        yield url, tmp_path


def _register(client: httpx.Client, name: str, url: str) -> None:
    client.put(f"/admin/deployments/{name}", json={"url": url, "model": f"models:/m/{name}"}).raise_for_status()


def _invoke(client: httpx.Client, n: int) -> list[httpx.Response]:
    return [client.post("/invocations", json={"inputs": [[i]]}) for i in range(n)]


def test_weighted_split_is_exact_and_labelled(upstreams: dict, router: tuple[str, Path]) -> None:
    url, _ = router
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/invocations", json={}).status_code == 503  # no deployment yet
        _register(client, "blue", upstreams["blue"][0])
        _register(client, "green", upstreams["green"][0])
        client.put("/admin/traffic", json={"weights": {"blue": 90, "green": 10}}).raise_for_status()
        answers = Counter(r.headers["x-deployment"] for r in _invoke(client, 100))
        assert answers == {"blue": 90, "green": 10}
        client.put("/admin/traffic", json={"weights": {"blue": 25, "green": 75}}).raise_for_status()
        answers = Counter(r.json()["predictions"][0] for r in _invoke(client, 40))
        assert answers == {"blue": 10, "green": 30}


def test_mirror_copies_share_and_discards_answers(upstreams: dict, router: tuple[str, Path]) -> None:
    url, _ = router
    with httpx.Client(base_url=url, timeout=10) as client:
        _register(client, "blue", upstreams["blue"][0])
        _register(client, "green", upstreams["green"][0])
        client.put("/admin/traffic", json={"weights": {"blue": 100}, "mirror": {"green": 20}}).raise_for_status()
        green_app = upstreams["green"][1]
        before = len(green_app.state.received)  # type: ignore[attr-defined]
        responses = _invoke(client, 50)
        assert {r.headers["x-deployment"] for r in responses} == {"blue"}
        time.sleep(0.3)  # mirrored copies are fire-and-forget
        assert len(green_app.state.received) - before == 10  # type: ignore[attr-defined]
        metrics = client.get("/metrics.json").json()["deployments"]
        assert metrics["green"]["mirrored_requests"] == 10
        assert metrics["blue"]["requests"] == 50
        refused = client.put("/admin/traffic", json={"weights": {"blue": 50, "green": 50}, "mirror": {"green": 10}})
        assert refused.status_code == 400
        assert "already takes live traffic" in refused.json()["error"]


def test_unreachable_deployment_fails_over_and_is_counted(upstreams: dict, router: tuple[str, Path]) -> None:
    url, _ = router
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: like a killed model server
    with httpx.Client(base_url=url, timeout=10) as client:
        _register(client, "blue", upstreams["blue"][0])
        _register(client, "green", dead)
        client.put("/admin/traffic", json={"weights": {"blue": 50, "green": 50}}).raise_for_status()
        responses = _invoke(client, 20)
        assert all(r.status_code == 200 and r.headers["x-deployment"] == "blue" for r in responses)
        window = client.get("/admin/metrics", params={"deployment": "green", "since": 0}).json()
        assert window["requests"] == 10
        assert window["errors"] == 10
        text = client.get("/metrics").text
        assert 'ml_router_requests_total{deployment="green",code="unreachable",mirrored="false"} 10' in text
        assert 'ml_router_errors_total{deployment="green",mirrored="false"} 10' in text


def test_model_errors_count_as_errors_and_reach_the_client(upstreams: dict, router: tuple[str, Path]) -> None:
    url, _ = router
    with httpx.Client(base_url=url, timeout=10) as client:
        _register(client, "broken", upstreams["broken"][0])
        _register(client, "fivexx", upstreams["fivexx"][0])
        client.put("/admin/traffic", json={"weights": {"broken": 50, "fivexx": 50}}).raise_for_status()
        codes = Counter(r.status_code for r in _invoke(client, 10))
        assert codes == {400: 5, 503: 5}
        since = time.time() - 60
        for name in ("broken", "fivexx"):
            window = client.get("/admin/metrics", params={"deployment": name, "since": since}).json()
            assert (window["requests"], window["errors"]) == (5, 5)
            assert window["p95_ms"] is not None


def test_prometheus_histogram_and_gauges(upstreams: dict, router: tuple[str, Path]) -> None:
    url, _ = router
    with httpx.Client(base_url=url, timeout=10) as client:
        _register(client, "blue", upstreams["blue"][0])
        client.put("/admin/traffic", json={"weights": {"blue": 100}}).raise_for_status()
        _invoke(client, 7)
        text = client.get("/metrics").text
    assert "# TYPE ml_router_request_duration_seconds histogram" in text
    assert 'ml_router_request_duration_seconds_bucket{deployment="blue",mirrored="false",le="+Inf"} 7' in text
    assert 'ml_router_request_duration_seconds_count{deployment="blue",mirrored="false"} 7' in text
    assert 'ml_router_traffic_weight{deployment="blue"} 100' in text
    assert 'ml_router_requests_total{deployment="blue",code="200",mirrored="false"} 7' in text


def test_admin_validation(upstreams: dict, router: tuple[str, Path]) -> None:
    url, _ = router
    with httpx.Client(base_url=url, timeout=10) as client:
        _register(client, "blue", upstreams["blue"][0])
        bad = client.put("/admin/traffic", json={"weights": {"blue": 60}})
        assert bad.status_code == 400 and "sum to 100" in bad.json()["error"]
        unknown = client.put("/admin/traffic", json={"weights": {"blue": 50, "red": 50}})
        assert unknown.status_code == 404 and "unknown deployment 'red'" in unknown.json()["error"]
        fractional = client.put("/admin/traffic", json={"weights": {"blue": 99.5, "green": 0.5}})
        assert fractional.status_code in (400, 404)
        assert client.put("/admin/deployments/x", json={"url": "ftp://nope"}).status_code == 400
        client.put("/admin/traffic", json={"weights": {"blue": 100}}).raise_for_status()
        busy = client.delete("/admin/deployments/blue")
        assert busy.status_code == 409 and "move it away first" in busy.json()["error"]


def test_state_survives_a_restart(upstreams: dict, tmp_path: Path) -> None:
    with serve(create_app(tmp_path)) as url, httpx.Client(base_url=url, timeout=10) as client:
        _register(client, "blue", upstreams["blue"][0])
        _register(client, "green", upstreams["green"][0])
        client.put("/admin/traffic", json={"weights": {"blue": 70, "green": 30}}).raise_for_status()
    assert (tmp_path / "router" / "state.json").exists()
    with serve(create_app(tmp_path)) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/admin/traffic").json() == {"weights": {"blue": 70, "green": 30}, "mirror": {}}
        answers = Counter(r.headers["x-deployment"] for r in _invoke(client, 10))
        assert answers == {"blue": 7, "green": 3}
        assert client.get("/health").json()["deployments"] == ["blue", "green"]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 50) is None
