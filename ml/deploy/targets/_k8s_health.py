"""Is a colour's Deployment ready, still starting, or failed? The `kubectl rollout status` rule, plus pods.

Why a pure function over the JSON: the rule is what decides whether a model takes traffic, so it
is tested without a cluster and reads like the check it copies. Ready means the controller has seen
the latest spec (``status.observedGeneration >= metadata.generation``) and every replica is
updated, ready and available with no old pod left. Kubernetes alone would keep a crash-looping
model "progressing" until ``progressDeadlineSeconds`` (10 minutes by default); the pods' waiting
reasons and restart counts say it will never load much sooner, so those fail the wait at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FATAL_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
MAX_RESTARTS = 3
"""A model server that restarted this often while starting will not become ready by waiting longer."""

State = Literal["ready", "starting", "failed", "stopped"]


@dataclass(frozen=True)
class ColourHealth:
    """The verdict on one colour, with the reason a person can act on."""

    state: State
    reason: str


def _pod_problem(pod: dict[str, Any], max_restarts: int) -> str | None:
    name = pod.get("metadata", {}).get("name", "?")
    for status in pod.get("status", {}).get("containerStatuses") or []:
        container = status.get("name", "?")
        restarts = int(status.get("restartCount") or 0)
        waiting = (status.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        last = ((status.get("lastState") or {}).get("terminated") or {}).get("reason")
        history = f"restarted {restarts} times" + (f", last exit {last}" if last else "")
        if reason in FATAL_WAITING:
            message = waiting.get("message")
            return f"pod {name} container {container}: {reason}{f': {message}' if message else ''} ({history})"
        if restarts >= max_restarts:
            return f"pod {name} container {container}: restarting ({history})"
    return None


def colour_health(
    deployment: dict[str, Any], pods: list[dict[str, Any]], *, max_restarts: int = MAX_RESTARTS
) -> ColourHealth:
    """Judge a Deployment (and its pods) the way `kubectl rollout status` does, failing fast on crashes."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    name = deployment.get("metadata", {}).get("name", "?")
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if desired == 0:
        return ColourHealth("stopped", f"Deployment {name} is scaled to 0 replicas")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return ColourHealth(
                "failed", f"Deployment {name}: ProgressDeadlineExceeded: {condition.get('message', '')}"
            )
    for pod in pods:
        problem = _pod_problem(pod, max_restarts)
        if problem is not None:
            return ColourHealth("failed", problem)
    generation = int(deployment.get("metadata", {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if observed < generation:
        return ColourHealth("starting", f"Deployment {name}: the controller has not seen generation {generation} yet")
    counts = {key: int(status.get(key) or 0) for key in ("updatedReplicas", "readyReplicas", "availableReplicas")}
    total = int(status.get("replicas") or 0)
    if all(value >= desired for value in counts.values()) and total <= desired:
        return ColourHealth("ready", f"Deployment {name}: {desired}/{desired} replicas updated, ready and available")
    shown = ", ".join(f"{key} {value}/{desired}" for key, value in counts.items())
    old = f", {total - counts['updatedReplicas']} old replicas left" if total > counts["updatedReplicas"] else ""
    return ColourHealth("starting", f"Deployment {name}: {shown}{old}")
