"""Required tags on every Azure and AWS resource that takes tags.

Why mandatory: tags are how cost is allocated (`cost-center`), how drift is traced
(`managed-by`), and how the production policies know a stack is production (`environment`);
a missing tag silently turns those off. Why a list of types that take *no* tags rather than of
those that do: a new resource type is checked by default (fail closed); if it really takes no
tags, add it to `UNTAGGED_TYPES` (reviewed in the PR) instead of the policy missing it. Reading the
provider SDKs to find out costs ~20 s of imports, too slow for a preview hook.
Kubernetes objects carry labels, not tags, and are out of scope (their cost is the node pool's).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.guardrails.core import Guardrail, Level, Resource, Scope, tags_of

DEFAULT_REQUIRED_TAGS = ("environment", "cost-center", "managed-by")
TAGGED_PROVIDERS = ("azure-native:", "aws:")

UNTAGGED_TYPES = frozenset(
    {
        # Azure: child and extension resources without a `tags` property.
        "azure-native:consumption:Budget",
        "azure-native:storage:BlobContainer",
        "azure-native:storage:BlobServiceProperties",
        "azure-native:storage:ManagementPolicy",
        "azure-native:authorization:RoleAssignment",
        "azure-native:network:Subnet",
        "azure-native:network:PrivateDnsZoneGroup",
        # AWS: resources attached to a tagged parent (bucket, role, key, scalable target).
        "aws:appautoscaling/policy:Policy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/alias:Alias",
        "aws:s3/bucketAcl:BucketAcl",
        "aws:s3/bucketAclV2:BucketAclV2",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:sns/topicSubscription:TopicSubscription",
    }
)

CONFIG_SCHEMA: dict[str, Any] = {
    "requiredTags": {
        "type": "array",
        "items": {"type": "string"},
        "default": list(DEFAULT_REQUIRED_TAGS),
        "description": "Tag keys every taggable resource must carry, with a non-empty value.",
    }
}


def takes_tags(resource_type: str) -> bool:
    """Azure and AWS resources take tags unless listed in `UNTAGGED_TYPES`; providers never do."""
    return resource_type.startswith(TAGGED_PROVIDERS) and resource_type not in UNTAGGED_TYPES


def _check(resource: Resource, required: tuple[str, ...]) -> Iterator[str]:
    if not takes_tags(resource.type):
        return
    tags = tags_of(resource)
    missing = [key for key in required if not str(tags.get(key) or "").strip()]
    if missing:
        yield f"missing tag(s) {', '.join(missing)}"


def required_tags(resource: Resource, config: Mapping[str, Any]) -> list[str]:
    """Messages for a taggable resource without every required tag."""
    required = tuple(config.get("requiredTags") or DEFAULT_REQUIRED_TAGS)
    return list(_check(resource, required))


GUARDRAIL = Guardrail(
    name="required-tags",
    description=f"Every Azure/AWS resource that takes tags carries {', '.join(DEFAULT_REQUIRED_TAGS)}.",
    level=Level.mandatory,
    why_level=(
        "Mandatory: cost allocation and the production policies read these tags; a missing `environment` tag "
        "would silently exempt a prod stack from prod-protect-stateful and prod-no-public-network."
    ),
    remediation=(
        "Pass the component's `tags` (infra.common) to the resource; if its type takes no tags, add it to "
        "UNTAGGED_TYPES in infra/guardrails/tags.py."
    ),
    scope=Scope.resource,
    resource_rule=required_tags,
    config_properties=CONFIG_SCHEMA,
)
