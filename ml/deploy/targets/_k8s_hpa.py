"""The HorizontalPodAutoscaler a colour gets while it takes traffic, shaped like the one the stack declared.

Why its own module: the target creates or patches an HPA in one place (`ml.deploy.targets.kubernetes`
``create_deployment``), and what it must contain -- the contract's ``min..max``, the metrics and
behaviour of the serving colour's HPA so Pulumi's next apply finds the same spec -- is decided here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ml.contract import KubernetesServingRef
from ml.deploy.targets._k8s_api import KubeApi

COLOUR_LABEL = "mlops/colour"
INSTANCE_LABEL = "app.kubernetes.io/instance"
DEFAULT_CPU_PERCENT = 70


def ensure_hpa(
    api: KubeApi, ref: KubernetesServingRef, colour: str, floor: int, *, deployment_of: Callable[[str], str]
) -> None:
    """Create the colour's autoscaling/v2 HPA, or patch its bounds when it exists (``floor`` raises the minimum)."""
    deployment = deployment_of(colour)
    bounds = {
        "minReplicas": max(floor, ref.min_replicas.get(colour, 1)),
        "maxReplicas": max(floor, ref.max_replicas.get(colour, floor)),
    }
    if api.get_hpa(deployment) is not None:
        api.patch_hpa(deployment, {"spec": bounds})
        return
    template = serving_hpa_spec(api, ref, colour, deployment_of=deployment_of)
    labels = {INSTANCE_LABEL: ref.route_name, COLOUR_LABEL: colour}
    api.create_hpa(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": deployment, "namespace": ref.namespace, "labels": labels},
            "spec": {
                **template,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                **bounds,
            },
        }
    )


def serving_hpa_spec(
    api: KubeApi, ref: KubernetesServingRef, new: str, *, deployment_of: Callable[[str], str]
) -> dict[str, Any]:
    """Metrics and behaviour of the other colour's HPA (what the stack declared), else CPU at 70 %."""
    for colour in ref.services:
        if colour == new:
            continue
        hpa = api.get_hpa(deployment_of(colour))
        if hpa is not None:
            spec = hpa.get("spec", {})
            return {key: spec[key] for key in ("metrics", "behavior") if key in spec}
    cpu = {"type": "Utilization", "averageUtilization": DEFAULT_CPU_PERCENT}
    return {"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": cpu}}]}
