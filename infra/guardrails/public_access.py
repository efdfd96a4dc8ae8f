"""No public blob or bucket access, on any cloud: nobody reads artifacts without an identity.

Why per resource: each switch sits on one resource, so the check runs before that resource is
created (a public container is never created, even for a minute). Buckets that lack a public
access block altogether are found by the stack-level `s3-bucket-guards` policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from infra.guardrails.core import Guardrail, Level, Resource, Scope, get, items

STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_CONTAINER = "azure-native:storage:BlobContainer"
REGISTRY = "azure-native:containerregistry:Registry"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
PUBLIC_ACCESS_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")


def policy_statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM/bucket policy given as a JSON string or an object."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    statements = get(document, "Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return [s for s in items(statements) if isinstance(s, Mapping)]


def _everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in [*items(principal.get("AWS")), principal.get("AWS")]


def _check(resource: Resource) -> Iterator[str]:
    props = resource.props
    if resource.type == STORAGE_ACCOUNT and props.get("allowBlobPublicAccess") is not False:
        yield "allowBlobPublicAccess is not false: containers of this account could be made public"
    elif resource.type == BLOB_CONTAINER and props.get("publicAccess") not in (None, "None"):
        yield f"publicAccess is {props.get('publicAccess')!r}: blobs are readable without credentials"
    elif resource.type == REGISTRY and props.get("anonymousPullEnabled") is True:
        yield "anonymousPullEnabled is true: model images can be pulled without credentials"
    elif resource.type == PUBLIC_ACCESS_BLOCK:
        off = [flag for flag in PUBLIC_ACCESS_BLOCK_FLAGS if props.get(flag) is not True]
        if off:
            yield f"public access block leaves {', '.join(off)} off"
    elif resource.type in BUCKET_ACLS:
        acl = props.get("acl")
        if acl in PUBLIC_CANNED_ACLS:
            yield f"canned ACL {acl!r} grants read access beyond the account"
    elif resource.type == BUCKET_POLICY:
        for statement in policy_statements(props.get("policy")):
            public = statement.get("Effect") == "Allow" and _everyone(statement.get("Principal"))
            if public and not statement.get("Condition"):
                yield f"statement {statement.get('Sid', '(no Sid)')!r} allows any principal without a condition"


def no_public_access(resource: Resource, config: Mapping[str, Any]) -> list[str]:
    """Messages for every public-access switch left open on a storage account, container, registry or bucket."""
    return list(_check(resource))


GUARDRAIL = Guardrail(
    name="no-public-blob-or-bucket-access",
    description="Storage accounts, blob containers, registries and S3 buckets never allow anonymous reads.",
    level=Level.mandatory,
    why_level="Mandatory: a public container or bucket leaks data the moment it exists and cannot be undone.",
    remediation=(
        "Set allowBlobPublicAccess=false / publicAccess=None (Azure), all four BucketPublicAccessBlock flags "
        "true and no unconditional Allow for Principal '*' (AWS); share data through identities or SAS/presigned URLs."
    ),
    scope=Scope.resource,
    resource_rule=no_public_access,
)
