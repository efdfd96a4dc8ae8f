"""Model-server processes: one `mlflow models serve --env-manager local` per deployment.

Why its own module: the local rollout target creates and deletes them, and `ml platform up|down`
restarts and stops them; both go through these few functions and the same records under
``<home>/deployments/<name>.json``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ml.platform.layout import Layout
from ml.platform.process import ProcessRecord, free_port, http_ok, spawn, stop, venv_env


def _mlflow_cli() -> str:
    """The `mlflow` console script of this interpreter's environment."""
    candidate = Path(sys.executable).parent / "mlflow"
    return str(candidate) if candidate.exists() else (shutil.which("mlflow") or "mlflow")


def start(layout: Layout, name: str, model_uri: str, *, tracking_uri: str, workers: int = 1) -> ProcessRecord:
    """Start a model server for ``model_uri`` on a free port and record it under ``name``."""
    port = free_port()
    argv = [
        _mlflow_cli(),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(max(1, workers)),
    ]
    env = venv_env({"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_REGISTRY_URI": tracking_uri})
    record = spawn(f"deployment-{name}", argv, log=layout.logs / f"deployment-{name}.log", env=env)
    record.port = port
    record.url = f"http://127.0.0.1:{port}"
    record.extra = {"model": model_uri, "workers": workers}
    record.save(layout.deployment_record(name))
    return record


def record_of(layout: Layout, name: str) -> ProcessRecord | None:
    return ProcessRecord.load(layout.deployment_record(name))


def healthy(record: ProcessRecord) -> bool:
    """Alive and answering /ping."""
    return record.url is not None and record.alive() and http_ok(record.url + "/ping", timeout=2.0)


def remove(layout: Layout, name: str) -> bool:
    """Stop the server recorded under ``name`` and forget it; False when none was running."""
    path = layout.deployment_record(name)
    record = ProcessRecord.load(path)
    stopped = stop(record) if record is not None else False
    path.unlink(missing_ok=True)
    return stopped


def all_records(layout: Layout) -> dict[str, ProcessRecord]:
    records = {}
    for path in sorted(layout.deployments.glob("*.json")):
        record = ProcessRecord.load(path)
        if record is not None:
            records[path.stem] = record
    return records
