"""Azure teardown through real ARM requests to the HTTPS ARM fake: rollouts' colours, autoscale settings, sweep jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.contract import (
    AutoscaleProfile,
    PlatformOutputs,
)
from ml.deploy.audit import audit_path, read_records
from ml.plan.needs import AzureNeeds
from ml.teardown import azure
from ml.teardown.cli import delete_all
from tests.fakes import azure_client
from tests.fakes.arm import FakeArm
from tests.fakes.arm_capacity import seed_deleted_vault, seed_soft_deleted_workspace
from tests.fakes.azure_client import azure_outputs, connection_for

fake_arm = azure_client.fake_arm  # pytest fixtures used by this module
fake_arm_env = azure_client.fake_arm_env

ENDPOINT = "mlopsdev-endpoint"
AUTOSCALE = AutoscaleProfile(
    min_instances=1,
    max_instances=2,
    metric="cpu",
    target=70,
    scale_out_cooldown_seconds=300,
    scale_in_cooldown_seconds=600,
)


def outputs_for(arm: FakeArm) -> PlatformOutputs:
    return azure_outputs(arm, endpoint=ENDPOINT, autoscale=AUTOSCALE)


def autoscale_path(arm: FakeArm, name: str) -> str:
    return (
        f"/subscriptions/{arm.subscription_id}/resourceGroups/{arm.resource_group}"
        f"/providers/Microsoft.Insights/autoscalesettings/{name}"
    )


def seed_rolled_out_stack(arm: FakeArm) -> None:
    """The stack's bootstrap blue, a rollout's green (taking all traffic) with its autoscale, an orphan setting,
    a running sweep of this stack, a finished one and a running one of another stack."""
    arm.put(
        arm.ws("onlineEndpoints", ENDPOINT),
        {"location": arm.location, "properties": {"authMode": "Key", "traffic": {"green": 100}}},
    )
    arm.put(arm.ws("onlineEndpoints", ENDPOINT, "deployments", "blue"), {"tags": {"managed-by": "pulumi"}})
    arm.put(arm.ws("onlineEndpoints", ENDPOINT, "deployments", "green"), {"tags": {"managed-by": "ml deploy"}})
    for name in ("blue", "green", "red"):
        arm.put(autoscale_path(arm, f"{ENDPOINT}-{name}-autoscale"), {"location": arm.location})
    jobs = {"sweep-a": ("dev", "Running"), "sweep-b": ("dev", "Completed"), "sweep-c": ("prod", "Running")}
    for name, (stack, status) in jobs.items():
        arm.put(
            arm.ws("jobs", name), {"properties": {"jobType": "Sweep", "status": status, "tags": {"ml.stack": stack}}}
        )


def test_teardown_lists_then_deletes_only_what_ml_created_and_audits_it(
    fake_arm: FakeArm, fake_arm_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_arm_env.setenv("ML_PLATFORM_HOME", str(tmp_path))
    seed_rolled_out_stack(fake_arm)
    outputs = outputs_for(fake_arm)
    items = azure.created_by_ml(outputs, connection_for(fake_arm))

    assert [(i.kind, i.name) for i in items] == [
        ("sweep job", "sweep-a"),
        ("online deployment", f"{ENDPOINT}/green"),
        ("autoscale setting", f"{ENDPOINT}-green-autoscale"),
        ("autoscale setting", f"{ENDPOINT}-red-autoscale"),
    ]
    assert not fake_arm.find("DELETE") and not fake_arm.find("POST", "/cancel")  # listing deletes nothing

    records = delete_all(items, outputs)

    assert [r["outcome"] for r in records] == ["deleted"] * 4
    assert fake_arm.find("POST", r"/jobs/sweep-a/cancel$")
    assert fake_arm.resource(fake_arm.ws("onlineEndpoints", ENDPOINT, "deployments", "green")) is None
    assert fake_arm.resource(fake_arm.ws("onlineEndpoints", ENDPOINT, "deployments", "blue")) is not None
    assert fake_arm.resource(autoscale_path(fake_arm, f"{ENDPOINT}-blue-autoscale")) is not None
    assert fake_arm.resource(autoscale_path(fake_arm, f"{ENDPOINT}-green-autoscale")) is None
    # green took all traffic: the endpoint's traffic was cleared before the delete (Azure refuses otherwise)
    [patch] = fake_arm.find("PATCH", f"/onlineEndpoints/{ENDPOINT}$")
    assert patch.body["properties"]["traffic"] == {}
    logged = read_records(audit_path(outputs))
    assert [(r["what"], r["kind"], r["outcome"]) for r in logged][1] == (
        "teardown.delete",
        "online deployment",
        "deleted",
    )

    assert azure.created_by_ml(outputs, connection_for(fake_arm)) == []  # a second run finds nothing


def needs_for(arm: FakeArm) -> AzureNeeds:
    return AzureNeeds(
        subscription_id=arm.subscription_id,
        location=arm.location,
        resource_group=arm.resource_group,
        storage_account="mlopsdevst",
        key_vault="kv-mlopsdev",
        workspace="mlw-mlopsdev",
        vms=[],
    )


def test_check_after_destroy_lists_soft_deleted_names_with_the_purge_to_run(fake_arm: FakeArm) -> None:
    assert azure.left_after_destroy(needs_for(fake_arm), connection_for(fake_arm)) == []

    seed_deleted_vault(fake_arm, "kv-mlopsdev")
    seed_soft_deleted_workspace(fake_arm, fake_arm.resource_group, "mlw-mlopsdev")
    left = azure.left_after_destroy(needs_for(fake_arm), connection_for(fake_arm))

    assert [(i.kind, i.name) for i in left] == [
        ("soft-deleted key vault", "kv-mlopsdev"),
        ("soft-deleted workspace", "mlw-mlopsdev"),
    ]
    assert left[0].fix == "az keyvault purge --name kv-mlopsdev --location westeurope"
    assert "forceToPurge=true" in left[1].fix
