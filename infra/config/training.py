"""`mlops:trainingCluster`: the GPU (and optional CPU) training capacity a sweep runs on.

Why its own section: both clouds read it (an AmlCompute cluster on Azure, a spot training profile
on SageMaker); the bounds that hold on every cloud are checked here, the cloud-specific ones in
`infra.config.rules`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra.config.base import Section


class CpuClusterSettings(Section):
    instance_type: str
    max_nodes: int = Field(ge=1, le=100)


class TrainingClusterSettings(Section):
    """GPU training capacity. Spot/low-priority and zero minimum nodes unless config says otherwise."""

    instance_type: str
    min_nodes: int = Field(default=0, ge=0, le=100)
    max_nodes: int = Field(ge=1, le=100)
    priority: Literal["LowPriority", "Dedicated"] = "LowPriority"
    idle_seconds_before_scale_down: int = Field(default=300, ge=60, le=86_400)
    max_run_hours: float = Field(default=24, gt=0, le=28 * 24)
    max_wait_hours: float = Field(default=48, gt=0, le=28 * 24)
    subnet_ids: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    cpu_cluster: CpuClusterSettings | None = None

    @property
    def spot(self) -> bool:
        return self.priority == "LowPriority"

    @model_validator(mode="after")
    def _bounds(self) -> TrainingClusterSettings:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"minNodes ({self.min_nodes}) is greater than maxNodes ({self.max_nodes}); "
                f"allowed: 0 <= minNodes <= maxNodes"
            )
        if self.priority == "LowPriority" and self.max_wait_hours < self.max_run_hours:
            raise ValueError(
                f"maxWaitHours ({self.max_wait_hours}) is less than maxRunHours ({self.max_run_hours}); "
                f"spot training must be allowed to wait at least as long as it runs"
            )
        return self
