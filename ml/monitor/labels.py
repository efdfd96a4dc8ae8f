"""Labels that arrive later, joined to captured predictions by request id: the live metric.

Why: input drift says the world changed; only labels say whether the model got worse (concept
drift). ``--labels FILE`` (CSV, JSONL or parquet with ``request_id`` and ``label``) is joined to the
window's captured rows on ``request_id``, and the live metric is computed the way the version's
validation metric was (AUC, accuracy, F1, RMSE, MAE, R2 -- read from the metric's name, e.g.
``val_auc``), then compared with the validation value. A drop beyond ``tolerance`` (relative: 0.05 is 5% of the
validation value) counts as drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.contract.errors import UserError
from ml.monitor.drift import DRIFT, NO_DRIFT, NOT_ENOUGH

MIN_LABELS = 30

# metric name fragment -> (metric, higher is better)
_METRICS = (
    ("auc", ("roc_auc", True)),
    ("acc", ("accuracy", True)),
    ("f1", ("f1", True)),
    ("rmse", ("rmse", False)),
    ("mae", ("mae", False)),
    ("r2", ("r2", True)),
)


@dataclass(frozen=True)
class LiveMetric:
    """The live metric over the labelled rows of a window, against the validation metric."""

    metric: str
    live: float | None
    validation: float | None
    validation_name: str | None
    higher_is_better: bool
    labelled: int
    labels: int
    unmatched: int
    tolerance: float
    outcome: str

    @property
    def message(self) -> str:
        if self.outcome == NOT_ENOUGH:
            return f"live {self.metric}: not enough data: {self.labelled} of {MIN_LABELS} labelled rows"
        base = f"live {self.metric} {self.live:.4f}"
        if self.validation is None:
            return base + " (no validation metric recorded to compare with)"
        return base + f" vs validation {self.validation:.4f} ({self.outcome})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def read_table(path: Path) -> pd.DataFrame:
    """A CSV, JSONL (``.jsonl``/``.ndjson``/``.json``) or parquet file as a DataFrame; bad input is a UserError."""
    if not path.exists():
        raise UserError(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson", ".json"):
            return pd.read_json(path, lines=suffix != ".json")
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: cannot be read as {suffix.lstrip('.') or 'csv'} ({exc})") from None


def read_labels(path: Path) -> pd.DataFrame:
    """``request_id`` (text) and ``label`` columns; anything else is ignored."""
    frame = read_table(path)
    missing = [column for column in ("request_id", "label") if column not in frame.columns]
    if missing:
        raise UserError(
            f"{path}: labels need the columns request_id and label; missing {', '.join(missing)} "
            f"(found: {', '.join(map(str, frame.columns[:10]))})"
        )
    labels = frame[["request_id", "label"]].dropna()
    labels["request_id"] = labels["request_id"].astype(str)
    return labels.drop_duplicates("request_id", keep="last")


def metric_for(validation_name: str | None, task: str | None) -> tuple[str, bool]:
    """Which metric to compute: the validation metric's kind, else AUC (classification) / RMSE."""
    if validation_name:
        lowered = validation_name.lower()
        for fragment, metric in _METRICS:
            if fragment in lowered:
                return metric
    return ("roc_auc", True) if task != "regression" else ("rmse", False)


def _compute(metric: str, truth: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn import metrics

    if metric == "roc_auc":
        return float(metrics.roc_auc_score(truth, predicted))
    if metric == "accuracy":
        return float(metrics.accuracy_score(truth, _as_classes(predicted)))
    if metric == "f1":
        return float(metrics.f1_score(truth, _as_classes(predicted)))
    if metric == "rmse":
        return float(np.sqrt(metrics.mean_squared_error(truth, predicted)))
    if metric == "mae":
        return float(metrics.mean_absolute_error(truth, predicted))
    return float(metrics.r2_score(truth, predicted))


def _as_classes(predicted: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] become classes at 0.5; classes stay as they are."""
    values = predicted.astype(float)
    is_probability = np.all((values >= 0) & (values <= 1)) and not np.all(np.isin(values, (0.0, 1.0)))
    return (values >= 0.5).astype(int) if is_probability else values.astype(int)


def live_metric(
    captured: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    validation: tuple[str, float] | None,
    task: str | None,
    tolerance: float = 0.05,
) -> LiveMetric:
    """Join ``captured`` (``request_id``, ``prediction``) with ``labels`` and score the joined rows."""
    metric, higher = metric_for(validation[0] if validation else None, task)
    joined = captured[["request_id", "prediction"]].merge(labels, on="request_id", how="inner")
    joined = joined.dropna(subset=["prediction"])
    base: dict[str, Any] = {
        "metric": metric,
        "validation": validation[1] if validation else None,
        "validation_name": validation[0] if validation else None,
        "higher_is_better": higher,
        "labelled": len(joined),
        "labels": len(labels),
        "unmatched": len(labels) - len(joined),
        "tolerance": tolerance,
    }
    truth = joined["label"].to_numpy()
    predicted = pd.to_numeric(joined["prediction"], errors="coerce").to_numpy()
    if len(joined) < MIN_LABELS or (metric == "roc_auc" and len(np.unique(truth)) < 2):
        return LiveMetric(live=None, outcome=NOT_ENOUGH, **base)
    try:
        live = _compute(metric, truth, predicted)
    except ValueError as exc:
        raise UserError(f"labels: cannot compute {metric} on the joined rows ({exc})") from None
    outcome = NO_DRIFT
    if validation is not None:
        drop = (validation[1] - live) if higher else (live - validation[1])
        outcome = DRIFT if drop > tolerance * max(abs(validation[1]), 1e-12) else NO_DRIFT
    return LiveMetric(live=live, outcome=outcome, **base)
