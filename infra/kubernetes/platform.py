"""Kubernetes serving as one call any cloud's platform makes: `build_kubernetes_serving`.

Why one function: the Azure and the AWS platform components both add the same capability when
`kubernetes.enabled` is set, and must export the same contract fields. Each calls this with
itself as parent and puts the returned dict under `contract_fields["kubernetes"]`. The
Kubernetes SDK (and the cloud SDK for the node pool) is imported only when it is enabled.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.config import StackSettings


def build_kubernetes_serving(
    settings: StackSettings,
    parent: pulumi.Resource,
    *,
    tracking_uri: pulumi.Input[str] | None = None,
    capture_uri: pulumi.Input[str] | None = None,
) -> dict[str, Any] | None:
    """Build the GPU node pool and the blue/green serving; None when the stack has no Kubernetes.

    `tracking_uri` becomes the pods' MLFLOW_TRACKING_URI (so `models:/` URIs resolve) unless
    `serving.env` sets one. `capture_uri` (the stack's capture prefix in its object storage, when
    `mlops:monitoring` is on) makes the pods write sampled capture records there.
    """
    config = settings.kubernetes
    if config is None or not config.enabled:
        return None
    from infra.kubernetes.cluster import cluster_provider
    from infra.kubernetes.node_pool import GpuNodePool, GpuNodePoolArgs, gpu_tolerations
    from infra.kubernetes.serving import ModelServing, ModelServingArgs

    cluster, serving = config.cluster, config.serving
    child = pulumi.ResourceOptions(parent=parent)
    pool = None
    if config.gpu_node_pool is not None:
        pool = GpuNodePool(
            "gpu-pool",
            GpuNodePoolArgs(
                cloud=settings.cloud, cluster=cluster, settings=config.gpu_node_pool, tags=settings.resource_tags
            ),
            child,
        )
    placement: dict[str, Any] = {}
    depends_on: list[pulumi.Resource] = []
    if serving.resources.gpu:
        # GPU pods go to the stack's spot GPU pool when it has one, else to any GPU node.
        placement = (
            {"node_selector": pool.node_labels, "tolerations": pool.tolerations}
            if pool is not None
            else {"tolerations": gpu_tolerations()}
        )
        depends_on = [pool] if pool is not None else []
    provider = cluster_provider("kubernetes", settings.cloud, cluster, settings.location, parent)
    component = ModelServing(
        "model-serving",
        ModelServingArgs(
            serving=serving,
            colours=config.colours,
            quota=config.quota,
            tracking_uri=tracking_uri,
            capture_uri=capture_uri,
            sampling_percent=settings.monitoring.sampling_percent,
            **placement,
        ),
        pulumi.ResourceOptions(parent=parent, providers=[provider], depends_on=depends_on),
    )
    colours = config.colours.items()
    return {
        "namespace": component.namespace,
        "route_name": component.route_name,
        "services": component.service_names,
        "deployments": component.deployment_names,
        "weights": {colour: c.weight for colour, c in colours},
        "model_uris": {colour: c.model_uri for colour, c in colours if c.model_uri is not None},
        "min_replicas": {colour: c.min_replicas for colour, c in colours},
        "max_replicas": {colour: c.max_replicas for colour, c in colours},
        "cluster_name": cluster.name,
        "cluster_resource_group": cluster.resource_group,
        "kube_context": cluster.kubeconfig_context,
        "metrics_url": config.metrics_url,
    }
