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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ml.errors import UserError

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
