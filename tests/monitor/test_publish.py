"""The drift metric lands where the stack's alert watches: CloudWatch (moto server) and a Prometheus textfile."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from ml.contract.capture import CaptureRecord
from ml.contract.monitoring import DRIFT_METRIC, DRIFT_NAMESPACE
from ml.monitor.core import ModelChoice, analyse
from ml.monitor.publish import put_cloudwatch, write_prometheus
from ml.monitor.reference import Reference, build_reference
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.moto_server import MotoServer

moto_server = moto_fixtures.moto_server


def _result(shift: float):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(2000, 3)), columns=["a", "b", "c"])
    sample, summary = build_reference(train, rng.random(2000))
    reference = Reference(sample=sample, features=["a", "b", "c"], categorical=[], rows=2000, summary=summary)
    live = rng.normal(size=(1000, 3))
    live[:, 0] += shift
    now = dt.datetime.now(dt.UTC).timestamp()
    records = [
        CaptureRecord(
            request_id=f"r{i}", timestamp=now - 60 + i * 0.01, endpoint="ep", deployment="blue",
            inputs={"a": float(row[0]), "b": float(row[1]), "c": float(row[2])}, status_code=200,
            prediction=float(rng.random()),
        )
        for i, row in enumerate(live)
    ]  # fmt: skip
    return analyse(
        records, reference, model=ModelChoice("m", "3", "champion"), since=now - 120, until=now, endpoint="ep"
    )


def test_cloudwatch_gets_drifted_features_per_endpoint_and_model(moto_server: MotoServer) -> None:
    result = _result(shift=1.0)
    assert [c.column for c in result.drift.drifted_columns] == ["a"]
    cloudwatch = moto_server.client("cloudwatch")
    put_cloudwatch(result, endpoint="ep", region="us-east-1", client=cloudwatch)
    listed = cloudwatch.list_metrics(Namespace=DRIFT_NAMESPACE, MetricName=DRIFT_METRIC)["Metrics"]
    assert [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in listed] == [{"Endpoint": "ep", "Model": "m/3"}]
    stats = cloudwatch.get_metric_statistics(
        Namespace=DRIFT_NAMESPACE, MetricName=DRIFT_METRIC, Dimensions=listed[0]["Dimensions"],
        StartTime=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        Period=3600, Statistics=["Maximum"],
    )  # fmt: skip
    assert [p["Maximum"] for p in stats["Datapoints"]] == [1.0]


def test_prometheus_textfile_gauge(tmp_path: Path) -> None:
    path = write_prometheus(_result(shift=0.0), tmp_path / "drift.prom", endpoint="ep")
    text = path.read_text()
    assert 'mlops_drifted_features{endpoint="ep",model="m",version="3"} 0' in text
    assert "# TYPE mlops_drifted_features gauge" in text
