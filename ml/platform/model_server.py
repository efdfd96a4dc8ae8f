"""Model-server processes: one MLflow scoring server (as `mlflow models serve` runs it) per deployment.

Why its own module: the local rollout target creates and deletes them, and `ml platform up|down`
restarts and stops them; both go through these few functions and the same records under
``<home>/deployments/<name>.json``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ml.contract.monitoring import capture_env
from ml.platform import scoring_app
from ml.platform.layout import Layout
from ml.platform.process import ProcessRecord, free_port, http_ok, spawn, stop, venv_env
from ml.stack import default_local_outputs, read_outputs_file


def _mlflow_cli() -> str:
    """The `mlflow` console script of this interpreter's environment."""
    candidate = Path(sys.executable).parent / "mlflow"
    return str(candidate) if candidate.exists() else (shutil.which("mlflow") or "mlflow")


def _capture_env(layout: Layout, name: str, model_uri: str) -> dict[str, str]:
    """The capture environment from the platform's monitoring settings (`outputs.json`, else the default).

    Records go under ``<home>/capture`` (`ml monitor --stack local` reads there), named for the
    endpoint, this deployment and the model version its URI (``models:/<name>/<version>``) names.
    """
    outputs = read_outputs_file(layout.outputs) if layout.outputs.exists() else default_local_outputs(layout.home)
    monitoring = outputs.monitoring
    if monitoring is None or not monitoring.enabled:
        return {}
    parts = model_uri.removeprefix("models:/").split("/") if model_uri.startswith("models:/") else []
    return capture_env(
        monitoring.capture_uri,
        sampling_percent=monitoring.sampling_percent,
        endpoint=outputs.endpoint.name if outputs.endpoint is not None else "local",
        deployment=name,
        model_name=parts[0] if len(parts) == 2 else None,
        model_version=parts[1] if len(parts) == 2 and parts[1].isdigit() else None,
    )


def start(layout: Layout, name: str, model_uri: str, *, tracking_uri: str, workers: int = 1) -> ProcessRecord:
    """Start a model server for ``model_uri`` on a free port and record it under ``name``.

    Two launchers, the same MLflow scoring server (``mlflow.pyfunc.scoring_server``) under uvicorn:

    - ``direct`` (default): download the model here (this process has MLflow loaded already) and
      run what `mlflow models serve --env-manager local` execs, MLflow's scoring app under uvicorn,
      without the CLI wrapper, which imports MLflow a second time before it (ready in about a third
      of the time, docs/deploy.md). The app is wrapped by `ml.platform.scoring_app`: a model that
      raises answers 500 (MLflow says 400, like a bad request) and answers carry ``x-deployment``;
      it records a sample of requests under ``<home>/capture`` (the platform's monitoring settings).
    - ``mlflow-cli`` (``ML_MODEL_SERVER=mlflow-cli``): `mlflow models serve --env-manager local`,
      unwrapped (model failures stay 400); kept to compare start times in ``bench/serving.py``.
    """
    port = free_port()
    env = venv_env(
        {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_REGISTRY_URI": tracking_uri, scoring_app.DEPLOYMENT_ENV: name}
    )
    model_dir = layout.deployments / f"{name}-model"
    if os.environ.get("ML_MODEL_SERVER", "direct") == "mlflow-cli":
        argv = [_mlflow_cli(), "models", "serve", "-m", model_uri, "--env-manager", "local"]
        argv += ["-h", "127.0.0.1", "-p", str(port), "-w", str(max(1, workers))]
    else:
        import mlflow.artifacts
        from mlflow.pyfunc import scoring_server

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep `ml` output readable
        shutil.rmtree(model_dir, ignore_errors=True)
        model_dir.mkdir(parents=True)
        local_path = mlflow.artifacts.download_artifacts(
            artifact_uri=model_uri, dst_path=str(model_dir), tracking_uri=tracking_uri
        )
        env[scoring_server._SERVER_MODEL_PATH] = local_path
        env.update(_capture_env(layout, name, model_uri))
        argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", str(max(1, workers)), "--no-access-log", "ml.platform.scoring_app:app"]
    record = spawn(f"deployment-{name}", argv, log=layout.logs / f"deployment-{name}.log", env=env)
    record.port = port
    record.url = f"http://127.0.0.1:{port}"
    record.extra = {"model": model_uri, "workers": workers, "model_dir": str(model_dir)}
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
    shutil.rmtree(layout.deployments / f"{name}-model", ignore_errors=True)
    return stopped


def all_records(layout: Layout) -> dict[str, ProcessRecord]:
    records = {}
    for path in sorted(layout.deployments.glob("*.json")):
        record = ProcessRecord.load(path)
        if record is not None:
            records[path.stem] = record
    return records
