"""`StackSettings`: every section of one stack (environment), and the rules run across them.

Why one model at the top: `cloud` decides which cross-section rules apply (`infra.config.rules`),
and pydantic validates the whole stack at once, so every problem is reported in one message.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from infra.config.artifacts import ArtifactSettings
from infra.config.aws import AwsSettings
from infra.config.azure import KeyVaultSettings
from infra.config.base import Section
from infra.config.budget import BudgetSettings
from infra.config.deploy import DeploySettings
from infra.config.endpoint import EndpointSettings
from infra.config.input_rules import size_and_region_problems
from infra.config.kubernetes import KubernetesSettings
from infra.config.monitoring import MonitoringSettings, capture_prefix_problems
from infra.config.network import NetworkSettings, network_problems
from infra.config.rules import aws_stack_problems, check_skus, kubernetes_for_cloud
from infra.config.training import TrainingClusterSettings

NAME_PREFIX = re.compile(r"^[a-z][a-z0-9]{1,11}$")

KubernetesField = Annotated[KubernetesSettings | None, AfterValidator(kubernetes_for_cloud)]


class StackSettings(Section):
    """Everything one stack (environment) declares."""

    cloud: Literal["azure", "aws"]
    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")
    location: str = Field(min_length=2)
    name_prefix: str
    cost_center: str = Field(min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    protect_stateful_resources: bool = True
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    key_vault: KeyVaultSettings = Field(default_factory=KeyVaultSettings)
    training_cluster: TrainingClusterSettings
    endpoint: EndpointSettings
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    budget: BudgetSettings
    kubernetes: KubernetesField = None
    aws: AwsSettings = Field(default_factory=AwsSettings)
    allow_unknown_sizes: list[str] = Field(default_factory=list)
    """Sizes to accept although `ml.contract.cloud_facts` does not know them yet (the one documented way)."""
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not NAME_PREFIX.match(value):
            raise ValueError(
                f"'{value}' must be 2-12 lowercase letters or digits starting with a letter "
                f"(it becomes part of storage account names)"
            )
        return value

    @model_validator(mode="after")
    def _skus(self) -> StackSettings:
        """Instance types the stack's cloud offers (see `check_skus`)."""
        check_skus(self)
        return self

    @model_validator(mode="after")
    def _network(self) -> StackSettings:
        """What the cloud needs for the network choice (see `network_problems`)."""
        cluster = self.training_cluster
        problems = network_problems(
            self.cloud,
            self.network,
            vpc_id=self.aws.vpc_id,
            subnet_ids=cluster.subnet_ids,
            security_group_ids=cluster.security_group_ids,
        )
        if problems:
            raise ValueError("\n  - ".join(problems))
        return self

    @model_validator(mode="after")
    def _capture_prefix(self) -> StackSettings:
        """The capture prefix has its own expiry rule (see `capture_prefix_problems`)."""
        artifacts = self.artifacts
        problems = capture_prefix_problems(self.monitoring, [t.prefix for t in artifacts.tiers], artifacts.temp_prefix)
        if problems:
            raise ValueError("\n  - ".join(problems))
        return self

    @model_validator(mode="after")
    def _aws_rules(self) -> StackSettings:
        """SageMaker/S3/Budgets rules (see `aws_stack_problems`); `mlops:aws` only on cloud aws."""
        if self.cloud != "aws":
            if "aws" in self.model_fields_set:
                raise ValueError(f"mlops:aws applies to cloud aws only; this stack's cloud is {self.cloud}; remove it")
            return self
        problems = aws_stack_problems(self)
        if problems:
            raise ValueError("\n  - ".join(problems))
        return self

    @model_validator(mode="after")
    def _known_sizes(self) -> StackSettings:
        """Sizes and region from the project's list for the cloud (see `size_and_region_problems`).

        Last, so the cloud's own rules (an AWS region's shape ...) speak first.
        """
        problems = size_and_region_problems(self)
        if problems:
            raise ValueError("\n  - ".join(problems))
        return self

    @property
    def resource_tags(self) -> dict[str, str]:
        """Tags on everything that takes them: the three required ones win over user tags."""
        return {
            **self.tags,
            "environment": self.environment,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }
