"""Captures read back from each place a stack keeps them: local files, S3 (moto server), Azure blob (fake).

The formats are each cloud's own: the platform's JSONL records (local, Kubernetes), SageMaker Data
Capture lines (CSV, JSON and BASE64 encodings), Azure ML data collector events (model_inputs and
model_outputs paired by correlationid).
"""

from __future__ import annotations

import base64
import json

import pytest

from ml.contract.capture import CaptureRecord, capture_key
from ml.contract.errors import UserError
from ml.monitor.sources import CaptureLocation, parse_capture_uri, read_capture
from tests.fakes.moto_server import MotoServer, moto_server  # noqa: F401 - the fixture
from tests.monitor.blob_fake import FakeBlobs, fake_blobs  # noqa: F401 - the fixture

HOUR = 3600.0
NOW = 1_796_000_400.0  # 2026-11-30T01:00Z, fixed so the hour partitions are known


def _record(i: int, at: float, *, endpoint: str = "prod", deployment: str = "blue") -> CaptureRecord:
    return CaptureRecord(
        request_id=f"r{i}",
        timestamp=at,
        endpoint=endpoint,
        deployment=deployment,
        model_name="m",
        model_version="1",
        inputs={"a": float(i), "b": "x"},
        prediction=0.5,
        status_code=200,
        latency_ms=3.0,
    )


def test_local_files_in_the_window_only(tmp_path: pytest.TempPathFactory) -> None:
    root = tmp_path  # type: ignore[assignment]
    records = [
        _record(0, NOW - 3 * HOUR),
        _record(1, NOW - 20),
        _record(2, NOW - 10),
        _record(3, NOW - 5, endpoint="other"),
    ]
    for record in records:
        path = root / capture_key("", record.endpoint, record.deployment, record.timestamp, part="p")  # type: ignore[operator]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as stream:
            stream.write(record.to_json() + "\n\n")
    found = read_capture(CaptureLocation("file", str(root), ""), since=NOW - HOUR, until=NOW, endpoint="prod")
    assert [r.request_id for r in found] == ["r1", "r2"]
    assert found[0] == records[1]  # a lossless round trip (timestamps to the millisecond)
    broken = root / "prod" / "blue" / "2026" / "11" / "30" / "00" / "bad.jsonl"  # type: ignore[operator]
    broken.write_text('{"request_id": "x"}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1: capture record lacks timestamp, endpoint"):
        read_capture(CaptureLocation("file", str(root), ""), since=NOW - HOUR, until=NOW)


def _sagemaker_line(event_id: str, at: str, body: str, content_type: str, encoding: str, output: str) -> str:
    data = base64.b64encode(body.encode()).decode() if encoding == "BASE64" else body
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": output,
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": event_id, "inferenceTime": at},
            "eventVersion": "0",
        }
    )


def test_s3_reads_sagemaker_data_capture_and_platform_records(moto_server: MotoServer) -> None:  # noqa: F811
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": moto_server.region})
    lines = [
        _sagemaker_line("e1", "2026-11-30T00:10:00Z", "1.5,x\n2.5,y", "text/csv", "CSV", '{"predictions": [0.1, 0.9]}'),
        _sagemaker_line(
            "e2",
            "2026-11-30T00:11:00Z",
            json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": [[3.5, "z"]]}}),
            "application/json",
            "BASE64",
            "[[0.3, 0.7]]",
        ),
        _sagemaker_line("e3", "2026-11-29T20:00:00Z", "9,q", "text/csv", "CSV", "[0.2]"),  # outside the window
    ]
    s3.put_object(
        Bucket="artifacts", Key="capture/prod/AllTraffic/2026/11/30/00/10-00-000-abc.jsonl", Body="\n".join(lines[:2])
    )
    s3.put_object(Bucket="artifacts", Key="capture/prod/AllTraffic/2026/11/29/20/00-00-000-abc.jsonl", Body=lines[2])
    pod = _record(7, NOW - 60, deployment="green")
    s3.put_object(
        Bucket="artifacts",
        Key=capture_key("capture/", "prod", "green", pod.timestamp, part="pod-0"),
        Body=pod.to_json(),
    )
    s3.put_object(Bucket="artifacts", Key="elsewhere/prod/x.jsonl", Body="not json")
    location = parse_capture_uri("s3://artifacts/capture/")
    found = read_capture(
        location, since=NOW - HOUR, until=NOW, endpoint="prod", columns=["a", "b"], region=moto_server.region
    )
    by_id = {r.request_id: r for r in found}
    assert sorted(by_id) == ["e1", "e1#1", "e2", "r7"]
    assert by_id["e1"].inputs == {"a": 1.5, "b": "x"} and by_id["e1"].prediction == 0.1
    assert by_id["e1#1"].inputs == {"a": 2.5, "b": "y"} and by_id["e1#1"].prediction == 0.9
    assert by_id["e2"].inputs == {"a": 3.5, "b": "z"} and by_id["e2"].prediction == 0.7  # the positive class
    assert by_id["e1"].deployment == "AllTraffic" and by_id["e1"].status_code == 200 and by_id["e1"].latency_ms is None
    assert by_id["r7"] == pod


def _azure_event(kind: str, correlation: str, data: object, at: str) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"{kind}-{correlation}",
            "source": "/subscriptions/s/.../deployments/blue",
            "type": f"azureml.inference.{kind}",
            "datacontenttype": "application/json",
            "time": at,
            "data": data,
            "path": "/score",
            "method": "POST",
            "contentrange": "bytes 0-59/*",
            "correlationid": correlation,
            "xrequestid": correlation,
            "modelversion": "default",
            "collectdatatype": "pandas.core.frame.DataFrame",
            "agent": "azureml-ai-monitoring/0.1.0b4",
        }
    )


def test_azure_blob_pairs_model_inputs_with_model_outputs(fake_blobs: FakeBlobs) -> None:  # noqa: F811
    from azure.storage.blob import ContainerClient

    base = "capture/modelDataCollector/prod/blue"
    fake_blobs.blobs["artifacts"] = {
        f"{base}/model_inputs/2026/11/30/00/a.jsonl": (
            _azure_event("model_inputs", "c1", [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "y"}], "2026-11-30T00:05:00Z")
            + "\n"
            + _azure_event("model_inputs", "c2", [{"a": 3.0, "b": "z"}], "2026-11-30T00:06:00Z")
        ).encode(),
        f"{base}/model_outputs/2026/11/30/00/a.jsonl": _azure_event(
            "model_outputs", "c1", [0.2, 0.8], "2026-11-30T00:05:00Z"
        ).encode(),
        f"{base}/model_inputs/2026/11/29/10/old.jsonl": _azure_event(
            "model_inputs", "c0", [{"a": 0}], "2026-11-29T10:00:00Z"
        ).encode(),
    }
    location = parse_capture_uri(fake_blobs.container_url("artifacts") + "/capture/")
    assert (location.scheme, location.container, location.prefix) == ("azure", "artifacts", "capture/")
    client = ContainerClient.from_container_url(fake_blobs.container_url("artifacts"))
    found = read_capture(location, since=NOW - HOUR, until=NOW, endpoint="prod", client=client)
    assert [(r.request_id, r.inputs, r.prediction) for r in found] == [
        ("c1", {"a": 1.0, "b": "x"}, 0.2),
        ("c1#1", {"a": 2.0, "b": "y"}, 0.8),
        ("c2", {"a": 3.0, "b": "z"}, None),  # its output is not written (yet): counted, without a prediction
    ]
    assert found[0].deployment == "blue" and found[0].endpoint == "prod"
    assert not any("2026/11/29/10/old" in path for path in fake_blobs.requests)  # hours outside the window are skipped
    missing = ContainerClient.from_container_url(fake_blobs.container_url("nope"))
    with pytest.raises(UserError, match="cannot list the capture at"):
        read_capture(parse_capture_uri(fake_blobs.container_url("nope")), since=NOW - HOUR, until=NOW, client=missing)


def test_capture_uris_are_checked() -> None:
    assert (
        parse_capture_uri("https://acct.blob.core.windows.net/c/capture/").account_url
        == "https://acct.blob.core.windows.net"
    )
    with pytest.raises(UserError, match="scheme 'gs' is not one of"):
        parse_capture_uri("gs://bucket/x")
