"""What a stack declares: the resources the Pulumi program registers, with their real inputs.

Why in the contract: the offline plan (`ml/plan`) produces these records by running the program
under Pulumi's mock engine, and the cost model (`ml/cost`) and the policy rules read them. One
plain type both sides import keeps the cost model free of the runner (no `ml/cost` -> `ml/plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlannedResource:
    """One registered resource with the inputs the provider would receive."""

    urn: str
    type: str
    name: str
    parent_urn: str
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    ignore_changes: tuple[str, ...] = ()


@dataclass
class OfflinePlan:
    """Everything a stack declares, in registration order, plus the exported contract."""

    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    secret_exports: frozenset[str] = frozenset()
    """Names of stack outputs Pulumi will store and print as secrets."""

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> PlannedResource:
        """The single resource of a type (and logical name): fails loudly when absent or ambiguous."""
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_token)]
            raise LookupError(f"expected one {type_token} named {name!r}, found {len(found)} among {names}")
        return found[0]

    @property
    def custom_resources(self) -> list[PlannedResource]:
        return [r for r in self.resources if r.custom]
