"""``POST /feedback`` on the local endpoint: Traefik routes it to the real feedback server process.

The feedback server is the process `ml platform up` starts (`ml.platform.local._start_feedback`,
``python -m ml.deploy.feedback``); Traefik is the platform's (`ml.platform.proxy`). Scoring calls
keep reaching the deployments while ``/feedback`` reaches the store the A/B engine reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ml.deploy.feedback import FeedbackStore
from ml.platform import local, proxy
from ml.platform.process import ProcessRecord, stop, wait_http
from ml.platform.scoring_app import wrap
from tests.deploy.servers import fake_model_server, serve
from tests.platform.test_proxy import Running

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def feedback_server(tmp_path: Path) -> Iterator[ProcessRecord]:
    from ml.platform.layout import Layout

    record = local._start_feedback(Layout(tmp_path))
    try:
        assert record.url is not None and wait_http(f"{record.url}/health", timeout=30, record=record)
        yield record
    finally:
        stop(record)
        assert not record.alive()


def test_feedback_is_routed_beside_the_scoring_split_and_stored(feedback_server: ProcessRecord, tmp_path: Path) -> None:
    running = Running(tmp_path)
    try:
        with serve(wrap(fake_model_server("blue"), "blue")) as blue:
            p = running.proxy
            assert running.client.post("/feedback", json={"request_id": "a", "value": 1}).status_code == 404
            p.set_feedback(feedback_server.url)
            assert p.state().feedback == feedback_server.url
            both = [{"request_id": "r-1", "value": 1}, {"request_id": "r-2", "value": False}]
            answer = running.client.post("/feedback", json=both)
            assert answer.status_code == 200 and answer.json() == {"stored": 2}
            p.register("blue", blue)
            p.set_traffic({"blue": 100})  # a traffic change keeps the feedback route
            assert running.invoke(1)[0].headers["x-deployment"] == "blue"
            assert p.state().feedback == feedback_server.url
            bad = running.client.post("/feedback", json={"request_id": "r 3", "value": "x"})
            assert bad.status_code == 400 and "request_id must be" in bad.json()["error"]
            assert running.client.post("/feedback", json={"request_id": "r-2", "value": 1}).status_code == 200
            assert proxy.FEEDBACK in proxy.dynamic_config(p.state())["http"]["routers"]
            p.set_feedback(None)  # without the route, /feedback is just a path on the scoring deployment
            assert running.client.post("/feedback", json={}).headers.get("x-deployment") == "blue"
        assert FeedbackStore.for_endpoint(tmp_path, "local").values() == {"r-1": 1.0, "r-2": 1.0}  # the latest counts
    finally:
        running.close()


def test_feedback_server_answers_health_and_refuses_non_json(feedback_server: ProcessRecord) -> None:
    assert httpx.get(f"{feedback_server.url}/health", timeout=5).json() == {"ok": True}
    answer = httpx.post(f"{feedback_server.url}/feedback", content=b"not json", timeout=5)
    assert answer.status_code == 400 and answer.json() == {"error": "body must be JSON"}
