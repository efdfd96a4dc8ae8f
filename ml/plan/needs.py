"""What a stack will ask of its cloud account, as plain data: the input of `ml preflight`.

Why here: of `ml/`, only `ml/plan` reads `infra/` (the stack's typed settings). `ml/preflight`
checks these needs against the live account and imports only this plain data, never `infra/`.

The numbers are the stack's maxima, not its idle state: a training cluster at ``maxNodes``, an
endpoint at ``maxInstances`` for *each of two colours* (a blue/green rollout runs the old and the
new fleet side by side until the switch), a tuning job running ``maxNodes`` trials in parallel, a
serving namespace using its whole GPU quota.

Names the stack will create with globally unique or soft-deletable names are spelled the way the
components spell them (`infra/azure/workspace.py`, `infra/aws/artifact_store.py`); a test runs the
program offline and asserts these are the names it declares, so the two cannot drift apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROLLOUT_COLOURS = 2
"""A blue/green rollout runs two fleets at once: the live colour and the one being staged."""


@dataclass(frozen=True)
class VmNeed:
    """``nodes`` VMs of ``vm_size`` for ``purpose``; ``low_priority`` = spot / low-priority capacity."""

    purpose: str
    vm_size: str
    nodes: int
    low_priority: bool
    quota_source: str = "ml"
    """Whose quota it draws on: ``ml`` (Azure ML compute and online endpoints) or ``compute`` (AKS node pools)."""


@dataclass(frozen=True)
class AzureNeeds:
    subscription_id: str | None
    location: str
    resource_group: str
    storage_account: str
    key_vault: str
    workspace: str
    vms: list[VmNeed]


@dataclass(frozen=True)
class AwsNeeds:
    region: str
    bucket_prefix: str
    """The artifact bucket is ``{bucket_prefix}{account id}-{region}``: see `bucket_name`."""
    training_instance_type: str
    training_instances: int
    training_spot: bool
    endpoint_instance_type: str
    endpoint_instances: int
    tuning_parallel_jobs: int
    endpoint_name: str = ""
    """The SageMaker endpoint (``{prefix}-endpoint``): what `ml teardown --check` looks for after a destroy."""
    node_pool_instance_type: str | None = None
    """The EKS GPU node group's EC2 type (`mlops:kubernetes.gpuNodePool`), None when the stack adds none."""
    node_pool_nodes: int = 0
    node_pool_spot: bool = True

    def bucket_name(self, account_id: str) -> str:
        return f"{self.bucket_prefix}{account_id}-{self.region}"


@dataclass(frozen=True)
class KubernetesNeeds:
    namespace: str
    kube_context: str | None
    cluster_name: str
    cluster_resource_group: str | None
    gpu_pool: str | None
    """The GPU node pool's name (its nodes carry ``mlops/pool=<name>``), None when the stack adds none."""
    gpu_pool_max_nodes: int
    gpu_quota: int
    """GPUs the serving namespace may request (`mlops:kubernetes.quota.gpu`)."""
    serving_name: str = "model"
    """`mlops:kubernetes.serving.name`: the route's name and the colours' prefix (``<name>-blue``), the
    ``app.kubernetes.io/instance`` label of everything the stack and `ml deploy` put in the namespace."""
    gateway_crds: list[str] = field(
        default_factory=lambda: [
            "gatewayclasses.gateway.networking.k8s.io",
            "gateways.gateway.networking.k8s.io",
            "httproutes.gateway.networking.k8s.io",
        ]
    )


@dataclass(frozen=True)
class StackNeeds:
    stack: str
    cloud: str
    environment: str
    azure: AzureNeeds | None = None
    aws: AwsNeeds | None = None
    kubernetes: KubernetesNeeds | None = None


def compact(*parts: str, max_length: int = 24) -> str:
    """The storage-account spelling (`infra.common.compact_name`, imported lazily with infra)."""
    from infra.common import compact_name

    return compact_name(*parts, max_length=max_length)


def needs_of(stack: str, values: dict[str, object], *, source: str, subscription_id: str | None = None) -> StackNeeds:
    """The needs of one stack from its ``mlops:`` config values (validated by infra's settings)."""
    from infra.config import load_settings

    settings = load_settings(values, source=source)
    prefix = settings.name_prefix
    training = settings.training_cluster
    endpoint = settings.endpoint
    low = training.priority == "LowPriority"
    azure = aws = kube = None
    enabled = settings.kubernetes is not None and settings.kubernetes.enabled
    pool = settings.kubernetes.gpu_node_pool if settings.kubernetes is not None and enabled else None
    if settings.cloud == "azure":
        vms = [VmNeed("training cluster", training.instance_type, training.max_nodes, low)]
        if training.cpu_cluster is not None:
            vms.append(VmNeed("cpu cluster", training.cpu_cluster.instance_type, training.cpu_cluster.max_nodes, low))
        vms.append(
            VmNeed("endpoint (2 colours)", endpoint.instance_type, endpoint.max_instances * ROLLOUT_COLOURS, False)
        )
        if pool is not None:
            vms.append(VmNeed(f"AKS pool {pool.name}", pool.instance_type, pool.max_nodes, pool.spot, "compute"))
        azure = AzureNeeds(
            subscription_id=subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID"),
            location=settings.location,
            resource_group=f"rg-{prefix}",
            storage_account=compact(prefix, "st"),
            key_vault=f"kv-{prefix}",
            workspace=f"mlw-{prefix}",
            vms=vms,
        )
    else:
        aws = AwsNeeds(
            region=settings.location,
            bucket_prefix=f"{prefix}-artifacts-",
            training_instance_type=training.instance_type,
            training_instances=training.max_nodes,
            training_spot=low,
            endpoint_instance_type=endpoint.instance_type,
            endpoint_instances=endpoint.max_instances * ROLLOUT_COLOURS,
            tuning_parallel_jobs=training.max_nodes,
            endpoint_name=f"{prefix}-endpoint",
            node_pool_instance_type=pool.instance_type if pool is not None else None,
            node_pool_nodes=pool.max_nodes if pool is not None else 0,
            node_pool_spot=pool.spot if pool is not None else True,
        )
    if settings.kubernetes is not None and enabled:
        k8s = settings.kubernetes
        kube = KubernetesNeeds(
            namespace=k8s.serving.namespace,
            kube_context=k8s.cluster.kubeconfig_context,
            cluster_name=k8s.cluster.name,
            cluster_resource_group=k8s.cluster.resource_group,
            gpu_pool=pool.name if pool is not None else None,
            gpu_pool_max_nodes=pool.max_nodes if pool is not None else 0,
            gpu_quota=k8s.quota.gpu,
            serving_name=k8s.serving.name,
        )
    return StackNeeds(stack, settings.cloud, settings.environment, azure=azure, aws=aws, kubernetes=kube)


def read_needs(stack: str, project_dir: Path | None = None, *, subscription_id: str | None = None) -> StackNeeds:
    """The needs of ``Pulumi.<stack>.yaml`` in the project (found from the working directory)."""
    from ml.plan.stack_file import find_project_dir, read_stack_config

    config = read_stack_config(project_dir or find_project_dir(), stack)
    subscription = subscription_id or config.values.get("azure-native:subscriptionId")
    return needs_of(
        stack,
        config.namespace("mlops"),
        source=str(config.source),
        subscription_id=str(subscription) if subscription else None,
    )
