"""The platform's guardrails as pure rules, shared by the Pulumi policy pack and `ml plan --policy`.

One module per policy family; `registry.GUARDRAILS` lists them all, `registry.evaluate` runs them
over a stack's resources, and `pack.build_policies` wraps them for pulumi-policy. See docs/policy.md.
"""

from infra.guardrails.config import PolicyConfigError, load_policy_config, parse_policy_config
from infra.guardrails.core import Finding, Guardrail, Level, Resource, Scope, Violation
from infra.guardrails.registry import GUARDRAILS, evaluate, guardrail

__all__ = [
    "GUARDRAILS",
    "Finding",
    "Guardrail",
    "Level",
    "PolicyConfigError",
    "Resource",
    "Scope",
    "Violation",
    "evaluate",
    "guardrail",
    "load_policy_config",
    "parse_policy_config",
]
