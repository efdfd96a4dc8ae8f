"""Rows and predictions out of a scoring request and its answer (MLflow's protocol, plain JSON, CSV).

Why in the contract: the serving processes that write capture records (`ml.platform.capture`,
on the local platform and in Kubernetes pods) and `ml monitor`, which turns SageMaker's and Azure
ML's native capture into the same records, must name a row's values the same way, or the
reference and the capture would disagree about a column. Pure standard library: servers use it.

Unnamed values are named by position (``"0".."n-1"``) unless ``columns`` names them.

Example::

    rows_from_payload({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}})  # [{"a": 1, "b": 2}]
    predictions_from_payload({"predictions": [[0.1, 0.9]]})  # [0.9]
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

Row = dict[str, Any]


def named(values: list[Any], columns: list[str] | None) -> Row:
    """``values`` keyed by ``columns`` when they fit, else by position."""
    names = columns if columns is not None and len(columns) == len(values) else [str(i) for i in range(len(values))]
    return dict(zip(names, values, strict=True))


def rows_from_payload(payload: Any, columns: list[str] | None = None) -> list[Row]:
    """Input rows from a decoded JSON request body (MLflow scoring protocol, or plain lists/objects)."""
    if isinstance(payload, dict):
        if "dataframe_split" in payload:
            split = payload["dataframe_split"]
            names = [str(c) for c in split.get("columns") or []] or None
            return [named(list(row), names) for row in split.get("data", [])]
        if "dataframe_records" in payload:
            return [dict(row) for row in payload["dataframe_records"]]
        for key in ("instances", "inputs", "data"):
            if key in payload:
                return rows_from_payload(payload[key], columns)
        return [payload]
    if isinstance(payload, list):
        if not payload:
            return []
        if all(isinstance(item, dict) for item in payload):
            return [dict(item) for item in payload]
        if all(isinstance(item, list) for item in payload):
            return [named(item, columns) for item in payload]
        return [named(payload, columns)]
    return [named([payload], columns)]


def predictions_from_payload(payload: Any) -> list[Any]:
    """One primary prediction per row from a decoded response (``{"predictions": [...]}`` or a list)."""
    if isinstance(payload, dict):
        for key in ("predictions", "outputs", "data", "scores"):
            if key in payload:
                return predictions_from_payload(payload[key])
        return [payload]
    if isinstance(payload, list):
        return [primary(item) for item in payload]
    return [payload]


def primary(item: Any) -> Any:
    """A row's main output: a scalar as is; the last column of a probability row (the positive class)."""
    if isinstance(item, list):
        return item[-1] if item else None
    if isinstance(item, dict):
        for key in ("prediction", "score", "probability", "label"):
            if key in item:
                return item[key]
        values = list(item.values())
        return values[-1] if values else None
    return item


def number(text: str) -> Any:
    """A CSV cell as a float when it is one, else the text."""
    try:
        return float(text)
    except ValueError:
        return text


def parse_body(content_type: str, text: str, *, columns: list[str] | None, rows: bool) -> list[Any]:
    """Rows (``rows=True``) or predictions of a body: CSV when the type says so or it is not JSON."""
    if "csv" in content_type or not text.lstrip().startswith(("{", "[")):
        parsed = [[number(cell) for cell in row] for row in csv.reader(io.StringIO(text)) if row]
        if rows:
            return [named(row, columns) for row in parsed]
        return [row[-1] if len(row) > 0 else None for row in parsed]
    payload = json.loads(text)
    return rows_from_payload(payload, columns) if rows else predictions_from_payload(payload)
