"""The Kubernetes provider for the stack's cluster, so serving lands on the cluster in config.

Why an explicit provider: the ambient kubeconfig's current context is whatever the operator last
used; serving must land on the cluster the stack names. Credentials come from the cloud
(AKS: `listClusterUserCredential` in exec format, which uses kubelogin on Entra ID clusters;
EKS: the cluster's endpoint and CA with `aws eks get-token`), or, when the config sets
`kubeconfigContext`, from that context of the operator's kubeconfig. The kubeconfig is a secret.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import KubernetesClusterRef


def _aks_kubeconfig(cluster: KubernetesClusterRef, parent: pulumi.Resource) -> pulumi.Output[str]:
    from pulumi_azure_native import containerservice

    credentials = containerservice.list_managed_cluster_user_credentials_output(
        resource_group_name=cluster.resource_group,
        resource_name=cluster.name,
        format="exec",
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )

    def first(kubeconfigs: list[Any] | None) -> str:
        if not kubeconfigs:
            raise ValueError(f"AKS cluster {cluster.name} returned no kubeconfig; check access to the cluster")
        return base64.b64decode(kubeconfigs[0].value).decode()

    return credentials.kubeconfigs.apply(first)


def eks_kubeconfig(cluster_name: str, region: str, endpoint: str | None, ca_data: str | None) -> str:
    """A kubeconfig that authenticates through `aws eks get-token` (no long-lived credential in it)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        }
    )


def _eks_kubeconfig(cluster: KubernetesClusterRef, region: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    from pulumi_aws import eks

    found = eks.get_cluster_output(name=cluster.name, region=region, opts=pulumi.InvokeOutputOptions(parent=parent))

    def ca_data(authorities: list[Any] | None) -> str | None:
        if not authorities:
            return None
        first = authorities[0]
        return first.get("data") if isinstance(first, dict) else first.data

    return pulumi.Output.all(found.endpoint, found.certificate_authorities).apply(
        lambda values: eks_kubeconfig(cluster.name, region, values[0], ca_data(values[1]))
    )


def cluster_provider(
    name: str, cloud: str, cluster: KubernetesClusterRef, region: str, parent: pulumi.Resource
) -> k8s.Provider:
    """A provider bound to the configured cluster (server-side apply, the pulumi-kubernetes default)."""
    options = pulumi.ResourceOptions(parent=parent)
    if cluster.kubeconfig_context is not None:
        return k8s.Provider(name, context=cluster.kubeconfig_context, enable_server_side_apply=True, opts=options)
    kubeconfig: pulumi.Output[Any] = (
        _aks_kubeconfig(cluster, parent) if cloud == "azure" else _eks_kubeconfig(cluster, region, parent)
    )
    return k8s.Provider(name, kubeconfig=pulumi.Output.secret(kubeconfig), enable_server_side_apply=True, opts=options)
