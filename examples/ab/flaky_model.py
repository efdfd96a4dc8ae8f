"""A tiny MLflow pyfunc that fails a stated share of requests: two versions of it make an A/B test with a known answer.

Logged as "models from code" with ``model_config={"error_rate": 0.08, "label": "v1"}``: each
prediction call raises with probability ``error_rate`` (the scoring server answers it as an error),
so the experiment's outcome metric ``errors`` has a true difference the demo can check.
"""

from __future__ import annotations

import random
from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class FlakyModel(PythonModel):
    """Predicts the row sum, labelled; fails ``error_rate`` of calls."""

    def load_context(self, context: Any) -> None:
        config = context.model_config or {}
        self.error_rate = float(config.get("error_rate", 0.0))
        self.label = str(config.get("label", "model"))
        self.random = random.Random()

    def predict(self, context: Any, model_input: list[list[float]], params: dict[str, Any] | None = None) -> list[str]:
        if self.random.random() < self.error_rate:
            raise RuntimeError(f"injected fault ({self.error_rate:.0%} of calls fail in {self.label})")
        return [f"{self.label}:{sum(row):g}" for row in model_input]


mlflow.models.set_model(FlakyModel())
