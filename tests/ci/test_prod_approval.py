"""Prod is approved twice and both say so: the GitHub environment holds the deploy job, and the
stack setting `mlops:deploy.requireApproval` makes `ml deploy` refuse an unapproved model version."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_prod_job_waits_for_the_environment_and_names_the_model_approval() -> None:
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    workflow = yaml.safe_load(text)
    assert workflow["jobs"]["prod"]["environment"] == "prod"
    assert "mlops:deploy.requireApproval" in text and "ml model approve NAME VERSION --stack prod" in text


def test_prod_stacks_require_approval_and_dev_stacks_do_not() -> None:
    for stack, required in (("prod", True), ("prod-aws", True), ("dev", None), ("dev-aws", None)):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert (config.get("mlops:deploy") or {}).get("requireApproval") is required, stack
