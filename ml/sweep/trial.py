"""What a training script calls to take part in a sweep: `report`, `checkpoint_dir`, `should_stop`.

Why a tiny protocol instead of an SDK: the same script runs as a local process, in an Azure ML job
and in a SageMaker training job, and must not import any backend. `report(step, **metrics)`
writes each report three ways, each read by one backend:

- a JSON line to the file named by ``ML_TRIAL_METRICS_FILE`` (local backend: read to prune);
- a ``ml-metric: {"step": 3, "val_auc": 0.98}`` line on stdout (SageMaker: `metric_regex` builds
  the metric definitions that scrape it from the training log);
- `mlflow.log_metrics` when ``ML_TRIAL_MLFLOW_METRICS=1`` and an MLflow run is active or named by
  ``MLFLOW_RUN_ID`` (Azure ML
  reads the primary metric from the job's MLflow run).

The training data goes to MLflow as a dataset input with `log_dataset(features, name=..., targets=...)`
(name, digest, source, schema: what the model card shows as its training data), and its
distribution with `log_reference(features, predictions, target=..., metric=...)` (what `ml monitor`
compares live traffic with; `ml sweep best` carries it to the registered version).

Checkpoints go to `checkpoint_dir()` (``ML_CHECKPOINT_DIR``), which survives a spot eviction: the
trial is started again with the same directory and should resume from what it finds there.

At the end, `log_model(model, x_val)` logs the fitted model to the trial's run with its signature
and the spec's environment as its requirements (``ML_TRIAL_PIP_REQUIREMENTS``, set by every
backend): MLflow then infers no dependencies, which costs 20-35 s per trial on a busy machine.

Example (a runnable training loop)::

    from ml.sweep import trial

    ckpt = trial.checkpoint_dir() / "state.txt"
    start = int(ckpt.read_text()) if ckpt.exists() else 0
    for step in range(start + 1, 4):
        if trial.should_stop():
            break
        trial.report(step, loss=1.0 / step)
        ckpt.write_text(str(step))

This module only uses the standard library (MLflow is imported when asked to log to it).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS_FILE_ENV = "ML_TRIAL_METRICS_FILE"
STOP_FILE_ENV = "ML_TRIAL_STOP_FILE"
CHECKPOINT_ENV = "ML_CHECKPOINT_DIR"
MLFLOW_METRICS_ENV = "ML_TRIAL_MLFLOW_METRICS"
REQUIREMENTS_ENV = "ML_TRIAL_PIP_REQUIREMENTS"
STDOUT_PREFIX = "ml-metric: "


@dataclass(frozen=True)
class Report:
    """One `report` call as the backend reads it back."""

    step: int
    metrics: dict[str, float]
    time: float


def report(step: int, **metrics: float) -> None:
    """Report metrics at a step (an iteration, an epoch): the sweep prunes and ranks on these."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    values = {name: float(value) for name, value in metrics.items()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"metrics must be finite numbers; not finite: {', '.join(bad)}")
    now = time.time()
    path = os.environ.get(METRICS_FILE_ENV)
    if path:
        with Path(path).open("a") as stream:
            stream.write(json.dumps({"step": step, "metrics": values, "time": now}) + "\n")
    print(STDOUT_PREFIX + json.dumps({"step": step, **values}), flush=True)
    if os.environ.get(MLFLOW_METRICS_ENV) == "1":
        import mlflow

        # Azure ML sets MLFLOW_RUN_ID for the job's run without activating it; log_metrics resumes it.
        if mlflow.active_run() is not None or os.environ.get("MLFLOW_RUN_ID"):
            mlflow.log_metrics(values, step=step)


def log_dataset(
    features: Any, *, name: str, targets: Any = None, context: str = "training", source: str | None = None
) -> None:
    """Record the data the model is trained on as an MLflow dataset input of this trial's run.

    Why: a registered model must say what it learnt from; MLflow keeps the dataset's name, digest,
    source and schema with the run, and the model card's "Training data" section reads them back.
    ``features``: a pandas DataFrame (``targets`` = its label column's name) or a NumPy array
    (``targets`` = the label array). Call it inside the run the model is logged in (or with
    ``MLFLOW_RUN_ID`` set); with no run at all it does nothing, so a script run by hand still works.
    """
    import mlflow
    import mlflow.data

    if mlflow.active_run() is None and not os.environ.get("MLFLOW_RUN_ID"):
        return
    if hasattr(features, "columns"):
        dataset: Any = mlflow.data.from_pandas(features, name=name, targets=targets, source=source)
    else:
        dataset = mlflow.data.from_numpy(features, targets=targets, name=name, source=source)
    with _trial_run():
        mlflow.log_input(dataset, context=context)


def log_reference(
    features: Any,
    predictions: Any = None,
    *,
    target: Any = None,
    metric: tuple[str, float] | None = None,
    max_rows: int = 5000,
) -> str | None:
    """Keep the training distribution with this trial's run: what `ml monitor` compares live inputs with.

    ``features``: the training features (DataFrame or array; columns of an array are named
    ``"0".."n-1"``, as the serving capture names unnamed inputs); ``predictions``: the model's
    output on them; ``target``: the labels; ``metric``: the validation metric ``(name, value)`` the
    live metric is compared with once labels arrive. `ml sweep best` attaches it to the version it
    registers. Returns the reference's URI; with no run at all it does nothing (a script run by
    hand still works), like `log_dataset`. The work is `ml.reference.log_reference`, imported here
    only when called, so this module stays standard-library only.
    """
    import mlflow

    if mlflow.active_run() is None and not os.environ.get("MLFLOW_RUN_ID"):
        return None
    from ml.reference import log_reference as log

    return log(features, predictions, target=target, metric=metric, max_rows=max_rows)


def checkpoint_dir() -> Path:
    """The directory to save and resume checkpoints in (created if needed).

    Set by every backend; a script run by hand gets ``./checkpoints``.
    """
    path = Path(os.environ.get(CHECKPOINT_ENV) or "checkpoints")
    path.mkdir(parents=True, exist_ok=True)
    return path


def should_stop() -> bool:
    """True when the sweep asked this trial to stop (pruned or timed out): save and exit soon."""
    path = os.environ.get(STOP_FILE_ENV)
    return path is not None and path != "" and Path(path).exists()


def requirements() -> list[str] | None:
    """The spec's pip requirements (``environment.pip`` or its requirements file), or None outside a sweep."""
    raw = os.environ.get(REQUIREMENTS_ENV)
    return [str(line) for line in json.loads(raw)] if raw else None


def log_model(model: object, x: object, *, name: str = "model", pip_requirements: list[str] | None = None) -> str:
    """Log a fitted scikit-learn model to the trial's MLflow run, cheaply; returns its model URI.

    One call instead of the usual five arguments: the signature is inferred from up to 100 rows of
    ``x`` and the model's predictions on them; the requirements are ``pip_requirements`` or the
    spec's environment (`requirements`), so MLflow does no dependency inference (and no uv project
    export); the model is saved with skops (trusting exactly the types the model contains) when
    skops is in those requirements, else with MLflow's default. No input example is logged (MLflow
    would reload the model to check it). Inside an active MLflow run the model goes there, else to
    the sweep's run for this trial (``MLFLOW_RUN_ID``), which is closed again.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_UV_AUTO_DETECT", "false")  # the requirements are given: nothing to detect
    import mlflow
    import mlflow.sklearn

    signature = _signature(model, x)
    pip = pip_requirements if pip_requirements is not None else requirements()
    if pip is None:
        from importlib.metadata import version

        pip = [f"scikit-learn=={version('scikit-learn')}"]
    options = _skops_options(model, pip)
    with _trial_run():
        info = mlflow.sklearn.log_model(model, name=name, signature=signature, pip_requirements=pip, **options)
    return str(info.model_uri)


def _signature(model: object, x: object) -> Any:
    """The model's signature from up to 100 rows of ``x`` and its predictions on them."""
    from mlflow.models import infer_signature

    sample = x[:100]  # type: ignore[index]
    return infer_signature(sample, model.predict(sample))  # type: ignore[attr-defined]


def _skops_options(model: object, pip: list[str]) -> dict[str, Any]:
    """MLflow's skops arguments when skops is in the requirements: the format and the model's own types.

    Why not ``skops.io.get_untrusted_types(data=skops.io.dumps(model))``: that serialises the whole
    model once more (MLflow serialises it again, and loads it back to check the trusted types), a
    third of a trial's end for 200 trees. The types are read off the object graph instead
    (`model_types`); trusting every type the model contains is what the audit would have allowed.
    """
    if not any(re.match(r"skops\b", line.strip().lower()) for line in pip):
        return {}
    return {"serialization_format": "skops", "skops_trusted_types": model_types(model)}


def model_types(model: object) -> list[str]:
    """The dotted names of the non-builtin types reachable from ``model`` (attributes, containers, object arrays).

    A superset of what skops reports as untrusted for the model: loading trusts only these, and
    MLflow's check after saving (it loads the model with them) fails loudly if one were missing.
    """
    found: set[str] = set()
    seen: set[int] = set()
    pending: list[object] = [model]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        kind = type(item)
        if kind.__module__ != "builtins":
            found.add(f"{kind.__module__}.{kind.__qualname__}")
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
        elif getattr(getattr(item, "dtype", None), "hasobject", False):  # a NumPy array of objects
            pending.extend(item.ravel().tolist())  # type: ignore[attr-defined]
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            pending.extend(vars(item).values())
    return sorted(found)


@contextlib.contextmanager
def _trial_run() -> Iterator[None]:
    """The active MLflow run, else the trial's run (``MLFLOW_RUN_ID``) resumed and ended again, else a new run.

    Why not plain ``mlflow.start_run()``: MLflow consumes ``MLFLOW_RUN_ID`` (deletes it from the
    environment) when it resumes that run and again in ``end_run``, so after one such call every
    later one (`log_model` after `log_dataset`, a reference, a report) silently went to a NEW run
    and the sweep's trial run had no model to register. The run id is passed explicitly and put
    back in the environment afterwards.
    """
    import mlflow

    if mlflow.active_run() is not None:
        yield
        return
    run_id = os.environ.get("MLFLOW_RUN_ID") or None
    try:
        with mlflow.start_run(run_id=run_id):
            yield
    finally:
        if run_id:
            os.environ["MLFLOW_RUN_ID"] = run_id


def read_reports(path: Path, *, offset: int = 0) -> tuple[list[Report], int]:
    """Parse the complete JSON lines after byte ``offset``; returns them and the new offset.

    A half-written last line (the trial is still writing it) is left for the next read.
    """
    if not path.exists():
        return [], offset
    with path.open("rb") as stream:
        stream.seek(offset)
        data = stream.read()
    reports: list[Report] = []
    consumed = 0
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break
        consumed += len(raw)
        try:
            entry = json.loads(raw)
            metrics = {name: float(value) for name, value in entry["metrics"].items()}
            reports.append(Report(int(entry["step"]), metrics, float(entry["time"])))
        except (ValueError, KeyError, TypeError):
            print(f"ignoring malformed metrics line in {path}: {raw[:200]!r}", file=sys.stderr)
    return reports, offset + consumed


def metric_regex(metric: str) -> str:
    """A regex whose group 1 is ``metric``'s value in a `report` stdout line (SageMaker MetricDefinitions)."""
    return STDOUT_PREFIX.strip() + r" \{.*\"" + re.escape(metric) + r"\": (-?[0-9.]+(?:[eE][-+]?[0-9]+)?)"
