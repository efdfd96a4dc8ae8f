"""Benchmark `ml monitor`'s drift decision: false alarms, detection power, and time for 100,000 records.

Run: ``uv run python bench/drift.py [--windows 200]`` (about a minute on 2 cores).

Data: scikit-learn's breast-cancer features (30 columns) define a multivariate normal (their mean
and covariance); the reference is 5,000 rows drawn from it with a logistic-regression model's
predicted probability (trained on the real data) as the prediction column, exactly what
`ml.monitor.reference.build_reference` keeps. Every window is drawn afresh from the same
distribution, so the numbers are rates over independent windows.

1. **False-alarm rate**: windows of 1,000 unshifted rows; a false alarm is a dataset-level
   ``drift`` outcome (goal <= 5%). For contrast, the rate a naive rule (any column's p < 0.05,
   no correction) would have on the same windows.
2. **Detection rate**: windows of 1,000 rows with one feature (mean concave points) shifted by 0.5
   of its standard deviation (goal >= 95%), and how often that feature is the one named.
3. **Time for 100,000 captured records**: the records are written as the local model server
   writes them (JSONL, hour files); ``ml monitor --json`` then runs as a user runs it (a new
   process: reading the capture, the tests, HTML + PNG, logging to MLflow on the version) against
   a SQLite MLflow store holding the model and its reference (goal < 10 s on 2 cores). The
   in-process split (read / analyse / report) is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.contract.capture import CaptureRecord, capture_key
from ml.monitor.core import ModelChoice, analyse
from ml.monitor.drift import DRIFT, DriftOptions, detect_drift
from ml.monitor.reference import PREDICTION, Reference, build_reference
from ml.monitor.report import write_html, write_png
from ml.monitor.sources import CaptureLocation, read_capture

SHIFTED = "7"  # mean concave points
REPO = Path(__file__).resolve().parents[1]


class World:
    """The training distribution, a model, and a reference drawn from them."""

    def __init__(self, seed: int = 0) -> None:
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        features, target = load_breast_cancer(return_X_y=True)
        self.mean = features.mean(axis=0)
        self.cov = np.cov(features, rowvar=False)
        self.sd = features.std(axis=0, ddof=1)
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, target)
        self.rng = np.random.default_rng(seed)
        self.columns = [str(i) for i in range(features.shape[1])]
        reference = self.draw(5000)
        sample, summary = build_reference(reference, self.predict(reference))
        self.reference = Reference(sample=sample, features=self.columns, categorical=[], rows=5000, summary=summary)

    def draw(self, rows: int, shift_sd: float = 0.0) -> pd.DataFrame:
        values = self.rng.multivariate_normal(self.mean, self.cov, size=rows)
        values[:, int(SHIFTED)] += shift_sd * self.sd[int(SHIFTED)]
        return pd.DataFrame(values, columns=self.columns)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(frame.to_numpy())[:, 1])

    def window(self, rows: int, shift_sd: float = 0.0) -> pd.DataFrame:
        frame = self.draw(rows, shift_sd)
        return frame.assign(**{PREDICTION: self.predict(frame)})


def rates(world: World, windows: int, rows: int) -> dict[str, float]:
    options = DriftOptions()
    false_alarms = naive_alarms = detected = named = 0
    for _ in range(windows):
        calm = detect_drift(
            world.reference.sample,
            world.window(rows),
            features=world.columns,
            categorical=[],
            prediction=PREDICTION,
            options=options,
        )
        false_alarms += calm.outcome == DRIFT
        naive_alarms += any(c.p_value is not None and c.p_value < options.alpha for c in calm.columns)
        moved = detect_drift(
            world.reference.sample,
            world.window(rows, 0.5),
            features=world.columns,
            categorical=[],
            prediction=PREDICTION,
            options=options,
        )
        detected += moved.outcome == DRIFT
        named += any(c.column == SHIFTED for c in moved.drifted_columns)
    return {
        "false_alarm_rate": false_alarms / windows,
        "naive_false_alarm_rate": naive_alarms / windows,
        "detection_rate": detected / windows,
        "shifted_feature_named_rate": named / windows,
    }


def write_capture(world: World, root: Path, rows: int, *, version: str) -> float:
    """``rows`` records over the last ~2.8 hours, as the local model server writes them; returns the start."""
    frame = world.window(rows)
    start = time.time() - rows * 0.1 - 60
    handles: dict[Path, object] = {}
    values = frame[world.columns].to_numpy()
    predictions = frame[PREDICTION].to_numpy()
    for i in range(rows):
        record = CaptureRecord(
            request_id=f"req-{i}",
            timestamp=start + i * 0.1,
            endpoint="local",
            deployment="blue",
            model_name="bench-model",
            model_version=version,
            inputs=dict(zip(world.columns, map(float, values[i]), strict=True)),
            prediction=float(predictions[i]),
            status_code=200 if i % 200 else 500,
            latency_ms=8.0 + (i % 13),
        )
        path = root / capture_key("", "local", "blue", record.timestamp, part="server-1")
        if path not in handles:
            path.parent.mkdir(parents=True, exist_ok=True)
            handles[path] = path.open("a")
        handles[path].write(record.to_json() + "\n")  # type: ignore[attr-defined]
    for handle in handles.values():
        handle.close()  # type: ignore[attr-defined]
    return start


def in_process(world: World, root: Path, start: float, out: Path) -> dict[str, float]:
    """The same steps the command runs, timed one by one (MLflow excluded)."""
    t0 = time.perf_counter()
    records = read_capture(
        CaptureLocation("file", str(root), ""),
        since=start - 1,
        until=time.time(),
        endpoint="local",
        columns=world.columns,
    )
    t1 = time.perf_counter()
    result = analyse(
        records,
        world.reference,
        model=ModelChoice("bench-model", "1", None),
        since=start - 1,
        until=time.time(),
        endpoint="local",
    )
    t2 = time.perf_counter()
    write_html(result, out / "report.html", write_png(result, out / "report.png"))
    t3 = time.perf_counter()
    return {
        "records": len(records),
        "read_s": t1 - t0,
        "analyse_s": t2 - t1,
        "report_s": t3 - t2,
        "outcome": result.outcome,
    }  # type: ignore[dict-item]


def _child_cpu() -> float:
    """User + system CPU seconds of finished child processes: fair on a busy machine, unlike wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def full_command(world: World, home: Path, rows: int) -> dict[str, object]:
    """Register a model with its reference in a fresh SQLite store, capture ``rows`` records, run `ml monitor`."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import mlflow
    from mlflow import MlflowClient

    from ml.monitor.reference import log_reference

    uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    with mlflow.start_run() as run:
        reference = world.draw(5000)
        log_reference(reference, world.predict(reference))
    client.create_registered_model("bench-model")
    version = client.create_model_version("bench-model", f"runs:/{run.info.run_id}/model", run.info.run_id).version
    client.set_registered_model_alias("bench-model", "champion", version)
    client.set_model_version_tag("bench-model", version, "deployed_to", "local")
    write_capture(world, home / "capture", rows, version=str(version))
    env = {**os.environ, "ML_PLATFORM_HOME": str(home)}
    command = [sys.executable, "-c", "from ml.cli import main; main()", "monitor", "--since", "6h", "--json"]
    cpu_before = _child_cpu()
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    seconds = time.perf_counter() - started
    cpu = _child_cpu() - cpu_before
    if completed.returncode not in (0, 3):
        raise SystemExit(f"ml monitor failed ({completed.returncode}): {completed.stderr[-2000:]}")
    report = json.loads(completed.stdout)
    cpu_before = _child_cpu()
    subprocess.run(
        [sys.executable, "-c", "import ml.cli, ml.monitor.cli, mlflow, scipy.stats, sklearn"],
        env=env,
        cwd=REPO,
        check=True,
    )
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "startup_and_imports_cpu_s": _child_cpu() - cpu_before,
        "rows": report["traffic"]["rows"],
        "outcome": report["outcome"],
        "exit_code": completed.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    world = World()
    started = time.perf_counter()
    found = rates(world, args.windows, args.rows)
    print(
        f"{args.windows} windows of {args.rows} rows, 30 features + prediction, alpha 0.05 Bonferroni-corrected "
        f"({time.perf_counter() - started:.1f} s)"
    )
    print(f"  false-alarm rate (unshifted):        {found['false_alarm_rate']:.1%}   goal <= 5%")
    print(f"  naive rule (any p < 0.05, no corr.): {found['naive_false_alarm_rate']:.1%}")
    print(f"  detection rate (0.5 sd, 1 feature):  {found['detection_rate']:.1%}   goal >= 95%")
    print(f"  ... shifted feature named:           {found['shifted_feature_named_rate']:.1%}")
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        timing = full_command(world, home, args.records)
        split = in_process(world, home / "capture", time.time() - args.records * 0.1 - 120, home)
    print(
        f"`ml monitor --json` on {timing['rows']} captured records, new process: {timing['seconds']:.2f} s wall, "
        f"{timing['cpu_seconds']:.2f} s CPU (of which {timing['startup_and_imports_cpu_s']:.2f} s CPU is Python "
        f"start-up and imports)   goal < 10 s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"  in process: read {split['read_s']:.2f} s, analyse {split['analyse_s']:.2f} s, "
        f"HTML+PNG {split['report_s']:.2f} s ({split['records']} records, outcome {split['outcome']})"
    )
    summary = {**found, "monitor_seconds": timing["seconds"], "monitor_cpu_seconds": timing["cpu_seconds"]}
    print(json.dumps({**summary, **{f"split_{k}": v for k, v in split.items()}}))


if __name__ == "__main__":
    main()
