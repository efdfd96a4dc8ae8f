"""`mlops:kubernetes`: a spot GPU node pool and blue/green model serving on an existing cluster.

Why one section: the node pool, the namespace quota and the two colours are checked against each
other (active colours at maxReplicas must fit the quota); the checks that need the stack's cloud
(AKS vs EKS) are in `infra.config.rules`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from infra.config.base import Section
from infra.config.kubernetes_types import DNS_LABEL, CpuQuantity, DnsLabel, MemoryQuantity, cpu_millicores, memory_bytes

EC2_GPU_FAMILIES = re.compile(r"^(g4dn|g5|g6|g6e|gr6|p3|p3dn|p4d|p4de|p5|p5e)\.[0-9]*x?large$")
AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TAINT = re.compile(
    r"^[A-Za-z0-9][-A-Za-z0-9_./]*(=[A-Za-z0-9][-A-Za-z0-9_.]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$"
)
PINNED_IMAGE = re.compile(r"^[^\s:@]+(:[0-9A-Za-z_.-]+)?(@sha256:[0-9a-f]{64})?$")
_SECRET_LOOKING = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|API_KEY|CONNECTION_STRING)", re.IGNORECASE)
GPU_RESOURCE = "nvidia.com/gpu"


class KubernetesClusterRef(Section):
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


class GpuNodePoolSettings(Section):
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


class ResourceAmounts(Section):
    cpu: CpuQuantity
    memory: MemoryQuantity


class ServingResources(Section):
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


class ColourSettings(Section):
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


class ServingColours(Section):
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


class ServingQuota(Section):
    """The namespace's cluster-side budget: caps on requested/limited CPU, memory, GPUs and pods."""

    cpu: CpuQuantity
    memory: MemoryQuantity
    gpu: int = Field(default=0, ge=0, le=1000)
    pods: int = Field(default=20, ge=1, le=1000)


class GatewayRef(Section):
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


class ServingSettings(Section):
    """How models are served: image, port, resources, autoscaling target, identity and network."""

    namespace: DnsLabel = "ml-serving"
    name: str = "model"
    image: str
    server: Literal["mlflow", "platform"] = "mlflow"
    """``mlflow``: `mlflow models serve` (any MLflow image). ``platform``: the platform's wrapped scoring
    app (`python -m ml.platform.serve`; the image must contain this repository's `ml` package), the
    one that writes capture records when `mlops:monitoring` is on."""
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


class KubernetesSettings(Section):
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
