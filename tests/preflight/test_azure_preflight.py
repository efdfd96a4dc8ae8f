"""Azure pre-flight through real ARM requests to the HTTPS ARM fake: quotas, sizes, names, soft-deleted resources."""

from __future__ import annotations

import pytest

from ml.contract.errors import UserError
from ml.plan.needs import AzureNeeds, StackNeeds, VmNeed
from ml.preflight.azure import check_azure
from ml.preflight.checks import blockers
from ml.preflight.run import blocker_message, run_checks
from tests.fakes import azure_client
from tests.fakes.arm import FakeArm
from tests.fakes.arm_capacity import (
    requests_to,
    seed_deleted_vault,
    seed_soft_deleted_workspace,
    seed_usage,
    seed_vm_size,
    taken_names,
)
from tests.fakes.azure_client import connection_for

fake_arm = azure_client.fake_arm  # pytest fixtures used by this module
fake_arm_env = azure_client.fake_arm_env

T4, T4_FAMILY = "Standard_NC4as_T4_v3", "standardNCASv3_T4Family"
DS3, DS3_FAMILY = "Standard_DS3_v2", "standardDSv2Family"


def needs_for(arm: FakeArm, *, prefix: str = "mlopsdev", pool: bool = False) -> AzureNeeds:
    vms = [
        VmNeed("training cluster", T4, 2, True),
        VmNeed("endpoint (2 colours)", DS3, 4, False),
    ]
    if pool:
        vms.append(VmNeed("AKS pool gpuspot", T4, 2, True, "compute"))
    return AzureNeeds(
        subscription_id=arm.subscription_id,
        location=arm.location,
        resource_group=arm.resource_group,
        storage_account=f"{prefix}st",
        key_vault=f"kv-{prefix}",
        workspace=f"mlw-{prefix}",
        vms=vms,
    )


def seed_region(
    arm: FakeArm,
    *,
    low_priority_limit: int = 100,
    ds3_limit: int = 64,
    ds3_used: int = 0,
    taken: frozenset[str] = frozenset(),
) -> None:
    seed_vm_size(arm, T4, family=T4_FAMILY, vcpus=4, gpus=1)
    seed_vm_size(arm, DS3, family=DS3_FAMILY, vcpus=4)
    seed_usage(arm, "ml", "totalLowPriorityCores", limit=low_priority_limit)
    seed_usage(arm, "ml", DS3_FAMILY, limit=ds3_limit, current=ds3_used)
    seed_usage(arm, "ml", T4_FAMILY, limit=0)
    seed_usage(arm, "compute", "lowPriorityCores", limit=100)
    taken_names(arm, set(taken))


def test_a_region_with_room_and_free_names_passes(fake_arm: FakeArm) -> None:
    seed_region(fake_arm)
    checks = check_azure(needs_for(fake_arm, pool=True), connection_for(fake_arm))

    assert not blockers(checks), [c for c in checks if c.status != "ok"]
    by_name = {c.check.split(":")[0]: c for c in checks}
    low = by_name["MachineLearningServices quota totalLowPriorityCores in westeurope"]
    assert (low.needed, low.available) == ("8 vCPUs", "100 vCPUs")  # 2 nodes x 4 vCPUs of T4, low priority
    dedicated = by_name[f"MachineLearningServices quota {DS3_FAMILY} in westeurope"]
    assert dedicated.needed == "16 vCPUs"  # 2 colours x 2 max instances x 4 vCPUs
    assert by_name["Compute quota lowPriorityCores in westeurope"].needed == "8 vCPUs"
    # the requests went where Azure takes them
    assert requests_to(fake_arm, r"/providers/Microsoft\.MachineLearningServices/locations/westeurope/usages$")
    assert requests_to(fake_arm, r"/providers/Microsoft\.Compute/locations/westeurope/usages$")
    posted = [r.body for r in fake_arm.find("POST", "checkNameAvailability")]
    assert {"name": "mlopsdevst", "type": "Microsoft.Storage/storageAccounts"} in posted
    assert {"name": "kv-mlopsdev", "type": "Microsoft.KeyVault/vaults"} in posted


def test_a_zero_low_priority_quota_is_a_blocker_naming_the_request_to_file(fake_arm: FakeArm) -> None:
    seed_region(fake_arm, low_priority_limit=0, ds3_limit=20, ds3_used=8)
    checks = check_azure(needs_for(fake_arm), connection_for(fake_arm))

    found = blockers(checks)
    assert [c.check.split(":")[0] for c in found] == [
        "MachineLearningServices quota totalLowPriorityCores in westeurope",
        f"MachineLearningServices quota {DS3_FAMILY} in westeurope",
    ]
    low, dedicated = found
    assert (low.needed, low.available) == ("8 vCPUs", "0 vCPUs")
    assert "az quota create --resource-name totalLowPriorityCores" in low.fix and "value=8" in low.fix
    assert (dedicated.needed, dedicated.available) == ("16 vCPUs", "12 vCPUs")  # 20 - 8 in use
    assert "value=24" in dedicated.fix  # 8 used + 16 needed


def test_a_dedicated_training_cluster_on_a_zero_family_quota_is_a_blocker(fake_arm: FakeArm) -> None:
    """Dedicated VMs draw on their family's quota (T4: 0 in this region), not on the low-priority total."""
    seed_region(fake_arm)
    needs = needs_for(fake_arm)
    needs.vms[0] = VmNeed("training cluster", T4, 2, False)
    [blocker] = blockers(check_azure(needs, connection_for(fake_arm)))

    assert blocker.check.startswith(f"MachineLearningServices quota {T4_FAMILY} in westeurope")
    assert (blocker.needed, blocker.available) == ("8 vCPUs", "0 vCPUs")
    assert f"az quota create --resource-name {T4_FAMILY}" in blocker.fix and "value=8" in blocker.fix


def test_a_size_the_region_does_not_offer_is_a_blocker(fake_arm: FakeArm) -> None:
    seed_region(fake_arm)
    needs = needs_for(fake_arm)
    needs.vms.append(VmNeed("cpu cluster", "Standard_ND96amsr_A100_v4", 1, True))
    checks = check_azure(needs, connection_for(fake_arm))

    [missing] = blockers(checks)
    assert missing.available == "not offered" and "az vm list-skus --location westeurope" in missing.fix


def test_soft_deleted_vault_and_workspace_and_a_taken_storage_name_are_blockers(fake_arm: FakeArm) -> None:
    seed_region(fake_arm, taken=frozenset({"mlopsdevst"}))
    seed_deleted_vault(fake_arm, "kv-mlopsdev")
    seed_soft_deleted_workspace(fake_arm, fake_arm.resource_group, "mlw-mlopsdev")
    checks = check_azure(needs_for(fake_arm), connection_for(fake_arm))

    fixes = {c.check: c.fix for c in blockers(checks)}
    assert "change mlops:namePrefix" in fixes["storage account name 'mlopsdevst' (global)"]
    assert fixes["key vault 'kv-mlopsdev' not soft-deleted"] == (
        "purge it: `az keyvault purge --name kv-mlopsdev --location westeurope`"
    )
    assert "forceToPurge=true" in fixes["workspace 'mlw-mlopsdev' not soft-deleted"]
    assert requests_to(fake_arm, r"/Microsoft\.KeyVault/locations/westeurope/deletedVaults/kv-mlopsdev$")


def test_names_the_stack_already_owns_pass(fake_arm: FakeArm) -> None:
    """A provisioned stack re-checked (before `ml deploy`): its own live workspace and storage are not collisions."""
    seed_region(fake_arm, taken=frozenset({"teststorage"}))
    fake_arm.put(
        f"/subscriptions/{fake_arm.subscription_id}/resourceGroups/{fake_arm.resource_group}"
        f"/providers/Microsoft.Storage/storageAccounts/teststorage",
        {"location": fake_arm.location},
    )
    needs = needs_for(fake_arm)
    needs = AzureNeeds(**{**needs.__dict__, "storage_account": "teststorage", "workspace": fake_arm.workspace_name})
    checks = check_azure(needs, connection_for(fake_arm))

    assert not blockers(checks)
    rows = {c.check: c.available for c in checks}
    assert rows["storage account name 'teststorage' (global)"] == f"ours (in {fake_arm.resource_group})"
    assert rows[f"workspace '{fake_arm.workspace_name}' not soft-deleted"] == "live (this stack's)"


def test_the_runner_words_every_blocker_once(fake_arm: FakeArm) -> None:
    seed_region(fake_arm, low_priority_limit=0)
    checks = run_checks(
        StackNeeds("dev", "azure", "dev", azure=needs_for(fake_arm)), azure_connection=connection_for(fake_arm)
    )
    message = blocker_message("dev", checks)
    assert message.startswith("pre-flight of stack 'dev' found 1 blocker(s):")
    assert "needed 8 vCPUs, available 0 vCPUs" in message


def test_no_subscription_is_one_user_error(fake_arm: FakeArm) -> None:
    needs = AzureNeeds(**{**needs_for(fake_arm).__dict__, "subscription_id": None})
    with pytest.raises(UserError, match="AZURE_SUBSCRIPTION_ID"):
        check_azure(needs, connection_for(fake_arm))
