"""The early-termination policies a spec may name: bandit, median_stopping, truncation_selection, hyperband.

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

PolicyName = Literal["bandit", "median_stopping", "truncation_selection", "hyperband"]
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


class HyperbandPolicy(SpecModel):
    """Hyperband: successive halving in several brackets; a trial's resource is the step it reports.

    ``min_resource`` is the step at which the first rung judges a trial, ``max_resource`` the last
    step a trial reaches (unset: the local backend takes the first finished trial's last step;
    SageMaker needs it), ``reduction_factor`` how many trials a rung keeps per one promoted (about
    1 in ``reduction_factor``). Locally it is Optuna's `HyperbandPruner`, best paired with
    ``sampling: bayesian`` (TPE), as Optuna recommends; on SageMaker its Hyperband strategy; Azure
    ML has none and refuses it.
    """

    policy: Literal["hyperband"]
    min_resource: int = Field(default=1, ge=1)
    max_resource: int | None = Field(default=None, ge=1)
    reduction_factor: int = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _ordered(self) -> HyperbandPolicy:
        if self.max_resource is not None and self.max_resource <= self.min_resource:
            raise ValueError(f"max_resource ({self.max_resource}) must be above min_resource ({self.min_resource})")
        return self

    def parameters(self) -> dict[str, Any]:
        """The policy's settings as keyword arguments (every field but ``policy``)."""
        return self.model_dump(exclude={"policy"})


EarlyTermination = Annotated[
    Union[BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, HyperbandPolicy],  # noqa: UP007
    Field(discriminator="policy"),
]
