"""The rollout spec: what a valid spec means, and that every bad one names its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.spec import BlueGreen, SpecError, load_spec, parse_duration, parse_spec
from ml.stack import default_local_outputs

REPO = Path(__file__).resolve().parents[2]


def test_canary_spec_parses_with_defaults() -> None:
    spec = parse_spec(
        "model: models:/churn@challenger\n"
        "strategy: {type: canary, steps: [10, 25, 50, 100]}\n"
        "bake_time: 2m\n"
        "gates: {max_error_rate: 0.02, max_p95_latency_ms: 200, max_p99_latency_ms: 400, min_requests: 50}\n"
    )
    assert spec.traffic_steps() == [10, 25, 50, 100]
    assert spec.bake_time == 120.0
    assert (spec.model_name, spec.model_alias, spec.model_version) == ("churn", "challenger", None)
    assert spec.gates.max_p99_latency_ms == 400
    assert spec.on_failure == "rollback"
    assert spec.promote_alias == "champion"
    assert spec.gate_wait() == 120.0


def test_linear_and_blue_green_steps() -> None:
    linear = parse_spec("model: models:/m/3\nstrategy: {type: linear, step_percent: 30}\n")
    assert linear.traffic_steps() == [30, 60, 90, 100]
    assert linear.model_version == "3"
    blue_green = parse_spec(
        "model: models:/m/3\nstrategy: {type: blue_green, warmup: 5s, mirror_percent: 20, mirror_time: 500ms}\n"
    )
    assert isinstance(blue_green.strategy, BlueGreen)
    assert blue_green.traffic_steps() == [100]
    assert blue_green.strategy.mirror_time == 0.5
    assert blue_green.strategy.warmup == 5.0


def test_endpoint_defaults_to_the_stack_output(tmp_path: Path) -> None:
    outputs: PlatformOutputs = default_local_outputs(tmp_path)
    spec = parse_spec("model: models:/m/1\nstrategy: {type: blue_green}\n")
    assert spec.endpoint_for(outputs) == "local"
    named = parse_spec("model: models:/m/1\nendpoint: churn-prod\nstrategy: {type: blue_green}\n")
    assert named.endpoint_for(outputs) == "churn-prod"
    without = outputs.model_copy(update={"endpoint": None})
    with pytest.raises(SpecError, match="no 'endpoint' given"):
        spec.endpoint_for(without)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model: churn\nstrategy: {type: blue_green}\n", "line 1, model: expected a model registry URI"),
        (
            "model: models:/m/1\nstrategy:\n  type: canary\n  steps: [10, 5, 100]\n",
            "line 4, strategy.steps: steps must increase strictly, got 10 then 5",
        ),
        (
            "model: models:/m/1\nstrategy:\n  type: canary\n  steps: [10, 50]\n",
            "line 4, strategy.steps: the last step must be 100",
        ),
        (
            "model: models:/m/1\nstrategy: {type: canary, steps: [0, 100]}\n",
            "strategy.steps.0: input should be greater than or equal to 1",
        ),
        ("model: models:/m/1\nstrategy: {type: rolling}\n", "line 2, strategy.type: unknown strategy type 'rolling'"),
        ("model: models:/m/1\nstrategy: {steps: [100]}\n", "line 2, strategy: needs 'type', one of: blue_green"),
        (
            "model: models:/m/1\nstrategy: {type: linear, step_percent: 20}\ngates:\n  max_eror_rate: 0.1\n",
            "line 4, gates.max_eror_rate: unknown key 'max_eror_rate'; allowed: max_error_rate",
        ),
        (
            "model: models:/m/1\nstrategy: {type: linear, step_percent: 20}\nbake_time: soon\n",
            "line 3, bake_time: expected a duration",
        ),
        (
            "model: models:/m/1\nstrategy: {type: blue_green}\n"
            "gates: {max_p95_latency_ms: 300, max_p99_latency_ms: 100}\n",
            "line 3, gates: max_p99_latency_ms (100.0) is below max_p95_latency_ms (300.0)",
        ),
        (
            "model: models:/m/1\nstrategy: {type: blue_green, mirror_percent: 120}\n",
            "strategy.mirror_percent: input should be less than or equal to 100",
        ),
        (
            "model: models:/m/1\nstrategy: {type: blue_green}\non_failure: ignore\n",
            "line 3, on_failure: input should be 'rollback'",
        ),
        ("strategy: {type: blue_green}\n", "model: required key is missing"),
        (
            "model: models:/m/1\nmodel: models:/m/2\nstrategy: {type: blue_green}\n",
            "line 2, model: duplicate key 'model'",
        ),
        (
            "model: models:/m/1\nstrategy: {type: blue_green}\nvalidation:\n  data: d.csv\n  target: y\n"
            "  metrics: [roc_auc, accuracy_score, roc_auc]\n",
            "line 6, validation.metrics.2: 'roc_auc' is listed more than once",
        ),
        (
            "model: models:/m/2\nstrategy:\n  type: ab\n  challengers: [models:/m/3, models:/m/3]\n",
            "line 4, strategy.challengers.1: 'models:/m/3' is listed more than once",
        ),
        (
            "model: models:/m/1\nstrategy: {type: linear, step_percent: 20}\ninstance_count: 0\n",
            "line 3, instance_count",
        ),
        ("- just\n- a list\n", "expected a mapping"),
        ("model: [unclosed\n", "not valid YAML at line"),
    ],
)
def test_bad_specs_name_key_and_line(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, source="deployments/x.yaml")
    message = str(caught.value)
    assert message.startswith("rollout spec deployments/x.yaml:")
    assert expected in message
    assert isinstance(caught.value, UserError)


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec("model: nope\nstrategy: {type: canary, steps: [50, 40]}\nbake_time: -3\n")
    assert "3 problems" in str(caught.value)


def test_durations() -> None:
    assert parse_duration("1m30s") == 90
    assert parse_duration("250ms") == 0.25
    assert parse_duration(0) == 0
    assert parse_duration("2h") == 7200
    for bad in (True, "3 parsecs", -1, [1]):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


@pytest.mark.parametrize("name", ["canary.yaml", "blue_green.yaml"])
def test_example_specs_are_valid(name: str) -> None:
    spec = load_spec(REPO / "examples" / "deployments" / name)
    assert spec.traffic_steps()[-1] == 100


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
