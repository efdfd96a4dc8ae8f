"""A tiny MLflow pyfunc whose behaviour is part of the logged model: healthy, failing or slow.

Logged as "models from code" with ``model_config={"mode": ..., "delay_ms": ...}``, so a model
server that loads a version really misbehaves the way that version was registered: fault injection
without touching the code under test.
"""

from __future__ import annotations

import time
from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class FaultModel(PythonModel):
    """Predicts the row sum; ``mode`` 'error' raises on every call, 'slow' sleeps ``delay_ms`` first."""

    def load_context(self, context: Any) -> None:
        config = context.model_config or {}
        self.mode = str(config.get("mode", "ok"))
        self.delay = float(config.get("delay_ms", 0)) / 1000.0
        self.label = str(config.get("label", self.mode))

    def predict(self, context: Any, model_input: list[list[float]], params: dict[str, Any] | None = None) -> list[str]:
        if self.mode == "error":
            raise RuntimeError("injected fault: this model version always fails")
        if self.delay:
            time.sleep(self.delay)
        return [f"{self.label}:{sum(row):g}" for row in model_input]


mlflow.models.set_model(FaultModel())
