"""The stack config (`mlops:*` keys of Pulumi.<stack>.yaml), typed and validated in one place.

Why one place: a bad value must stop the program before any resource is registered, with one
message that names the key, the value given and what is allowed. Components receive these
settings already validated and never read `pulumi.Config` themselves, so dev and prod differ
only through their YAML files.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ml.contract.errors import UserError

NAMESPACE = "mlops"

AZURE_GPU_FAMILIES = re.compile(r"^Standard_N(C|D|V|G)[0-9A-Za-z_]*$")
AZURE_CPU_FAMILIES = re.compile(r"^Standard_(D|DS|E|ES|F|FS|B)[0-9][0-9A-Za-z_]*$")
AWS_GPU_FAMILIES = re.compile(r"^ml\.(g4dn|g5|g6|g6e|p3|p3dn|p4d|p4de|p5)\.[0-9]*x?large$")
AWS_CPU_FAMILIES = re.compile(r"^ml\.(m5|m6i|m7i|c5|c6i|c7i|r5|t3)\.[0-9]*x?large$")
_ALLOWED_SKUS = {
    ("azure", "gpu"): (AZURE_GPU_FAMILIES, "an Azure GPU VM size (Standard_NC*, Standard_ND*, Standard_NV*)"),
    ("azure", "cpu"): (
        AZURE_CPU_FAMILIES,
        "an Azure general-purpose VM size (Standard_D*, Standard_DS*, Standard_E*, Standard_F*)",
    ),
    ("aws", "gpu"): (AWS_GPU_FAMILIES, "a SageMaker GPU instance type (ml.g4dn/g5/g6/p3/p4d/p5.*)"),
    ("aws", "cpu"): (AWS_CPU_FAMILIES, "a SageMaker CPU instance type (ml.m5/m6i/c5/c6i/r5/t3.*)"),
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_PREFIX = re.compile(r"^[a-z][a-z0-9]{1,11}$")


class _Section(BaseModel):
    """camelCase keys in YAML, snake_case in Python; unknown keys are typos and rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class NetworkSettings(_Section):
    public_network_access: bool = False
    allowed_ip_ranges: list[str] = Field(default_factory=list)


class KeyVaultSettings(_Section):
    purge_protection: bool = True
    soft_delete_retention_days: int = Field(default=90, ge=7, le=90)


class CpuClusterSettings(_Section):
    instance_type: str
    max_nodes: int = Field(ge=1, le=100)


class TrainingClusterSettings(_Section):
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


class ScaleRule(_Section):
    metric: Literal["cpu", "memory", "requests"] = "cpu"
    target: float = Field(default=70, gt=0)

    @model_validator(mode="after")
    def _percent(self) -> ScaleRule:
        if self.metric in ("cpu", "memory") and not 0 < self.target <= 100:
            raise ValueError(f"target {self.target} for metric '{self.metric}' must be a percentage in (0, 100]")
        return self


class EndpointSettings(_Section):
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


class TierRule(_Section):
    """One prefix's life: cool (infrequent access), archive, delete. Days count from last modification."""

    prefix: str = Field(min_length=1)
    cool_after_days: int | None = Field(default=None, ge=1)
    archive_after_days: int | None = Field(default=None, ge=1)
    delete_after_days: int | None = Field(default=None, ge=1)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/") or not value.endswith("/"):
            raise ValueError(f"prefix '{value}' must be relative and end with '/', e.g. 'artifacts/'")
        return value

    @model_validator(mode="after")
    def _order(self) -> TierRule:
        steps = [
            (name, days)
            for name, days in (
                ("coolAfterDays", self.cool_after_days),
                ("archiveAfterDays", self.archive_after_days),
                ("deleteAfterDays", self.delete_after_days),
            )
            if days is not None
        ]
        if not steps:
            raise ValueError(
                f"tier '{self.prefix}' sets no action; give coolAfterDays, archiveAfterDays or deleteAfterDays"
            )
        for (earlier, a), (later, b) in itertools.pairwise(steps):
            if a >= b:
                raise ValueError(f"tiers out of order for '{self.prefix}': {earlier}={a} must be less than {later}={b}")
        return self


class ArtifactSettings(_Section):
    versioning: bool = True
    tiers: list[TierRule] = Field(default_factory=list)
    temp_prefix: str = "tmp/"
    temp_expire_days: int = Field(default=7, ge=1, le=365)
    checkpoint_prefix: str = "checkpoints/"
    noncurrent_version_expire_days: int = Field(default=30, ge=1, le=3650)
    abort_incomplete_multipart_days: int = Field(default=7, ge=1, le=365)

    @model_validator(mode="after")
    def _unique(self) -> ArtifactSettings:
        prefixes = [t.prefix for t in self.tiers]
        duplicates = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if duplicates:
            raise ValueError(f"tier prefixes must be unique, repeated: {duplicates}")
        if self.temp_prefix in prefixes:
            raise ValueError(f"tempPrefix '{self.temp_prefix}' also appears in tiers; give it one rule")
        return self


class BudgetThreshold(_Section):
    percent: float = Field(gt=0, le=1000)
    kind: Literal["actual", "forecasted"] = "actual"


class BudgetSettings(_Section):
    amount: float = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    start_date: dt.date
    thresholds: list[BudgetThreshold] = Field(min_length=1)
    contact_emails: list[str] = Field(min_length=1)

    @field_validator("start_date")
    @classmethod
    def _first_of_month(cls, value: dt.date) -> dt.date:
        if value.day != 1:
            raise ValueError(f"startDate {value} must be the first day of a month (budgets run per month)")
        return value

    @field_validator("contact_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not EMAIL.match(v)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> BudgetSettings:
        keys = [(t.kind, t.percent) for t in self.thresholds]
        if len(set(keys)) != len(keys):
            raise ValueError("thresholds repeat the same kind and percent")
        return self


# --- AWS: what a SageMaker platform needs beyond the shared sections ------------------------------

AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
AWS_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
AWS_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
AWS_SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
ECR_IMAGE = re.compile(
    r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9][a-z0-9._/-]*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$"
)
MODEL_ARCHIVE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9!_.*'()=/-]*\.tar\.gz$")
S3_STORAGE_WATERFALL = ("STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
"""S3 lifecycle moves objects only down this list (warmer to colder)."""
S3_IA_CLASSES = frozenset({"STANDARD_IA", "ONEZONE_IA"})
S3_IA_MIN_DAYS = 30
AWS_MAX_BUDGET_NOTIFICATIONS = 5
AWS_MAX_EMAIL_SUBSCRIBERS = 10


class AwsStorageClasses(_Section):
    """Which S3 storage class a tier's `coolAfterDays` and `archiveAfterDays` move objects to."""

    cool: Literal["STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR"] = "INTELLIGENT_TIERING"
    archive: Literal["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"] = "GLACIER"

    @model_validator(mode="after")
    def _downhill(self) -> AwsStorageClasses:
        if S3_STORAGE_WATERFALL.index(self.archive) <= S3_STORAGE_WATERFALL.index(self.cool):
            raise ValueError(
                f"archive class {self.archive} must be colder than cool class {self.cool}; "
                f"S3 lifecycle only moves objects down: {' -> '.join(S3_STORAGE_WATERFALL)}"
            )
        return self


class AwsEndpointAlarms(_Section):
    """CloudWatch alarms on the serving variant; rollouts name them for automatic rollback.

    An alarm fires when the statistic breaches its threshold in `evaluationPeriods` consecutive
    periods: more than `max5xxErrors` 5XX responses per period, or the model latency statistic
    above `maxModelLatencyMs` (SageMaker reports ModelLatency in microseconds; we convert).
    """

    max_5xx_errors: int = Field(default=5, ge=0, le=1_000_000, alias="max5xxErrors")
    max_model_latency_ms: float = Field(default=1000, gt=0, le=60_000)
    latency_statistic: Literal["p50", "p90", "p95", "p99", "Average"] = "p99"
    period_seconds: int = Field(default=60, ge=60, le=3600)
    evaluation_periods: int = Field(default=3, ge=1, le=60)

    @field_validator("period_seconds")
    @classmethod
    def _whole_minutes(cls, value: int) -> int:
        if value % 60:
            raise ValueError(f"{value} must be a multiple of 60: SageMaker publishes endpoint metrics per minute")
        return value


class AwsSettings(_Section):
    """SageMaker-specific choices (`mlops:aws`); every key is optional, secure and cheap by default."""

    sagemaker_domain: bool = False
    vpc_id: str | None = None
    mlflow_server_size: Literal["Small", "Medium", "Large"] = "Small"
    mlflow_version: str | None = Field(default=None, pattern=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")
    mlflow_maintenance_window: str = Field(
        default="SUN:03:00", pattern=r"^(MON|TUE|WED|THU|FRI|SAT|SUN):([01][0-9]|2[0-3]):[0-5][0-9]$"
    )
    serving_image: str | None = None
    budget_sns_topic_arn: str | None = None
    activate_cost_allocation_tag: bool = False
    storage_classes: AwsStorageClasses = Field(default_factory=AwsStorageClasses)
    endpoint_alarms: AwsEndpointAlarms = Field(default_factory=AwsEndpointAlarms)

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, value: str | None) -> str | None:
        if value is not None and not AWS_VPC_ID.match(value):
            raise ValueError(f"'{value}' is not a VPC id (vpc-0123456789abcdef0)")
        return value

    @field_validator("serving_image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and not ECR_IMAGE.match(value):
            raise ValueError(
                f"'{value}' must be a pinned ECR image: <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag> "
                f"or @sha256:<digest> (SageMaker pulls serving images from ECR only)"
            )
        if value is not None and value.endswith(":latest"):
            raise ValueError(f"'{value}' uses the moving tag 'latest'; pin a version or digest")
        return value

    @field_validator("budget_sns_topic_arn")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not SNS_TOPIC_ARN.match(value):
            raise ValueError(f"'{value}' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
        return value


def aws_stack_problems(stack: StackSettings) -> list[str]:
    """Rules that hold only when SageMaker, S3 and AWS Budgets run the platform: one line per problem.

    Why here and not in the components: they span sections (a region in `location`, a metric in
    `endpoint`, storage classes against tier days) and must fail before any resource is declared.
    """
    aws, cluster, endpoint, budget = stack.aws, stack.training_cluster, stack.endpoint, stack.budget
    problems: list[str] = []
    if not AWS_REGION.match(stack.location):
        problems.append(
            f"mlops:location = {stack.location!r}: not an AWS region; use one such as eu-west-1 "
            f"(every regional resource of the stack is created there)"
        )
    if "key_vault" in stack.model_fields_set:
        problems.append(
            "mlops:keyVault configures Azure Key Vault; on cloud aws the artifact store's KMS key "
            "takes its place; remove it"
        )
    if stack.network.allowed_ip_ranges:
        problems.append("mlops:network.allowedIpRanges has no effect on cloud aws (access is by IAM); remove it")

    if cluster.min_nodes > 0:
        problems.append(
            f"mlops:trainingCluster.minNodes = {cluster.min_nodes}: SageMaker training has no standing cluster "
            f"(instances exist only while a job runs); use 0"
        )
    if cluster.cpu_cluster is not None:
        problems.append(
            "mlops:trainingCluster.cpuCluster is an Azure ML compute cluster; on cloud aws CPU steps are "
            "SageMaker jobs with their own instance type; remove it"
        )
    if "idle_seconds_before_scale_down" in cluster.model_fields_set:
        problems.append(
            "mlops:trainingCluster.idleSecondsBeforeScaleDown has no meaning on SageMaker (no idle cluster; warm "
            "pools do not work with managed spot); remove it"
        )
    if bool(cluster.subnet_ids) != bool(cluster.security_group_ids):
        problems.append(
            "mlops:trainingCluster.subnetIds and securityGroupIds: SageMaker's VpcConfig needs both or neither"
        )
    bad_subnets = [s for s in cluster.subnet_ids if not AWS_SUBNET_ID.match(s)]
    bad_groups = [g for g in cluster.security_group_ids if not AWS_SECURITY_GROUP_ID.match(g)]
    if bad_subnets:
        problems.append(f"mlops:trainingCluster.subnetIds = {bad_subnets}: not subnet ids (subnet-0123abcd...)")
    if bad_groups:
        problems.append(f"mlops:trainingCluster.securityGroupIds = {bad_groups}: not security group ids (sg-...)")

    if "auth_mode" in endpoint.model_fields_set:
        problems.append(
            f"mlops:endpoint.authMode = {endpoint.auth_mode!r}: SageMaker endpoints accept only IAM (SigV4) "
            f"callers, there are no keys or tokens to choose; remove it"
        )
    if endpoint.scale_rule.metric != "requests":
        problems.append(
            f"mlops:endpoint.scaleRule.metric = {endpoint.scale_rule.metric!r}: cloud aws scales on 'requests' "
            f"only (SageMakerVariantInvocationsPerInstance; target = invocations per instance per minute)"
        )
    model = endpoint.bootstrap_model
    if model is not None:
        if not MODEL_ARCHIVE_KEY.match(model) or ".." in model:
            problems.append(
                f"mlops:endpoint.bootstrapModel = {model!r}: on cloud aws give the key of a model.tar.gz in this "
                f"stack's artifact bucket, e.g. models/churn/1/model.tar.gz (no s3:// and no leading '/')"
            )
        if aws.serving_image is None:
            problems.append(
                "mlops:aws.servingImage is required with endpoint.bootstrapModel: the ECR image that serves it"
            )
    elif aws.serving_image is not None:
        problems.append("mlops:aws.servingImage is only used with endpoint.bootstrapModel; set both or remove it")

    if aws.sagemaker_domain:
        if aws.vpc_id is None:
            problems.append("mlops:aws.vpcId is required with aws.sagemakerDomain: the VPC the domain lives in")
        if not cluster.subnet_ids:
            problems.append(
                "mlops:trainingCluster.subnetIds is empty: aws.sagemakerDomain needs the private subnets "
                "(and securityGroupIds) it shares with training"
            )
    elif aws.vpc_id is not None:
        problems.append("mlops:aws.vpcId is only used by the SageMaker domain; set aws.sagemakerDomain or remove it")

    classes = aws.storage_classes
    for index, tier in enumerate(stack.artifacts.tiers):
        key = f"mlops:artifacts.tiers[{index}]"
        cool, archive = tier.cool_after_days, tier.archive_after_days
        if classes.cool in S3_IA_CLASSES and cool is not None and cool < S3_IA_MIN_DAYS:
            problems.append(
                f"{key}.coolAfterDays = {cool}: S3 moves objects to {classes.cool} only after {S3_IA_MIN_DAYS} "
                f"days; raise it or set aws.storageClasses.cool: INTELLIGENT_TIERING"
            )
        if (
            classes.cool in S3_IA_CLASSES
            and cool is not None
            and archive is not None
            and archive - cool < S3_IA_MIN_DAYS
        ):
            problems.append(
                f"{key}: archiveAfterDays ({archive}) must be at least {S3_IA_MIN_DAYS} days after coolAfterDays "
                f"({cool}): S3 keeps objects in {classes.cool} for {S3_IA_MIN_DAYS} days before moving them on"
            )

    if budget.currency != "USD":
        problems.append(f"mlops:budget.currency = {budget.currency!r}: AWS Budgets cost budgets are in USD")
    if len(budget.thresholds) > AWS_MAX_BUDGET_NOTIFICATIONS:
        problems.append(
            f"mlops:budget.thresholds has {len(budget.thresholds)} entries: AWS Budgets allows at most "
            f"{AWS_MAX_BUDGET_NOTIFICATIONS} notifications per budget"
        )
    if len(budget.contact_emails) > AWS_MAX_EMAIL_SUBSCRIBERS:
        problems.append(
            f"mlops:budget.contactEmails has {len(budget.contact_emails)} addresses: AWS Budgets allows at most "
            f"{AWS_MAX_EMAIL_SUBSCRIBERS} e-mail subscribers per notification (use aws.budgetSnsTopicArn)"
        )
    return problems


# --- Kubernetes: a spot GPU node pool and blue/green model serving on an existing cluster ---------

EC2_GPU_FAMILIES = re.compile(r"^(g4dn|g5|g6|g6e|gr6|p3|p3dn|p4d|p4de|p5|p5e)\.[0-9]*x?large$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TAINT = re.compile(
    r"^[A-Za-z0-9][-A-Za-z0-9_./]*(=[A-Za-z0-9][-A-Za-z0-9_.]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$"
)
PINNED_IMAGE = re.compile(r"^[^\s:@]+(:[0-9A-Za-z_.-]+)?(@sha256:[0-9a-f]{64})?$")
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m?)$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_MEMORY_UNITS = {
    "": 1,
    **{unit: 1000**power for power, unit in enumerate(("k", "M", "G", "T", "P", "E"), start=1)},
    **{unit: 1024**power for power, unit in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), start=1)},
}
_SECRET_LOOKING = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|API_KEY|CONNECTION_STRING)", re.IGNORECASE)
COLOURS = ("blue", "green")
GPU_RESOURCE = "nvidia.com/gpu"


def cpu_millicores(value: str) -> int:
    """'2' -> 2000, '0.5' -> 500, '250m' -> 250: how Kubernetes reads a CPU quantity."""
    match = _CPU.match(value)
    if match is None:
        raise ValueError(f"'{value}' is not a CPU quantity; use cores ('2', '0.5') or millicores ('500m')")
    number, milli = float(match.group(1)), match.group(2)
    return round(number if milli else number * 1000)


def memory_bytes(value: str) -> int:
    """'512Mi' -> 536870912, '1G' -> 10**9: how Kubernetes reads a memory quantity."""
    match = _MEMORY.match(value)
    if match is None:
        raise ValueError(f"'{value}' is not a memory quantity; use e.g. '512Mi', '2Gi' or '1G'")
    return round(float(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""])


def _cpu_quantity(value: Any) -> Any:
    """YAML gives `cpu: 2` as a number; Kubernetes quantities are strings."""
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if isinstance(text, str):
        cpu_millicores(text)
    return text


def _memory_quantity(value: Any) -> Any:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str):
        memory_bytes(text)
    return text


CpuQuantity = Annotated[str, BeforeValidator(_cpu_quantity)]
MemoryQuantity = Annotated[str, BeforeValidator(_memory_quantity)]


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(f"'{value}' must be a DNS label: lowercase letters, digits and '-', at most 63 characters")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]


class KubernetesClusterRef(_Section):
    """The existing cluster to build on; the platform adds a node pool and a namespace, never a cluster.

    azure: an AKS cluster (`name`, `resourceGroup`). aws: an EKS cluster (`name`), plus the node role
    and subnets the GPU node group joins with. `kubeconfigContext` uses that context of the ambient
    kubeconfig instead of credentials fetched from the cloud.
    """

    name: str = Field(min_length=1, max_length=100)
    resource_group: str | None = None
    node_role_arn: str | None = None
    subnet_ids: list[str] = Field(default_factory=list)
    kubeconfig_context: str | None = None


class GpuNodePoolSettings(_Section):
    """A GPU node pool that scales from 0 on spot capacity; pods land there only when they request GPUs."""

    name: str = "gpuspot"
    instance_type: str
    max_nodes: int = Field(ge=1, le=100)
    spot: bool = True
    disk_size_gb: int = Field(default=128, ge=30, le=2048)
    ami_type: Literal["AL2023_x86_64_NVIDIA", "AL2_x86_64_GPU", "BOTTLEROCKET_x86_64_NVIDIA"] = "AL2023_x86_64_NVIDIA"
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not AKS_POOL_NAME.match(value):
            raise ValueError(f"'{value}' must be 1-12 lowercase letters or digits starting with a letter")
        return value

    @field_validator("taints")
    @classmethod
    def _taints(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not TAINT.match(t)]
        if bad:
            raise ValueError(f"not taints of the form key=value:NoSchedule|PreferNoSchedule|NoExecute: {bad}")
        return value

    @property
    def gpu_taint(self) -> str:
        return f"{GPU_RESOURCE}=present:NoSchedule"

    @property
    def node_labels(self) -> dict[str, str]:
        """The labels serving pods select the pool by; config labels are added, never override these."""
        return {**self.labels, "accelerator": "nvidia", "mlops/pool": self.name}


class ResourceAmounts(_Section):
    cpu: CpuQuantity
    memory: MemoryQuantity


class ServingResources(_Section):
    """Requests and limits of one model-server container; `gpu` GPUs per pod (0: CPU serving)."""

    requests: ResourceAmounts
    limits: ResourceAmounts
    gpu: int = Field(default=0, ge=0, le=8)

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ServingResources:
        if cpu_millicores(self.requests.cpu) > cpu_millicores(self.limits.cpu):
            raise ValueError(f"requests.cpu ({self.requests.cpu}) is greater than limits.cpu ({self.limits.cpu})")
        if memory_bytes(self.requests.memory) > memory_bytes(self.limits.memory):
            raise ValueError(
                f"requests.memory ({self.requests.memory}) is greater than limits.memory ({self.limits.memory})"
            )
        return self


class ColourSettings(_Section):
    """One colour of the blue/green pair: the model it serves, its traffic share, its HPA bounds."""

    model_uri: str | None = Field(default=None, min_length=1)
    weight: int = Field(ge=0, le=100)
    min_replicas: int = Field(default=1, ge=1, le=100)
    max_replicas: int = Field(default=3, ge=1, le=100)

    @property
    def active(self) -> bool:
        """A colour with weight 0 runs no pods (and has no HPA): it costs nothing."""
        return self.weight > 0

    @model_validator(mode="after")
    def _bounds(self) -> ColourSettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) is greater than maxReplicas ({self.max_replicas})")
        if self.active and self.model_uri is None:
            raise ValueError(f"weight {self.weight} sends traffic to a colour without modelUri; set modelUri")
        return self


class ServingColours(_Section):
    blue: ColourSettings
    green: ColourSettings

    def items(self) -> list[tuple[str, ColourSettings]]:
        return [("blue", self.blue), ("green", self.green)]

    @model_validator(mode="after")
    def _weights(self) -> ServingColours:
        total = self.blue.weight + self.green.weight
        if total != 100:
            raise ValueError(
                f"weights must sum to 100, got blue={self.blue.weight} + green={self.green.weight} = {total} "
                f"(e.g. blue=90, green=10 for a 10% canary)"
            )
        return self


class ServingQuota(_Section):
    """The namespace's cluster-side budget: caps on requested/limited CPU, memory, GPUs and pods."""

    cpu: CpuQuantity
    memory: MemoryQuantity
    gpu: int = Field(default=0, ge=0, le=1000)
    pods: int = Field(default=20, ge=1, le=1000)


class GatewayRef(_Section):
    """The existing Gateway API `Gateway` the route attaches to, and where its proxy pods run."""

    name: str = Field(min_length=1)
    namespace: DnsLabel
    proxy_namespace: DnsLabel | None = None
    proxy_labels: dict[str, str] = Field(default_factory=dict)
    hostnames: list[str] = Field(default_factory=list)
    path_prefix: str = "/"

    @field_validator("path_prefix")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"'{value}' must start with '/'")
        return value


class ServingSettings(_Section):
    """How models are served: image, port, resources, autoscaling target, identity and network."""

    namespace: DnsLabel = "ml-serving"
    name: str = "model"
    image: str
    port: int = Field(default=8080, ge=1024, le=65535)
    workers: int = Field(default=1, ge=1, le=32)
    resources: ServingResources
    target_cpu_percent: int = Field(default=70, ge=1, le=100)
    scale_down_stabilization_seconds: int = Field(default=300, ge=0, le=3600)
    run_as_user: int = Field(default=10001, ge=1)
    tmp_size_limit: MemoryQuantity = "2Gi"
    env: dict[str, str] = Field(default_factory=dict)
    service_account_annotations: dict[str, str] = Field(default_factory=dict)
    egress_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    gateway: GatewayRef

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DNS_LABEL.match(value) or len(value) > 40:
            raise ValueError(f"'{value}' must be a DNS label of at most 40 characters (it prefixes '-blue', '-green')")
        return value

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not PINNED_IMAGE.match(value) or (":" not in value.rsplit("/", 1)[-1] and "@" not in value):
            raise ValueError(f"'{value}' must name a pinned image: repository:tag or repository@sha256:digest")
        if value.endswith(":latest"):
            raise ValueError(f"'{value}' uses the moving tag 'latest'; pin a version or digest")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not ENV_NAME.match(k)]
        if bad:
            raise ValueError(f"not environment variable names: {bad}")
        secret = [k for k in value if _SECRET_LOOKING.search(k)]
        if secret:
            raise ValueError(
                f"{secret} look like secrets; stack config is plain text. Use workload identity "
                f"(serviceAccountAnnotations) or a Kubernetes Secret instead"
            )
        reserved = sorted({"MODEL_URI", "HOME"} & set(value))
        if reserved:
            raise ValueError(f"{reserved} are set by the platform; use kubernetes.colours.<colour>.modelUri")
        return value

    @field_validator("egress_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        import ipaddress

        bad = []
        for cidr in value:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                bad.append(cidr)
        if bad:
            raise ValueError(f"not CIDR ranges: {bad}")
        return value


class KubernetesSettings(_Section):
    """Serving on a cluster: a GPU node pool, a namespace with quota, blue/green behind one route.

    A rollout is a sequence of config changes: `colours.<colour>.weight` (a canary step) and
    `colours.<colour>.modelUri` (a new model on the idle colour).
    """

    enabled: bool = True
    cluster: KubernetesClusterRef
    gpu_node_pool: GpuNodePoolSettings | None = None
    quota: ServingQuota
    serving: ServingSettings
    colours: ServingColours
    metrics_url: str | None = None
    """Prometheus base URL (reachable from where `ml deploy` runs) for the rollout gates' metrics."""

    @field_validator("metrics_url")
    @classmethod
    def _metrics_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"'{value}' must be the http(s) base URL of Prometheus, e.g. http://prometheus:9090")
        return value

    @model_validator(mode="after")
    def _fits_quota(self) -> KubernetesSettings:
        """Active colours at maxReplicas, plus one surge pod each during a rolling update, must fit."""
        active = [(colour, c) for colour, c in self.colours.items() if c.active]
        pods = sum(c.max_replicas + 1 for _, c in active)
        shape = " + ".join(f"{colour} ({c.max_replicas}+1)" for colour, c in active)
        limits = self.serving.resources.limits
        gpu = self.serving.resources.gpu
        checks = [
            ("cpu", pods * cpu_millicores(limits.cpu), cpu_millicores(self.quota.cpu), f"limits.cpu {limits.cpu}"),
            (
                "memory",
                pods * memory_bytes(limits.memory),
                memory_bytes(self.quota.memory),
                f"limits.memory {limits.memory}",
            ),
            ("gpu", pods * gpu, self.quota.gpu, f"{gpu} GPU"),
            ("pods", pods, self.quota.pods, "1 pod"),
        ]
        for key, needed, allowed, each in checks:
            if needed > allowed:
                raise ValueError(
                    f"quota.{key} ({getattr(self.quota, key)}) cannot hold the active colours at maxReplicas plus "
                    f"one rolling-update pod each: {shape} = {pods} pods x {each}; raise quota.{key} or lower "
                    f"maxReplicas / serving.resources"
                )
        return self


def _kubernetes_for_cloud(value: KubernetesSettings | None, info: ValidationInfo) -> KubernetesSettings | None:
    """Checks that need the stack's cloud: AKS vs EKS cluster references and GPU instance types."""
    cloud = info.data.get("cloud")
    if value is None or cloud is None:
        return value
    cluster, pool = value.cluster, value.gpu_node_pool
    problems = []
    if cloud == "azure":
        if cluster.resource_group is None:
            problems.append("cluster.resourceGroup is required: the AKS cluster's resource group")
        foreign = [k for k in ("node_role_arn", "subnet_ids") if k in cluster.model_fields_set]
        problems += [f"cluster.{to_camel(k)} applies to EKS (cloud aws), not AKS; remove it" for k in foreign]
        if pool is not None and "ami_type" in pool.model_fields_set:
            problems.append("gpuNodePool.amiType applies to EKS (cloud aws), not AKS; remove it")
        if pool is not None and not AZURE_GPU_FAMILIES.match(pool.instance_type):
            problems.append(
                f"gpuNodePool.instanceType: unknown GPU VM size '{pool.instance_type}' for AKS; allowed: "
                f"{_ALLOWED_SKUS[('azure', 'gpu')][1]}"
            )
    else:
        if cluster.resource_group is not None:
            problems.append("cluster.resourceGroup applies to AKS (cloud azure), not EKS; remove it")
        if pool is not None:
            if cluster.node_role_arn is None or not IAM_ROLE_ARN.match(cluster.node_role_arn):
                problems.append(
                    f"cluster.nodeRoleArn = {cluster.node_role_arn!r}: the GPU node group needs the IAM role ARN "
                    f"its nodes join with (arn:aws:iam::<account>:role/<name>)"
                )
            if not cluster.subnet_ids:
                problems.append("cluster.subnetIds is empty: the GPU node group needs at least one subnet id")
            bad_subnets = [s for s in cluster.subnet_ids if not AWS_SUBNET_ID.match(s)]
            if bad_subnets:
                problems.append(f"cluster.subnetIds = {bad_subnets}: not subnet ids (subnet-0123abcd...)")
            if not EC2_GPU_FAMILIES.match(pool.instance_type):
                problems.append(
                    f"gpuNodePool.instanceType: unknown GPU instance type '{pool.instance_type}' for EKS; allowed: "
                    f"an EC2 GPU type (g4dn/g5/g6/g6e/p3/p4d/p5.*, without the 'ml.' prefix)"
                )
    if problems:
        raise ValueError(f"for cloud {cloud}:" + "".join(f"\n  - {NAMESPACE}:kubernetes.{p}" for p in problems))
    return value


KubernetesField = Annotated[KubernetesSettings | None, AfterValidator(_kubernetes_for_cloud)]


class StackSettings(_Section):
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
        checks = [("trainingCluster.instanceType", self.training_cluster.instance_type, "gpu")]
        if self.training_cluster.cpu_cluster is not None:
            checks.append(
                ("trainingCluster.cpuCluster.instanceType", self.training_cluster.cpu_cluster.instance_type, "cpu")
            )
        for key, sku, kind in checks:
            pattern, allowed = _ALLOWED_SKUS[(self.cloud, kind)]
            if not pattern.match(sku):
                raise ValueError(f"{key}: unknown SKU '{sku}' for cloud {self.cloud}; allowed: {allowed}")
        endpoint_ok = any(
            _ALLOWED_SKUS[(self.cloud, kind)][0].match(self.endpoint.instance_type) for kind in ("cpu", "gpu")
        )
        if not endpoint_ok:
            raise ValueError(
                f"endpoint.instanceType: unknown SKU '{self.endpoint.instance_type}' for cloud {self.cloud}; "
                f"allowed: {_ALLOWED_SKUS[(self.cloud, 'cpu')][1]} or {_ALLOWED_SKUS[(self.cloud, 'gpu')][1]}"
            )
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

    @property
    def resource_tags(self) -> dict[str, str]:
        """Tags on everything that takes them: the three required ones win over user tags."""
        return {
            **self.tags,
            "environment": self.environment,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }


class ConfigError(UserError):
    """The stack config is invalid; the message lists each key, value and what is allowed."""


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        else:
            parts.append(to_camel(part) if "_" in part else part)
    if not parts:
        return f"{NAMESPACE}:<stack>"
    return f"{NAMESPACE}:{parts[0]}" + "".join(f".{p}" for p in parts[1:])


def _value_at(raw: Mapping[str, Any], loc: tuple[int | str, ...]) -> Any:
    node: Any = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def load_settings(raw: Mapping[str, Any], *, source: str) -> StackSettings:
    """Validate the `mlops:*` values of one stack (keys without the namespace prefix)."""
    try:
        return StackSettings.model_validate(dict(raw))
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            key = _key_path(loc)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                lines.append(f"{key} is required but not set")
            elif error["type"] == "extra_forbidden":
                lines.append(f"{key} is not a known setting (typo?)")
            elif loc and not isinstance(_value_at(raw, loc), Mapping):
                lines.append(f"{key} = {_value_at(raw, loc)!r}: {message}")
            elif loc:
                lines.append(f"{key}: {message}")
            else:
                lines.append(message)
        detail = "\n  - ".join(lines)
        raise ConfigError(f"invalid stack config in {source}:\n  - {detail}") from None


def settings_from_pulumi() -> StackSettings:
    """Read the running stack's config through `pulumi.Config`: the path `pulumi up` takes."""
    import pulumi

    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for field in StackSettings.model_fields.values():
        key = field.alias
        assert key is not None
        value = config.get(key)
        if value is None:
            continue
        raw[key] = json.loads(value) if value[:1] in ("{", "[") else value
    return load_settings(raw, source=f"Pulumi.{pulumi.get_stack()}.yaml")
