"""Blob versioning and the lifecycle management policy: how long artifacts stay, and where.

Why a component of its own: retention is a cost decision per prefix (hot -> cool -> archive ->
delete) and belongs in config; the policy is rebuilt from `ArtifactSettings` so a reviewer reads
the tiers in the YAML, not in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import storage

from infra.common import child_options
from infra.config import ArtifactSettings, MonitoringSettings
from ml.contract.monitoring import AZURE_CAPTURE_PREFIX

CONTAINER = "mlops"


@dataclass(frozen=True)
class ArtifactStoreArgs:
    resource_group_name: pulumi.Input[str]
    account_name: pulumi.Input[str]
    settings: ArtifactSettings
    protect: bool
    monitoring: MonitoringSettings | None = None
    collector_container: pulumi.Input[str] | None = None
    """The workspace's default blob container, where Azure ML's data collector writes (its own expiry rule)."""


def _after(days: int | None) -> dict[str, float] | None:
    return None if days is None else {"days_after_modification_greater_than": float(days)}


def lifecycle_rules(settings: ArtifactSettings, container: str = CONTAINER) -> list[dict[str, Any]]:
    """The management-policy rules for the artifact container, one per configured prefix."""
    rules: list[dict[str, Any]] = []
    for tier in settings.tiers:
        base_blob = {
            key: value
            for key, value in (
                ("tier_to_cool", _after(tier.cool_after_days)),
                ("tier_to_archive", _after(tier.archive_after_days)),
                ("delete", _after(tier.delete_after_days)),
            )
            if value is not None
        }
        rules.append(_rule(f"tier-{tier.prefix.strip('/').replace('/', '-')}", container, tier.prefix, base_blob))
    rules.append(
        _rule(
            "expire-temp",
            container,
            settings.temp_prefix,
            {"delete": _after(settings.temp_expire_days)},
        )
    )
    cleanup_days = float(settings.noncurrent_version_expire_days)
    rules.append(
        {
            "name": "clean-old-versions-and-snapshots",
            "enabled": True,
            "type": "Lifecycle",
            "definition": {
                "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{container}/"]},
                "actions": {
                    "version": {"delete": {"days_after_creation_greater_than": cleanup_days}},
                    "snapshot": {"delete": {"days_after_creation_greater_than": cleanup_days}},
                },
            },
        }
    )
    return rules


def capture_rules(
    monitoring: MonitoringSettings, container: str = CONTAINER, collector_container: pulumi.Input[str] | None = None
) -> list[dict[str, Any]]:
    """Captured requests expire after ``retentionDays``: the capture prefix, and Azure ML's collector path.

    Why rules of their own: captures hold users' inputs, so how long they stay is a privacy decision
    (``mlops:monitoring.retentionDays``), not the artifact tiers' cost decision.
    """
    if not monitoring.enabled:
        return []
    delete = {"delete": _after(monitoring.retention_days)}
    rules = [_rule("expire-capture", container, monitoring.capture_prefix, delete)]
    if collector_container is not None:
        rules.append(
            {
                **_rule("expire-capture-collector", "", "", delete),
                "definition": {
                    "filters": {
                        "blob_types": ["blockBlob", "appendBlob"],
                        "prefix_match": [pulumi.Output.concat(collector_container, "/", AZURE_CAPTURE_PREFIX)],
                    },
                    "actions": {"base_blob": delete},
                },
            }
        )
    return rules


def _rule(name: str, container: str, prefix: str, base_blob: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "enabled": True,
        "type": "Lifecycle",
        "definition": {
            "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{container}/{prefix}"]},
            "actions": {"base_blob": base_blob},
        },
    }


class ArtifactStore(pulumi.ComponentResource):
    """The `mlops` container with versioning, soft delete and a lifecycle policy from config."""

    container_name: pulumi.Output[str]
    uri: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:azure:ArtifactStore", name, None, opts)
        settings = args.settings
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=args.account_name,
            resource_group_name=args.resource_group_name,
            blob_services_name="default",
            is_versioning_enabled=settings.versioning,
            delete_retention_policy={"enabled": True, "days": 7},
            container_delete_retention_policy={"enabled": True, "days": 7},
            opts=child_options(self),
        )
        container = storage.BlobContainer(
            f"{name}-container",
            account_name=args.account_name,
            resource_group_name=args.resource_group_name,
            container_name=CONTAINER,
            public_access="None",
            opts=child_options(self, protect=args.protect, depends_on=[blob_service]),
        )
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            account_name=args.account_name,
            resource_group_name=args.resource_group_name,
            management_policy_name="default",
            policy={
                "rules": lifecycle_rules(settings)
                + (capture_rules(args.monitoring, CONTAINER, args.collector_container) if args.monitoring else [])
            },
            opts=child_options(self, depends_on=[container]),
        )
        self.container_name = container.name
        self.uri = pulumi.Output.concat("https://", args.account_name, ".blob.core.windows.net/", container.name)
        self.register_outputs({"container_name": self.container_name, "uri": self.uri})
