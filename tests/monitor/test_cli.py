"""`ml monitor` end to end on the local platform: real MLflow, real capture files, the exit codes.

Runs `ml.cli.main` in this process (the same wrapper a user's shell runs, so a `UserError` becomes
one message and exit code 2) with ``ML_PLATFORM_HOME`` pointing at a temporary platform home.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.monitor.conftest import MODEL, Cancer, Platform, records_for, register_model, shifted, write_capture


def ml(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`ml ARGS` through `ml.cli.main` in this process -> (exit code, stdout, stderr); tests take the `run` fixture."""
    from ml.cli import main

    monkeypatch.setattr(sys, "argv", ["ml", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


Ml = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Ml:
    """`run("monitor", ...)` -> (exit code, stdout, stderr) of `ml` in this process."""
    return partial(ml, monkeypatch, capsys)


def serve(platform: Platform, cancer: Cancer, frame: pd.DataFrame | None = None) -> None:
    """Capture the champion answering ``frame`` (default: the test split), as its model server records it."""
    frame = cancer.x_test if frame is None else frame
    write_capture(platform.capture, records_for(frame, cancer.predict(frame), version=platform.version))


def test_no_drift_exits_0_and_json_reports_every_column(
    platform: Platform, cancer: Cancer, run: Ml, tmp_path: Path
) -> None:
    serve(platform, cancer)
    code, out, err = run("monitor", "--since", "2h", "--json", "--report-dir", str(tmp_path / "r"))
    assert code == 0, err
    report = json.loads(out)
    assert report["outcome"] == "no drift" and report["model"] == {
        "name": MODEL,
        "version": platform.version,
        "alias": "champion",
    }
    assert report["traffic"]["requests"] == len(cancer.x_test) and report["traffic"]["error_rate"] == 0.0
    assert report["traffic"]["p50_ms"] is not None and report["traffic"]["p95_ms"] >= report["traffic"]["p50_ms"]
    assert len(report["drift"]["columns"]) == 31
    assert {"test", "statistic", "p_value", "threshold", "current_size", "drifted"} <= set(
        report["drift"]["columns"][0]
    )
    assert (tmp_path / "r" / "report.html").read_text().startswith("<!doctype html>")
    assert (tmp_path / "r" / "report.png").read_bytes()[:4] == b"\x89PNG"
    client = MlflowClient(tracking_uri=platform.tracking_uri, registry_uri=platform.tracking_uri)
    tags = client.get_model_version(MODEL, platform.version).tags
    assert tags["ml.monitor.last_outcome"] == "no drift"
    artifacts = {Path(a.path).name for a in client.list_artifacts(tags["ml.monitor.last_run"], "monitor")}
    assert artifacts == {"report.html", "report.png", "report.json"}


def test_shifted_traffic_exits_3_with_the_shifted_feature_in_the_table(
    platform: Platform, cancer: Cancer, run: Ml, tmp_path: Path
) -> None:
    serve(platform, cancer, shifted(cancer.x_test, "7", 1.0))
    code, out, err = run("monitor", "--model", f"{MODEL}/{platform.version}", "--report-dir", str(tmp_path))
    assert code == 3, err
    assert "drift in" in out and "kolmogorov-smirnov" in out
    line = next(row for row in out.splitlines() if row.strip().startswith("│ 7 ") or row.strip().startswith("7 "))
    assert "drift" in line and "no drift" not in line


def test_too_few_rows_exits_4_not_a_pass(platform: Platform, cancer: Cancer, run: Ml, tmp_path: Path) -> None:
    serve(platform, cancer, cancer.x_test.head(30))
    code, out, _ = run("monitor", "--json", "--report-dir", str(tmp_path))
    assert code == 4
    assert json.loads(out)["message"] == "not enough data: 30 of 100 rows needed"


def test_labels_join_gives_the_live_metric_against_validation(
    platform: Platform, cancer: Cancer, run: Ml, tmp_path: Path
) -> None:
    serve(platform, cancer)
    good = tmp_path / "labels.csv"
    good.write_text("request_id,label\n" + "".join(f"r{i},{y}\n" for i, y in enumerate(cancer.y_test)) + "unknown,1\n")
    code, out, err = run("monitor", "--labels", str(good), "--json", "--report-dir", str(tmp_path))
    assert code == 0, err
    live = json.loads(out)["live_metric"]
    assert live["metric"] == "roc_auc" and live["validation_name"] == "val_auc"
    assert live["labelled"] == len(cancer.y_test) and live["unmatched"] == 1
    assert live["live"] == pytest.approx(live["validation"])  # the same rows the validation AUC came from
    flipped = tmp_path / "flipped.jsonl"
    flipped.write_text(
        "".join(json.dumps({"request_id": f"r{i}", "label": int(1 - y)}) + "\n" for i, y in enumerate(cancer.y_test))
    )
    code, out, _ = run("monitor", "--labels", str(flipped), "--json", "--report-dir", str(tmp_path))
    assert code == 3  # inputs look fine, the model got worse: concept drift
    assert json.loads(out)["live_metric"]["outcome"] == "drift"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday': expected a duration"),
        (["--model", "a/b/c"], "--model 'a/b/c': expected NAME, NAME@ALIAS or NAME/VERSION"),
        (["--model", "nope@champion"], "model 'nope' has no alias 'champion'"),
        (["--on-drift", "email", "x.yaml"], "the only action is `--on-drift retrain SPEC`"),
        (["--labels", "missing.csv"], "missing.csv does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_message(platform: Platform, run: Ml, args: list[str], message: str) -> None:
    code, _, err = run("monitor", *args)
    assert code == 2
    assert message in " ".join(err.split()) and "Traceback" not in err


def test_a_version_without_reference_names_the_command_that_fixes_it(
    platform: Platform, cancer: Cancer, run: Ml, tmp_path: Path
) -> None:
    bare = register_model(cancer, platform.tracking_uri, reference=False)
    code, _, err = run("monitor", "--model", f"{MODEL}/{bare}")
    assert code == 2
    text = " ".join(err.split())
    assert f"model '{MODEL}' version {bare} has no reference" in text
    assert f"ml monitor reference {MODEL}/{bare} --data TRAINING.csv" in text
    training = tmp_path / "train.csv"
    cancer.x_train.assign(label=cancer.y_train).to_csv(training, index=False)
    code, out, err = run("monitor", "reference", f"{MODEL}/{bare}", "--data", str(training), "--target", "label")
    assert code == 0, err
    served = cancer.model.predict(cancer.x_test.to_numpy())  # type: ignore[attr-defined]  # pyfunc serves classes
    write_capture(platform.capture, records_for(cancer.x_test, served, version=bare))
    code, out, err = run("monitor", "--model", f"{MODEL}/{bare}", "--json", "--report-dir", str(tmp_path))
    assert code == 0, err
    assert json.loads(out)["reference"]["rows"] == len(cancer.x_train)
