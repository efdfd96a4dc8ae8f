"""The shapes every guardrail shares: a resource as a policy sees it, a rule, a violation.

Why plain data: the same rules run inside the Pulumi policy pack (`policy/`, during
`pulumi preview`/`up`) and offline in `ml plan --policy` (over the mock-engine plan). Both can
produce a type token, the provider's camelCase properties and the `protect` flag, so a rule is a
pure function of those and never imports a cloud SDK or the Pulumi engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ml.contract.props import get, items, number

__all__ = [
    "Finding",
    "Guardrail",
    "Level",
    "Resource",
    "ResourceRule",
    "Scope",
    "StackRule",
    "Violation",
    "get",
    "items",
    "number",
    "of_type",
    "tags_of",
]


class Level(StrEnum):
    """What a violation does: `mandatory` fails the preview/update and `ml plan --policy`; `advisory` warns."""

    mandatory = "mandatory"
    advisory = "advisory"
    disabled = "disabled"


class Scope(StrEnum):
    """`resource` rules run before each resource is created; `stack` rules see every resource at once."""

    resource = "resource"
    stack = "stack"


@dataclass(frozen=True)
class Resource:
    """One resource: its type token, logical name, properties (camelCase wire names) and `protect`."""

    type: str
    name: str
    props: Mapping[str, Any]
    protect: bool = False
    urn: str = ""


@dataclass(frozen=True)
class Finding:
    """What a rule reports: the offending resource (None: the stack as a whole) and what is wrong."""

    message: str
    resource: Resource | None = None


ResourceRule = Callable[[Resource, Mapping[str, Any]], Iterable[str]]
"""A per-resource rule: (resource, policy config) -> messages; no message means compliant."""

StackRule = Callable[[Sequence[Resource], Mapping[str, Any]], Iterable[Finding]]
"""A whole-stack rule: (every resource, policy config) -> findings."""


@dataclass(frozen=True)
class Guardrail:
    """One policy: a name, its default level and why, how to fix a violation, and its rule."""

    name: str
    description: str
    level: Level
    why_level: str
    remediation: str
    scope: Scope
    resource_rule: ResourceRule | None = None
    stack_rule: StackRule | None = None
    config_properties: Mapping[str, Any] = field(default_factory=dict)
    """JSON-schema properties this policy reads from its config, besides `exemptResources`."""

    def findings(self, resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
        """Run the rule over a stack's resources (a resource rule runs once per resource)."""
        if self.resource_rule is not None:
            return [Finding(m, r) for r in resources for m in self.resource_rule(r, config)]
        if self.stack_rule is not None:
            return list(self.stack_rule(resources, config))
        raise TypeError(f"guardrail {self.name} has no rule")


@dataclass(frozen=True)
class Violation:
    """A finding with its policy, effective level and remediation: what `ml plan --policy` prints."""

    policy: str
    level: Level
    message: str
    remediation: str
    resource_type: str = ""
    resource_name: str = ""
    urn: str = ""


def tags_of(resource: Resource) -> Mapping[str, Any]:
    """The resource's tags (Azure and AWS both call them `tags`), or an empty mapping."""
    tags = get(resource.props, "tags")
    return tags if isinstance(tags, Mapping) else {}


def of_type(resources: Iterable[Resource], *types: str) -> list[Resource]:
    return [r for r in resources if r.type in types]
