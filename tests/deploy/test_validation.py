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

from ml.contract.errors import UserError
from ml.validate.evaluate import validate
from ml.validate.record import TAG_PASSED, TAG_RUN, read_result, run_json, tag_version
from ml.validate.spec import ValidationSpec
from tests.model import fixtures
from tests.model.helpers import Split, register_plain

home = fixtures.home
outputs = fixtures.outputs
client = fixtures.client
data = fixtures.data
holdout = fixtures.holdout
good_model = fixtures.good_model
worse_model = fixtures.worse_model


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

    result = validate(client, spec, name=name, version=challenger)

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

    result = validate(client, spec, name=name, version=challenger)

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

    result = validate(client, spec, name=name, version=version)

    assert not result.passed
    assert "accuracy_score gap 0.03" in result.reasons[0] and "at most 0.02 allowed" in result.reasons[0]


def test_no_champion_yet_is_said_not_failed(
    client: Any, name: str, data: Split, holdout: Path, good_model: Any
) -> None:
    version = register_plain(client, name, good_model, data, alias="challenger")
    result = validate(client, _spec(holdout, compare={"tolerance": 0.0}), name=name, version=version)
    assert result.passed and "no 'champion' yet" in result.checks[0].detail


def test_data_that_does_not_fit_is_a_user_error(
    client: Any, name: str, data: Split, holdout: Path, good_model: Any, tmp_path: Path
) -> None:
    version = register_plain(client, name, good_model, data)
    with pytest.raises(UserError, match=r"validation\.target 'label' is not a column"):
        validate(client, _spec(holdout, target="label", thresholds={"roc_auc": 0.5}), name=name, version=version)
    with pytest.raises(UserError, match="is not a file"):
        validate(client, _spec(tmp_path / "missing.csv", thresholds={"roc_auc": 0.5}), name=name, version=version)


def test_spec_rejects_unknown_metrics_and_empty_checks(holdout: Path) -> None:
    with pytest.raises(ValidationError, match="unknown classifier metric"):
        _spec(holdout, metrics=["auc"], thresholds={"auc": 0.9})
    with pytest.raises(ValidationError, match="checks nothing"):
        _spec(holdout)
    with pytest.raises(ValidationError, match="either tolerance"):
        _spec(holdout, compare={"tolerance": 0.01, "min_improvement": 0.01})
