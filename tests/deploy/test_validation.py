"""Offline validation with MLflow's evaluator against a real SQLite registry and real sklearn models.

The challenger is judged on a hold-out CSV of scikit-learn's breast-cancer data: against the
champion (tolerance / minimum improvement), absolute thresholds, and the gap between slices.
Results land on the version (tags), in the ``ml-validations`` run (artifact) and are read back.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ml.contract import DeployPolicy, PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.audit import AuditTrail, read_records
from ml.deploy.engine import RolloutEngine
from ml.deploy.guards import RolloutRefusedError
from ml.deploy.registry import Registry
from ml.deploy.spec import RolloutSpec, parse_spec
from ml.model.approvals import approve
from ml.model.card import SECTIONS
from ml.model.render import TAG_CARD_URI
from ml.validate.evaluate import validate
from ml.validate.record import TAG_PASSED, TAG_RUN, read_result, run_json, tag_version
from ml.validate.spec import ValidationSpec
from tests.deploy.memory_target import MemoryTarget
from tests.model import fixtures
from tests.model.helpers import HOLDOUT, Split, register_plain

fixtures.bind(globals())


def run_json_text(client: Any, uri: str) -> str:
    """The text of a ``runs:/<id>/<path>`` artifact, downloaded through ``client``."""
    import tempfile

    run_id, path = uri.removeprefix("runs:/").split("/", 1)
    with tempfile.TemporaryDirectory() as scratch:
        return Path(client.download_artifacts(run_id, path, scratch)).read_text()


def _validate(client: Any, spec: ValidationSpec, *, name: str, version: str) -> Any:
    """`validate` with the ``ml-validations`` artifacts under this test home's artifact store (not ./mlruns)."""
    return validate(client, spec, name=name, version=version, artifact_root=f"file://{fixtures.artifact_home()}")


def _spec(holdout: Path, **extra: Any) -> ValidationSpec:
    fields = {"data": str(holdout), "target": "target", "task": "classifier", "metrics": ["roc_auc"]}
    return ValidationSpec.model_validate({**fields, **extra})


@pytest.fixture
def name() -> str:
    return f"bc-{uuid.uuid4().hex[:6]}"


def test_worse_challenger_fails_against_champion_and_is_recorded(
    client: Any, name: str, data: Split, holdout: Path, good_model: Any, worse_model: Any
) -> None:
    champion = register_plain(client, name, good_model, data, alias="champion")
    challenger = register_plain(client, name, worse_model, data, alias="challenger")
    spec = _spec(holdout, compare={"against": "champion", "tolerance": 0.01})

    result = _validate(client, spec, name=name, version=challenger)

    assert not result.passed
    assert result.against_version == champion
    new, old = result.metrics["challenger"]["roc_auc"], result.metrics["champion"]["roc_auc"]
    assert new is not None and old is not None and new < old - 0.05
    assert "worse than champion v" + champion in result.reasons[0]
    tag_version(client, result)
    tags = client.get_model_version(name, challenger).tags
    assert tags[TAG_PASSED] == "false"
    stored = run_json(client, tags[TAG_RUN], "validation/result.json")
    assert stored is not None and stored["passed"] is False and stored["metrics"]["champion"]["roc_auc"] == old
    read_back = read_result(client, tags)
    assert read_back is not None and read_back["reasons"] == result.reasons


def test_better_challenger_passes_with_metrics_per_slice(
    client: Any, name: str, data: Split, holdout: Path, good_model: Any, worse_model: Any
) -> None:
    register_plain(client, name, worse_model, data, alias="champion")
    challenger = register_plain(client, name, good_model, data, alias="challenger")
    spec = _spec(
        holdout,
        compare={"min_improvement": 0.05},
        thresholds={"roc_auc": 0.95},
        slices={"column": "radius_band", "metric": "accuracy_score", "max_gap": 0.1},
    )

    result = _validate(client, spec, name=name, version=challenger)

    assert result.passed, result.reasons
    assert [check.name for check in result.checks] == [
        "roc_auc vs champion",
        "roc_auc threshold",
        "accuracy_score gap by radius_band",
    ]
    assert result.slices is not None
    assert set(result.slices["challenger"]) == {"large", "small"} == set(result.slices["champion"])
    assert 0 < result.slices["gap"] < 0.1
    assert result.data_digest.startswith("sha256:") and result.rows == len(data.y_val)


def test_slice_gap_over_the_limit_fails(client: Any, name: str, data: Split, holdout: Path, good_model: Any) -> None:
    version = register_plain(client, name, good_model, data, alias="challenger")
    spec = _spec(holdout, slices={"column": "radius_band", "metric": "accuracy_score", "max_gap": 0.02})

    result = _validate(client, spec, name=name, version=version)

    assert not result.passed
    assert "accuracy_score gap 0.03" in result.reasons[0] and "at most 0.02 allowed" in result.reasons[0]


def test_no_champion_yet_is_said_not_failed(
    client: Any, name: str, data: Split, holdout: Path, good_model: Any
) -> None:
    version = register_plain(client, name, good_model, data, alias="challenger")
    result = _validate(client, _spec(holdout, compare={"tolerance": 0.0}), name=name, version=version)
    assert result.passed and "no 'champion' yet" in result.checks[0].detail


def test_data_that_does_not_fit_is_a_user_error(
    client: Any, name: str, data: Split, holdout: Path, good_model: Any, tmp_path: Path
) -> None:
    version = register_plain(client, name, good_model, data)
    with pytest.raises(UserError, match=r"validation\.target 'label' is not a column"):
        _validate(client, _spec(holdout, target="label", thresholds={"roc_auc": 0.5}), name=name, version=version)
    with pytest.raises(UserError, match="is not a file"):
        _validate(client, _spec(tmp_path / "missing.csv", thresholds={"roc_auc": 0.5}), name=name, version=version)


def test_spec_rejects_unknown_metrics_and_empty_checks(holdout: Path) -> None:
    with pytest.raises(ValidationError, match="unknown classifier metric"):
        _spec(holdout, metrics=["auc"], thresholds={"auc": 0.9})
    with pytest.raises(ValidationError, match="checks nothing"):
        _spec(holdout)
    with pytest.raises(ValidationError, match="either tolerance"):
        _spec(holdout, compare={"tolerance": 0.01, "min_improvement": 0.01})


# --- the gate in the engine: refused before anything is created, on any target --------------------------


class Rollouts:
    """The engine on an in-memory target (no patching: a second implementation of the target interface)."""

    def __init__(self, outputs: PlatformOutputs, client: Any, journal_dir: Path) -> None:
        self.outputs = outputs
        self.client = client
        self.target = MemoryTarget(outputs)
        self.audit = AuditTrail(outputs, client)
        self.registry = Registry(client)
        self.events: list[Any] = []
        self.journal_dir = journal_dir

    def engine(self) -> RolloutEngine:
        return RolloutEngine(
            self.outputs, self.target, registry=self.registry, audit=self.audit, journal_dir=self.journal_dir,
            on_event=self.events.append, poll_interval=0.01, drain_seconds=0.0,
        )  # fmt: skip

    def spec(self, name: str, validation: str) -> RolloutSpec:
        text = (
            f"model: models:/{name}@challenger\nstrategy: {{type: canary, steps: [50, 100]}}\nbake_time: 0\n"
            f"gates: {{min_requests: 10, max_wait: 0.2}}\nvalidation:\n{validation}"
        )
        return parse_spec(text, source=str(HOLDOUT.parent / "rollout.yaml"))

    def records(self, name: str) -> list[dict[str, Any]]:
        return [r for r in read_records(self.audit.path) if f"models:/{name}/" in str(r.get("to"))]


VS_CHAMPION = (
    "  data: breast_cancer_holdout.csv\n  target: target\n  task: classifier\n  metrics: [roc_auc]\n"
    "  compare: {against: champion, tolerance: 0.01}\n"
)
SLICE_GAP = (
    "  data: breast_cancer_holdout.csv\n  target: target\n  task: classifier\n  metrics: [accuracy_score]\n"
    "  slices: {column: radius_band, metric: accuracy_score, max_gap: 0.02}\n"
)


@pytest.fixture
def rollouts(outputs: PlatformOutputs, client: Any, tmp_path: Path) -> Rollouts:
    return Rollouts(outputs, client, tmp_path / "rollouts")


def _assert_nothing_created(rollouts: Rollouts, name: str, aliases: dict[str, str]) -> None:
    assert rollouts.target.deployments == {} and rollouts.target.history == []
    assert "create_deployment" not in rollouts.target.calls
    assert not [r for r in rollouts.records(name) if r["what"] in ("create", "start", "deploy.promoted")]
    assert {alias: str(v) for alias, v in rollouts.client.get_registered_model(name).aliases.items()} == aliases
    assert list(rollouts.journal_dir.glob("**/*.json")) == [] or all(
        "phase" not in p.read_text() for p in rollouts.journal_dir.glob("**/*.json")
    )


def test_engine_refuses_a_challenger_worse_than_the_champion_before_anything_is_created(
    rollouts: Rollouts, name: str, data: Split, good_model: Any, worse_model: Any
) -> None:
    champion = register_plain(rollouts.client, name, good_model, data, alias="champion")
    challenger = register_plain(rollouts.client, name, worse_model, data, alias="challenger")

    with pytest.raises(RolloutRefusedError, match=f"validation of models:/{name}/{challenger} failed: roc_auc"):
        rollouts.engine().run(rollouts.spec(name, VS_CHAMPION))

    _assert_nothing_created(rollouts, name, {"champion": champion, "challenger": challenger})
    validated = [r for r in rollouts.records(name) if r["what"] == "validate"]
    assert [r["outcome"] for r in validated] == ["fail"]
    assert validated[0]["from"] == f"models:/{name}/{champion}"
    assert set(validated[0]["validation"]["metrics"]) == {"challenger", "champion"}
    assert rollouts.client.get_model_version(name, challenger).tags["ml.validation.passed"] == "false"
    shown = [e for e in rollouts.events if e.kind == "validate" and e.outcome == "fail"]
    assert shown and shown[0].gates["validation"]["passed"] is False


def test_engine_refuses_a_slice_gap_over_the_limit(rollouts: Rollouts, name: str, data: Split, good_model: Any) -> None:
    challenger = register_plain(rollouts.client, name, good_model, data, alias="challenger")
    with pytest.raises(RolloutRefusedError, match=r"accuracy_score gap 0\.0[0-9]+ between radius_band="):
        rollouts.engine().run(rollouts.spec(name, SLICE_GAP))
    _assert_nothing_created(rollouts, name, {"challenger": challenger})


def test_prod_refuses_an_unapproved_version_then_promotes_it_with_a_fresh_card_once_approved(
    outputs: PlatformOutputs, client: Any, tmp_path: Path, name: str, data: Split, good_model: Any
) -> None:
    prod = outputs.model_copy(update={"deploy": DeployPolicy(require_approval=True)})
    rollouts = Rollouts(prod, client, tmp_path / "rollouts")
    version = register_plain(client, name, good_model, data, alias="challenger")
    thresholds = "  data: breast_cancer_holdout.csv\n  target: target\n  task: classifier\n  metrics: [roc_auc]\n"
    spec = rollouts.spec(name, thresholds + "  thresholds: {roc_auc: 0.95}\n")

    with pytest.raises(RolloutRefusedError) as refused:
        rollouts.engine().run(spec)
    assert f"ml model approve {name} {version} --stack local --reason" in str(refused.value)
    _assert_nothing_created(rollouts, name, {"challenger": version})
    assert [r["what"] for r in rollouts.records(name)] == ["approval.missing"]

    approve(client, name, version, reason="hold-out AUC above 0.95", by="ana")
    result = rollouts.engine().run(spec)
    assert result.outcome == "promoted", result.message
    tags = client.get_model_version(name, version).tags
    assert tags["ml.validation.passed"] == "true"
    card = run_json_text(client, tags[TAG_CARD_URI])
    for title in SECTIONS:
        assert f"## {title}" in card
    assert "deploy.promoted" in card and "ana" in card and "PASS on breast_cancer_holdout.csv" in card
