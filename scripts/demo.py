"""`make demo`: the whole platform on one machine, no cloud account, in about five minutes.

1. ``ml platform up`` -- MLflow tracking server, Traefik as the endpoint proxy (state in ``.mlops-demo/``);
2. a baseline model (small gradient boosting) registered and rolled out as the first champion;
3. ``ml sweep run examples/sweeps/breast_cancer.yaml`` -- the example sweep, trials as processes;
4. ``ml sweep best`` -- the best trial registered with alias ``challenger``;
5. ``ml deploy examples/deployments/canary.yaml`` under generated load (4 concurrent clients): the
   challenger is first validated against the champion on a hold-out (the validation table), then
   10 -> 25 -> 50 -> 100 % with gates, then ``champion`` moves to the challenger;
6. a summary table, ``.mlops-demo/rollout.png`` (traffic split, error rate, latency over time) and
   the champion's model card (``ml model card``: the path of its Markdown and HTML); then traffic
   with two features shifted by 1.5 sd goes through the endpoint, and ``ml monitor`` (reading what
   the model server captured against the champion's reference) flags those two and not the others;
7. ``ml platform down`` (also when a step fails).

Every step is the user-facing ``ml`` command except the baseline training and the load generator.
Options: ``--trials N`` (sweep size, default: the spec's), ``--bake 8s`` (per canary step; the
example spec says 20 s), ``--home DIR``, ``--keep`` (leave the platform running).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console()
MARKER = ".ml-demo-home"
MODEL = "breast-cancer-gbm"


def ml(*args: str, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    """Run a user-facing `ml` command, showing its output as it comes; ``ok``: the exit codes that pass."""
    command = [str(Path(sys.executable).with_name("ml")), *args]
    console.print(f"[bold cyan]$ ml {' '.join(args)}[/]", highlight=False)
    completed = subprocess.run(command, env=env, check=False, text=True)
    if completed.returncode not in ok:
        raise SystemExit(f"demo: `ml {' '.join(args)}` failed with exit code {completed.returncode}")
    return completed


def prepare_home(home: Path) -> None:
    """A fresh demo home; refuse to wipe a directory the demo did not create."""
    if home.exists():
        if not (home / MARKER).exists() and any(home.iterdir()):
            raise SystemExit(f"demo: {home} exists and is not a demo home; pass --home to another directory")
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / MARKER).write_text("created by scripts/demo.py; safe to delete\n")


def train_baseline(env: dict[str, str]) -> str:
    """Register a deliberately small model (5 stumps) as version 1: the champion the challenger replaces."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    from ml.logsetup import library_prints
    from ml.stack import resolve_outputs
    from ml.tracking import use_tracking

    os.environ["ML_PLATFORM_HOME"] = env["ML_PLATFORM_HOME"]
    use_tracking(resolve_outputs("local"))
    features, target = load_breast_cancer(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=5, max_depth=1, random_state=0).fit(features, target)
    mlflow.set_experiment("breast-cancer-baseline")
    with warnings.catch_warnings(), library_prints(), mlflow.start_run(run_name="baseline"):
        warnings.simplefilter("ignore")
        import importlib.metadata

        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict_proba(features)[:, 1]),
            serialization_format="skops",
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={importlib.metadata.version('skops')}"],
            registered_model_name=MODEL,
        )
    return str(info.registered_model_version)


def write_specs(home: Path, *, trials: int | None, bake: str, baseline: str) -> tuple[Path, Path, Path]:
    sweep = (REPO / "examples" / "sweeps" / "breast_cancer.yaml").read_text()
    sweep = sweep.replace("code: ../train", f"code: {REPO / 'examples' / 'train'}")
    if trials is not None:
        sweep = sweep.replace("max_total_trials: 12", f"max_total_trials: {trials}")
    sweep_path = home / "sweep.yaml"
    sweep_path.write_text(sweep)
    canary = (
        (REPO / "examples" / "deployments" / "canary.yaml").read_text().replace("bake_time: 20s", f"bake_time: {bake}")
    ).replace("data: ../data/", f"data: {REPO / 'examples' / 'data'}/")  # the copy lives in the demo home
    canary_path = home / "canary.yaml"
    canary_path.write_text(canary)
    first_path = home / "baseline.yaml"
    first_path.write_text(
        f"model: models:/{MODEL}/{baseline}\nstrategy: {{type: blue_green}}\nbake_time: 1s\n"
        "gates: {min_requests: 0, insufficient_traffic: pass}\n"
    )
    return sweep_path, canary_path, first_path


def payload() -> dict[str, Any]:
    from sklearn.datasets import load_breast_cancer

    features, _ = load_breast_cancer(return_X_y=True)
    return {"inputs": features[:4].tolist()}


SHIFTED = ("4", "9")
"""Features the demo's drifted traffic moves (mean smoothness, mean fractal dimension), by `SHIFT_SDS` sd."""
SHIFT_SDS = 1.5


def send_shifted_traffic(scoring_uri: str) -> int:
    """Every row of the breast-cancer data, `SHIFTED` features moved, through the endpoint in batches of 20.

    The rows are the population the champion was trained on (its reference is the training split),
    so only the moved columns should be flagged; returns the rows sent.
    """
    import httpx
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    features, _ = load_breast_cancer(return_X_y=True)
    moved = np.array(features, dtype=float)
    for column in SHIFTED:
        moved[:, int(column)] += SHIFT_SDS * features[:, int(column)].std()
    with httpx.Client(timeout=30.0) as client:
        for start in range(0, len(moved), 20):
            client.post(scoring_uri, json={"inputs": moved[start : start + 20].tolist()}).raise_for_status()
    return len(moved)


def monitor_verdict(report: Path) -> tuple[list[str], bool, str]:
    """From an `ml monitor` report.json: the drifted features, whether the prediction drifted, the outcome."""
    document = json.loads(report.read_text())
    drifted = [c for c in document["drift"]["columns"] if c.get("drifted")]
    features = [str(c["column"]) for c in drifted if c.get("role") == "feature"]
    return features, any(c.get("role") == "prediction" for c in drifted), str(document["outcome"])


def rollout_records(home: Path, since: float) -> list[dict[str, Any]]:
    """The audit records written since ``since`` (epoch seconds), with their time as ``_at``."""
    from ml.deploy.audit import read_records

    records = []
    for record in read_records(home / "audit.jsonl"):
        record["_at"] = dt.datetime.fromisoformat(record["ts"]).timestamp()
        if record["_at"] >= since:
            records.append(record)
    return records


def summary_table(records: list[dict[str, Any]], load: dict[str, Any]) -> Table:
    table = Table(title="canary rollout: gate decisions and user traffic", title_justify="left")
    for column in ("step", "traffic", "requests", "error rate", "p95 ms", "p99 ms", "decision"):
        table.add_column(column, justify="right" if column not in ("traffic", "decision") else "left")
    for index, record in enumerate(r for r in records if r["what"] == "gate"):
        metrics = record["gates"]["metrics"]
        traffic = ", ".join(f"{k} {v}%" for k, v in (record["traffic"] or {}).items())
        table.add_row(
            str(index + 1),
            traffic,
            str(metrics["requests"]),
            f"{metrics['error_rate']:.2%}",
            f"{metrics['p95_ms']:.1f}",
            f"{metrics['p99_ms']:.1f}",
            "[green]pass[/]" if record["outcome"] == "pass" else "[red]fail[/]",
        )
    by = ", ".join(f"{k}: {v}" for k, v in load["by_deployment"].items())
    table.caption = (
        f"load: {load['requests']} requests, {load['failed']} failed ({by}); "
        f"client p50 {load['p50_ms']:.1f} ms, p95 {load['p95_ms']:.1f} ms"
    )
    return table


def plot(samples: list[Any], records: list[dict[str, Any]], path: Path) -> None:
    """Traffic split, error rate and latency per second of the rollout, with its steps marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = min(s.started for s in samples)
    buckets: dict[int, list[Any]] = defaultdict(list)
    for sample in samples:
        buckets[int(sample.started - start)].append(sample)
    seconds = sorted(buckets)
    colours = sorted({s.deployment for s in samples if s.deployment})
    palette = {"blue": "#1f77b4", "green": "#2ca02c"}
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    shares = [[100 * sum(s.deployment == c for s in buckets[t]) / len(buckets[t]) for t in seconds] for c in colours]
    axes[0].stackplot(seconds, shares, labels=colours, colors=[palette.get(c) for c in colours], alpha=0.8)
    axes[0].set_ylabel("answered by (%)")
    axes[0].set_ylim(0, 100)
    axes[0].legend(loc="upper left")
    errors = [100 * sum(not s.ok for s in buckets[t]) / len(buckets[t]) for t in seconds]
    axes[1].plot(seconds, errors, color="#d62728")
    axes[1].set_ylabel("error rate (%)")
    axes[1].set_ylim(0, max(5.0, max(errors, default=0) * 1.2))
    for q, style in ((50, "-"), (95, "--")):
        values = []
        for t in seconds:
            latencies = sorted(s.seconds * 1000 for s in buckets[t])
            values.append(latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))])
        axes[2].plot(seconds, values, style, color="#333333", label=f"p{q}")
    axes[2].set_ylabel("latency (ms)")
    axes[2].set_xlabel("seconds since load started")
    axes[2].legend(loc="upper left")
    for record in records:
        if record["what"] in ("create", "step", "promote", "rollback"):
            x = record["_at"] - start
            for axis in axes:
                axis.axvline(x, color="#999999", linewidth=0.8, linestyle=":")
            label = {"create": "start green", "promote": "promote"}.get(record["what"], record["what"])
            if record["what"] == "step":
                label = ", ".join(f"{k} {v}" for k, v in (record["traffic"] or {}).items())
            axes[0].annotate(label, (x, 102), fontsize=7, rotation=20, annotation_clip=False)
    fig.suptitle("canary rollout under load (local platform)", y=0.995)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=REPO / ".mlops-demo")
    parser.add_argument("--trials", type=int, default=None, help="sweep trials (default: the spec's 12)")
    parser.add_argument("--bake", default="8s", help="bake time per canary step (the example spec says 20s)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="leave the platform running at the end")
    args = parser.parse_args()

    home = args.home.resolve()
    prepare_home(home)
    env = {**os.environ, "ML_PLATFORM_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    os.environ.update({"ML_PLATFORM_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"})
    from ml.logsetup import configure

    configure()  # the demo's own MLflow lines (baseline training) go to <home>/logs/ml.log, like every `ml` command's
    began = time.time()
    console.rule("1/7 local platform up")
    ml("platform", "up", env=env)
    try:
        console.rule("2/7 baseline model -> first champion")
        baseline = train_baseline(env)
        sweep_spec, canary_spec, first_spec = write_specs(home, trials=args.trials, bake=args.bake, baseline=baseline)
        ml("deploy", str(first_spec), "--stack", "local", env=env)

        console.rule("3/7 the example sweep")
        ml("sweep", "run", str(sweep_spec), "--stack", "local", env=env)
        console.rule("4/7 best trial -> challenger")
        ml("sweep", "best", "--stack", "local", env=env)

        console.rule("5/7 challenger validated against the champion, then canary rollout under load")
        from ml.deploy.loadgen import LoadGenerator, summarize
        from ml.stack import resolve_outputs

        outputs = resolve_outputs("local")
        assert outputs.endpoint is not None and outputs.endpoint.scoring_uri
        load = LoadGenerator(outputs.endpoint.scoring_uri, payload(), concurrency=args.concurrency).start()
        load_started = time.time()
        try:
            time.sleep(2.0)
            ml("deploy", str(canary_spec), "--stack", "local", env=env)
            time.sleep(2.0)
        finally:
            samples = load.stop()
        ml("deploy", "status", "--stack", "local", "--last", "3", env=env)

        console.rule("6/7 summary")
        records = rollout_records(home, load_started)
        stats = summarize(samples)
        console.print(summary_table(records, stats))
        promoted = next((r for r in records if r["what"] == "deploy.promoted"), None)
        if promoted is not None:
            console.print(
                f"promotion: alias 'champion' {promoted.get('previous_version')} -> {promoted.get('version')} "
                f"({promoted['from']} -> {promoted['to']})",
                highlight=False,
            )
        png = home / "rollout.png"
        plot(samples, records, png)
        (home / "rollout-summary.json").write_text(
            json.dumps({"load": stats, "gates": [r["gates"] for r in records if r["what"] == "gate"]}, indent=2)
        )
        console.print(f"plot: {png}\nrollout records: {home / 'audit.jsonl'}", highlight=False)
        # the canary validated the challenger before creating anything (table above); its card, from the records:
        ml("model", "card", f"{MODEL}@champion", "--stack", "local", "--out", str(home / "cards"), env=env)

        console.rule("monitor: shifted traffic, then ml monitor")
        monitor_began = time.time()
        since = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # after the canary's repeated rows
        sent = send_shifted_traffic(outputs.endpoint.scoring_uri)
        console.print(f"sent {sent} rows with features {', '.join(SHIFTED)} shifted by {SHIFT_SDS} sd", highlight=False)
        time.sleep(2.0)  # the model server writes its capture about once a second
        report_dir = home / "monitor-report"
        wide = {**env, "COLUMNS": env.get("COLUMNS", "120")}  # the drift table's columns unabridged
        ml("monitor", "--stack", "local", "--since", since, "--report-dir", str(report_dir), env=wide, ok=(0, 3))
        features, prediction_drifted, outcome = monitor_verdict(report_dir / "report.json")
        console.print(
            f"monitor: {outcome}; drifted features {', '.join(features) or 'none'} (shifted: {', '.join(SHIFTED)})"
            + ("; the prediction drifted too" if prediction_drifted else "")
            + f" ({time.time() - monitor_began:.0f}s)",
            highlight=False,
        )
        if sorted(features) != sorted(SHIFTED):
            raise SystemExit(f"demo: ml monitor flagged {features}, the shifted features are {list(SHIFTED)}")
    finally:
        if not args.keep:
            console.rule("7/7 local platform down")
            ml("platform", "down", env=env)
    console.print(f"[bold green]demo finished in {time.time() - began:.0f}s[/]")


if __name__ == "__main__":
    main()
