"""`ml monitor --labels FILE --ab-feedback`: the labels that judge drift also judge a running A/B test.

Why from `ml monitor`: the labels a user already feeds the monitor (``request_id,label``, arriving
hours after the scoring call) are the ground truth an A/B test on ``outcome: feedback`` wants --
"which arm's predictions were right more often". Each label is joined with the prediction the
capture recorded for that request (whichever arm served it: rows of every model version count
here, not only the champion's), turned into one outcome per request id, and appended to the
endpoint's feedback store (`ml.deploy.feedback.FeedbackStore`), which the experiment joins with the
arm that served each id. The outcome, higher is better (the default goal of ``outcome: feedback``):

- classification: 1 when the served prediction (a class, or a probability cut at 0.5) equals the
  label, else 0 -- the experiment then compares live accuracy per arm;
- regression: minus the absolute error.

A request of several rows (``<id>#<row>`` in the capture) gets the mean over its labelled rows.
Only captured requests can be judged: with capture sampling below 100 %, a sample of each arm's
requests counts (the sample is random per request, so the comparison stays fair).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from ml.contract.capture import CaptureRecord
from ml.contract.errors import UserError
from ml.deploy.feedback import FeedbackStore
from ml.monitor.labels import _as_classes


def outcomes(records: list[CaptureRecord], labels: pd.DataFrame, *, task: str | None) -> dict[str, float]:
    """Request id -> outcome for every captured, answered row that has a label (see the module docstring)."""
    answered = [r for r in records if r.status_code < 400 and r.prediction is not None]
    frame = pd.DataFrame(
        {"request_id": [r.request_id for r in answered], "prediction": [r.prediction for r in answered]}
    )
    joined = frame.merge(labels, on="request_id", how="inner")
    if joined.empty:
        return {}
    if task == "regression":
        predicted = pd.to_numeric(joined["prediction"], errors="coerce").to_numpy(dtype=float)
        truth = pd.to_numeric(joined["label"], errors="coerce").to_numpy(dtype=float)
        scores = -np.abs(predicted - truth)
    else:
        numeric = pd.to_numeric(joined["prediction"], errors="coerce")
        if numeric.notna().all() and pd.api.types.is_numeric_dtype(joined["label"]):
            scores = (_as_classes(numeric.to_numpy()) == joined["label"].to_numpy().astype(int)).astype(float)
        else:  # class names: compared as text
            scores = (joined["prediction"].astype(str) == joined["label"].astype(str)).to_numpy(dtype=float)
    by_request: dict[str, list[float]] = defaultdict(list)
    for request_id, score in zip(joined["request_id"], scores, strict=True):
        if np.isfinite(score):
            by_request[str(request_id).split("#", 1)[0]].append(float(score))
    return {rid: sum(values) / len(values) for rid, values in by_request.items()}


def feed(home: Path, endpoint: str | None, found: dict[str, float]) -> tuple[int, Path]:
    """Append ``found`` to ``endpoint``'s feedback store; returns how many were stored and where."""
    if endpoint is None:
        raise UserError("--ab-feedback: the stack exports no endpoint, so there is no A/B experiment to feed")
    store = FeedbackStore.for_endpoint(home, endpoint)
    items = [{"request_id": rid, "value": value} for rid, value in sorted(found.items())]
    return store.add(items, where="ml monitor --labels --ab-feedback"), store.path
