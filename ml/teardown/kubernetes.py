"""Kubernetes: the HPAs rollouts created for colours; after a destroy, what is left in the namespace.

- before `pulumi destroy` (from the stack's outputs): the stack's own HPAs carry
  ``app.kubernetes.io/managed-by: pulumi``; an HPA of a colour's Deployment without it was created
  by `ml deploy` when it staged that colour, and `pulumi destroy` would leave it (and the namespace
  it keeps non-empty) behind;
- after it (`--check`, from the stack file): the serving namespace the stack created
  (`mlops:kubernetes.serving.namespace`) should be gone, and everything in it with it. If it is
  still there (a finalizer holds it ``Terminating``, or the destroy stopped half-way), the namespace
  and what it still holds are listed: colours' Deployments and Services, HPAs, PodDisruptionBudgets,
  HTTPRoutes, Jobs, ConfigMaps, NetworkPolicies, the quota, limit range and serving identity (the
  API's own ``kube-root-ca.crt`` and ``default`` service account aside). When
  the namespace is not the stack's (it lacks the stack's ``app.kubernetes.io/part-of`` label), only
  objects labelled with the stack's ``app.kubernetes.io/instance`` are listed and the namespace is
  left out: it is someone else's to keep.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ml.contract import PlatformOutputs
from ml.plan.needs import KubernetesNeeds
from ml.teardown.leftovers import Leftover

MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF, PLATFORM = "app.kubernetes.io/part-of", "mlops-platform"
INSTANCE = "app.kubernetes.io/instance"
API_DEFAULTS = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
"""Objects the API server puts in every namespace: not leftovers."""

NAMESPACED: tuple[tuple[str, str, str, str], ...] = (
    ("Deployment", "AppsV1Api", "list_namespaced_deployment", "deployment"),
    ("Service", "CoreV1Api", "list_namespaced_service", "service"),
    ("HPA", "AutoscalingV2Api", "list_namespaced_horizontal_pod_autoscaler", "hpa"),
    ("PodDisruptionBudget", "PolicyV1Api", "list_namespaced_pod_disruption_budget", "pdb"),
    ("Job", "BatchV1Api", "list_namespaced_job", "job"),
    ("ConfigMap", "CoreV1Api", "list_namespaced_config_map", "configmap"),
    ("NetworkPolicy", "NetworkingV1Api", "list_namespaced_network_policy", "networkpolicy"),
    ("ResourceQuota", "CoreV1Api", "list_namespaced_resource_quota", "resourcequota"),
    ("LimitRange", "CoreV1Api", "list_namespaced_limit_range", "limitrange"),
    ("ServiceAccount", "CoreV1Api", "list_namespaced_service_account", "serviceaccount"),
)
"""(kind as listed, client API class, its list call, the `kubectl delete` resource name)."""


def created_by_ml(outputs: PlatformOutputs) -> list[Leftover]:
    if outputs.kubernetes is None:
        return []
    from ml.deploy.targets._k8s_api import KubeApi

    ref = outputs.kubernetes
    api = KubeApi.connect(ref)
    items: list[Leftover] = []
    for colour, deployment in sorted(ref.deployments.items()):
        hpa = api.get_hpa(deployment)
        if hpa is None or ((hpa.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY) == "pulumi":
            continue
        items.append(
            Leftover(
                "kubernetes",
                "HPA",
                f"{ref.namespace}/{deployment}",
                f"colour {colour}, from a rollout",
                partial(api.delete_hpa, deployment),
            )
        )
    return items


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _list(api: Any, kind: str, call: Any, *args: Any, selector: str | None) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"label_selector": selector} if selector else {}
    answer = api._call(f"list {kind}s", call, *args, missing_ok=True, **kwargs) or {}
    return list(answer.get("items") or [])


def left_after_destroy(needs: KubernetesNeeds) -> list[Leftover]:
    """What is still in (or is) the serving namespace after `pulumi destroy`; nothing is deleted here."""
    from kubernetes import client

    from ml.deploy.targets._k8s_api import GATEWAY_GROUP, GATEWAY_VERSION, ROUTES
    from ml.preflight.kubernetes import connect

    ns = needs.namespace
    api = connect(needs)
    try:
        namespace = api._call(f"read namespace '{ns}'", api.core.read_namespace, ns, missing_ok=True)
        if namespace is None:
            return []
        owned = _labels(namespace).get(PART_OF) == PLATFORM
        selector = None if owned else f"{INSTANCE}={needs.serving_name}"
        items: list[Leftover] = []
        if owned:
            phase = str((namespace.get("status") or {}).get("phase", "Active"))
            items.append(
                Leftover(
                    "kubernetes",
                    "namespace",
                    ns,
                    f"{phase}; created by the stack" + (" (a finalizer holds it)" if phase == "Terminating" else ""),
                    fix=f"kubectl delete namespace {ns}",
                )
            )
        found: list[tuple[str, str, str]] = []
        for kind, api_class, call, resource in NAMESPACED:
            listing = getattr(getattr(client, api_class)(api._client), call)
            found += [(kind, resource, o["metadata"]["name"]) for o in _list(api, kind, listing, ns, selector=selector)]
        routes = api.custom.list_namespaced_custom_object
        found += [
            ("HTTPRoute", "httproute", o["metadata"]["name"])
            for o in _list(api, "HTTPRoute", routes, GATEWAY_GROUP, GATEWAY_VERSION, ns, ROUTES, selector=selector)
        ]
        for kind, resource, name in found:
            if (kind, name) in API_DEFAULTS:
                continue
            items.append(
                Leftover(
                    "kubernetes",
                    kind,
                    f"{ns}/{name}",
                    "in the stack's namespace" if owned else f"labelled {INSTANCE}={needs.serving_name}",
                    fix=f"kubectl -n {ns} delete {resource} {name}",
                )
            )
        return items
    finally:
        api.close()
