"""The pulumi-policy wrappers: same rules, intended levels, driven through real pulumi_policy args.

The args objects are pulumi_policy's own `ResourceValidationArgs` / `StackValidationArgs`, with the
properties wrapped in `unknown_checking_proxy` exactly as the analyzer server does before calling
a policy, so the rules are exercised against the read-only Mapping/Sequence proxies they get in a
real `pulumi preview`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from infra.guardrails import GUARDRAILS, Resource, Scope
from infra.guardrails.pack import build_policies
from tests.policy.resources import PROD_TAGS, aml_compute, storage_account

INTENDED_LEVELS = {
    "no-public-blob-or-bucket-access": EnforcementLevel.MANDATORY,
    "tls-1-2-minimum": EnforcementLevel.MANDATORY,
    "encryption-at-rest": EnforcementLevel.MANDATORY,
    "s3-bucket-guards": EnforcementLevel.MANDATORY,
    "gpu-training-scale-to-zero": EnforcementLevel.MANDATORY,
    "gpu-training-spot": EnforcementLevel.ADVISORY,
    "budget-with-notifications": EnforcementLevel.MANDATORY,
    "autoscaler-has-maximum": EnforcementLevel.MANDATORY,
    "endpoints-autoscale": EnforcementLevel.MANDATORY,
    "required-tags": EnforcementLevel.MANDATORY,
    "prod-protect-stateful": EnforcementLevel.MANDATORY,
    "prod-no-public-network": EnforcementLevel.MANDATORY,
    "prod-captures-and-expires": EnforcementLevel.MANDATORY,
}
POLICIES = {p.name: p for p in build_policies()}


def _opts(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def validate_resource(name: str, resource: Resource, config: Mapping[str, Any] | None = None) -> list[str]:
    policy = POLICIES[name]
    assert isinstance(policy, ResourceValidationPolicy)
    reports: list[str] = []
    args = ResourceValidationArgs(
        resource.type,
        unknown_checking_proxy(dict(resource.props)),
        resource.urn,
        resource.name,
        _opts(resource.protect),
        None,
        dict(config or {}),
    )
    policy.validate(args, lambda message, urn=None: reports.append(message))
    return reports


def validate_stack(
    name: str, resources: Sequence[Resource], config: Mapping[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    policy = POLICIES[name]
    assert isinstance(policy, StackValidationPolicy)
    reports: list[tuple[str, str | None]] = []
    policy_resources = [
        PolicyResource(
            r.type, unknown_checking_proxy(dict(r.props)), r.urn, r.name, _opts(r.protect), None, None, [], {}
        )
        for r in resources
    ]
    policy.validate(
        StackValidationArgs(policy_resources, dict(config or {})), lambda m, urn=None: reports.append((m, urn))
    )
    return reports


def test_every_guardrail_is_wrapped_once_with_its_intended_level_and_scope() -> None:
    assert {name: p.enforcement_level for name, p in POLICIES.items()} == INTENDED_LEVELS
    for rule in GUARDRAILS:
        wrapper = POLICIES[rule.name]
        expected = ResourceValidationPolicy if rule.scope is Scope.resource else StackValidationPolicy
        assert isinstance(wrapper, expected), rule.name
        assert wrapper.description == rule.description
        assert wrapper.config_schema is not None and "exemptResources" in wrapper.config_schema.properties


def test_resource_policy_reports_the_rule_message_with_its_fix() -> None:
    warm = aml_compute(min_nodes=2.0)
    assert validate_resource("gpu-training-scale-to-zero", warm) == [
        "GPU cluster Standard_NC4as_T4_v3 keeps minNodeCount=2 nodes running when idle. Fix: "
        "Set mlops:trainingCluster.minNodes: 0 (and autoscaling on for node pools) in Pulumi.<stack>.yaml."
    ]
    assert validate_resource("gpu-training-scale-to-zero", aml_compute()) == []
    assert validate_resource("gpu-training-scale-to-zero", warm, {"exemptResources": ["training-gpu"]}) == []


def test_resource_policy_reads_nested_props_through_the_analyzer_proxy() -> None:
    public = storage_account(allowBlobPublicAccess=True, minimumTlsVersion="TLS1_1")
    assert len(validate_resource("no-public-blob-or-bucket-access", public)) == 1
    assert len(validate_resource("tls-1-2-minimum", public)) == 1
    [untagged] = validate_resource("required-tags", storage_account(tags={}))
    assert untagged.startswith("missing tag(s) environment, cost-center, managed-by. Fix:")


def test_stack_policy_uses_protect_from_options_and_reports_the_resource_urn() -> None:
    unprotected = storage_account(PROD_TAGS)
    reports = validate_stack("prod-protect-stateful", [unprotected])
    assert [urn for _, urn in reports] == [unprotected.urn]
    protected = Resource(unprotected.type, unprotected.name, unprotected.props, True, unprotected.urn)
    assert validate_stack("prod-protect-stateful", [protected]) == []
    assert validate_stack("prod-protect-stateful", [unprotected], {"exemptResources": [unprotected.name]}) == []


def test_stack_policy_reports_a_missing_budget_against_the_stack() -> None:
    assert validate_stack("budget-with-notifications", [storage_account()]) == [
        (
            "the stack creates cloud resources but declares no budget. Fix: Set mlops:budget (amount, thresholds, "
            "contactEmails) in Pulumi.<stack>.yaml; the Budget component does the rest.",
            None,
        )
    ]
