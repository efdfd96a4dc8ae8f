"""`ml monitor reference`: give a registered version a reference after the fact, from a training file.

The reference itself (what it holds, how it is logged, attached and loaded) lives in
`ml.reference`, below both `ml.sweep` (which writes and attaches it) and `ml.monitor` (which reads
it); its names are re-exported here for the code and scripts that import them from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ml.contract.errors import UserError
from ml.reference import (
    CATEGORICAL_MAX_VALUES,
    PREDICTION,
    REFERENCE_DIR,
    REFERENCE_SCHEMA_VERSION,
    SAMPLE_FILE,
    SUMMARY_FILE,
    TAG_REFERENCE,
    TARGET,
    Reference,
    as_frame,
    attach_reference,
    build_reference,
    infer_task,
    load_reference,
    log_reference,
    missing_reference,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "CATEGORICAL_MAX_VALUES",
    "PREDICTION",
    "REFERENCE_DIR",
    "REFERENCE_SCHEMA_VERSION",
    "SAMPLE_FILE",
    "SUMMARY_FILE",
    "TAG_REFERENCE",
    "TARGET",
    "Reference",
    "as_frame",
    "attach_reference",
    "build_reference",
    "infer_task",
    "load_reference",
    "log_reference",
    "missing_reference",
    "reference_from_file",
]


def reference_from_file(
    client: MlflowClient, name: str, version: str, data_file: Path, *, target_column: str | None = None
) -> str:
    """`ml monitor reference`: score a training file with the version's model, log and attach the result."""
    import mlflow

    from ml.monitor.labels import read_table

    frame = read_table(data_file)
    target = None
    if target_column is not None:
        if target_column not in frame.columns:
            raise UserError(f"{data_file}: no column '{target_column}' (columns: {', '.join(frame.columns[:20])})")
        target = frame.pop(target_column)
    found = client.get_model_version(name, str(version))
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    try:
        predictions = model.predict(frame)
    except Exception:  # models trained on unnamed arrays take the values positionally
        predictions = model.predict(frame.to_numpy())
    predictions = np.asarray(predictions)
    tags = found.tags or {}
    metric = None
    if "ml.objective.metric" in tags and "ml.objective.value" in tags:
        metric = (tags["ml.objective.metric"], float(tags["ml.objective.value"]))
    if not found.run_id:
        raise UserError(f"model '{name}' version {version} has no run to keep a reference in")
    log_reference(frame, predictions, target=target, metric=metric, run_id=found.run_id, client=client)
    return attach_reference(client, name, str(version))
