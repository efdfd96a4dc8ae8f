"""The early-termination policies a spec may name: bandit, median_stopping, truncation_selection.

Why only the spec's side lives here: a policy is validated once (its fields and their bounds), and
each backend translates it in ONE table keyed by `PolicyName`, next to the engine it drives:

- local: `ml.sweep.pruners.PRUNERS` (one Optuna pruner per policy, Azure ML's semantics);
- azure: `ml.sweep.backends._azure_job.azure_policy` (the azure-ai-ml policy of the same name);
- sagemaker: `ml.sweep.backends._sagemaker_job.EARLY_STOPPING` (SageMaker's automatic early stopping,
  with a note on what it does not express).

`parameters()` is what every translation passes on: the policy's fields except its name, which use
Azure ML's field names (the pruners take the same keywords).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import Field, model_validator

from ml.sweep.spec._base import SpecModel

PolicyName = Literal["bandit", "median_stopping", "truncation_selection"]
POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)


class _Policy(SpecModel):
    evaluation_interval: int = Field(default=1, ge=1)
    delay_evaluation: int = Field(default=0, ge=0)

    def parameters(self) -> dict[str, Any]:
        """The policy's settings as keyword arguments (every field but ``policy``)."""
        return self.model_dump(exclude={"policy"})


class BanditPolicy(_Policy):
    """Stop a trial whose metric is worse than the best by more than a slack (factor or amount)."""

    policy: Literal["bandit"]
    slack_factor: float | None = Field(default=None, gt=0)
    slack_amount: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_slack(self) -> BanditPolicy:
        if (self.slack_factor is None) == (self.slack_amount is None):
            raise ValueError("bandit needs exactly one of 'slack_factor' or 'slack_amount'")
        return self


class MedianStoppingPolicy(_Policy):
    """Stop a trial whose running average is worse than the median of the others' at that step."""

    policy: Literal["median_stopping"]


class TruncationSelectionPolicy(_Policy):
    """At each evaluation interval, stop the trials in the lowest ``truncation_percentage`` percent."""

    policy: Literal["truncation_selection"]
    truncation_percentage: int = Field(ge=1, le=99)


EarlyTermination = Annotated[
    Union[BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy],  # noqa: UP007
    Field(discriminator="policy"),
]
