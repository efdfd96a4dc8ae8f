"""TLS 1.2 or newer on every data path a client can reach.

Why here and in `s3-bucket-guards`: Azure storage enforces its minimum TLS version and HTTPS on
the account itself (checked per resource); S3 has no such switch, only a bucket policy that
denies insecure transport, which is a separate resource (checked at stack level).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.guardrails.core import Guardrail, Level, Resource, Scope

STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
ACCEPTED_AZURE_TLS = ("TLS1_2", "TLS1_3")


def _check(resource: Resource) -> Iterator[str]:
    if resource.type != STORAGE_ACCOUNT:
        return
    version = resource.props.get("minimumTlsVersion")
    if version not in ACCEPTED_AZURE_TLS:
        shown = "unset (older API versions default to TLS1_0)" if version is None else repr(version)
        yield f"minimumTlsVersion is {shown}; {' or '.join(ACCEPTED_AZURE_TLS)} is required"
    if resource.props.get("enableHttpsTrafficOnly") is False:
        yield "enableHttpsTrafficOnly is false: plain HTTP is accepted"


def tls_minimum(resource: Resource, config: Mapping[str, Any]) -> list[str]:
    """Messages for a storage account that accepts TLS < 1.2 or plain HTTP."""
    return list(_check(resource))


GUARDRAIL = Guardrail(
    name="tls-1-2-minimum",
    description="Storage accepts only HTTPS with TLS 1.2 or newer.",
    level=Level.mandatory,
    why_level="Mandatory: TLS 1.0/1.1 and plain HTTP expose credentials and data in transit; no client needs them.",
    remediation="Set minimumTlsVersion=TLS1_2 and enableHttpsTrafficOnly=true on the storage account.",
    scope=Scope.resource,
    resource_rule=tls_minimum,
)
