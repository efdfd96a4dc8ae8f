"""The stack config (`mlops:*` keys of Pulumi.<stack>.yaml), typed and validated, one module per section.

Why one package: a bad value must stop the program before any resource is registered, with one
message that names the key, the value given and what is allowed. Components receive these
settings already validated and never read `pulumi.Config` themselves, so dev and prod differ
only through their YAML files.

- `base`: the `mlops` namespace, the section base type (camelCase keys, unknown keys refused), network;
- `training`, `endpoint`, `artifacts`, `budget`: the sections every cloud reads;
- `azure`, `aws`: what only one cloud reads (Key Vault; `mlops:aws`) and its instance families;
- `deploy`: the rollout policy (`requireApproval`), exported for `ml deploy`;
- `monitoring`: data capture (enabled, sampling, capture prefix, retention), exported for every target;
- `kubernetes` (with `kubernetes_types`): serving on an existing cluster;
- `rules`: the checks that span sections (SKUs per cloud, AWS-only rules, AKS vs EKS);
- `stack`: `StackSettings`, all sections of one stack; `loader`: `load_settings`, `settings_from_pulumi`.

The names components and tests use are re-exported here: `from infra.config import StackSettings`.
"""

from infra.config.artifacts import ArtifactSettings, TierRule
from infra.config.aws import AwsEndpointAlarms, AwsSettings, AwsStorageClasses
from infra.config.azure import KeyVaultSettings
from infra.config.base import NAMESPACE, Section
from infra.config.budget import BudgetSettings, BudgetThreshold
from infra.config.deploy import DeploySettings
from infra.config.endpoint import EndpointSettings, ScaleRule
from infra.config.kubernetes import (
    GPU_RESOURCE,
    ColourSettings,
    GatewayRef,
    GpuNodePoolSettings,
    KubernetesClusterRef,
    KubernetesSettings,
    ResourceAmounts,
    ServingColours,
    ServingQuota,
    ServingResources,
    ServingSettings,
)
from infra.config.kubernetes_types import cpu_millicores, memory_bytes
from infra.config.loader import ConfigError, load_settings, settings_from_pulumi
from infra.config.monitoring import MonitoringSettings
from infra.config.network import NetworkSettings
from infra.config.rules import aws_stack_problems
from infra.config.stack import StackSettings
from infra.config.training import CpuClusterSettings, TrainingClusterSettings

__all__ = [
    "GPU_RESOURCE",
    "NAMESPACE",
    "ArtifactSettings",
    "AwsEndpointAlarms",
    "AwsSettings",
    "AwsStorageClasses",
    "BudgetSettings",
    "BudgetThreshold",
    "ColourSettings",
    "ConfigError",
    "CpuClusterSettings",
    "DeploySettings",
    "EndpointSettings",
    "GatewayRef",
    "GpuNodePoolSettings",
    "KeyVaultSettings",
    "KubernetesClusterRef",
    "KubernetesSettings",
    "MonitoringSettings",
    "NetworkSettings",
    "ResourceAmounts",
    "ScaleRule",
    "Section",
    "ServingColours",
    "ServingQuota",
    "ServingResources",
    "ServingSettings",
    "StackSettings",
    "TierRule",
    "TrainingClusterSettings",
    "aws_stack_problems",
    "cpu_millicores",
    "load_settings",
    "memory_bytes",
    "settings_from_pulumi",
]
