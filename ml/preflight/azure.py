"""Azure pre-flight: vCPU quota per VM family, the sizes a region offers, and names that will collide.

Every call is a plain ARM request through `ml.azure.ArmClient` (the stack's credential, the same
TLS settings as every other Azure call of `ml`), so tests answer them from the ARM fake:

- ``GET .../providers/Microsoft.MachineLearningServices/locations/{loc}/vmSizes``: is each size
  offered in the region, its family, vCPUs and whether it can run low-priority;
- ``GET .../Microsoft.MachineLearningServices/locations/{loc}/usages``: Azure ML's quota (training
  clusters and managed online endpoints): dedicated vCPUs per family, low-priority vCPUs per region;
- ``GET .../Microsoft.Compute/locations/{loc}/usages``: the VM quota an AKS node pool draws on
  (dedicated per family, spot as the region's low-priority vCPUs);
- ``POST .../Microsoft.Storage/checkNameAvailability`` and ``.../Microsoft.KeyVault/checkNameAvailability``:
  globally unique names, where a taken name that is not in the stack's resource group is a blocker;
- ``GET .../Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}``: a soft-deleted vault blocks
  a vault of the same name until it is purged;
- ``GET`` the workspace in the stack's resource group: a soft-deleted workspace (``softDeletedAt``
  set, or provisioning state ``SoftDeleted``) blocks its name until it is purged.

Needed vCPUs are summed per quota line (two needs on one family draw on one limit), and a quota is
compared with what is free: ``limit - currentValue``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml.azure import ArmClient, AzureConnection, azure_errors, default_connection
from ml.contract import AzureWorkspaceRef
from ml.contract.errors import UserError
from ml.plan.needs import AzureNeeds, VmNeed
from ml.preflight.checks import Check, quota_check

ML_API = "2024-04-01"
COMPUTE_API = "2024-07-01"
STORAGE_API = "2023-05-01"
KEYVAULT_API = "2023-07-01"
ML_LOW_PRIORITY = "totalLowPriorityCores"
COMPUTE_LOW_PRIORITY = "lowPriorityCores"
PROVIDER = {"ml": "Microsoft.MachineLearningServices", "compute": "Microsoft.Compute"}


@dataclass
class _Line:
    """One quota line (provider + usage name) and the needs that draw on it."""

    source: str
    name: str
    vcpus: int = 0
    purposes: tuple[str, ...] = ()


def check_azure(needs: AzureNeeds, connection: AzureConnection | None = None) -> list[Check]:
    """Every Azure check for one stack, in table order: sizes, quotas, names."""
    if not needs.subscription_id:
        raise UserError(
            "ml preflight needs the Azure subscription the stack deploys to: set AZURE_SUBSCRIPTION_ID, "
            "`azure-native:subscriptionId` in the stack file, or pass --subscription"
        )
    arm = ArmClient(connection or default_connection())
    ref = AzureWorkspaceRef(
        subscription_id=needs.subscription_id, resource_group=needs.resource_group, workspace_name=needs.workspace
    )
    try:
        return _Checker(arm, needs, ref).run()
    finally:
        arm.close()


class _Checker:
    def __init__(self, arm: ArmClient, needs: AzureNeeds, ref: AzureWorkspaceRef) -> None:
        self.arm, self.needs, self.ref = arm, needs, ref
        self.subscription = f"/subscriptions/{needs.subscription_id}"
        self.location = needs.location

    def _get(self, what: str, path: str, api: str, *, missing_ok: bool = False, **params: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        with azure_errors(what, self.ref):
            try:
                return self.arm.request("GET", path, api_version=api, params=params or None)
            except ResourceNotFoundError:
                if missing_ok:
                    return None
                raise

    def _post(self, what: str, path: str, api: str, body: dict[str, Any]) -> Any:
        with azure_errors(what, self.ref):
            return self.arm.request("POST", path, api_version=api, body=body)

    def run(self) -> list[Check]:
        checks: list[Check] = []
        sizes = self._vm_sizes()
        lines: dict[tuple[str, str], _Line] = {}
        for need in self.needs.vms:
            size = sizes.get(need.vm_size.lower())
            offered = size is not None and (not need.low_priority or bool(size.get("lowPriorityCapable", True)))
            checks.append(self._size_check(need, size, offered))
            if size is None or not offered:
                continue
            family = str(size.get("family") or "")
            name = family
            if need.low_priority:
                name = ML_LOW_PRIORITY if need.quota_source == "ml" else COMPUTE_LOW_PRIORITY
            line = lines.setdefault((need.quota_source, name.lower()), _Line(need.quota_source, name))
            line.vcpus += need.nodes * int(size.get("vCPUs") or 0)
            line.purposes = (*line.purposes, f"{need.purpose} {need.nodes} x {need.vm_size}")
        usages = {source: self._usages(source) for source in {key[0] for key in lines}}
        checks.extend(self._quota_check(line, usages[line.source]) for line in lines.values())
        checks.extend(self._name_checks())
        return checks

    # --- sizes and quotas -------------------------------------------------------------------------------

    def _vm_sizes(self) -> dict[str, dict[str, Any]]:
        path = f"{self.subscription}/providers/{PROVIDER['ml']}/locations/{self.location}/vmSizes"
        answer = self._get(f"list the VM sizes of {self.location}", path, ML_API) or {}
        return {str(s.get("name", "")).lower(): s for s in answer.get("value", [])}

    def _size_check(self, need: VmNeed, size: dict[str, Any] | None, offered: bool) -> Check:
        kind = "low-priority" if need.low_priority else "dedicated"
        label = f"{need.vm_size} offered in {self.location} ({need.purpose}, {kind})"
        if offered:
            return Check("azure", label, "offered", "offered", "ok")
        available = "not offered" if size is None else "no low-priority"
        fix = (
            f"{need.vm_size} is not offered {'as low-priority ' if size is not None else ''}in {self.location}: "
            f"pick a size `az vm list-skus --location {self.location} --resource-type virtualMachines` lists "
            f"(or a region that has it) and set it in the stack file"
        )
        return Check("azure", label, "offered", available, "blocker", fix)

    def _usages(self, source: str) -> dict[str, dict[str, Any]]:
        path = f"{self.subscription}/providers/{PROVIDER[source]}/locations/{self.location}/usages"
        answer = (
            self._get(
                f"read the {PROVIDER[source]} quota of {self.location}", path, ML_API if source == "ml" else COMPUTE_API
            )
            or {}
        )
        return {str((u.get("name") or {}).get("value", "")).lower(): u for u in answer.get("value", [])}

    def _quota_check(self, line: _Line, usages: dict[str, dict[str, Any]]) -> Check:
        usage = usages.get(line.name.lower())
        label = f"{PROVIDER[line.source].split('.')[-1]} quota {line.name} in {self.location}: " + ", ".join(
            line.purposes
        )
        available = None
        if usage is not None:
            available = float(usage.get("limit") or 0) - float(usage.get("currentValue") or 0)
        used = float(usage.get("currentValue") or 0) if usage is not None else 0.0
        low = line.name in (ML_LOW_PRIORITY, COMPUTE_LOW_PRIORITY)
        scope = f"{self.subscription}/providers/{PROVIDER[line.source]}/locations/{self.location}"
        fix = (
            f"file a quota request for {line.name} in {self.location} to at least {used + line.vcpus:g} vCPUs: "
            f"`az quota create --resource-name {line.name} --scope {scope} --limit-object value={used + line.vcpus:g}"
            f"{' --resource-type lowPriority' if low and line.source == 'compute' else ''}` (or the portal's "
            f"Quotas page), or lower maxNodes / maxInstances in the stack file"
        )
        if usage is None:
            fix = f"{PROVIDER[line.source]} reports no quota line '{line.name}' in {self.location}"
        return quota_check("azure", label, needed=line.vcpus, available=available, unit="vCPUs", fix=fix)

    # --- names ------------------------------------------------------------------------------------------

    def _in_group(self, provider: str, name: str, api: str) -> bool:
        path = f"{self.subscription}/resourceGroups/{self.needs.resource_group}/providers/{provider}/{name}"
        return self._get(f"read {name}", path, api, missing_ok=True) is not None

    def _global_name(self, what: str, provider: str, kind: str, name: str, api: str) -> Check:
        answer = (
            self._post(
                f"check the {what} name '{name}'",
                f"{self.subscription}/providers/{provider}/checkNameAvailability",
                api,
                {"name": name, "type": f"{provider}/{kind}"},
            )
            or {}
        )
        label = f"{what} name '{name}' (global)"
        if answer.get("nameAvailable"):
            return Check("azure", label, "free or ours", "free", "ok")
        if self._in_group(provider, f"{kind}/{name}", api):
            return Check("azure", label, "free or ours", f"ours (in {self.needs.resource_group})", "ok")
        reason = answer.get("message") or answer.get("reason") or "taken"
        return Check(
            "azure",
            label,
            "free or ours",
            "taken",
            "blocker",
            f"{reason}; the name is global: change mlops:namePrefix in the stack file",
        )

    def _deleted_vault(self) -> Check:
        name = self.needs.key_vault
        path = f"{self.subscription}/providers/Microsoft.KeyVault/locations/{self.location}/deletedVaults/{name}"
        found = self._get(f"look for a soft-deleted key vault '{name}'", path, KEYVAULT_API, missing_ok=True)
        label = f"key vault '{name}' not soft-deleted"
        if found is None:
            return Check("azure", label, "no deleted vault", "none", "ok")
        properties = found.get("properties") or {}
        purge_date = properties.get("scheduledPurgeDate", "its scheduled purge date")
        if properties.get("purgeProtectionEnabled"):
            fix = (
                f"a soft-deleted vault '{name}' with purge protection holds the name until {purge_date}: recover it "
                f"with `az keyvault recover --name {name} --location {self.location}` or change mlops:namePrefix"
            )
        else:
            fix = f"purge it: `az keyvault purge --name {name} --location {self.location}`"
        return Check("azure", label, "no deleted vault", f"soft-deleted (purge {purge_date})", "blocker", fix)

    def _deleted_workspace(self) -> Check:
        name = self.needs.workspace
        path = (
            f"{self.subscription}/resourceGroups/{self.needs.resource_group}/providers/{PROVIDER['ml']}"
            f"/workspaces/{name}"
        )
        found = self._get(f"read workspace '{name}'", path, ML_API, missing_ok=True)
        label = f"workspace '{name}' not soft-deleted"
        if found is None:
            return Check("azure", label, "no deleted workspace", "none", "ok")
        properties = found.get("properties") or {}
        if properties.get("softDeletedAt") or str(properties.get("provisioningState")).lower() == "softdeleted":
            fix = (
                f"purge the soft-deleted workspace: `az rest --method delete --url "
                f"'https://management.azure.com{path}?api-version={ML_API}&forceToPurge=true'`"
            )
            return Check("azure", label, "no deleted workspace", "soft-deleted", "blocker", fix)
        return Check("azure", label, "no deleted workspace", "live (this stack's)", "ok")

    def _name_checks(self) -> list[Check]:
        """Storage name, then the vault (a soft-deleted one first: it also makes the name look taken), the workspace."""
        storage = self._global_name(
            "storage account", "Microsoft.Storage", "storageAccounts", self.needs.storage_account, STORAGE_API
        )
        deleted_vault = self._deleted_vault()
        checks = [storage, deleted_vault]
        if deleted_vault.status == "ok":
            checks.append(
                self._global_name("key vault", "Microsoft.KeyVault", "vaults", self.needs.key_vault, KEYVAULT_API)
            )
        checks.append(self._deleted_workspace())
        return checks
