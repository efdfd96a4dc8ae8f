"""The S3 artifact store: one private, versioned bucket encrypted with the stack's own KMS key.

Why these pieces: models, checkpoints, MLflow artifacts and audit records are the platform's
state. The bucket blocks every form of public access, disables ACLs, refuses plain HTTP and TLS
below 1.2, encrypts with a customer key whose rotation is on, and ages objects out by the tiers
in config (cool -> archive -> delete per prefix, temp files expire, old versions and abandoned
multipart uploads are cleaned), so a reviewer reads retention in the YAML, not in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_aws import kms, s3

from infra.aws.policies import bucket_policy, render
from infra.common import child_options
from infra.config import ArtifactSettings, AwsStorageClasses, MonitoringSettings


@dataclass(frozen=True)
class ArtifactStoreArgs:
    name_prefix: str
    region: str
    account_id: pulumi.Input[str]
    settings: ArtifactSettings
    storage_classes: AwsStorageClasses
    tags: dict[str, str]
    protect: bool
    monitoring: MonitoringSettings | None = None


def capture_rule(monitoring: MonitoringSettings) -> list[dict[str, Any]]:
    """Captured requests (SageMaker Data Capture, Kubernetes pods) expire after ``retentionDays``.

    Why a rule of its own: captures hold users' inputs, so how long they stay is a privacy decision
    (``mlops:monitoring.retentionDays``), not the artifact tiers' cost decision.
    """
    if not monitoring.enabled:
        return []
    return [
        {
            "id": "expire-capture",
            "status": "Enabled",
            "filter": {"prefix": monitoring.capture_prefix},
            "expiration": {"days": monitoring.retention_days},
        }
    ]


def _rule_id(prefix: str) -> str:
    return prefix.strip("/").replace("/", "-") or "root"


def lifecycle_rules(settings: ArtifactSettings, classes: AwsStorageClasses) -> list[dict[str, Any]]:
    """One rule per tier prefix, one for temp files, one bucket-wide cleanup rule."""
    rules: list[dict[str, Any]] = []
    for tier in settings.tiers:
        rule: dict[str, Any] = {
            "id": f"tier-{_rule_id(tier.prefix)}",
            "status": "Enabled",
            "filter": {"prefix": tier.prefix},
        }
        transitions = [
            {"days": days, "storage_class": storage_class}
            for days, storage_class in (
                (tier.cool_after_days, classes.cool),
                (tier.archive_after_days, classes.archive),
            )
            if days is not None
        ]
        if transitions:
            rule["transitions"] = transitions
        if tier.delete_after_days is not None:
            rule["expiration"] = {"days": tier.delete_after_days}
        rules.append(rule)
    rules.append(
        {
            "id": "expire-temp",
            "status": "Enabled",
            "filter": {"prefix": settings.temp_prefix},
            "expiration": {"days": settings.temp_expire_days},
        }
    )
    rules.append(
        {
            # An empty filter is the whole bucket.
            "id": "clean-old-versions-and-uploads",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": settings.noncurrent_version_expire_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": settings.abort_incomplete_multipart_days},
            # Once old versions are gone, their delete markers are clutter that still costs a LIST.
            "expiration": {"expired_object_delete_marker": True},
        }
    )
    return rules


class ArtifactStore(pulumi.ComponentResource):
    """KMS key (rotation on) and alias; the bucket: versioned, SSE-KMS, private, TLS-only, with lifecycle rules."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    uri: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:ArtifactStore", name, None, opts)
        settings, region, tags = args.settings, args.region, args.tags
        key = kms.Key(
            f"{name}-key",
            description=f"Artifacts of the {args.name_prefix} ML platform (S3, SageMaker volumes, Studio)",
            enable_key_rotation=True,
            # A protected (prod) key gets the longest window to cancel an accidental deletion.
            deletion_window_in_days=30 if args.protect else 7,
            region=region,
            tags=tags,
            opts=child_options(self, protect=args.protect),
        )
        kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{args.name_prefix}-artifacts",
            target_key_id=key.key_id,
            region=region,
            opts=child_options(self),
        )
        bucket = s3.Bucket(
            f"{name}-bucket",
            # Bucket names are global: the account id and region keep the stack's name unique.
            bucket=pulumi.Output.concat(args.name_prefix, "-artifacts-", args.account_id, "-", region),
            force_destroy=not args.protect,
            region=region,
            tags=tags,
            opts=child_options(self, protect=args.protect),
        )
        s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            region=region,
            opts=child_options(self),
        )
        public_access = s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            region=region,
            opts=child_options(self),
        )
        versioning = s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled" if settings.versioning else "Suspended"},
            region=region,
            opts=child_options(self),
        )
        s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": key.arn,
                    },
                    # S3 Bucket Keys cut KMS requests (and their cost) by orders of magnitude.
                    "bucket_key_enabled": True,
                }
            ],
            region=region,
            opts=child_options(self),
        )
        s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=render(bucket_policy(bucket.arn, key.arn)),
            region=region,
            opts=child_options(self, depends_on=[public_access]),
        )
        s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=lifecycle_rules(settings, args.storage_classes)
            + (capture_rule(args.monitoring) if args.monitoring else []),
            region=region,
            # Noncurrent-version rules need versioning configured first.
            opts=child_options(self, depends_on=[versioning]),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.key_arn = key.arn
        self.uri = pulumi.Output.concat("s3://", bucket.bucket)
        self.register_outputs(
            {"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn, "key_arn": self.key_arn, "uri": self.uri}
        )
