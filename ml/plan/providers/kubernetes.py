"""Kubernetes (pulumi-kubernetes) for the offline plan: provider outputs and key inputs to show.

Why little filling: a Kubernetes object's outputs are its manifest plus server-filled metadata.
The mock echoes the manifest and fills `metadata.name` (Pulumi auto-naming when the program
gave none) and `metadata.namespace` (`default` for namespaced kinds), which is all the program
reads. Key inputs are the decisions a reviewer checks: replicas, probes, security context, HPA
bounds, quota, network policy rules and the route's weights.
"""

from __future__ import annotations

from typing import Any

import pulumi

from ml.plan.providers.base import Summary, pick_paths

PACKAGE = "kubernetes"
_CLUSTER_SCOPED = {"kubernetes:core/v1:Namespace"}


def fill_outputs(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    inputs = dict(args.inputs)
    metadata = dict(inputs.get("metadata") or {})
    metadata.setdefault("name", args.name)
    if args.typ not in _CLUSTER_SCOPED:
        metadata.setdefault("namespace", "default")
    namespace = metadata.get("namespace")
    object_id = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
    return {**inputs, "metadata": metadata, "id": object_id}


INVOKES: dict[str, Any] = {}


def _probe(probe: dict[str, Any] | None) -> str | None:
    if not probe:
        return None
    get = probe.get("httpGet", {})
    return f"GET {get.get('path')} every {probe.get('periodSeconds', 10):g}s x{probe.get('failureThreshold', 3):g}"


def _deployment(inputs: dict[str, Any]) -> dict[str, Any]:
    spec = inputs.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    container = (pod.get("containers") or [{}])[0]
    env = {e["name"]: e.get("value") for e in container.get("env", []) if "value" in e}
    context = container.get("securityContext", {})
    replicas = spec.get("replicas")
    summary: dict[str, Any] = {
        "replicas": "HPA" if replicas is None else int(replicas),
        "image": container.get("image"),
        "MODEL_URI": env.get("MODEL_URI"),
        "readiness": _probe(container.get("readinessProbe")),
        "liveness": _probe(container.get("livenessProbe")),
        "resources": container.get("resources"),
        "securityContext": {
            key: context.get(key)
            for key in ("runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "capabilities")
        },
    }
    if pod.get("nodeSelector"):
        summary["nodeSelector"] = pod["nodeSelector"]
    return summary


def _hpa(inputs: dict[str, Any]) -> dict[str, Any]:
    spec = inputs.get("spec", {})
    targets = [
        f"{m['resource']['name']} {m['resource']['target'].get('averageUtilization', 0):g}%"
        for m in spec.get("metrics", [])
        if m.get("type") == "Resource"
    ]
    return {
        "replicas": f"{spec.get('minReplicas', 1):g}..{spec.get('maxReplicas', 0):g}",
        "target": ", ".join(targets),
    }


def _network_policy(inputs: dict[str, Any]) -> dict[str, Any]:
    spec = inputs.get("spec", {})
    summary: dict[str, Any] = {"policyTypes": spec.get("policyTypes", [])}
    ingress = [
        {
            "from": rule.get("from", []),
            "ports": [f"{p.get('protocol')}/{p.get('port'):g}" for p in rule.get("ports", [])],
        }
        for rule in spec.get("ingress", [])
    ]
    egress = [
        {
            "to": [peer.get("ipBlock", {}).get("cidr") or "dns" for peer in rule.get("to", [])],
            "ports": [f"{p.get('protocol')}/{p.get('port'):g}" for p in rule.get("ports", [])],
        }
        for rule in spec.get("egress", [])
    ]
    if ingress:
        summary["ingress"] = ingress
    if egress:
        summary["egress"] = egress
    if not ingress and not egress:
        summary["rules"] = "deny all"
    return summary


def _route(inputs: dict[str, Any]) -> dict[str, Any]:
    spec = inputs.get("spec", {})
    weights = {
        ref["name"]: int(ref.get("weight", 1)) for rule in spec.get("rules", []) for ref in rule.get("backendRefs", [])
    }
    parents = [f"{p.get('namespace', '')}/{p['name']}" for p in spec.get("parentRefs", [])]
    summary: dict[str, Any] = {"parentRefs": parents, "weights": weights}
    if spec.get("hostnames"):
        summary["hostnames"] = spec["hostnames"]
    return summary


KEY_INPUTS: dict[str, Summary] = {
    "kubernetes:core/v1:Namespace": lambda inputs: {
        "podSecurity": inputs.get("metadata", {}).get("labels", {}).get("pod-security.kubernetes.io/enforce")
    },
    "kubernetes:core/v1:ResourceQuota": pick_paths("spec.hard"),
    "kubernetes:core/v1:LimitRange": lambda inputs: {"limits": inputs.get("spec", {}).get("limits", [])},
    "kubernetes:core/v1:ServiceAccount": pick_paths("metadata.annotations", "automountServiceAccountToken"),
    "kubernetes:core/v1:Service": pick_paths("spec.type", "spec.selector"),
    "kubernetes:apps/v1:Deployment": _deployment,
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": _hpa,
    "kubernetes:policy/v1:PodDisruptionBudget": pick_paths("spec.maxUnavailable", "spec.minAvailable"),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _network_policy,
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": _route,
}
