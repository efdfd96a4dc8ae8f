"""Kubernetes pre-flight: the Gateway API CRDs rollouts drive, and GPU capacity of the spot pool.

With the kubeconfig the rollout target uses (same loading, same error messages: the stack's
``kubeconfigContext``, else ``$KUBECONFIG``, else in-cluster), it reads:

- ``GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}`` for GatewayClass, Gateway
  and HTTPRoute: each must exist and serve ``v1`` (the version `ml deploy` patches);
- ``GET /api/v1/nodes?labelSelector=mlops/pool=<pool>``: the allocatable ``nvidia.com/gpu`` of the
  pool's nodes. The pool scales from zero, so capacity is *per node x maxNodes*; with no node up the
  check cannot know the per-node number and says ``unknown`` instead of guessing.
"""

from __future__ import annotations

from typing import Any

from ml.contract import KubernetesServingRef
from ml.plan.needs import KubernetesNeeds
from ml.preflight.checks import Check, quota_check

GPU = "nvidia.com/gpu"
POOL_LABEL = "mlops/pool"
GATEWAY_VERSION = "v1"
GATEWAY_INSTALL = (
    "kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/standard-install.yaml"
)


def connect(needs: KubernetesNeeds) -> Any:
    """The rollout target's `KubeApi` for the stack's serving namespace (same kubeconfig loading and errors)."""
    from ml.deploy.targets._k8s_api import KubeApi

    ref = KubernetesServingRef(
        namespace=needs.namespace,
        route_name=needs.serving_name,
        services={},
        weights={},
        cluster_name=needs.cluster_name,
        cluster_resource_group=needs.cluster_resource_group,
        kube_context=needs.kube_context,
    )
    return KubeApi.connect(ref)


def _crd_check(api: Any, name: str) -> Check:
    from kubernetes import client

    extensions = client.ApiextensionsV1Api(api._client)
    found = api._call(
        f"read CustomResourceDefinition '{name}'", extensions.read_custom_resource_definition, name, missing_ok=True
    )
    label = f"CRD {name}"
    if found is None:
        return Check(
            "kubernetes",
            label,
            f"{GATEWAY_VERSION} served",
            "missing",
            "blocker",
            f"install the Gateway API CRDs: `{GATEWAY_INSTALL}`",
        )
    served = [v.get("name") for v in (found.get("spec") or {}).get("versions", []) if v.get("served")]
    if GATEWAY_VERSION not in served:
        return Check(
            "kubernetes",
            label,
            f"{GATEWAY_VERSION} served",
            ",".join(served) or "none",
            "blocker",
            f"upgrade the Gateway API CRDs to a release serving {GATEWAY_VERSION}: `{GATEWAY_INSTALL}`",
        )
    return Check("kubernetes", label, f"{GATEWAY_VERSION} served", ",".join(served), "ok")


def _gpu_check(api: Any, needs: KubernetesNeeds) -> Check:
    label = f"GPU of pool '{needs.gpu_pool}' x {needs.gpu_pool_max_nodes} nodes vs serving quota"
    if needs.gpu_quota == 0:
        return Check("kubernetes", "serving GPU quota", "0 GPU", "-", "ok")
    if needs.gpu_pool is None:
        return Check(
            "kubernetes",
            "serving GPU quota",
            f"{needs.gpu_quota} GPU",
            "no GPU pool",
            "blocker",
            "the namespace's quota asks for GPUs but the stack adds no mlops:kubernetes.gpuNodePool: "
            "add one, or set quota.gpu to 0",
        )
    from kubernetes import client

    core = client.CoreV1Api(api._client)
    nodes = (
        api._call(
            f"list the nodes of pool '{needs.gpu_pool}'",
            core.list_node,
            label_selector=f"{POOL_LABEL}={needs.gpu_pool}",
        )
        or {}
    )
    per_node = [int(str((n.get("status") or {}).get("allocatable", {}).get(GPU, "0"))) for n in nodes.get("items", [])]
    if not per_node:
        return quota_check(
            "kubernetes",
            label,
            needed=needs.gpu_quota,
            available=None,
            unit="GPU",
            fix=f"pool '{needs.gpu_pool}' has no node up (it scales from zero): its GPUs per node "
            f"are known once one runs",
        )
    available = max(per_node) * needs.gpu_pool_max_nodes
    fix = (
        f"the pool's nodes allocate {max(per_node)} {GPU} each (is the NVIDIA device plugin running?): raise "
        f"gpuNodePool.maxNodes, pick a larger GPU size, or lower quota.gpu"
    )
    return quota_check("kubernetes", label, needed=needs.gpu_quota, available=available, unit="GPU", fix=fix)


def check_kubernetes(needs: KubernetesNeeds) -> list[Check]:
    """The Gateway API CRDs, then the spot pool's GPUs against the serving namespace's quota."""
    api = connect(needs)
    try:
        return [*(_crd_check(api, name) for name in needs.gateway_crds), _gpu_check(api, needs)]
    finally:
        api.close()
