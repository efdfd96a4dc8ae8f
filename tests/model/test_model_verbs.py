"""`ml model list|show|compare|approve|card` against a real SQLite registry with real sklearn models.

The "demo-like" version is registered the way `ml sweep best` does it (sweep parent run with the
example spec, a trial run with a dataset input and a tensor signature), validated against a
champion, approved, and deployed (audit records), so its card must have every section filled.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.audit import AuditTrail, audit_path, read_records
from ml.model.approvals import require_approval
from ml.model.card import SECTIONS, build_card
from ml.model.cli import register
from ml.model.refs import parse_ref
from ml.model.render import TAG_CARD_URI, publish_card, to_html, to_markdown
from ml.validate.evaluate import validate
from ml.validate.record import tag_version
from ml.validate.spec import ValidationSpec
from tests.model.helpers import Split, register_from_sweep, register_plain


def _cli(*args: str) -> Any:
    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, ["model", *args], catch_exceptions=False, env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def demo(outputs: PlatformOutputs, data: Split, holdout: Path, good_model: Any, worse_model: Any) -> dict[str, str]:
    """champion = a worse plain version; challenger = the sweep's best, validated, approved, deployed."""
    import mlflow

    from ml.tracking import use_tracking

    client = use_tracking(outputs)
    mlflow.set_experiment(experiment_name="model-demo")
    name = f"breast-cancer-{uuid.uuid4().hex[:6]}"
    champion = register_plain(client, name, worse_model, data, alias="champion")
    challenger = register_from_sweep(client, outputs, name, good_model, data)
    spec = ValidationSpec.model_validate(
        {
            "data": str(holdout),
            "target": "target",
            "task": "classifier",
            "metrics": ["roc_auc", "accuracy_score"],
            "compare": {"against": "champion", "tolerance": 0.0},
            "slices": {"column": "radius_band", "metric": "accuracy_score", "max_gap": 0.1},
        }
    )
    result = validate(client, spec, name=name, version=challenger, artifact_root=outputs.artifacts.uri)
    assert result.passed, result.reasons
    tag_version(client, result)
    audit = AuditTrail(outputs, None)
    uri = f"models:/{name}/{challenger}"
    audit.record("create", rollout_id="r1", endpoint="local", outcome="info", message="deployment green", to=uri)
    audit.record("deploy.promoted", rollout_id="r1", endpoint="local", outcome="promoted", message="champion", to=uri)
    return {"name": name, "champion": champion, "challenger": challenger}


def test_list_show_compare_as_json_and_tables(client: Any, demo: dict[str, str]) -> None:
    name, old, new = demo["name"], demo["champion"], demo["challenger"]
    listed = json.loads(_cli("list", name, "--json").stdout)
    assert [(row["version"], row["aliases"]) for row in listed] == [(new, ["challenger"]), (old, ["champion"])]
    assert listed[0]["validation"] == "true" and listed[0]["sweep_id"] == f"{name}-sweep-1"
    table = _cli("list", name).stdout
    assert "@challenger" in table and "@champion" in table and "val_auc 0.99" in table

    shown = json.loads(_cli("show", f"{name}@challenger", "--json").stdout)
    assert shown["version"] == new and shown["params"]["learning_rate"] == "0.1"
    assert shown["validation_result"]["passed"] is True
    assert "pass: roc_auc" in _cli("show", f"{name}/{new}").stdout

    compared = json.loads(_cli("compare", name, old, new, "--json").stdout)
    assert compared["validation"][new]["passed"] is True and compared["validation"][old] is None
    assert {"key": "learning_rate", "left": None, "right": "0.1", "same": False} in compared["params"]
    assert "validation v" + new + ": pass" in _cli("compare", name, old, new).stdout


def test_approve_records_who_when_why_on_the_version_and_in_the_audit_log(
    client: Any, outputs: PlatformOutputs, demo: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, version = demo["name"], demo["challenger"]
    with pytest.raises(UserError, match=f"ml model approve {name} {version} --stack local --reason"):
        require_approval(client, name, version, stack="local")
    monkeypatch.setenv("ML_APPROVER", "ana")
    done = _cli("approve", name, version, "--reason", "beats champion on hold-out; slices within 0.1")
    assert done.exit_code == 0 and "approved" in done.stdout
    tags = client.get_model_version(name, version).tags
    assert tags["ml.approval.by"] == "ana" and tags["ml.approval.reason"].startswith("beats champion")
    assert require_approval(client, name, version, stack="local")["by"] == "ana"
    record = [r for r in read_records(audit_path(outputs)) if r["what"] == "approve"][-1]
    assert record["to"] == f"models:/{name}/{version}" and record["approval"]["by"] == "ana"


def test_card_of_the_demo_model_has_every_section_filled(
    client: Any, outputs: PlatformOutputs, demo: dict[str, str], tmp_path: Path
) -> None:
    client.set_model_version_tag(demo["name"], demo["challenger"], "ml.approval.approved", "true")
    card = build_card(client, parse_ref(f"{demo['name']}@challenger"), audit_records=read_records(audit_path(outputs)))
    assert [section.title for section in card.sections] == list(SECTIONS)
    empty = [section.title for section in card.sections if not section.rows]
    assert empty == ["Monitoring"]  # nothing from `ml monitor` yet: said in words
    assert card.section("Monitoring").text == "no drift result recorded yet"
    rows = {section.title: dict((row[0], row[1:]) for row in section.rows) for section in card.sections}
    assert rows["Description and intended use"]["description"][0].startswith("Gradient boosting depth")
    data = card.section("Training data").rows[0]
    assert data[0] == "breast-cancer-train" and data[1] == "training" and data[2]
    assert rows["Sweep lineage"]["pruned"] == ["2"] and rows["Sweep lineage"]["code commit"] == ["abc1234"]
    assert "USD measured" in rows["Sweep lineage"]["cost"][0]
    assert "tensor" in card.section("Signature").rows[0][1].lower() or "float64" in card.section("Signature").rows[0][1]
    assert card.section("Validation").text.startswith("PASS")
    assert "accuracy_score gap by radius_band" in rows["Validation"]
    assert {"create", "deploy.promoted"} <= {row[3] for row in card.section("Deployment history").rows}

    markdown, page = to_markdown(card), to_html(card)
    for title in SECTIONS:
        assert f"## {title}" in markdown and f"<h2>{title}</h2>" in page
    written = _cli("card", f"{demo['name']}/{demo['challenger']}", "--out", str(tmp_path), "--publish")
    assert written.exit_code == 0, written.stdout
    assert (tmp_path / f"{demo['name']}-v{demo['challenger']}.md").read_text().startswith("# Model card")
    assert (tmp_path / f"{demo['name']}-v{demo['challenger']}.html").exists()
    uri = client.get_model_version(demo["name"], demo["challenger"]).tags[TAG_CARD_URI]
    assert uri.endswith(f"model_card/v{demo['challenger']}/{demo['name']}-v{demo['challenger']}.md")
    assert publish_card(client, card) == uri


def test_monitor_records_are_read_when_present(client: Any, demo: dict[str, str]) -> None:
    """The tags and run `ml monitor` writes (ml/monitor/core.py): last outcome, last run, its metrics."""
    run = client.create_run(client.get_experiment_by_name("model-demo").experiment_id, run_name="monitor")
    client.log_metric(run.info.run_id, "drifted_columns", 3.0)
    for key, value in (("ml.monitor.last_outcome", "drift"), ("ml.monitor.last_run", run.info.run_id)):
        client.set_model_version_tag(demo["name"], demo["champion"], key, value)
    card = build_card(client, parse_ref(f"{demo['name']}@champion"), audit_records=[])
    assert card.section("Monitoring").rows == [
        ["ml.monitor.last_outcome", "drift"],
        ["ml.monitor.last_run", run.info.run_id],
        ["last check: drifted_columns", "3"],
    ]
    assert card.section("Sweep lineage").text == "not registered from a sweep"


def test_unknown_references_are_user_errors(client: Any, demo: dict[str, str]) -> None:
    with pytest.raises(UserError, match="does not exist; versions: v2 @challenger, v1 @champion"):
        build_card(client, parse_ref(f"{demo['name']}/9"), audit_records=[])
    with pytest.raises(UserError, match="not a model reference"):
        parse_ref("a b")
    with pytest.raises(UserError, match="has no versions"):
        _cli("list", "no-such-model")
