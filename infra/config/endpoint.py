"""`mlops:endpoint`: the inference endpoint, its instance bounds and its autoscale rule.

Why its own section: the same values become the endpoint's resources and the contract's
`endpoint.autoscale` profile that every colour a rollout creates gets.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra.config.base import Section


class ScaleRule(Section):
    metric: Literal["cpu", "memory", "requests"] = "cpu"
    target: float = Field(default=70, gt=0)

    @model_validator(mode="after")
    def _percent(self) -> ScaleRule:
        if self.metric in ("cpu", "memory") and not 0 < self.target <= 100:
            raise ValueError(f"target {self.target} for metric '{self.metric}' must be a percentage in (0, 100]")
        return self


class EndpointSettings(Section):
    """The inference endpoint; rollouts add deployments, autoscale keeps each within bounds."""

    instance_type: str
    instance_count: int = Field(default=1, ge=1, le=50)
    min_instances: int = Field(default=1, ge=1, le=50)
    max_instances: int = Field(ge=1, le=50)
    auth_mode: Literal["key", "aml_token", "aad_token"] = "aad_token"
    scale_rule: ScaleRule = Field(default_factory=ScaleRule)
    scale_out_cooldown_minutes: int = Field(default=5, ge=1, le=60)
    scale_in_cooldown_minutes: int = Field(default=10, ge=1, le=60)
    bootstrap_model: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> EndpointSettings:
        if self.min_instances > self.max_instances:
            raise ValueError(f"minInstances ({self.min_instances}) is greater than maxInstances ({self.max_instances})")
        if not self.min_instances <= self.instance_count <= self.max_instances:
            raise ValueError(
                f"instanceCount ({self.instance_count}) must lie within minInstances..maxInstances "
                f"({self.min_instances}..{self.max_instances})"
            )
        return self
