"""What the ARM fake answers for `ml preflight`: VM sizes, quotas, name availability, soft-deleted resources.

Additive: nothing in `tests.fakes.arm` changes. Sizes, usages, soft-deleted vaults and workspaces
are plain resources in the fake's generic store (a ``GET`` on the collection lists them as
``{"value": [...]}``, exactly as ARM answers these lists); ``checkNameAvailability`` is a ``POST``
action the store does not know, so `taken_names` installs a hook for it.

- `seed_vm_size(arm, "Standard_NC4as_T4_v3", family=..., vcpus=4)`: Azure ML's ``vmSizes`` entry;
- `seed_usage(arm, "ml" | "compute", name, limit=..., current=...)`: a ``usages`` line;
- `taken_names(arm, {"mlopsdevst"})`: the storage / key vault ``checkNameAvailability`` answers
  ``nameAvailable: false`` (``AlreadyExists``) for these names, true for any other;
- `seed_deleted_vault(arm, name)`, `seed_soft_deleted_workspace(arm, resource_group, name)`.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.arm import FakeArm, FakeResponse, RecordedRequest

PROVIDERS = {"ml": "Microsoft.MachineLearningServices", "compute": "Microsoft.Compute"}


def location_path(arm: FakeArm, provider: str, *parts: str) -> str:
    return "/".join([f"/subscriptions/{arm.subscription_id}/providers/{provider}/locations/{arm.location}", *parts])


def seed_vm_size(arm: FakeArm, name: str, *, family: str, vcpus: int, gpus: int = 0, low_priority: bool = True) -> None:
    arm.put(
        location_path(arm, PROVIDERS["ml"], "vmSizes", name),
        {"name": name, "family": family, "vCPUs": vcpus, "gpus": gpus, "lowPriorityCapable": low_priority},
    )


def seed_usage(arm: FakeArm, source: str, name: str, *, limit: int, current: int = 0) -> None:
    arm.put(
        location_path(arm, PROVIDERS[source], "usages", name),
        {"name": {"value": name, "localizedValue": name}, "unit": "Count", "limit": limit, "currentValue": current},
    )


def taken_names(arm: FakeArm, names: set[str]) -> None:
    def answer(request: RecordedRequest, _: FakeArm) -> FakeResponse:
        body: dict[str, Any] = request.body if isinstance(request.body, dict) else {}
        name = str(body.get("name", ""))
        if name in names:
            return FakeResponse(
                200,
                {"nameAvailable": False, "reason": "AlreadyExists", "message": f"The name '{name}' is already taken."},
            )
        return FakeResponse(200, {"nameAvailable": True})

    arm.on("POST", r"/providers/Microsoft\.(Storage|KeyVault)/checkNameAvailability$", answer)


def seed_deleted_vault(arm: FakeArm, name: str, *, purge_protection: bool = False) -> None:
    arm.put(
        location_path(arm, "Microsoft.KeyVault", "deletedVaults", name),
        {
            "properties": {
                "vaultId": f"/subscriptions/{arm.subscription_id}/vaults/{name}",
                "location": arm.location,
                "deletionDate": "2026-12-01T10:00:00Z",
                "scheduledPurgeDate": "2026-12-08T10:00:00Z",
                "purgeProtectionEnabled": purge_protection,
            }
        },
    )


def seed_soft_deleted_workspace(arm: FakeArm, resource_group: str, name: str) -> None:
    path = (
        f"/subscriptions/{arm.subscription_id}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{name}"
    )
    arm.put(path, {"location": arm.location, "properties": {"softDeletedAt": "2026-12-01T10:00:00Z"}})
    # the store fills provisioningState "Succeeded"; a soft-deleted workspace reports its own state
    arm.update(path, {"properties": {"provisioningState": "SoftDeleted"}})


def requests_to(arm: FakeArm, pattern: str) -> list[RecordedRequest]:
    regex = re.compile(pattern, re.IGNORECASE)
    return [r for r in arm.requests if regex.search(r.path)]
