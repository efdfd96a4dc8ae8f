"""The guardrails as pulumi-policy objects: what `policy/__main__.py` hands to `PolicyPack`.

Why here and not in `policy/`: constructing a `PolicyPack` starts its gRPC server and blocks, so
the policies are built in an importable module the tests can call (with real
`ResourceValidationArgs` / `StackValidationArgs`), and the pack's entry point stays three lines.
The wrappers only translate pulumi-policy's arguments into `Resource`s and report findings; the
rules themselves are the same functions `ml plan --policy` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.guardrails.config import EXEMPT_RESOURCES_SCHEMA, exempt_names
from infra.guardrails.core import Guardrail, Level, Resource, Scope
from infra.guardrails.registry import GUARDRAILS

PACK_NAME = "mlops-guardrails"

_LEVELS = {
    Level.mandatory: EnforcementLevel.MANDATORY,
    Level.advisory: EnforcementLevel.ADVISORY,
    Level.disabled: EnforcementLevel.DISABLED,
}


def enforcement_level(level: Level) -> EnforcementLevel:
    return _LEVELS[level]


def _message(rule: Guardrail, message: str) -> str:
    return f"{message}. Fix: {rule.remediation}"


def _schema(rule: Guardrail) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties={"exemptResources": EXEMPT_RESOURCES_SCHEMA, **rule.config_properties})


def _described(rule: Guardrail) -> dict[str, Any]:
    """What the resource and stack policies of a rule share: its name, level, config schema and fix."""
    return {
        "name": rule.name,
        "description": rule.description,
        "enforcement_level": enforcement_level(rule.level),
        "config_schema": _schema(rule),
        "remediation_steps": rule.remediation,
    }


def _resource_policy(rule: Guardrail) -> ResourceValidationPolicy:
    check = rule.resource_rule
    assert check is not None

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        if args.name in exempt_names(config):
            return
        resource = Resource(args.resource_type, args.name, args.props, bool(args.opts.protect), args.urn)
        for message in check(resource, config):
            report_violation(_message(rule, message), None)

    return ResourceValidationPolicy(validate=validate, **_described(rule))


def _stack_policy(rule: Guardrail) -> StackValidationPolicy:
    check = rule.stack_rule
    assert check is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        exempt = exempt_names(config)
        resources = [Resource(r.resource_type, r.name, r.props, bool(r.opts.protect), r.urn) for r in args.resources]
        for finding in check(resources, config):
            if finding.resource is not None and finding.resource.name in exempt:
                continue
            report_violation(_message(rule, finding.message), finding.resource.urn if finding.resource else None)

    return StackValidationPolicy(validate=validate, **_described(rule))


def build_policies(guardrails: Sequence[Guardrail] = GUARDRAILS) -> list[Policy]:
    """One pulumi-policy object per guardrail, with the guardrail's name, level and config schema."""
    return [_resource_policy(g) if g.scope is Scope.resource else _stack_policy(g) for g in guardrails]
