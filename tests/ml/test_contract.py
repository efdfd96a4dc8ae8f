"""The platform outputs contract: a round trip through JSON, and errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.contract import SCHEMA_VERSION, ContractError, PlatformOutputs, parse_platform_outputs
from ml.contract.errors import UserError
from ml.stack import LOCAL_STACK, default_local_outputs, resolve_outputs
from tests.infra.helpers import plan_stack


@pytest.fixture(scope="module")
def dev_document() -> dict:
    return plan_stack("dev").outputs


def test_round_trip_through_pulumi_stack_output_json(dev_document: dict, tmp_path: Path) -> None:
    """What the program exports, written as `pulumi stack output --json` writes it, reads back equal."""
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"platform": dev_document}))
    outputs = resolve_outputs("dev", path)
    assert outputs == PlatformOutputs.model_validate(dev_document)
    assert outputs.model_dump(mode="json") == dev_document


def test_missing_field_is_named_with_schema_version(dev_document: dict) -> None:
    broken = json.loads(json.dumps(dev_document))
    del broken["training"]["name"]
    del broken["budget"]
    with pytest.raises(ContractError) as caught:
        parse_platform_outputs(broken, source="ci-outputs.json")
    message = str(caught.value)
    assert "ci-outputs.json (schema version 1)" in message
    assert "field 'training.name' is missing" in message
    assert "field 'budget' is missing" in message
    assert "pulumi up" in message


def test_other_schema_version_is_refused(dev_document: dict) -> None:
    future = {**dev_document, "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(ContractError, match=r"schema_version 2, this ml understands 1"):
        parse_platform_outputs(future, source="x.json")


def test_wrong_type_and_unknown_field(dev_document: dict) -> None:
    broken = {**dev_document, "cloud": "gcp", "surprise": 1}
    with pytest.raises(ContractError) as caught:
        parse_platform_outputs(broken, source="x.json")
    assert "field 'cloud'" in str(caught.value) and "'gcp'" in str(caught.value)
    assert "field 'surprise' is not part of the schema" in str(caught.value)


def test_outputs_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"does not exist.*pulumi stack output --json"):
        resolve_outputs("dev", tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ContractError, match=r"not valid JSON"):
        resolve_outputs("dev", bad)


def test_outputs_file_of_another_stack_is_refused(dev_document: dict, tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(dev_document))
    with pytest.raises(UserError, match=r"belongs to stack 'dev', not 'prod'"):
        resolve_outputs("prod", path)


def test_cloud_stack_without_pulumi_cli_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError) as caught:
        resolve_outputs("prod")
    assert "no Pulumi CLI on PATH" in str(caught.value)
    assert "--outputs FILE" in str(caught.value)


def test_local_stack_defaults_to_embedded_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path))
    outputs = resolve_outputs(LOCAL_STACK)
    assert outputs == default_local_outputs(tmp_path)
    assert outputs.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "outputs.json").write_text(
        json.dumps({**outputs.model_dump(mode="json"), "tracking_uri": "http://127.0.0.1:5999"})
    )
    assert resolve_outputs(LOCAL_STACK).tracking_uri == "http://127.0.0.1:5999"
