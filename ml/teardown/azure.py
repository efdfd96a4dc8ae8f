"""Azure: the colours and autoscale settings rollouts created, running sweep jobs; after a destroy, soft-deleted names.

Plain ARM requests with the stack's credential (`ml.azure.ArmClient`), so the ARM fake answers them:

- before `pulumi destroy` (from the stack's outputs): the endpoint's deployments tagged
  ``managed-by: ml deploy`` (what `ml deploy` creates; the stack's bootstrap deployment is tagged by
  the stack) and their ``{endpoint}-{deployment}-autoscale`` settings, plus autoscale settings of
  this endpoint whose deployment is gone; the workspace's jobs tagged ``ml.stack: <stack>`` that are
  still queued or running (cancelled, not deleted: their runs stay in MLflow). Azure refuses to
  delete a deployment that takes traffic, so the endpoint's traffic is cleared first;
- after it (`--check`, from the stack file's names): a soft-deleted key vault, a workspace still
  there (live or soft-deleted), the storage account -- each blocks a redeploy under the same name.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ml.azure import ArmClient, AzureConnection, azure_errors, default_connection, workspace_of, workspace_path
from ml.contract import AzureWorkspaceRef, PlatformOutputs
from ml.deploy.targets.azure_monitor import AUTOSCALE_API_VERSION, autoscale_setting_name
from ml.plan.needs import AzureNeeds
from ml.teardown.leftovers import Leftover

ML_API = "2024-04-01"
KEYVAULT_API = "2023-07-01"
STORAGE_API = "2023-05-01"
MANAGED_BY, BY_ML = "managed-by", "ml deploy"
TAG_STACK = "ml.stack"
ACTIVE_JOB = {"NotStarted", "Queued", "Preparing", "Provisioning", "Starting", "Running", "Finalizing"}


class _Arm:
    def __init__(self, connection: AzureConnection | None, ref: AzureWorkspaceRef) -> None:
        self.client = ArmClient(connection or default_connection())
        self.ref = ref

    def call(
        self, method: str, path: str, api: str, body: dict[str, Any] | None = None, *, missing_ok: bool = False
    ) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        with azure_errors(f"{method} {path.rsplit('/', 1)[-1]}", self.ref):
            try:
                return self.client.request(method, path, api_version=api, body=body)
            except ResourceNotFoundError:
                if missing_ok:
                    return None
                raise


def created_by_ml(outputs: PlatformOutputs, connection: AzureConnection | None = None) -> list[Leftover]:
    """Running sweep jobs of this stack, then the rollouts' deployments and autoscale settings."""
    ref = workspace_of(outputs, needed_for="ml teardown")
    arm = _Arm(connection, ref)
    ws = workspace_path(ref)
    group = f"/subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
    items: list[Leftover] = []
    for job in (arm.call("GET", f"{ws}/jobs", ML_API) or {}).get("value", []):
        properties = job.get("properties") or {}
        status = str(properties.get("status"))
        if (properties.get("tags") or {}).get(TAG_STACK) == outputs.stack and status in ACTIVE_JOB:
            path = f"{ws}/jobs/{job['name']}"
            items.append(
                Leftover(
                    "azure",
                    "sweep job",
                    job["name"],
                    f"status {status}: cancelled",
                    partial(arm.call, "POST", f"{path}/cancel", ML_API),
                )
            )
    if outputs.endpoint is None:
        return items
    endpoint = outputs.endpoint.name
    endpoint_path = f"{ws}/onlineEndpoints/{endpoint}"
    deployments = (arm.call("GET", f"{endpoint_path}/deployments", ML_API, missing_ok=True) or {}).get("value", [])
    names = {d["name"] for d in deployments}
    ours = [d["name"] for d in deployments if (d.get("tags") or {}).get(MANAGED_BY) == BY_ML]
    traffic = ((arm.call("GET", endpoint_path, ML_API, missing_ok=True) or {}).get("properties") or {}).get(
        "traffic"
    ) or {}

    def clear_traffic() -> None:
        if any(traffic.get(name) for name in ours):
            arm.call("PATCH", endpoint_path, ML_API, {"properties": {"traffic": {}, "mirrorTraffic": {}}})

    for name in ours:
        detail = f"traffic {traffic.get(name, 0)}%" + (" (endpoint traffic cleared first)" if traffic.get(name) else "")

        def delete(name: str = name) -> None:
            clear_traffic()
            arm.call("DELETE", f"{endpoint_path}/deployments/{name}", ML_API, missing_ok=True)

        items.append(Leftover("azure", "online deployment", f"{endpoint}/{name}", detail, delete))
    settings = (
        arm.call(
            "GET", f"{group}/providers/Microsoft.Insights/autoscalesettings", AUTOSCALE_API_VERSION, missing_ok=True
        )
        or {}
    ).get("value", [])
    for setting in settings:
        setting_name = str(setting.get("name"))
        deployment = next((d for d in [*ours, *names] if autoscale_setting_name(endpoint, d) == setting_name), None)
        orphan = setting_name.startswith(f"{endpoint}-") and setting_name.endswith("-autoscale") and deployment is None
        if deployment in ours or orphan:
            path = f"{group}/providers/Microsoft.Insights/autoscalesettings/{setting_name}"
            items.append(
                Leftover(
                    "azure",
                    "autoscale setting",
                    setting_name,
                    "of a rollout's colour" if not orphan else "its deployment is gone",
                    partial(arm.call, "DELETE", path, AUTOSCALE_API_VERSION, missing_ok=True),
                )
            )
    return items


def left_after_destroy(needs: AzureNeeds, connection: AzureConnection | None = None) -> list[Leftover]:
    """What still holds the stack's names after `pulumi destroy` (nothing is deleted here)."""
    assert needs.subscription_id, "ml teardown --check needs the subscription (see ml preflight)"
    ref = AzureWorkspaceRef(
        subscription_id=needs.subscription_id, resource_group=needs.resource_group, workspace_name=needs.workspace
    )
    arm = _Arm(connection, ref)
    subscription = f"/subscriptions/{needs.subscription_id}"
    group = f"{subscription}/resourceGroups/{needs.resource_group}/providers"
    items: list[Leftover] = []
    vault = arm.call(
        "GET",
        f"{subscription}/providers/Microsoft.KeyVault/locations/{needs.location}/deletedVaults/{needs.key_vault}",
        KEYVAULT_API,
        missing_ok=True,
    )
    if vault is not None:
        purge = f"{(vault.get('properties') or {}).get('scheduledPurgeDate', '?')}"
        items.append(
            Leftover(
                "azure",
                "soft-deleted key vault",
                needs.key_vault,
                f"purged by Azure on {purge}",
                fix=f"az keyvault purge --name {needs.key_vault} --location {needs.location}",
            )
        )
    workspace_path_ = f"{group}/Microsoft.MachineLearningServices/workspaces/{needs.workspace}"
    workspace = arm.call("GET", workspace_path_, ML_API, missing_ok=True)
    if workspace is not None:
        properties = workspace.get("properties") or {}
        soft = properties.get("softDeletedAt") or str(properties.get("provisioningState")).lower() == "softdeleted"
        items.append(
            Leftover(
                "azure",
                "soft-deleted workspace" if soft else "workspace",
                needs.workspace,
                "holds the name until purged" if soft else "still exists",
                fix=f"az rest --method delete --url 'https://management.azure.com{workspace_path_}?api-version={ML_API}"
                f"&forceToPurge=true'",
            )
        )
    account = arm.call(
        "GET", f"{group}/Microsoft.Storage/storageAccounts/{needs.storage_account}", STORAGE_API, missing_ok=True
    )
    if account is not None:
        items.append(
            Leftover(
                "azure",
                "storage account",
                needs.storage_account,
                "still exists",
                fix=f"az storage account delete -n {needs.storage_account} -g {needs.resource_group}",
            )
        )
    return items
