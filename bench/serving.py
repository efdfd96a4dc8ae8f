"""Benchmark the local serving path: proxy overhead, failed requests in rollouts, time back to blue.

Run: ``uv run python bench/serving.py [--seconds 6] [--concurrency 4]`` (about 2-3 minutes; it
starts its own local platform in a temporary ML_PLATFORM_HOME and stops it at the end).

What it measures, all in the same run on the same machine:

1. **Proxy vs direct**: the same closed-loop load (``--concurrency`` workers) against the
   deployment's own model server and through the endpoint's proxy (Traefik), alternated in
   ``--rounds`` rounds so machine noise hits both; p50/p95 latency ratio (proxy / direct) and
   throughput ratio. Goals: p50 and p95 at most 1.05x, throughput at least 0.95x.
2. **Bucketed vs exact p95**: over the proxy windows of 1., the p95 the gates compute from the
   proxy's latency histogram against the exact client-side p95 of the same requests.
3. **Failed requests during full rollouts**: a canary 10/25/50/100 and a blue/green with a
   mirror phase of a healthy new version under the same load; every request is kept and counted
   (goal: 0 failed).
4. **Time from a failing gate to traffic fully back on blue**: a canary of a version that fails
   every request; the engine's time from the failing decision to the restored traffic map being
   acknowledged by the proxy's API (goal: at most 1 s), plus the client's view (the last request
   the bad colour answered).
5. **Model-server start**: time to a healthy /ping for the default launcher (MLflow's scoring app
   under uvicorn) and for `mlflow models serve --env-manager local`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FAULT_MODEL = REPO / "tests" / "deploy" / "fault_model.py"
MODEL = "bench-model"
PAYLOAD = {"inputs": [[1.0, 2.0], [3.0, 4.0]]}


def register(client: Any, mode: str) -> str:
    import mlflow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(FAULT_MODEL),
                model_config={"mode": mode, "label": mode},
                pip_requirements=["mlflow"],
                registered_model_name=MODEL,
            )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(MODEL, "challenger", version)
    return version


def rollout(outputs: Any, strategy: str, bake: str, gates: str) -> Any:
    from ml.deploy.cli import build_engine
    from ml.deploy.spec import parse_spec

    spec = parse_spec(f"model: models:/{MODEL}@challenger\nstrategy: {strategy}\nbake_time: {bake}\ngates: {gates}\n")
    engine = build_engine(outputs, poll_interval=0.1)
    try:
        return engine.run(spec)
    finally:
        engine.target.close()


def measure(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    from ml.deploy.loadgen import LoadGenerator, summarize

    load = LoadGenerator(url, PAYLOAD, concurrency=concurrency).start()
    time.sleep(seconds)
    return summarize(load.stop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per load window")
    parser.add_argument("--rounds", type=int, default=3, help="alternating direct/proxy windows")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--skip-launchers", action="store_true", help="skip the model-server start comparison")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ml-bench-serving-"))
    os.environ["ML_PLATFORM_HOME"] = str(home)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from ml.deploy.loadgen import LoadGenerator, summarize
    from ml.platform import local, model_server
    from ml.platform.layout import Layout
    from ml.platform.process import wait_http
    from ml.platform.proxy import Proxy
    from ml.tracking import use_tracking

    layout = Layout(home)
    import subprocess

    from ml.platform.proxy import traefik_binary

    version = subprocess.run([traefik_binary(), "version"], capture_output=True, text=True, check=False).stdout
    results: dict[str, Any] = {
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "proxy": "traefik " + version.split()[1] if version.split()[:1] == ["Version:"] else version.strip(),
    }
    started = time.time()
    local.up(layout, timeout=240)
    try:
        outputs = local.running_outputs(layout)
        client = use_tracking(outputs)
        assert outputs.endpoint is not None and outputs.endpoint.scoring_uri
        proxy_url = outputs.endpoint.scoring_uri
        from ml.deploy.targets._prometheus import metrics_from_counts

        register(client, "ok")
        first = rollout(outputs, "{type: blue_green}", "0", "{min_requests: 0, insufficient_traffic: pass}")
        assert first.outcome == "promoted", first.message
        blue = model_server.record_of(layout, first.deployment)
        assert blue is not None and blue.url
        direct_url = blue.url + "/invocations"

        # 1. proxy vs direct, alternating windows; 2. the proxy's bucketed p95 of the same requests
        proxy = Proxy.connect(layout)
        measure(proxy_url, 2.0, args.concurrency)  # warm both paths
        measure(direct_url, 2.0, args.concurrency)
        direct, routed, bucketed = [], [], []
        for _ in range(args.rounds):
            direct.append(measure(direct_url, args.seconds, args.concurrency))
            proxy.snapshot()  # the window's baseline: taken before `since`, so the window starts here
            since = time.time()
            routed.append(measure(proxy_url, args.seconds, args.concurrency))
            window = proxy.window(first.deployment, since)
            bucketed.append(metrics_from_counts(window.by_class(), window.buckets_ms))
        proxy.close()

        def median(rows: list[dict[str, Any]], key: str) -> float:
            return statistics.median(float(row[key]) for row in rows)

        overhead = {
            "direct_p50_ms": median(direct, "p50_ms"),
            "proxy_p50_ms": median(routed, "p50_ms"),
            "direct_p95_ms": median(direct, "p95_ms"),
            "proxy_p95_ms": median(routed, "p95_ms"),
            "direct_rps": median(direct, "throughput_rps"),
            "proxy_rps": median(routed, "throughput_rps"),
            "failed": sum(r["failed"] for r in direct + routed),
        }
        overhead["p50_ratio"] = round(overhead["proxy_p50_ms"] / overhead["direct_p50_ms"], 3)
        overhead["p95_ratio"] = round(overhead["proxy_p95_ms"] / overhead["direct_p95_ms"], 3)
        overhead["throughput_ratio"] = round(overhead["proxy_rps"] / overhead["direct_rps"], 3)
        overhead["goals_met"] = (
            overhead["p50_ratio"] <= 1.05 and overhead["p95_ratio"] <= 1.05 and overhead["throughput_ratio"] >= 0.95
        )
        results["proxy_vs_direct"] = overhead
        results["bucketed_vs_exact_p95"] = [
            {
                "requests_proxy": m.requests,
                "requests_client": row["requests"],
                "bucketed_p95_ms": None if m.p95_ms is None else round(m.p95_ms, 2),
                "exact_client_p95_ms": round(row["p95_ms"], 2),
            }
            for m, row in zip(bucketed, routed, strict=True)
        ]

        # 3. a full canary and a full blue/green under load
        register(client, "ok")
        gates = "{max_error_rate: 0.01, max_p95_latency_ms: 250, min_requests: 30, max_wait: 30s}"
        with LoadGenerator(proxy_url, PAYLOAD, concurrency=args.concurrency) as load:
            good = rollout(outputs, "{type: canary, steps: [10, 25, 50, 100]}", "3s", gates)
            time.sleep(0.5)
        summary = summarize(load.results())
        results["full_canary"] = {
            "outcome": good.outcome,
            "requests": summary["requests"],
            "failed": summary["failed"],
            "by_deployment": summary["by_deployment"],
            "seconds": round(good.events[-1].at - good.events[0].at, 1),
        }
        register(client, "ok")
        with LoadGenerator(proxy_url, PAYLOAD, concurrency=args.concurrency) as load:
            switch = rollout(outputs, "{type: blue_green, mirror_percent: 50, mirror_time: 3s}", "3s", gates)
            time.sleep(0.5)
        summary = summarize(load.results())
        results["full_blue_green"] = {
            "outcome": switch.outcome,
            "reason": switch.message.split(": ", 1)[-1][:160],
            "requests": summary["requests"],
            "failed": summary["failed"],
            "by_deployment": summary["by_deployment"],
            "seconds": round(switch.events[-1].at - switch.events[0].at, 1),
        }

        # 4. failing gate -> traffic back on blue
        register(client, "error")
        with LoadGenerator(proxy_url, PAYLOAD, concurrency=args.concurrency) as load:
            bad = rollout(outputs, "{type: canary, steps: [10, 100]}", "3s", gates)
            time.sleep(1.0)
        samples = load.results()
        answered_by_bad = [s for s in samples if s.deployment == bad.deployment]
        last_bad = max((s.started + s.seconds for s in answered_by_bad), default=None)
        decision = bad.failure_detected_at
        results["failing_gate"] = {
            "outcome": bad.outcome,
            "reason": bad.message.split(": ", 1)[-1][:120],
            "decision_to_traffic_restored_ms": round(1000 * (bad.rollback_seconds or 0.0), 2),
            "decision_to_last_bad_answer_ms": None
            if last_bad is None or decision is None
            else round(1000 * (last_bad - decision), 1),
            "first_bad_answer_to_decision_s": round(decision - min(s.started for s in answered_by_bad), 2)
            if answered_by_bad and decision
            else None,
            "failed_requests_seen_by_users": sum(not s.ok for s in samples),
            "requests": len(samples),
        }

        # 5. model-server start: default launcher vs the MLflow CLI
        if not args.skip_launchers:
            starts: dict[str, float] = {}
            for launcher in ("direct", "mlflow-cli"):
                os.environ["ML_MODEL_SERVER"] = launcher
                begin = time.perf_counter()
                record = model_server.start(
                    layout, f"probe-{launcher}", f"models:/{MODEL}/1", tracking_uri=outputs.tracking_uri
                )
                assert record.url is not None
                ok = wait_http(record.url + "/ping", timeout=300, record=record)
                starts[launcher] = round(time.perf_counter() - begin, 1) if ok else float("nan")
                model_server.remove(layout, f"probe-{launcher}")
            os.environ.pop("ML_MODEL_SERVER", None)
            results["model_server_ready_s"] = starts
    finally:
        local.down(layout)
    results["wall_seconds"] = round(time.time() - started, 1)
    results["load_average"] = os.getloadavg()
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
