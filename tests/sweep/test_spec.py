"""The sweep spec: what a valid spec means, and errors that name the key and its YAML line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.contract.errors import UserError
from ml.sweep.spec import (
    BanditPolicy,
    LogUniform,
    SpecError,
    SweepSpec,
    load_spec,
    parse_duration,
    parse_spec,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweeps" / "breast_cancer.yaml"

GOOD = """\
name: gbm
code: .
command: python train.py --lr ${{search_space.lr}} --depth ${{ search_space.depth }} --data ${{inputs.data}}
environment: {pip: [scikit-learn]}
inputs:
  data: ./data
search_space:
  lr: {type: loguniform, min_value: 0.01, max_value: 0.3}
  depth: {type: randint, min_value: 2, max_value: 5}
objective: {metric: val_auc, goal: maximize}
sampling: bayesian
early_termination: {policy: bandit, slack_factor: 0.1, delay_evaluation: 2}
limits: {max_total_trials: 8, max_concurrent_trials: 2, timeout: 1h30m, trial_timeout: 10m}
"""


def parse(text: str) -> SweepSpec:
    return parse_spec(text, source="s.yaml")


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        parse(text)
    assert isinstance(caught.value, UserError)
    return str(caught.value)


def test_a_good_spec_with_defaults_and_derived_values() -> None:
    spec = parse(GOOD)
    assert spec.experiment_name == "gbm" and spec.registered_model_name == "gbm"
    assert spec.sampling.algorithm == "bayesian" and spec.sampling.seed is None
    assert isinstance(spec.search_space["lr"], LogUniform)
    assert isinstance(spec.early_termination, BanditPolicy) and spec.early_termination.evaluation_interval == 1
    assert (spec.limits.timeout, spec.limits.trial_timeout) == (5400, 600)
    assert spec.spot.enabled is None and spec.spot.checkpoint_env == "ML_CHECKPOINT_DIR"
    assert spec.compute.instance_count == 1 and spec.cost is None
    assert spec.inputs["data"].type == "uri_folder" and spec.inputs["data"].path == "./data"
    assert spec.trial_budget() == 8
    assert spec.references() == [("search_space", "lr"), ("search_space", "depth"), ("inputs", "data")]


def test_render_command_substitutes_shell_quoted_values() -> None:
    spec = parse(GOOD)
    command = spec.render_command({"lr": 0.05, "depth": 3}, {"data": "/tmp/my data"})
    assert command == "python train.py --lr 0.05 --depth 3 --data '/tmp/my data'"


def test_grid_over_discrete_parameters() -> None:
    text = (
        GOOD.replace("sampling: bayesian", "sampling: {algorithm: grid, seed: 3}")
        .replace(
            "{type: loguniform, min_value: 0.01, max_value: 0.3}",
            "{type: quniform, min_value: 0.1, max_value: 0.3, q: 0.1}",
        )
        .replace("max_total_trials: 8, ", "")
    )
    spec = parse(text)
    assert spec.grid() == {"lr": [0.1, 0.2, 0.3], "depth": [2, 3, 4, 5]}
    assert spec.grid_size() == 12 and spec.trial_budget() == 12


@pytest.mark.parametrize(
    ("value", "seconds"), [(90, 90), ("90", 90), ("90s", 90), ("20m", 1200), ("2h", 7200), ("1h30m", 5400)]
)
def test_durations(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


BAD_SPECS = [
    # (what to change, replacement, key named in the error, line, words in the message)
    ("min_value: 0.01", "min_value: -1", "search_space.lr.min_value", 8, "greater than 0"),
    ("max_value: 0.3", "max_value: 0.001", "search_space.lr", 8, "must be less than max_value"),
    ("type: randint", "type: integer", "search_space.depth.type", 9, "allowed: choice, uniform, loguniform"),
    ("{type: randint, ", "{", "search_space.depth", 9, "needs 'type'"),
    ("goal: maximize", "goal: max", "objective.goal", 10, "'minimize' or 'maximize'"),
    ("metric: val_auc, ", "metrc: val_auc, ", "objective.metrc", 10, "unknown key 'metrc'; allowed: metric, goal"),
    ("sampling: bayesian", "sampling: hyperband", "sampling", 11, "'random', 'grid' or 'bayesian'"),
    ("sampling: bayesian", "sampling: grid", "search_space.lr.type", 8, "grid sampling needs discrete parameters"),
    ("policy: bandit, slack_factor: 0.1", "policy: bandit", "early_termination", 12, "exactly one of 'slack_factor'"),
    ("policy: bandit", "policy: hyperbandit", "early_termination.policy", 12, "allowed: bandit, median_stopping"),
    (
        "slack_factor: 0.1,",
        "slack_factor: 0.1, truncation_percentage: 10,",
        "early_termination.truncation_percentage",
        12,
        "unknown key",
    ),
    (
        "delay_evaluation: 2",
        "delay_evaluation: -1",
        "early_termination.delay_evaluation",
        12,
        "greater than or equal to 0",
    ),
    ("trial_timeout: 10m", "trial_timeout: ten minutes", "limits.trial_timeout", 13, "expected a duration"),
    ("max_total_trials: 8, ", "", "limits.max_total_trials", 13, "required for bayesian sampling"),
    (
        "max_concurrent_trials: 2",
        "max_concurrent_trials: 9",
        "limits.max_concurrent_trials",
        13,
        "exceeds max_total_trials",
    ),
    ("timeout: 1h30m", "timeout: 5m", "limits.timeout", 13, "shorter than one trial's trial_timeout"),
    ("${{search_space.lr}}", "${{search_space.rate}}", "command", 3, "names no search_space entry 'rate'"),
    ("${{search_space.lr}}", "{lr}", "search_space.lr", 8, "never passed to the command"),
    ("${{inputs.data}}", "${{outputs.model}}", "command", 3, "is not understood"),
    ("environment: {pip: [scikit-learn]}", "environment: {}", "environment", 4, "give 'pip'"),
    ("name: gbm", "name: my_sweep", "name", 1, "should match pattern"),
    ("name: gbm\n", "", "name", None, "required key is missing"),
]


@pytest.mark.parametrize(
    ("old", "new", "key", "line", "words"), BAD_SPECS, ids=[b[2] + ":" + b[4][:20] for b in BAD_SPECS]
)
def test_bad_specs_name_the_key_and_line(old: str, new: str, key: str, line: int | None, words: str) -> None:
    assert old in GOOD
    message = error_of(GOOD.replace(old, new, 1))
    assert message.startswith("sweep spec s.yaml: ")
    where = f"line {line}, {key}: " if line is not None else f"{key}: "
    assert where in message, message
    assert words in message, message


def test_every_problem_is_reported_at_once() -> None:
    message = error_of(GOOD.replace("goal: maximize", "goal: up").replace("min_value: 0.01", "min_value: 0"))
    assert "2 problems" in message
    assert "objective.goal" in message and "search_space.lr.min_value" in message


def test_more_spec_sections_validate() -> None:
    extra = (
        "spot: {enabled: true, max_wait: 5m, checkpoint_env: 'bad-name'}\n"
        "cost: {max_cost: 0, currency: usd}\n"
        "compute: {instance_count: 0}\n"
    )
    message = error_of(GOOD + extra)
    for key in (
        "spot.checkpoint_env",
        "cost.max_cost",
        "cost.currency",
        "compute.instance_count",
    ):
        assert key in message, message
    message = error_of(GOOD + "spot: {max_wait: 5m}\n")
    assert "line 14, spot.max_wait: max_wait (300s) must be at least limits.trial_timeout (600s)" in message
    message = error_of(GOOD.replace("pip: [scikit-learn]", "pip: [x], requirements: r.txt"))
    assert "environment: give either 'pip'" in message
    message = error_of(GOOD.replace("{type: randint, min_value: 2, max_value: 5}", "{type: choice, values: [1, 1]}"))
    assert "search_space.depth.values: values must be distinct" in message
    message = error_of(GOOD.replace("{type: randint, min_value: 2, max_value: 5}", "{type: normal, mu: 0, sigma: 0}"))
    assert "search_space.depth.sigma" in message


def test_yaml_problems_have_lines() -> None:
    assert "duplicate key 'name'" in error_of(GOOD + "name: again\n")
    assert "line 14, name: duplicate key" in error_of(GOOD + "name: again\n")
    assert "not valid YAML at line 2: mapping values are not allowed here" in error_of("name: x\nb: c: d\n")
    assert "expected a mapping" in error_of("- just\n- a list\n")


def test_load_spec_resolves_code_relative_to_the_file(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLE)
    assert spec.code_dir() == (EXAMPLE.parent / "../train").resolve()
    assert (spec.code_dir() / "train_gbm.py").is_file()
    moved = tmp_path / "sweep.yaml"
    moved.write_text(EXAMPLE.read_text())
    with pytest.raises(SpecError, match=r"line \d+, code: code directory .* does not exist"):
        load_spec(moved)
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "missing.yaml")
