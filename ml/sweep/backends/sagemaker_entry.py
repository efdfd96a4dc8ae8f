"""Run one sweep trial in a SageMaker training container; staged as ``ml_sweep_entry.py`` by `ml sweep run`.

Why a module of the package and not a string: this is the program every SageMaker trial runs, so it
is linted, type-checked and tested like the rest; the backend stages this very file's source next
to the spec's code (`ml.sweep.backends._sagemaker_bundle.bundle_files`), with its config as
``ml_sweep.json``. Why standard library only, importing nothing of `ml`: the container has the
spec's code and `ml/sweep/trial.py`, not this package (mlflow is used when the image has it).

What it does: reads the tuned values SageMaker passes in /opt/ml/input/config/hyperparameters.json,
rounds quniform values to their q, fills the placeholders of the spec's command (the same rendering
as `ml.sweep.spec.SweepSpec.render_command`, kept in step by a test), gives the trial a checkpoint
directory under /opt/ml/checkpoints (synced to S3, so a spot-interrupted trial resumes) and an
MLflow run tagged with the sweep and the trial, runs the command and exits with its status.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

CONFIG_FILE = "ml_sweep.json"
HYPERPARAMETERS = "/opt/ml/input/config/hyperparameters.json"
DATA_ROOT = "/opt/ml/input/data"
PLACEHOLDER = re.compile(r"\$\{\{\s*(search_space|inputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""The spec's placeholders (`ml.sweep.spec.placeholders`), which validation has already checked."""


class EntryConfig(TypedDict):
    """``ml_sweep.json``: what the backend tells this program about the spec (`shim_config`)."""

    command: str
    parameters: list[str]
    quantize: dict[str, float]
    inputs: dict[str, str]
    """Input name -> the file name inside its channel for a ``uri_file`` input, "" for a folder."""
    checkpoint_root: str
    checkpoint_env: list[str]
    experiment: str


def load_config(path: Path) -> EntryConfig:
    """The config staged next to this program."""
    config: EntryConfig = json.loads(path.read_text())
    return config


def decode(raw: Any) -> Any:
    """A hyperparameter as SageMaker carries it (a JSON-encoded string) back to its value."""
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def render(value: Any) -> str:
    """A value as the command line gets it (as `ml.sweep.spec.placeholders.format_value`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def quantize(value: Any, q: float) -> int | float:
    """``round(value / q) * q``; an int when q and the result are whole (``112.0`` with q=50 -> 100)."""
    rounded = round(round(float(value) / q) * q, 12)
    return int(rounded) if float(q).is_integer() and float(rounded).is_integer() else rounded


def tuned_values(config: EntryConfig, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The searched parameters' values from SageMaker's hyperparameters; exits when one is missing."""
    values: dict[str, Any] = {}
    for name in config["parameters"]:
        if name not in raw:
            sys.exit(f"ml-sweep: hyperparameter '{name}' was not passed to this training job")
        value = decode(raw[name])
        q = config["quantize"].get(name)
        values[name] = quantize(value, q) if q is not None else value
    return values


def input_paths(config: EntryConfig, data_root: str = DATA_ROOT) -> dict[str, str]:
    """Where each input's channel is mounted (plus the file name for a ``uri_file`` input)."""
    return {name: f"{data_root}/{name}" + (f"/{leaf}" if leaf else "") for name, leaf in config["inputs"].items()}


def render_command(command: str, values: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """``command`` with every placeholder replaced by a shell-quoted value."""

    def substitute(match: re.Match[str]) -> str:
        kind, name = match.groups()
        return shlex.quote(render(values[name] if kind == "search_space" else inputs[name]))

    return PLACEHOLDER.sub(substitute, command)


def start_mlflow_run(experiment: str, job: str) -> tuple[Any, str] | None:
    """An MLflow run for this trial (resumed by the script's mlflow.start_run via MLFLOW_RUN_ID)."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    try:
        from mlflow import MlflowClient

        client = MlflowClient()
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        tags = {
            "ml.sweep.id": os.environ.get("ML_SWEEP_ID", ""),
            "ml.sweep.name": os.environ.get("ML_SWEEP_NAME", ""),
            "ml.sweep.backend": "sagemaker",
            "ml.sweep.role": "trial",
            "ml.trial.id": job,
            "mlflow.runName": job,
        }
        return client, client.create_run(experiment_id, tags=tags).info.run_id
    except Exception as exc:
        print(f"ml-sweep: no MLflow run for this trial ({type(exc).__name__}: {exc})", flush=True)
        return None


def run_trial(config: EntryConfig, raw: Mapping[str, Any], *, job: str, checkpoint_root: Path, workdir: Path) -> int:
    """Run the trial's command to its end and return its exit status (as a process exit code)."""
    command = render_command(config["command"], tuned_values(config, raw), input_paths(config))
    checkpoints = checkpoint_root / job
    checkpoints.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ML_TRIAL_ID=job)
    for name in config["checkpoint_env"]:
        env[name] = str(checkpoints)
    run = start_mlflow_run(config["experiment"], job)
    if run is not None:
        env["MLFLOW_RUN_ID"] = run[1]
    print(f"ml-sweep: trial {job}: {command}", flush=True)
    child = subprocess.Popen(["/bin/bash", "-c", command], cwd=workdir, env=env)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: child.send_signal(number))
    code = child.wait()
    if run is not None:
        status = "FINISHED" if code == 0 else ("KILLED" if code < 0 or code in (130, 143) else "FAILED")
        try:
            run[0].set_terminated(run[1], status=status)
        except Exception as exc:
            print(f"ml-sweep: could not close the MLflow run ({exc})", flush=True)
    return code if code >= 0 else 128 - code


def main() -> None:
    """The container's entry: config next to this file; two paths overridable to run it outside SageMaker."""
    here = Path(__file__).resolve().parent
    config = load_config(here / CONFIG_FILE)
    hyperparameters = Path(os.environ.get("ML_SWEEP_HYPERPARAMETERS", HYPERPARAMETERS))
    raw = json.loads(hyperparameters.read_text()) if hyperparameters.exists() else {}
    checkpoint_root = Path(os.environ.get("ML_SWEEP_CHECKPOINT_ROOT", config["checkpoint_root"]))
    job = os.environ.get("TRAINING_JOB_NAME", "trial")
    sys.exit(run_trial(config, raw, job=job, checkpoint_root=checkpoint_root, workdir=here))


if __name__ == "__main__":
    main()
