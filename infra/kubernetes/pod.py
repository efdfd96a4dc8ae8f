"""The pod template of one model-server colour: MLflow's scoring server, locked down.

Why a pure function: the template is the part of the platform with the most security decisions
(non-root, read-only root filesystem, no capabilities, seccomp, no service-account token) and
the most operational ones (probes, resources, GPU placement). As plain data it reads like the
manifest it becomes, and the tests assert it as registered.

The server is `mlflow models serve -m $MODEL_URI --env-manager local`: the image must already
contain the model's Python dependencies (no environment is built at start), and the model is
downloaded into the `/tmp` emptyDir, the only writable path. `/ping` answers once the model is
loaded (readiness, startup); `/health` is the same handler, used for liveness.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.config import GPU_RESOURCE, ServingSettings

CONTAINER_NAME = "model-server"
PORT_NAME = "http"
WORKLOAD_IDENTITY_PREFIX = "azure.workload.identity/"
TMP_VOLUME = "tmp"


def _resources(serving: ServingSettings) -> dict[str, dict[str, str]]:
    resources = serving.resources
    requests = {"cpu": resources.requests.cpu, "memory": resources.requests.memory}
    limits = {"cpu": resources.limits.cpu, "memory": resources.limits.memory}
    if resources.gpu:
        # Extended resources: requests must equal limits.
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(resources.gpu)
    return {"requests": requests, "limits": limits}


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _env(
    serving: ServingSettings, model_uri: str | None, tracking_uri: Any, capture: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "MODEL_URI", "value": model_uri or ""},
        # Caches (pip, mlflow, huggingface) write under $HOME; it must be on the writable volume.
        {"name": "HOME", "value": "/tmp"},  # noqa: S108 - the emptyDir below
        {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
    ]
    if tracking_uri is not None and "MLFLOW_TRACKING_URI" not in serving.env:
        env.append({"name": "MLFLOW_TRACKING_URI", "value": tracking_uri})
    env += [{"name": key, "value": value} for key, value in sorted((capture or {}).items())]
    env += [{"name": key, "value": value} for key, value in sorted(serving.env.items())]
    return env


def _command(serving: ServingSettings, wrapped: bool) -> dict[str, list[str]]:
    host = "0.0.0.0"  # noqa: S104 - inside the pod; the NetworkPolicy admits only the gateway
    if wrapped:
        return {
            "command": ["python", "-m", "ml.platform.serve"],
            "args": ["--host", host, "--port", str(serving.port), "--workers", str(serving.workers)],
        }
    return {
        "command": ["mlflow", "models", "serve"],
        "args": [
            *("-m", "$(MODEL_URI)", "--env-manager", "local"),
            *("-h", host, "-p", str(serving.port), "-w", str(serving.workers)),
        ],
    }


def pod_labels(serving: ServingSettings, selector: dict[str, str]) -> dict[str, str]:
    """Selector labels plus the opt-in label Azure workload identity needs on the pod."""
    labels = dict(selector)
    if any(key.startswith(WORKLOAD_IDENTITY_PREFIX) for key in serving.service_account_annotations):
        labels["azure.workload.identity/use"] = "true"
    return labels


def model_server_pod(
    serving: ServingSettings,
    *,
    model_uri: str | None,
    labels: dict[str, str],
    service_account: str,
    tracking_uri: Any = None,
    capture: Mapping[str, Any] | None = None,
    node_selector: dict[str, str] | None = None,
    tolerations: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The Deployment's `spec.template` for one colour.

    With ``serving.server: platform`` the server is the platform's wrapped scoring app
    (`python -m ml.platform.serve`: the same MLflow scoring server, plus the capture writer the
    local endpoint uses; the image must contain this repository's `ml` package), and ``capture``
    (`ml.contract.monitoring.capture_env`) makes it write capture records. A plain MLflow image
    (``server: mlflow``) cannot capture, so it gets no capture environment.
    """
    uid = serving.run_as_user
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        # Workload identity (AKS) and IRSA (EKS) project their own token; the API token is not needed.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER_NAME,
                "image": serving.image,
                "imagePullPolicy": "IfNotPresent",
                **_command(serving, serving.server == "platform"),
                "env": _env(serving, model_uri, tracking_uri, capture if serving.server == "platform" else None),
                "ports": [{"name": PORT_NAME, "containerPort": serving.port, "protocol": "TCP"}],
                # Downloading and loading a model can take minutes; liveness starts only after this.
                "startupProbe": _probe("/ping", period=5, failures=60),
                "readinessProbe": _probe("/ping", period=5, failures=3),
                "livenessProbe": _probe("/health", period=10, failures=3),
                "resources": _resources(serving),
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "privileged": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "runAsUser": uid,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
            }
        ],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": serving.tmp_size_limit}}],
        # Replicas of one colour on different nodes when possible: a spot eviction takes one, not all.
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels},
            }
        ],
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    return {"metadata": {"labels": pod_labels(serving, labels)}, "spec": spec}
