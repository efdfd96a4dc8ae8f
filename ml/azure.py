"""Reaching a stack's Azure ML workspace: its coordinates, one credential, an `MLClient`, raw ARM calls, errors.

Why shared: the Azure sweep backend and the Azure rollout target talk to the same workspace
(``outputs.azure``) with the same credential, and must turn the same user-fixable failures (no
``azure`` section, no credential, a missing resource) into the same one-line `UserError`s. What
azure-ai-ml does not cover (Azure Monitor metrics, autoscale settings) goes through `ArmClient`,
which sends plain ARM requests with the *same* credential and TLS settings, so a test that points
an `AzureConnection` at a local ARM fake reaches everything through one door.

The Azure SDKs are imported lazily: the CLI imports this module on commands that never reach Azure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ml.cloud_waits import cloud_waits
from ml.contract import AzureWorkspaceRef, PlatformOutputs
from ml.contract.errors import UserError

PUBLIC_RESOURCE_MANAGER = "https://management.azure.com/"
CREDENTIAL_HELP = (
    "Sign in with `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, "
    "or run where a managed identity is available"
)


@dataclass(frozen=True)
class AzureConnection:
    """How to reach Azure: a token credential plus the cloud's endpoints and TLS settings.

    The defaults are the public cloud. ``cloud``/``cloud_metadata`` are azure-ai-ml's names for a
    non-public cloud (``MLClient(cloud=..., cloud_metadata=...)``); ``resource_manager`` must be the
    same cloud's ARM URL, used by `ArmClient`.
    """

    credential: Any
    """An azure-core ``TokenCredential`` (production: ``DefaultAzureCredential``)."""
    resource_manager: str = PUBLIC_RESOURCE_MANAGER
    cloud: str | None = None
    cloud_metadata: dict[str, str] | None = None
    connection_verify: str | bool | None = None
    """A CA bundle path (or False) for TLS verification; None = the system's trust store."""
    polling_interval: float | None = None
    """Seconds between long-running-operation polls; None = the SDK's default."""
    enable_telemetry: bool = True

    def transport_kwargs(self) -> dict[str, Any]:
        """The per-request keywords azure-core transports take (TLS verification, `ml.cloud_waits` timeouts)."""
        waits = cloud_waits()
        kwargs: dict[str, Any] = {"connection_timeout": waits.connect, "read_timeout": waits.read}
        if self.connection_verify is not None:
            kwargs["connection_verify"] = self.connection_verify
        return kwargs


def default_connection() -> AzureConnection:
    """The production connection: `DefaultAzureCredential` on the public cloud."""
    from azure.identity import DefaultAzureCredential

    return AzureConnection(DefaultAzureCredential())


def workspace_of(outputs: PlatformOutputs, *, needed_for: str) -> AzureWorkspaceRef:
    """``outputs.azure``, or a `UserError` saying the stack is not an Azure ML stack (``needed_for`` names who asks)."""
    if outputs.azure is None:
        raise UserError(
            f"stack '{outputs.stack}' (cloud '{outputs.cloud}') exports no 'azure' section (subscription, resource "
            f"group, workspace); {needed_for} needs an Azure ML stack: run `pulumi up` on an Azure stack "
            f"and pass its outputs"
        )
    return outputs.azure


def workspace_path(workspace: AzureWorkspaceRef) -> str:
    """The workspace's ARM resource id."""
    return (
        f"/subscriptions/{workspace.subscription_id}/resourceGroups/{workspace.resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace.workspace_name}"
    )


def ml_client(workspace: AzureWorkspaceRef, connection: AzureConnection) -> Any:
    """An `azure.ai.ml.MLClient` for ``workspace`` over ``connection`` (no network call until first use)."""
    from azure.ai.ml import MLClient

    options: dict[str, Any] = {"show_progress": False, "enable_telemetry": connection.enable_telemetry}
    if connection.cloud is not None:
        options["cloud"] = connection.cloud
    if connection.cloud_metadata is not None:
        options["cloud_metadata"] = dict(connection.cloud_metadata)
    if connection.polling_interval is not None:
        options["polling_interval"] = connection.polling_interval
    options.update(connection.transport_kwargs())
    options.update(cloud_waits().azure_kwargs())  # every operation's pipeline: timeouts, retries, longest pause
    return MLClient(
        connection.credential,
        subscription_id=workspace.subscription_id,
        resource_group_name=workspace.resource_group,
        workspace_name=workspace.workspace_name,
        **options,
    )


class ArmClient:
    """JSON requests to Azure Resource Manager with a connection's credential, for what azure-ai-ml lacks.

    Errors are raised as azure-core's own exceptions (`ResourceNotFoundError` for 404,
    `ClientAuthenticationError` for 401/403, `HttpResponseError` otherwise, ARM error format
    parsed), so `azure_errors` words them like the SDK's.
    """

    def __init__(self, connection: AzureConnection) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import (
            BearerTokenCredentialPolicy,
            HeadersPolicy,
            RetryPolicy,
            UserAgentPolicy,
        )

        self.connection = connection
        base = connection.resource_manager.rstrip("/")
        self._client: Any = PipelineClient(
            base_url=base,
            policies=[
                HeadersPolicy({"Accept": "application/json"}),
                UserAgentPolicy("mlops-ml"),
                RetryPolicy(**_retry_kwargs()),
                BearerTokenCredentialPolicy(connection.credential, f"{base}/.default"),
            ],
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        api_version: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """Send ``method path?api-version=...`` and return the parsed JSON answer (None when empty)."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
        )
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.exceptions import ARMErrorFormat

        query = {"api-version": api_version, **(params or {})}
        request = HttpRequest(method, self._client.format_url(path), params=query, json=body)
        response = self._client.send_request(request, **self.connection.transport_kwargs())
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response, error_format=ARMErrorFormat)
        if response.status_code in (401, 403):
            raise ClientAuthenticationError(response=response, error_format=ARMErrorFormat)
        if response.status_code >= 400:
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        return response.json() if response.content else None

    def close(self) -> None:
        self._client.close()


@contextmanager
def azure_errors(
    what: str,
    workspace: AzureWorkspaceRef,
    *,
    not_found: str | None = None,
    error: type[UserError] = UserError,
) -> Iterator[None]:
    """Turn credential and service errors into one-line errors that say what to do.

    A missing credential is always a `UserError`; a missing resource (with ``not_found`` as the
    message, when given) and any other service answer raise ``error`` -- a rollout target passes
    `ml.deploy.target.DeploymentError` so the engine rolls back.
    """
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    where = f"workspace '{workspace.workspace_name}' (resource group '{workspace.resource_group}')"
    try:
        yield
    except ResourceNotFoundError as exc:
        if not_found is None:
            raise error(f"cannot {what} in {where}: {service_message(exc)}") from None
        raise error(not_found) from None
    except ClientAuthenticationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot {what}: no usable Azure credential ({first}). {CREDENTIAL_HELP}") from None
    except HttpResponseError as exc:
        code = getattr(getattr(exc, "error", None), "code", None) or exc.status_code
        raise error(f"cannot {what} in {where}: Azure answered {code}: {service_message(exc)}") from None
    except (ServiceRequestError, ServiceResponseError) as exc:  # refused, timed out: the bounded wait ran out
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot {what}: Azure did not answer ({first}); {cloud_waits().statement()}") from None


def _retry_kwargs() -> dict[str, Any]:
    """`RetryPolicy` keywords of `ml.cloud_waits` (tries after the first, longest pause)."""
    waits = cloud_waits().azure_kwargs()
    return {"retry_total": waits["retry_total"], "retry_backoff_max": waits["retry_backoff_max"]}


def service_message(exc: Exception) -> str:
    """The service's own message in an azure-core error (its ARM ``error.message``), first line only."""
    message = getattr(getattr(exc, "error", None), "message", None) or getattr(exc, "message", None) or str(exc)
    text = str(message).strip()
    return text.splitlines()[0] if text else type(exc).__name__
