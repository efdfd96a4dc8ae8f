"""`mlops:deploy.requireApproval`: typed in the stack config, on in prod, exported in the contract.

The offline plan runs the real program under Pulumi's mocks, so the exported document is what
`pulumi up` would export; `ml deploy` reads it as `outputs.deploy.require_approval`.
"""

from __future__ import annotations

import pytest

from infra.config import ConfigError, load_settings
from ml.contract import PlatformOutputs
from tests.infra.helpers import plan_stack, stack_config, with_changes


@pytest.mark.parametrize(
    ("stack", "required"), [("dev", False), ("prod", True), ("dev-aws", False), ("prod-aws", True)]
)
def test_approval_is_required_in_prod_only(stack: str, required: bool) -> None:
    settings = load_settings(stack_config(stack).namespace("mlops"), source=stack)
    assert settings.deploy.require_approval is required


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_policy_is_exported_in_the_platform_outputs(stack: str) -> None:
    outputs = PlatformOutputs.model_validate(plan_stack(stack).outputs)
    assert outputs.deploy is not None and outputs.deploy.require_approval is (stack == "prod")


def test_a_misspelt_key_names_the_closest_one() -> None:
    config = with_changes(stack_config("prod"), {"deploy": {"requireApprovals": True}})
    with pytest.raises(ConfigError, match="requireApproval"):
        load_settings(config.namespace("mlops"), source="Pulumi.prod.yaml")


def test_outputs_exported_before_the_policy_existed_still_read() -> None:
    document = PlatformOutputs.model_validate(plan_stack("dev").outputs).model_dump(mode="json")
    document.pop("deploy")
    assert PlatformOutputs.model_validate(document).deploy is None
