"""Encryption at rest: storage services stay encrypted, S3 default encryption uses KMS or SSE-S3,
KMS keys rotate, and EBS volumes are encrypted.

Why these switches: Azure storage is always encrypted, but an account can still disable a
service's encryption block on older API versions; on AWS, default encryption is a separate
resource whose algorithm can be weakened, and a key that never rotates widens the blast radius
of a leaked key. Buckets with no default-encryption resource at all are found by the
stack-level `s3-bucket-guards` policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.guardrails.core import Guardrail, Level, Resource, Scope, get, items

STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KMS_KEY = "aws:kms/key:Key"
EBS_VOLUME = "aws:ebs/volume:Volume"
ACCEPTED_SSE = ("aws:kms", "aws:kms:dsse", "AES256")


def _check(resource: Resource) -> Iterator[str]:
    props = resource.props
    if resource.type == STORAGE_ACCOUNT:
        services = get(props, "encryption.services", {})
        for service in ("blob", "file", "queue", "table"):
            if get(services, f"{service}.enabled") is False:
                yield f"encryption of the {service} service is disabled"
    elif resource.type == BUCKET_ENCRYPTION:
        algorithms = [
            get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm") for rule in items(props.get("rules"))
        ]
        if not algorithms:
            yield "no default-encryption rule"
        for algorithm in algorithms:
            if algorithm not in ACCEPTED_SSE:
                yield f"sseAlgorithm {algorithm!r} is not one of {', '.join(ACCEPTED_SSE)}"
    elif resource.type == KMS_KEY:
        symmetric = props.get("customerMasterKeySpec", props.get("keySpec", "SYMMETRIC_DEFAULT"))
        if symmetric in (None, "SYMMETRIC_DEFAULT") and props.get("enableKeyRotation") is not True:
            yield "enableKeyRotation is not true on a symmetric key"
    elif resource.type == EBS_VOLUME and props.get("encrypted") is not True:
        yield "encrypted is not true"


def encryption_at_rest(resource: Resource, config: Mapping[str, Any]) -> list[str]:
    """Messages for a storage service, bucket encryption rule, KMS key or volume that weakens encryption at rest."""
    return list(_check(resource))


GUARDRAIL = Guardrail(
    name="encryption-at-rest",
    description="Stored data is encrypted: storage services, S3 default encryption (KMS/SSE-S3), rotating KMS keys.",
    level=Level.mandatory,
    why_level="Mandatory: unencrypted data at rest fails every compliance baseline and cannot be fixed after the fact.",
    remediation=(
        "Keep encryption.services.*.enabled true (Azure); use sseAlgorithm aws:kms (or AES256) in the bucket's "
        "BucketServerSideEncryptionConfiguration, enableKeyRotation=true on KMS keys, encrypted=true on volumes."
    ),
    scope=Scope.resource,
    resource_rule=encryption_at_rest,
)
