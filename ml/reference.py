"""The reference: the distribution a model version was trained on, kept with it in MLflow.

Why a module of its own, below the verbs: the trial API (`ml.sweep.trial.log_reference`) writes
it, `ml sweep best` (`ml.sweep.register`) attaches it to the version it registers, and `ml monitor`
reads it; `ml.monitor` imports `ml.sweep` (retraining), so the storage part lives here, importing
only MLflow, pandas and the contract, and neither verb imports the other for it.

Drift only means something against what the model saw. A training script calls
`log_reference` once (inside its MLflow run, as a sweep trial does); it logs a compact sample
(at most ``max_rows`` rows of features, the model's predictions and the target, as parquet) and a
per-column summary (kind, mean, sd, quantiles, missing share) under the run's ``reference/``
artifacts. `attach_reference` tags a registered version with where its reference is
(``ml.monitor.reference = runs:/<run id>/reference``, the tag name kept from before the move), and
`load_reference` reads it back; a version without one is a `UserError` that names the two ways to fix it, never a guess.

Example (in a training script, after fitting)::

    from ml.reference import log_reference
    with mlflow.start_run():
        log_reference(x_train, model.predict_proba(x_train)[:, 1], target=y_train,
                      metric=("val_auc", auc))
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml.contract.errors import UserError

if TYPE_CHECKING:
    from mlflow import MlflowClient

REFERENCE_SCHEMA_VERSION = 1
REFERENCE_DIR = "reference"
SAMPLE_FILE = "sample.parquet"
SUMMARY_FILE = "summary.json"
PREDICTION = "__prediction__"
TARGET = "__target__"
TAG_REFERENCE = "ml.monitor.reference"
CATEGORICAL_MAX_VALUES = 5
"""A numeric column with at most this many distinct values is compared as categories (chi-square)."""


@dataclass(frozen=True)
class Reference:
    """A version's training distribution as `ml monitor` compares against it."""

    sample: pd.DataFrame
    features: list[str]
    categorical: list[str]
    rows: int
    """Rows the reference was computed from (the sample holds at most ``max_rows`` of them)."""
    task: str | None = None
    """``classification`` or ``regression`` (from the target/predictions), None when unknown."""
    metric: tuple[str, float] | None = None
    """The validation metric logged with it, e.g. ``("val_auc", 0.99)``."""
    uri: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def has_prediction(self) -> bool:
        return PREDICTION in self.sample.columns


def as_frame(data: Any) -> pd.DataFrame:
    """A DataFrame from a DataFrame, an array (columns ``"0".."n-1"``), an MLflow dataset or a sklearn Bunch."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif hasattr(data, "df") and isinstance(data.df, pd.DataFrame):  # mlflow.data PandasDataset
        frame = data.df
    elif hasattr(data, "frame") and isinstance(getattr(data, "frame", None), pd.DataFrame):  # sklearn Bunch
        frame = data.frame.drop(columns=["target"], errors="ignore")
    else:
        array = np.asarray(data)
        if array.ndim != 2:
            raise ValueError(f"reference data must be 2-D (rows x features), got shape {array.shape}")
        frame = pd.DataFrame(array)
    frame = frame.copy()
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _is_categorical(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series) or series.nunique(dropna=True) <= CATEGORICAL_MAX_VALUES


def infer_task(target: pd.Series | None, predictions: pd.Series | None) -> str | None:
    """Classification when the target (or the prediction) takes few values; regression otherwise."""
    values = target if target is not None else predictions
    if values is None:
        return None
    if not pd.api.types.is_numeric_dtype(values) or values.nunique(dropna=True) <= 20:
        return "classification"
    return "regression"


def _column_summary(series: pd.Series, categorical: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "kind": "categorical" if categorical else "numeric",
        "missing": float(series.isna().mean()),
    }
    if categorical:
        counts = series.astype(str).value_counts(normalize=True).head(50)
        summary["frequencies"] = {str(k): round(float(v), 6) for k, v in counts.items()}
    else:
        values = pd.to_numeric(series, errors="coerce").dropna()
        quantiles = values.quantile([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]) if len(values) else pd.Series()
        summary.update(
            mean=float(values.mean()) if len(values) else None,
            std=float(values.std()) if len(values) > 1 else None,
            min=float(values.min()) if len(values) else None,
            max=float(values.max()) if len(values) else None,
            quantiles={f"{q:g}": float(v) for q, v in quantiles.items()},
        )
    return summary


def build_reference(
    data: Any,
    predictions: Any = None,
    *,
    target: Any = None,
    metric: tuple[str, float] | None = None,
    max_rows: int = 5000,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The sample and the summary `log_reference` writes (pure: no MLflow)."""
    frame = as_frame(data)
    features = list(frame.columns)
    if PREDICTION in features or TARGET in features:
        raise ValueError(f"feature names {PREDICTION!r} and {TARGET!r} are reserved")
    rows = len(frame)
    if predictions is not None:
        values = np.asarray(predictions)
        if values.ndim == 2:  # class probabilities: keep the positive (last) class, as the capture does
            values = values[:, -1]
        if len(values) != rows:
            raise ValueError(f"predictions has {len(values)} rows, the data {rows}")
        frame[PREDICTION] = values
    if target is not None:
        target_values = np.asarray(target)
        if len(target_values) != rows:
            raise ValueError(f"target has {len(target_values)} rows, the data {rows}")
        frame[TARGET] = target_values
    sample = frame.sample(n=max_rows, random_state=seed) if rows > max_rows else frame
    categorical = [name for name in features if _is_categorical(frame[name])]
    summary: dict[str, Any] = {
        "schema_version": REFERENCE_SCHEMA_VERSION,
        "rows": rows,
        "sample_rows": len(sample),
        "columns": features,
        "features": {name: _column_summary(frame[name], name in categorical) for name in features},
        "categorical": categorical,
        "task": infer_task(frame.get(TARGET), frame.get(PREDICTION)),
    }
    if PREDICTION in frame:
        summary["prediction"] = _column_summary(frame[PREDICTION], False)
    if metric is not None:
        summary["metric"] = {"name": str(metric[0]), "value": float(metric[1])}
    return sample.reset_index(drop=True), summary


def _run_id(run_id: str | None) -> str:
    import mlflow

    active = mlflow.active_run()
    found = run_id or (active.info.run_id if active is not None else None) or os.environ.get("MLFLOW_RUN_ID")
    if not found:
        raise UserError(
            "log_reference needs an MLflow run: call it inside `with mlflow.start_run():` (a sweep trial's run) "
            "or pass run_id="
        )
    return found


def log_reference(
    data: Any,
    predictions: Any = None,
    *,
    target: Any = None,
    metric: tuple[str, float] | None = None,
    max_rows: int = 5000,
    run_id: str | None = None,
    client: MlflowClient | None = None,
) -> str:
    """Log the training distribution to the run (active, ``run_id`` or ``MLFLOW_RUN_ID``); returns its URI.

    ``data``: the training features (DataFrame, array, MLflow dataset); ``predictions``: the model's
    output on them (probabilities, classes or values); ``target``: the true labels, optional;
    ``metric``: the validation metric ``(name, value)`` the live metric is later compared with.
    """
    from mlflow import MlflowClient

    sample, summary = build_reference(data, predictions, target=target, metric=metric, max_rows=max_rows)
    run = _run_id(run_id)
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        sample.to_parquet(folder / SAMPLE_FILE, index=False)
        (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
        (client or MlflowClient()).log_artifacts(run, directory, REFERENCE_DIR)
    return f"runs:/{run}/{REFERENCE_DIR}"


def _has_reference(client: MlflowClient, run_id: str) -> bool:
    try:
        return any(Path(item.path).name == SUMMARY_FILE for item in client.list_artifacts(run_id, REFERENCE_DIR))
    except Exception:
        return False


def missing_reference(name: str, version: str) -> UserError:
    """The message for a version without a reference: what it is and the two ways to give it one."""
    return UserError(
        f"model '{name}' version {version} has no reference (the training distribution `ml monitor` compares "
        f"live inputs with). Attach one now: `ml monitor reference {name}/{version} --data TRAINING.csv`; "
        f"or call ml.sweep.trial.log_reference(x_train, predictions) in the training script and register "
        f"again (`ml sweep run SPEC`, then `ml sweep best`)"
    )


def attach_reference(client: MlflowClient, name: str, version: str) -> str:
    """Tag the registered version with its run's reference (``ml.monitor.reference``); returns the URI.

    Raises the `missing_reference` error when the version's run logged none.
    """
    found = client.get_model_version(name, str(version))
    if not found.run_id or not _has_reference(client, found.run_id):
        raise missing_reference(name, str(version))
    uri = f"runs:/{found.run_id}/{REFERENCE_DIR}"
    client.set_model_version_tag(name, str(version), TAG_REFERENCE, uri)
    return uri


def load_reference(client: MlflowClient, name: str, version: str) -> Reference:
    """The version's reference: its ``ml.monitor.reference`` tag, else its run's ``reference/`` artifacts."""
    found = client.get_model_version(name, str(version))
    uri = (found.tags or {}).get(TAG_REFERENCE)
    if uri is None:
        if not found.run_id or not _has_reference(client, found.run_id):
            raise missing_reference(name, str(version))
        uri = f"runs:/{found.run_id}/{REFERENCE_DIR}"
    run_id, _, path = uri.removeprefix("runs:/").partition("/")
    with tempfile.TemporaryDirectory() as directory:
        try:
            local = Path(client.download_artifacts(run_id, path or REFERENCE_DIR, directory))
            sample = pd.read_parquet(local / SAMPLE_FILE)
            summary = json.loads((local / SUMMARY_FILE).read_text())
        except Exception as exc:
            raise UserError(
                f"model '{name}' version {version}: the reference at {uri} cannot be read ({exc}); "
                f"attach a new one: `ml monitor reference {name}/{version} --data TRAINING.csv`"
            ) from None
    metric = summary.get("metric")
    return Reference(
        sample=sample,
        features=list(summary["columns"]),  # in training order: positional inputs (CSV) are named by it
        categorical=list(summary.get("categorical", [])),
        rows=int(summary["rows"]),
        task=summary.get("task"),
        metric=(metric["name"], float(metric["value"])) if metric else None,
        uri=uri,
        summary=summary,
    )
