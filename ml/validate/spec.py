"""The ``validation:`` section of a rollout spec: what data, which metrics, what must hold.

Why typed and strict like the rest of the spec: a validation that silently checks nothing (a
misspelt ``tolerence``) would let a worse model reach users. The section says:

- ``data``: the evaluation set, a CSV or Parquet file (relative to the spec file) or a URI
  (``file:``, ``runs:/``, ``s3://``, ``https://``, ...) whose columns fit the model's signature,
  plus the ``target`` column (and the slice column, if any);
- ``task``: ``classifier`` or ``regressor`` (MLflow's evaluator model types);
- ``metrics``: the MLflow metric names to judge (``roc_auc``, ``accuracy_score``, ``f1_score``,
  ``log_loss``, ``root_mean_squared_error``, ``r2_score``, ...); lower-is-better metrics are known;
- ``compare``: against the current ``champion`` alias: no regression beyond ``tolerance``, or at
  least ``min_improvement`` (give one); with no champion yet the comparison is skipped, saying so;
- ``thresholds``: absolute bounds per metric (a minimum, or a maximum for lower-is-better ones);
- ``features`` (optional): the model's input columns in order, when its signature has no names;
- ``slices``: a ``column``; the ``metric`` per slice and the largest allowed ``max_gap`` between
  the best and the worst slice (the fairness check), and slices smaller than ``min_rows`` ignored.

Example::

    validation:
      data: ../data/breast_cancer_holdout.csv
      target: target
      task: classifier
      metrics: [roc_auc, accuracy_score]
      compare: {against: champion, tolerance: 0.01}
      thresholds: {roc_auc: 0.95}
      slices: {column: radius_band, metric: roc_auc, max_gap: 0.05}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LOWER_IS_BETTER = frozenset(
    {
        "log_loss",
        "mean_absolute_error",
        "mean_squared_error",
        "root_mean_squared_error",
        "max_error",
        "mean_absolute_percentage_error",
        "false_positives",
        "false_negatives",
    }
)
"""MLflow default-evaluator metrics where a smaller value is the better model."""

METRICS = {
    "classifier": frozenset(
        {
            "accuracy_score",
            "recall_score",
            "precision_score",
            "f1_score",
            "log_loss",
            "roc_auc",
            "precision_recall_auc",
            "true_negatives",
            "false_positives",
            "false_negatives",
            "true_positives",
            "score",
        }
    ),
    "regressor": frozenset(
        {
            "mean_absolute_error",
            "mean_squared_error",
            "root_mean_squared_error",
            "sum_on_target",
            "mean_on_target",
            "r2_score",
            "max_error",
            "mean_absolute_percentage_error",
            "score",
        }
    ),
}
"""The metric names MLflow's default evaluator produces per task (what ``metrics`` may name)."""


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (false for losses and errors)."""
    return metric not in LOWER_IS_BETTER


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Comparison(_Model):
    """Judge the challenger against the model behind ``against`` on the same data."""

    against: str = Field("champion", pattern=r"^[A-Za-z0-9_\-]+$")
    tolerance: float | None = Field(None, ge=0)
    """The largest allowed regression per metric (absolute units of the metric); neither rule given = 0."""
    min_improvement: float | None = Field(None, ge=0)
    """The smallest required improvement per metric (absolute units)."""

    @model_validator(mode="after")
    def _one_rule(self) -> Comparison:
        if self.tolerance is not None and self.min_improvement is not None:
            raise ValueError("give either tolerance (no regression beyond it) or min_improvement, not both")
        return self

    def allowed_change(self) -> float:
        """The signed change (better is positive) the challenger must reach: -tolerance or +min_improvement."""
        return self.min_improvement if self.min_improvement is not None else -(self.tolerance or 0.0)


class SliceCheck(_Model):
    """Per-slice evaluation: the gap between the best and worst slice must stay under ``max_gap``."""

    column: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    max_gap: float = Field(ge=0)
    min_rows: int = Field(10, ge=1, strict=True)


class ValidationSpec(_Model):
    """Offline evaluation that must pass before a rollout creates anything."""

    data: str = Field(min_length=1)
    target: str = Field(min_length=1)
    task: Literal["classifier", "regressor"]
    metrics: list[str] = Field(min_length=1)
    compare: Comparison | None = None
    thresholds: dict[str, float] = Field(default_factory=dict)
    slices: SliceCheck | None = None
    features: list[str] | None = None
    """The model's input columns in order; default: its signature's names (or every numeric column)."""

    @model_validator(mode="after")
    def _known_metrics(self) -> ValidationSpec:
        known = METRICS[self.task]
        named = [*self.metrics, *self.thresholds, *([self.slices.metric] if self.slices else [])]
        unknown = sorted({name for name in named if name not in known})
        if unknown:
            raise ValueError(
                f"unknown {self.task} metric(s) {', '.join(unknown)}; MLflow's evaluator reports: "
                f"{', '.join(sorted(known))}"
            )
        if self.compare is None and not self.thresholds and self.slices is None:
            raise ValueError("validation checks nothing: add compare, thresholds or slices")
        if self.slices is not None and self.slices.column == self.target:
            raise ValueError(f"slices.column '{self.slices.column}' is the target column; slice by a feature")
        return self

    def judged_metrics(self) -> list[str]:
        """Every metric a check reads, in order and without repeats."""
        seen: dict[str, None] = dict.fromkeys(self.metrics)
        seen.update(dict.fromkeys(self.thresholds))
        return list(seen)
