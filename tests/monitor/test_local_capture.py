"""Local capture for real: a request through a real model server becomes a record `ml monitor` reads.

The model server is the platform's own (`ml.platform.model_server.start`: MLflow's scoring app
under uvicorn, wrapped by `ml.platform.scoring_app`), started on a free port from the test's
registry; its capture environment comes from the local platform's monitoring settings.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from ml.contract.capture import CaptureRecord
from ml.monitor.sources import parse_capture_uri, read_capture
from ml.platform import model_server
from ml.platform.capture import CaptureWriter, Pending
from ml.platform.layout import Layout
from ml.platform.process import wait_http
from tests.fakes.moto_server import MotoServer, moto_server  # noqa: F401 - the fixture
from tests.monitor.conftest import ENDPOINT, MODEL, Cancer, Platform


def _records(root: Path, wanted: int, timeout: float = 20.0) -> list[CaptureRecord]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for path in sorted(root.rglob("*.jsonl")) for line in path.read_text().splitlines() if line]
        if len(lines) >= wanted or time.monotonic() > deadline:
            return [CaptureRecord.from_dict(json.loads(line)) for line in lines]
        time.sleep(0.2)


def test_a_request_through_a_real_model_server_is_captured_and_monitored(
    platform: Platform, cancer: Cancer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = Layout(platform.home)
    record = model_server.start(
        layout, "blue", f"models:/{MODEL}/{platform.version}", tracking_uri=platform.tracking_uri
    )
    try:
        assert record.url is not None
        assert wait_http(record.url + "/ping", timeout=90, record=record), record.log.read_text()[-2000:]
        rows = cancer.x_test.to_numpy().tolist()
        with httpx.Client(base_url=record.url, timeout=30) as client:
            first = client.post("/invocations", json={"inputs": rows[:1]}, headers={"x-request-id": "req-1"})
            assert first.status_code == 200 and first.headers["x-request-id"] == "req-1"
            assert first.headers["x-deployment"] == "blue"
            batch = client.post("/invocations", json={"inputs": rows[1:]})
            assert batch.status_code == 200 and len(batch.headers["x-request-id"]) == 32  # generated
            bad = client.post("/invocations", content=b"{not json", headers={"content-type": "application/json"})
            assert bad.status_code == 400
        records = _records(platform.capture, len(rows) + 1)
    finally:
        model_server.remove(layout, "blue")

    assert len(records) == len(rows) + 1
    by_id = {r.request_id: r for r in records}
    one = by_id["req-1"]
    assert (one.endpoint, one.deployment, one.model_name, one.model_version) == (
        ENDPOINT,
        "blue",
        MODEL,
        platform.version,
    )
    assert one.inputs == {str(i): rows[0][i] for i in range(30)} and one.status_code == 200
    assert one.prediction in (0, 1) and one.latency_ms is not None and one.latency_ms > 0
    batch_id = batch.headers["x-request-id"]
    assert by_id[f"{batch_id}#1"].inputs["0"] == rows[2][0]
    assert [r.status_code for r in records if r.status_code >= 400] == [400]

    from ml.cli import main

    monkeypatch.setattr(
        sys, "argv", ["ml", "monitor", "--since", "1h", "--json", "--report-dir", str(platform.home / "r")]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert exited.value.code in (0, 3), err  # predictions are classes here, the reference has scores
    report = json.loads(out)
    assert report["traffic"]["requests"] == 3 and report["traffic"]["rows"] == len(rows) + 1
    assert report["traffic"]["error_rate"] == 0.0  # a bad request is the client's (4xx), not an error
    assert len(report["drift"]["columns"]) == 31


def test_the_writer_samples_and_names_unnamed_columns(tmp_path: Path) -> None:
    never = CaptureWriter(str(tmp_path), sampling_percent=0.001, endpoint="e", deployment="d")
    assert sum(never.sampled() for _ in range(1000)) < 5
    writer = CaptureWriter(str(tmp_path), sampling_percent=100, endpoint="e", deployment="green", model_name="m")
    body = json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}}).encode()
    writer.add(Pending("x", time.time(), 200, 2.0, body, "application/json", b'{"predictions": [0.1, 0.7]}'))
    writer.add(Pending("y", time.time(), 200, 2.0, b"5,6\n", "text/csv", b"[0.3]"))
    writer.close()
    records = _records(tmp_path, 3, timeout=0)
    assert [(r.request_id, r.inputs, r.prediction) for r in records] == [
        ("x", {"a": 1, "b": 2}, 0.1),
        ("x#1", {"a": 3, "b": 4}, 0.7),
        ("y", {"0": 5.0, "1": 6.0}, 0.3),
    ]
    assert all(r.deployment == "green" and r.model_name == "m" for r in records)


def test_a_pod_writer_puts_one_object_per_flush_that_ml_monitor_reads_from_s3(
    moto_server: MotoServer,  # noqa: F811
) -> None:
    """What a Kubernetes pod does with ``ML_CAPTURE_URI=s3://...``: new objects under the same keys."""
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": moto_server.region})
    writer = CaptureWriter("s3://artifacts/capture/", sampling_percent=100, endpoint="churn", deployment="green")
    now = time.time()
    writer.add(Pending("a", now, 200, 1.0, b'{"inputs": [[1.0, 2.0]]}', "application/json", b"[0.4]"))
    assert writer.flush() == 1
    writer.add(Pending("b", now, 200, 1.0, b'{"inputs": [[3.0, 4.0]]}', "application/json", b"[0.6]"))
    writer.close()
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="artifacts")["Contents"]]
    assert len(keys) == 2 and all(key.startswith("capture/churn/green/") for key in keys)
    records = read_capture(
        parse_capture_uri("s3://artifacts/capture/"), since=now - 1, until=now + 1, region=moto_server.region
    )
    assert [(r.request_id, r.inputs, r.prediction) for r in records] == [
        ("a", {"0": 1.0, "1": 2.0}, 0.4),
        ("b", {"0": 3.0, "1": 4.0}, 0.6),
    ]
