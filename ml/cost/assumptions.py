"""The volumes a cost estimate assumes: data stored, logs ingested, vault operations, endpoint traffic.

Why assumptions at all: storage, log ingestion and key vault operations bill per unit used, and an
offline plan knows what is declared, not how much data it will hold. Rather than a silent zero,
the estimate prices an explicit volume, prints it, and lets each stack set its own in its
`Pulumi.<stack>.yaml` under the `cost:` namespace (the Pulumi program ignores that namespace)::

    config:
      cost:storageGb: 500          # artifact store, GB-month
      cost:logIngestionGb: 20      # Log Analytics / App Insights, GB per month
      cost:keyVaultOperations: 200000
      cost:privateEndpointGb: 50   # through each private / interface endpoint, GB per month

Keys and values are validated here, with the key's name in the error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ml.contract.errors import UserError

HOURS_PER_MONTH = 730.0
"""The hours a month bills for an always-on resource (365 x 24 / 12), as both clouds' calculators use."""

NAMESPACE = "cost"


@dataclass(frozen=True)
class Assumptions:
    """Usage volumes per month that the plan cannot know; each is overridable per stack."""

    storage_gb: float = 100.0
    """Data in the artifact store (bucket or storage account), GB, priced at the hot / Standard tier."""
    log_ingestion_gb: float = 5.0
    """Log Analytics (and workspace-based App Insights) ingestion per month, GB."""
    key_vault_operations: float = 100_000.0
    """Key Vault operations per month."""
    private_endpoint_gb: float = 10.0
    """Data processed per private endpoint (Azure) or interface VPC endpoint (AWS) per month, GB."""

    def as_dict(self) -> dict[str, float]:
        """The assumptions by their config key (camelCase), for reports."""
        return {_camel(f.name): getattr(self, f.name) for f in fields(self)}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def assumptions_from_config(values: dict[str, Any], *, source: str = "stack config") -> Assumptions:
    """Assumptions from a stack's `cost:` keys (without the prefix); defaults for the keys not set."""
    by_key = {_camel(f.name): f.name for f in fields(Assumptions)}
    chosen: dict[str, float] = {}
    for key, value in values.items():
        if key not in by_key:
            raise UserError(f"{source}: unknown key '{NAMESPACE}:{key}'; allowed: {', '.join(sorted(by_key))}.")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UserError(f"{source}: {NAMESPACE}:{key} = {value!r}; expected a number >= 0.")
        chosen[by_key[key]] = float(value)
    return Assumptions(**chosen)
