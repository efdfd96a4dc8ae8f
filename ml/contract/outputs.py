"""The platform outputs: the one contract between `infra/` (which exports it) and `ml` (which reads it).

Why one module: the Pulumi program and the CLI must agree on every field name, so both import
this schema instead of copying strings. The program exports one stack output, ``platform``,
whose value is ``PlatformOutputs.model_dump(mode="json")``; ``ml`` validates what it reads with
``parse_platform_outputs`` and reports the missing or wrong field and the schema version it came
from. Secrets (endpoint keys) are never part of this document: one secret field would make
Pulumi mask the whole output.

This module must stay light (pydantic only): the CLI imports it on every command.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ml.contract.errors import UserError

SCHEMA_VERSION = 1
"""Bump when a field is removed or changes meaning; adding an optional field keeps the version."""

OUTPUT_NAME = "platform"
"""The stack output key under which the program exports the document."""

Cloud = Literal["azure", "aws", "local"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AzureWorkspaceRef(_Strict):
    """Where the Azure ML workspace lives: what `MLClient` needs besides a credential."""

    subscription_id: str
    resource_group: str
    workspace_name: str


class AwsWorkspaceRef(_Strict):
    """The SageMaker side of a stack: the execution role every job and model runs as."""

    account_id: str
    execution_role_arn: str
    mlflow_tracking_server_arn: str | None = None
    domain_id: str | None = None
    kms_key_arn: str | None = None
    """The stack's KMS key: jobs pass it as OutputDataConfig/Volume KmsKeyId so outputs use the stack's key."""
    serving_image: str | None = None
    """The ECR image that serves models on the stack's endpoint (`mlops:aws.servingImage`); rollouts build
    each new SageMaker Model from it and the registered version's artifacts."""


class TrainingProfile(_Strict):
    """The GPU training capacity a sweep runs on, and its spot settings.

    On Azure `name` is the AmlCompute cluster; on AWS it names the profile and the instance
    fields are what a tuning job requests. Spot is on unless the stack turned it off.
    """

    name: str
    instance_type: str
    min_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=1)
    spot: bool
    idle_seconds_before_scale_down: int | None = None
    max_run_seconds: int | None = None
    max_wait_seconds: int | None = None
    checkpoint_uri: str | None = None
    subnet_ids: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    cpu_cluster_name: str | None = None


class AutoscaleProfile(_Strict):
    """The autoscale rule every serving deployment gets; `ml deploy` applies it to new colours."""

    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=1)
    metric: str
    target: float
    scale_out_cooldown_seconds: int
    scale_in_cooldown_seconds: int


class EndpointRef(_Strict):
    """The stack's inference endpoint: rollouts add and retire deployments behind it."""

    name: str
    instance_type: str
    instance_count: int = Field(ge=1)
    auth_mode: str
    autoscale: AutoscaleProfile
    scoring_uri: str | None = None
    rollback_alarm_names: list[str] = Field(default_factory=list)
    variant_name: str | None = None
    """SageMaker: the production variant rollouts keep, so the stack's autoscaling target and alarms
    (whose dimension it is) stay attached across an update."""


class ArtifactStoreRef(_Strict):
    """Where models, checkpoints and audit records are written."""

    name: str
    uri: str
    temp_prefix: str
    checkpoint_prefix: str


class BudgetRef(_Strict):
    """The stack's monthly cost budget; `remaining` is None when the cloud reports it elsewhere."""

    name: str
    monthly_amount: float = Field(gt=0)
    currency: str
    thresholds_percent: list[float]
    remaining: float | None = None


class KubernetesServingRef(_Strict):
    """Blue/green serving on a cluster: a rollout is a sequence of weight changes on `route_name`.

    `deployments` are also the colours' HPA and PDB names; `min_replicas`/`max_replicas` are each
    colour's HPA bounds from config (a colour at weight 0 runs 0 replicas). `cluster_name`,
    `cluster_resource_group` (AKS) and `kube_context` say how to reach the cluster's API.
    `metrics_url` is the Prometheus base URL the rollout gates read the gateway's per-colour
    request counts and latency from (None: no metrics, so a rollout with gates is refused).
    """

    namespace: str
    route_name: str
    services: dict[str, str]
    weights: dict[str, int]
    model_uris: dict[str, str] = Field(default_factory=dict)
    deployments: dict[str, str] = Field(default_factory=dict)
    min_replicas: dict[str, int] = Field(default_factory=dict)
    max_replicas: dict[str, int] = Field(default_factory=dict)
    cluster_name: str | None = None
    cluster_resource_group: str | None = None
    kube_context: str | None = None
    metrics_url: str | None = None


class DeployPolicy(_Strict):
    """What the stack requires of every rollout on it (`mlops:deploy.*`).

    ``require_approval``: `ml deploy` refuses a model version with no approval recorded in the
    registry (`ml model approve NAME VERSION --reason ...`); on in prod.
    """

    require_approval: bool = False


class MonitoringRef(_Strict):
    """What the stack captures of served traffic (`mlops:monitoring.*`), and where `ml monitor` reads it.

    ``capture_uri`` is the capture root (``s3://bucket/capture/``, an Azure blob URL, or a local path);
    ``sampling_percent`` the share of requests every target records; ``retention_days`` how long the
    capture prefix keeps them (its own lifecycle rule in the artifact store).
    """

    enabled: bool
    sampling_percent: float = Field(gt=0, le=100)
    capture_uri: str
    platform_capture_uri: str | None = None
    """Where the platform's own serving processes (Kubernetes pods) write records: the artifact store's
    capture prefix (on AWS the same root as ``capture_uri``; on Azure the collector writes elsewhere)."""
    retention_days: int | None = Field(default=None, ge=1)


class PlatformOutputs(_Strict):
    """Everything `ml` needs to run work on one provisioned stack."""

    schema_version: int = SCHEMA_VERSION
    stack: str
    environment: str
    cloud: Cloud
    region: str
    tracking_uri: str
    training: TrainingProfile
    artifacts: ArtifactStoreRef
    budget: BudgetRef
    endpoint: EndpointRef | None = None
    azure: AzureWorkspaceRef | None = None
    aws: AwsWorkspaceRef | None = None
    kubernetes: KubernetesServingRef | None = None
    deploy: DeployPolicy | None = None
    """Rollout policy (optional: stacks exported before it existed read as "no approval required")."""
    monitoring: MonitoringRef | None = None
    """Data capture (optional: a stack without it captures nothing; `ml monitor` then needs --capture)."""


class ContractError(UserError):
    """The outputs document is missing, malformed or from another schema version."""


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "<document>"
    if error["type"] == "missing":
        return f"field '{location}' is missing"
    if error["type"] == "extra_forbidden":
        return f"field '{location}' is not part of the schema"
    return f"field '{location}': {error['msg']} (got {error.get('input')!r})"


def parse_platform_outputs(document: Any, *, source: str) -> PlatformOutputs:
    """Validate a platform outputs document, with errors that say what to fix and where it came from.

    Accepts either the document itself or the whole `pulumi stack output --json` object that holds
    it under ``platform``.
    """
    if isinstance(document, dict) and OUTPUT_NAME in document and "schema_version" not in document:
        document = document[OUTPUT_NAME]
    if not isinstance(document, dict):
        raise ContractError(
            f"{source}: expected a JSON object with the platform outputs, got {type(document).__name__}. "
            f"Export it with `pulumi stack output --json > outputs.json`."
        )
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ContractError(
            f"{source}: platform outputs have schema_version {version!r}, this ml understands "
            f"{SCHEMA_VERSION}. Run `pulumi up` with this version of the repository, or upgrade ml."
        )
    try:
        return PlatformOutputs.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ContractError(
            f"{source} (schema version {version}): {problems}. "
            f"Re-run `pulumi up` so the stack exports the current contract."
        ) from None
