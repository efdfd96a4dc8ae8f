"""Every S3 bucket comes with its guards: a full public access block, default encryption, and a
bucket policy that refuses plain HTTP and TLS below 1.2.

Why at stack level: in pulumi-aws 7 these are separate resources pointing at the bucket by name,
so only the whole stack shows whether a bucket has them. The per-resource policies check that
each guard, when present, is strong enough.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from infra.guardrails.core import Finding, Guardrail, Level, Resource, Scope, get, number, of_type
from infra.guardrails.public_access import PUBLIC_ACCESS_BLOCK, PUBLIC_ACCESS_BLOCK_FLAGS, policy_statements

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"


def _bucket_name(resource: Resource) -> Any:
    return resource.props.get("bucket")


def _denies_insecure_transport(policy: Any) -> bool:
    return any(
        s.get("Effect") == "Deny"
        and str(get(s, "Condition.Bool", {}).get("aws:SecureTransport", "")).lower() == "false"
        for s in policy_statements(policy)
    )


def _denies_old_tls(policy: Any) -> bool:
    for s in policy_statements(policy):
        version = number(get(s, "Condition.NumericLessThan", {}).get("s3:TlsVersion"))
        if s.get("Effect") == "Deny" and version is not None and version >= 1.2:
            return True
    return False


def _check(resources: Sequence[Resource]) -> Iterator[Finding]:
    def guards(token: str, name: Any) -> list[Resource]:
        return [g for g in of_type(resources, token) if _bucket_name(g) == name]

    for bucket in of_type(resources, BUCKET):
        name = _bucket_name(bucket) or bucket.name
        blocks = guards(PUBLIC_ACCESS_BLOCK, name)
        if not any(all(b.props.get(f) is True for f in PUBLIC_ACCESS_BLOCK_FLAGS) for b in blocks):
            yield Finding(f"bucket {name} has no BucketPublicAccessBlock with all four flags true", bucket)
        if not guards(BUCKET_ENCRYPTION, name):
            yield Finding(f"bucket {name} has no BucketServerSideEncryptionConfiguration", bucket)
        policies = [p.props.get("policy") for p in guards(BUCKET_POLICY, name)]
        if not any(_denies_insecure_transport(p) for p in policies):
            yield Finding(f"bucket {name} has no bucket policy denying aws:SecureTransport=false", bucket)
        if not any(_denies_old_tls(p) for p in policies):
            yield Finding(f"bucket {name} has no bucket policy denying s3:TlsVersion < 1.2", bucket)


def bucket_guards(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """Findings for every bucket missing one of its guard resources."""
    return list(_check(resources))


GUARDRAIL = Guardrail(
    name="s3-bucket-guards",
    description="Each S3 bucket has a full public access block, default encryption and a TLS 1.2+ bucket policy.",
    level=Level.mandatory,
    why_level="Mandatory: these are the AWS halves of the public-access, encryption and TLS guardrails.",
    remediation=(
        "Create the bucket through the ArtifactStore component (infra/aws/artifact_store.py), which adds "
        "BucketPublicAccessBlock, BucketServerSideEncryptionConfiguration and a BucketPolicy with "
        "DenyInsecureTransport and DenyTlsBelow12 statements."
    ),
    scope=Scope.stack,
    stack_rule=bucket_guards,
)
