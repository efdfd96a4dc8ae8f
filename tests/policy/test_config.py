"""Loosening through policy config: levels, `all`, exemptions and policy keys, as `evaluate` applies them."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.guardrails import Level, PolicyConfigError, evaluate, load_policy_config, parse_policy_config
from tests.policy.resources import aml_compute, azure_budget, changed, storage_account

WARM_GPU = [aml_compute(min_nodes=1.0), azure_budget()]


def _levels(config: dict[str, object]) -> dict[str, Level]:
    return {v.policy: v.level for v in evaluate(WARM_GPU, parse_policy_config(config))}


def test_defaults_report_the_warm_gpu_cluster_as_mandatory() -> None:
    assert _levels({}) == {"gpu-training-scale-to-zero": Level.mandatory}


def test_a_policy_can_be_made_advisory_or_disabled() -> None:
    assert _levels({"gpu-training-scale-to-zero": "advisory"}) == {"gpu-training-scale-to-zero": Level.advisory}
    assert _levels({"gpu-training-scale-to-zero": {"enforcementLevel": "disabled"}}) == {}
    assert _levels({"all": "advisory"}) == {"gpu-training-scale-to-zero": Level.advisory}
    assert _levels({"all": "advisory", "gpu-training-scale-to-zero": "mandatory"}) == {
        "gpu-training-scale-to-zero": Level.mandatory
    }


def test_a_named_resource_can_be_exempted() -> None:
    assert _levels({"gpu-training-scale-to-zero": {"exemptResources": ["training-gpu"]}}) == {}
    assert _levels({"gpu-training-scale-to-zero": {"exemptResources": ["other"]}}) != {}


def test_required_tags_are_configurable() -> None:
    untagged_owner = [changed(storage_account(), "tags.owner", None), azure_budget()]
    assert evaluate(untagged_owner) == []
    found = evaluate(untagged_owner, parse_policy_config({"required-tags": {"requiredTags": ["owner"]}}))
    assert [(v.policy, v.message) for v in found] == [("required-tags", "missing tag(s) owner")]


def test_bad_config_names_the_file_key_and_allowed_levels(tmp_path: Path) -> None:
    path = tmp_path / "policy-config.json"
    path.write_text('{"required-tags": "optional"}')
    with pytest.raises(PolicyConfigError, match=r"policy-config.json: required-tags.*'optional'.*mandatory, advisory"):
        load_policy_config(path)
    path.write_text("{not json")
    with pytest.raises(PolicyConfigError, match="not valid JSON at line 1"):
        load_policy_config(path)
