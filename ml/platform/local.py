"""`ml platform up|down|status`: start, stop and inspect the local platform.

What `up` starts, each in its own session so it outlives the command:

- an MLflow tracking server on a free 127.0.0.1 port: SQLite store ``<home>/mlflow.db``,
  artifacts in ``<home>/artifacts`` (written directly: everything runs on this machine, so model
  servers and trials read them without a proxy) and ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``
  (2 processes, ~550 MB, instead of 11 and ~2.5 GB);
- the endpoint's proxy, Traefik (`ml.platform.proxy`), on two more free ports (users' entrypoint,
  and its API/metrics); it reloads its traffic map from ``<home>/proxy/dynamic.yml``, and any
  deployment in that map whose model server is not running is started again and re-pointed, so
  `down` then `up` brings the endpoint back as it was;
- the A/B feedback server (``python -m ml.deploy.feedback``, the app `ml deploy feedback serve`
  runs) on one more free port, writing ``<home>/feedback/local.jsonl``; the proxy routes
  ``POST <endpoint>/feedback`` to it, so callers feed outcomes back where they score.

Then it writes ``<home>/outputs.json`` (a `PlatformOutputs` with cloud ``local``, the server's URL
as tracking URI and the proxy as the endpoint's scoring URI), which every ``--stack local``
command reads. `down` stops exactly the processes recorded under ``<home>`` and removes
``outputs.json`` so commands fall back to the same SQLite store directly.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ml.contract import EndpointRef, PlatformOutputs
from ml.contract.errors import UserError
from ml.platform import model_server, proxy
from ml.platform.layout import Layout
from ml.platform.process import ProcessRecord, free_port, http_ok, log_tail, spawn, stop, venv_env, wait_http
from ml.stack import default_local_outputs, read_outputs_file
from ml.tracking import use_tracking

MLFLOW = "mlflow"
PROXY = proxy.PROXY
FEEDBACK = proxy.FEEDBACK
ENDPOINT_NAME = "local"


@dataclass
class ServiceStatus:
    """One background process of the platform as `status` reports it."""

    name: str
    pid: int | None
    url: str | None
    alive: bool
    healthy: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlatformStatus:
    """The platform as a whole: running when the tracking server and the proxy both answer."""

    home: str
    services: list[ServiceStatus]
    traffic: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        core = [s for s in self.services if s.name in (MLFLOW, PROXY)]
        return len(core) == 2 and all(s.healthy for s in core)


def _health_url(name: str, record: ProcessRecord) -> str:
    if name == PROXY:
        return proxy.health_url(record)
    return f"{record.url}/health" if name in (MLFLOW, FEEDBACK) else f"{record.url}/ping"


def _start_feedback(layout: Layout) -> ProcessRecord:
    """The A/B feedback server (`ml.deploy.feedback.main`) on a free port; the proxy routes /feedback to it."""
    port = free_port()
    argv = [sys.executable, "-m", "ml.deploy.feedback", "--home", str(layout.home), "--endpoint", ENDPOINT_NAME]
    argv += ["--port", str(port)]
    record = spawn(FEEDBACK, argv, log=layout.logs / "feedback.log", env=venv_env(), cwd=layout.home)
    record.port, record.url = port, f"http://127.0.0.1:{port}"
    record.save(layout.service_record(FEEDBACK))
    return record


def _start_mlflow(layout: Layout) -> ProcessRecord:
    port = free_port()
    layout.artifacts.mkdir(parents=True, exist_ok=True)
    argv = [
        model_server._mlflow_cli(),
        "server",
        "--backend-store-uri",
        f"sqlite:///{layout.mlflow_db}",
        "--default-artifact-root",
        layout.artifacts.as_uri(),
        "--no-serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = venv_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    record = spawn(MLFLOW, argv, log=layout.logs / "mlflow.log", env=env, cwd=layout.home)
    record.port, record.url = port, f"http://127.0.0.1:{port}"
    record.save(layout.service_record(MLFLOW))
    return record


def platform_outputs(layout: Layout, *, tracking_uri: str, endpoint_url: str) -> PlatformOutputs:
    """The outputs document of a running local platform."""
    base = default_local_outputs(layout.home)
    assert base.endpoint is not None
    endpoint = EndpointRef.model_validate(
        {**base.endpoint.model_dump(), "name": ENDPOINT_NAME, "scoring_uri": f"{endpoint_url}/invocations"}
    )
    return base.model_copy(update={"tracking_uri": tracking_uri, "endpoint": endpoint})


def _healthy_service(layout: Layout, name: str) -> ProcessRecord | None:
    record = ProcessRecord.load(layout.service_record(name))
    if record is not None and record.alive() and record.url and http_ok(_health_url(name, record)):
        return record
    return None


def _restore_deployments(
    layout: Layout, outputs: PlatformOutputs, *, timeout: float, feedback: str | None = None
) -> list[str]:
    """Route /feedback to this run's feedback server; restart the model server of each deployment that is gone."""
    tracking_uri = outputs.tracking_uri
    endpoint = proxy.Proxy.connect(layout)
    try:
        endpoint.wait_loaded(timeout)
        if endpoint.state().feedback != feedback:
            endpoint.set_feedback(feedback)
        return _restart_missing(layout, outputs, endpoint, tracking_uri=tracking_uri, timeout=timeout)
    finally:
        endpoint.close()


def _restart_missing(
    layout: Layout, outputs: PlatformOutputs, endpoint: proxy.Proxy, *, tracking_uri: str, timeout: float
) -> list[str]:
    started: dict[str, ProcessRecord] = {}
    for name, url in sorted(endpoint.state().deployments.items()):
        record = model_server.record_of(layout, name)
        if record is not None and record.url and model_server.healthy(record):
            if record.url != url:
                endpoint.register(name, record.url)
            continue
        model = record.extra.get("model") if record is not None else None
        if not model:
            continue
        if record is not None:
            stop(record)
        use_tracking(outputs)  # the model is downloaded from the registry in this process
        started[name] = model_server.start(layout, name, model, tracking_uri=tracking_uri)
    for name, record in started.items():
        assert record.url is not None
        if not wait_http(record.url + "/ping", timeout=timeout, record=record):
            raise UserError(
                f"platform up: deployment '{name}' ({record.extra.get('model')}) did not start again; "
                f"log {record.log}:\n{log_tail(record.log)}"
            )
        endpoint.register(name, record.url)
    return sorted(started)


def up(layout: Layout | None = None, *, timeout: float = 120.0) -> PlatformStatus:
    """Start the platform (or leave it running) and write ``outputs.json``; idempotent."""
    layout = layout or Layout.current()
    layout.home.mkdir(parents=True, exist_ok=True)
    records: dict[str, ProcessRecord] = {}
    for name, starter in ((MLFLOW, _start_mlflow), (PROXY, proxy.start), (FEEDBACK, _start_feedback)):
        existing = _healthy_service(layout, name)
        if existing is not None:
            records[name] = existing
            continue
        stale = ProcessRecord.load(layout.service_record(name))
        if stale is not None:
            stop(stale)
        records[name] = starter(layout)
    deadline = time.monotonic() + timeout
    for name, record in records.items():
        assert record.url is not None
        if not wait_http(_health_url(name, record), timeout=max(1.0, deadline - time.monotonic()), record=record):
            for started in records.values():
                stop(started)
            raise UserError(
                f"platform up: the {name} server did not become healthy within {timeout:.0f}s; "
                f"log {record.log}:\n{log_tail(record.log)}"
            )
    tracking_uri, endpoint_url = records[MLFLOW].url, records[PROXY].url
    assert tracking_uri is not None and endpoint_url is not None
    outputs = platform_outputs(layout, tracking_uri=tracking_uri, endpoint_url=endpoint_url)
    tmp = layout.outputs.with_suffix(".tmp")
    tmp.write_text(json.dumps(outputs.model_dump(mode="json"), indent=2))
    tmp.replace(layout.outputs)
    _restore_deployments(layout, outputs, timeout=timeout, feedback=records[FEEDBACK].url)
    return status(layout)


def down(layout: Layout | None = None) -> list[str]:
    """Stop every process the platform recorded (model servers, proxy, tracking server)."""
    layout = layout or Layout.current()
    stopped = []
    for name, record in model_server.all_records(layout).items():
        if stop(record):
            stopped.append(f"deployment {name}")
    for name in (FEEDBACK, PROXY, MLFLOW):
        service = ProcessRecord.load(layout.service_record(name))
        if service is not None and stop(service):
            stopped.append(name)
        layout.service_record(name).unlink(missing_ok=True)
    layout.outputs.unlink(missing_ok=True)
    return stopped


def status(layout: Layout | None = None) -> PlatformStatus:
    """What runs, whether it answers, and the endpoint's traffic map as the proxy serves it."""
    layout = layout or Layout.current()
    services = []
    for name in (MLFLOW, PROXY, FEEDBACK):
        record = ProcessRecord.load(layout.service_record(name))
        if record is None:
            services.append(ServiceStatus(name, None, None, alive=False, healthy=False))
            continue
        alive = record.alive()
        healthy = alive and record.url is not None and http_ok(_health_url(name, record))
        services.append(ServiceStatus(name, record.pid, record.url, alive=alive, healthy=healthy))
    proxy_url = next((s.url for s in services if s.name == PROXY), None)
    for service in services:  # users post feedback through the proxy, where they score
        if service.name == FEEDBACK and proxy_url:
            service.detail = {"direct": service.url}
            service.url = f"{proxy_url}{proxy.FEEDBACK_PATH}"
    for name, record in model_server.all_records(layout).items():
        alive = record.alive()
        healthy = alive and model_server.healthy(record)
        services.append(ServiceStatus(f"deployment {name}", record.pid, record.url, alive, healthy, dict(record.extra)))
    traffic: dict[str, Any] = {}
    if any(s.name == PROXY and s.healthy for s in services):
        try:
            endpoint = proxy.Proxy.connect(layout)
            try:
                traffic = endpoint.state().traffic()
            finally:
                endpoint.close()
        except UserError:
            traffic = {}
    return PlatformStatus(home=str(layout.home), services=services, traffic=traffic)


def running_outputs(layout: Layout | None = None) -> PlatformOutputs:
    """The outputs of the running platform; a `UserError` telling how to start it otherwise."""
    layout = layout or Layout.current()
    if not layout.outputs.exists():
        raise UserError(
            f"the local platform is not running (no {layout.outputs}); start it with `ml platform up` "
            f"(state lives in $ML_PLATFORM_HOME or ./.mlops)"
        )
    return read_outputs_file(layout.outputs)
