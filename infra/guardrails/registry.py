"""Every guardrail, in one list, and the evaluator `ml plan --policy` runs over an offline plan.

Why one list: the policy pack (`policy/__main__.py` via `infra.guardrails.pack`) and
`ml plan --policy` both iterate `GUARDRAILS`, so a rule added here runs in both places.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.guardrails import (
    autoscaling,
    bucket_guards,
    budget,
    capture,
    encryption,
    gpu_training,
    production,
    public_access,
    tags,
    tls,
)
from infra.guardrails.config import effective_level, exempt_names
from infra.guardrails.core import Guardrail, Level, Resource, Violation

GUARDRAILS: tuple[Guardrail, ...] = (
    public_access.GUARDRAIL,
    tls.GUARDRAIL,
    encryption.GUARDRAIL,
    bucket_guards.GUARDRAIL,
    gpu_training.SCALE_TO_ZERO,
    gpu_training.SPOT,
    budget.GUARDRAIL,
    autoscaling.HAS_MAXIMUM,
    autoscaling.ENDPOINTS_AUTOSCALE,
    tags.GUARDRAIL,
    production.PROTECT_STATEFUL,
    production.NO_PUBLIC_NETWORK,
    capture.CAPTURE,
)


def guardrail(name: str) -> Guardrail:
    """The guardrail called `name`; a KeyError lists the known names."""
    for candidate in GUARDRAILS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no guardrail {name!r}; known: {', '.join(g.name for g in GUARDRAILS)}")


def evaluate(resources: Sequence[Resource], config: Mapping[str, Mapping[str, Any]] | None = None) -> list[Violation]:
    """Run every guardrail over one stack's resources with the pack's config (levels, exemptions, keys)."""
    config = config or {}
    violations: list[Violation] = []
    for rule in GUARDRAILS:
        level = effective_level(rule.name, rule.level, config)
        if level is Level.disabled:
            continue
        policy_config = config.get(rule.name, {})
        exempt = exempt_names(policy_config)
        for finding in rule.findings(resources, policy_config):
            resource = finding.resource
            if resource is not None and resource.name in exempt:
                continue
            violations.append(
                Violation(
                    policy=rule.name,
                    level=level,
                    message=finding.message,
                    remediation=rule.remediation,
                    resource_type=resource.type if resource else "",
                    resource_name=resource.name if resource else "",
                    urn=resource.urn if resource else "",
                )
            )
    return violations
