"""Which stacks count as production: read from the resources' `environment` tag, not the stack name.

Why the tag: the program tags every taggable resource with `environment` from
`mlops:environment` in Pulumi.<stack>.yaml (dev and prod differ only through their YAML), and
the `required-tags` policy is mandatory, so the tag is always there to read. Which environment
names are production is policy config (`productionEnvironments`, default `["prod"]`), so a
`prod-eu` or `staging-as-prod` stack is covered by config, never by a name check in code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.guardrails.core import Resource, tags_of

DEFAULT_PRODUCTION_ENVIRONMENTS = ("prod",)

PRODUCTION_SCHEMA: dict[str, Any] = {
    "productionEnvironments": {
        "type": "array",
        "items": {"type": "string"},
        "default": list(DEFAULT_PRODUCTION_ENVIRONMENTS),
        "description": "Values of the `environment` tag that make a stack production.",
    }
}


def stack_environments(resources: Sequence[Resource]) -> frozenset[str]:
    """Every `environment` tag value on the stack's resources."""
    return frozenset(str(tags_of(r)["environment"]) for r in resources if "environment" in tags_of(r))


def is_production(resources: Sequence[Resource], config: Mapping[str, Any]) -> bool:
    """True when any resource is tagged with a production environment (one prod resource is enough)."""
    production = set(config.get("productionEnvironments") or DEFAULT_PRODUCTION_ENVIRONMENTS)
    return bool(stack_environments(resources) & production)
