"""The few Kubernetes API calls the rollout target makes, as plain JSON, with errors a user can act on.

Why a wrapper around the official client: the target needs about ten calls, and each failure mode
of them is part of the interface -- no kubeconfig, a context that does not exist, credentials
refused, RBAC forbidding one verb on one resource, a namespace or route that is not there, an API
server that does not answer. Every one becomes a single `UserError` naming what to fix, here, once.
Responses are read as plain dicts (``_preload_content=False``) so the target depends on the wire
format Kubernetes documents, not on the generated models of one client version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from ml.contract import KubernetesServingRef
from ml.contract.errors import UserError

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
GATEWAY_GROUP, GATEWAY_VERSION, ROUTES = "gateway.networking.k8s.io", "v1", "httproutes"
FIELD_MANAGER = "ml-deploy"
REQUEST_TIMEOUT = 30.0
"""Seconds per API call: a hung API server fails the call instead of the rollout waiting forever."""


def credentials_hint(ref: KubernetesServingRef) -> str:
    """How to get a kubeconfig for the stack's cluster (AKS, EKS or a named context)."""
    if ref.kube_context:
        return f"make context '{ref.kube_context}' available in your kubeconfig ($KUBECONFIG or ~/.kube/config)"
    if ref.cluster_resource_group and ref.cluster_name:
        return f"run `az aks get-credentials -g {ref.cluster_resource_group} -n {ref.cluster_name}`"
    if ref.cluster_name:
        return f"run `aws eks update-kubeconfig --name {ref.cluster_name}`"
    return "point $KUBECONFIG at a kubeconfig for the serving cluster"


def _api_client(ref: KubernetesServingRef) -> Any:
    """An ApiClient from the kubeconfig (context from the contract), else the in-cluster service account."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    # Read $KUBECONFIG now: the client reads it once, at import, and would keep using that value.
    kubeconfig = os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        return config.new_client_from_config(config_file=kubeconfig, context=ref.kube_context, persist_config=False)
    except ConfigException as exc:
        kube_error = str(exc)
    except FileNotFoundError:
        kube_error = f"kubeconfig {kubeconfig} does not exist"
    if ref.kube_context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise UserError(f"in-cluster Kubernetes credentials could not be loaded: {exc}") from None
        return client.ApiClient(configuration)
    context = f" (context '{ref.kube_context}')" if ref.kube_context else ""
    raise UserError(
        f"cannot load Kubernetes credentials for the serving cluster{context} from {kubeconfig}: {kube_error}; "
        f"{credentials_hint(ref)}"
    )


class KubeApi:
    """Namespaced reads and patches of Deployments, HPAs, Pods and the HTTPRoute, as JSON dicts."""

    def __init__(self, api_client: Any, ref: KubernetesServingRef) -> None:
        from kubernetes import client

        self.ref = ref
        self.namespace = ref.namespace
        self.host = str(api_client.configuration.host)
        self._client = api_client
        self.apps = client.AppsV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    @classmethod
    def connect(cls, ref: KubernetesServingRef) -> KubeApi:
        return cls(_api_client(ref), ref)

    def close(self) -> None:
        self._client.close()

    # --- error translation --------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[..., Any], *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
        """Run one API call; JSON answer, None for a 404 when ``missing_ok``, else one clear `UserError`."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            response = call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise self._explain(what, exc) from None
        except HTTPError as exc:
            raise UserError(
                f"cannot reach the Kubernetes API server at {self.host} to {what}: {type(exc).__name__}: {exc}; "
                f"check the cluster is up and your network/VPN, or {credentials_hint(self.ref)}"
            ) from None
        data = response.data
        return json.loads(data) if data else {}

    def _explain(self, what: str, exc: Any) -> UserError:
        try:
            message = json.loads(exc.body or "{}").get("message") or exc.reason
        except ValueError:
            message = exc.body or exc.reason
        where = f"namespace '{self.namespace}' on {self.host}"
        if exc.status == 401:
            return UserError(f"the Kubernetes API refused your credentials (401) to {what}: {message}; "
                             f"{credentials_hint(self.ref)}")  # fmt: skip
        if exc.status == 403:
            return UserError(
                f"forbidden by RBAC to {what} in {where}: {message}. Grant your identity that verb on that "
                f"resource (a Role in '{self.namespace}' bound to you), or use a context that has it"
            )
        if exc.status == 404:
            return UserError(f"not found while trying to {what} in {where}: {message}; run `pulumi up` for the stack")
        if exc.status == 409:
            return UserError(f"conflict while trying to {what} in {where}: {message}; someone else changed it, retry")
        return UserError(f"the Kubernetes API answered {exc.status} to {what} in {where}: {message}")

    # --- Deployments, scale, pods -------------------------------------------------------------------

    def get_deployment(self, name: str) -> dict[str, Any] | None:
        return self._call(
            f"read Deployment '{name}'", self.apps.read_namespaced_deployment, name, self.namespace, missing_ok=True
        )

    def patch_deployment(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Strategic merge: containers and env entries merge by name, the rest of the manifest stays."""
        return self._call(
            f"patch Deployment '{name}'", self.apps.patch_namespaced_deployment, name, self.namespace, body,
            field_manager=FIELD_MANAGER, _content_type=STRATEGIC,
        )  # fmt: skip

    def scale_deployment(self, name: str, replicas: int) -> None:
        self._call(
            f"scale Deployment '{name}' (deployments/scale)", self.apps.patch_namespaced_deployment_scale,
            name, self.namespace, {"spec": {"replicas": replicas}}, field_manager=FIELD_MANAGER, _content_type=MERGE,
        )  # fmt: skip

    def list_pods(self, selector: dict[str, str]) -> list[dict[str, Any]]:
        label_selector = ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
        answer = self._call(
            f"list pods ({label_selector})", self.core.list_namespaced_pod, self.namespace,
            label_selector=label_selector,
        )  # fmt: skip
        return list(answer.get("items") or [])

    def namespace_exists(self) -> bool | None:
        """True/False when the namespace can be read; None when RBAC does not allow reading namespaces."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.read_namespace(self.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            return False if exc.status == 404 else None
        return True

    # --- HorizontalPodAutoscalers -------------------------------------------------------------------

    def get_hpa(self, name: str) -> dict[str, Any] | None:
        return self._call(
            f"read HorizontalPodAutoscaler '{name}'",
            self.autoscaling.read_namespaced_horizontal_pod_autoscaler, name, self.namespace, missing_ok=True,
        )  # fmt: skip

    def create_hpa(self, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        self._call(
            f"create HorizontalPodAutoscaler '{name}'",
            self.autoscaling.create_namespaced_horizontal_pod_autoscaler, self.namespace, body,
            field_manager=FIELD_MANAGER,
        )  # fmt: skip

    def patch_hpa(self, name: str, body: dict[str, Any]) -> None:
        self._call(
            f"patch HorizontalPodAutoscaler '{name}'",
            self.autoscaling.patch_namespaced_horizontal_pod_autoscaler, name, self.namespace, body,
            field_manager=FIELD_MANAGER, _content_type=MERGE,
        )  # fmt: skip

    def delete_hpa(self, name: str) -> bool:
        """Delete an HPA; False when it was not there (deleting is idempotent)."""
        answer = self._call(
            f"delete HorizontalPodAutoscaler '{name}'",
            self.autoscaling.delete_namespaced_horizontal_pod_autoscaler, name, self.namespace, missing_ok=True,
        )  # fmt: skip
        return answer is not None

    # --- the HTTPRoute ------------------------------------------------------------------------------

    def get_route(self, name: str) -> dict[str, Any] | None:
        return self._call(
            f"read HTTPRoute '{name}'", self.custom.get_namespaced_custom_object,
            GATEWAY_GROUP, GATEWAY_VERSION, self.namespace, ROUTES, name, missing_ok=True,
        )  # fmt: skip

    def patch_route(self, name: str, body: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """JSON merge patch: lists are replaced whole, so ``body`` carries the full ``rules`` list.

        ``dry_run`` asks the API server to validate, default and prune the patched object and answer it
        without storing anything (``dryRun=All``): how a preflight learns what the CRD would keep.
        """
        extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        return self._call(
            f"{'dry-run ' if dry_run else ''}patch HTTPRoute '{name}'", self.custom.patch_namespaced_custom_object,
            GATEWAY_GROUP, GATEWAY_VERSION, self.namespace, ROUTES, name, body,
            field_manager=FIELD_MANAGER, _content_type=MERGE, **extra,
        )  # fmt: skip
