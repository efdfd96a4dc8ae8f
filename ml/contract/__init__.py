"""The ground floor both layers stand on: `infra/` (the Pulumi program) and `ml/` (the CLI).

What lives here, and nothing else (it imports nothing of `ml/` or `infra/` outside this package):

- `outputs`: the platform outputs schema the program exports and `ml` reads (re-exported here);
- `errors`: `UserError`, the one exception a user sees as a message;
- `validation`: the one translator of pydantic errors (and YAML lines) into user messages;
- `props`: the reader for nested provider properties (policy rules, cost rules, plan summaries);
- `declared`: the declared-resource records the offline plan produces and the cost model prices;
- `azure`, `aws`: the few cloud facts both the program and the rollout targets apply;
- `capture`: the capture record shape; `monitoring`: each target's data-capture settings and the drift metric.
"""

from ml.contract.outputs import (
    OUTPUT_NAME,
    SCHEMA_VERSION,
    ArtifactStoreRef,
    AutoscaleProfile,
    AwsWorkspaceRef,
    AzureWorkspaceRef,
    BudgetRef,
    Cloud,
    ContractError,
    DeployPolicy,
    EndpointRef,
    KubernetesServingRef,
    MonitoringRef,
    PlatformOutputs,
    TrainingProfile,
    parse_platform_outputs,
)

__all__ = [
    "OUTPUT_NAME",
    "SCHEMA_VERSION",
    "ArtifactStoreRef",
    "AutoscaleProfile",
    "AwsWorkspaceRef",
    "AzureWorkspaceRef",
    "BudgetRef",
    "Cloud",
    "ContractError",
    "DeployPolicy",
    "EndpointRef",
    "KubernetesServingRef",
    "MonitoringRef",
    "PlatformOutputs",
    "TrainingProfile",
    "parse_platform_outputs",
]
