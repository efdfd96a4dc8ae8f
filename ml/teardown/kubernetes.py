"""Kubernetes: the HorizontalPodAutoscalers rollouts created for colours.

The stack's own HPAs carry ``app.kubernetes.io/managed-by: pulumi``; an HPA of a colour's
Deployment without it was created by `ml deploy` when it staged that colour, and `pulumi destroy`
would leave it (and the namespace it keeps non-empty) behind.
"""

from __future__ import annotations

from functools import partial

from ml.contract import PlatformOutputs
from ml.teardown.leftovers import Leftover

MANAGED_BY = "app.kubernetes.io/managed-by"


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
