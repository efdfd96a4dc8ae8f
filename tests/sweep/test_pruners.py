"""Early-termination semantics, on in-memory Optuna studies with hand-made trial histories."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.pruners import NopPruner
from optuna.trial import FrozenTrial, TrialState, create_trial

from ml.sweep.pruners import BanditPruner, MedianStoppingPruner, TruncationSelectionPruner, pruner_for
from ml.sweep.pruners._interval import is_evaluation_step
from ml.sweep.spec import BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy


def study_with(
    direction: str, others: list[tuple[dict[int, float], TrialState]], pruner: optuna.pruners.BasePruner
) -> optuna.Study:
    study = optuna.create_study(direction=direction, pruner=pruner)
    for values, state in others:
        final = values[max(values)] if state == TrialState.COMPLETE else None
        study.add_trial(
            create_trial(
                params={"x": 0.5},
                distributions={"x": FloatDistribution(0, 1)},
                value=final,
                intermediate_values=values,
                state=state,
            )
        )
    return study


def candidate(values: dict[int, float]) -> FrozenTrial:
    return create_trial(
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        intermediate_values=values,
        state=TrialState.RUNNING,
    )


RUNNING = TrialState.RUNNING
COMPLETE = TrialState.COMPLETE


@pytest.mark.parametrize(
    ("step", "reported", "delay", "interval", "expected"),
    [
        (1, [1], 2, 1, False),  # before the delay
        (2, [1, 2], 2, 1, True),
        (3, [1, 2, 3], 1, 2, True),  # windows start at 1, 3, 5
        (4, [1, 2, 3, 4], 1, 2, False),  # 3 already evaluated this window
        (6, [1, 2, 6], 1, 2, True),  # skipped steps: first report in window [5, 7)
    ],
)
def test_evaluation_steps_follow_delay_and_interval(
    step: int, reported: list[int], delay: int, interval: int, expected: bool
) -> None:
    assert is_evaluation_step(step, reported, delay=delay, interval=interval) is expected


def test_bandit_slack_factor_maximize_uses_best_over_one_plus_factor() -> None:
    """Azure's example: best 0.8 at the step, slack_factor 0.1 -> bar 0.8 / 1.1 = 0.727."""
    pruner = BanditPruner(slack_factor=0.1)
    study = study_with("maximize", [({1: 0.5, 2: 0.8}, COMPLETE)], pruner)
    assert pruner.prune(study, candidate({1: 0.5, 2: 0.72})) is True
    assert pruner.prune(study, candidate({1: 0.5, 2: 0.73})) is False


def test_bandit_slack_amount_minimize_uses_best_plus_amount() -> None:
    pruner = BanditPruner(slack_amount=0.2)
    study = study_with("minimize", [({3: 0.5}, RUNNING), ({3: 0.9}, COMPLETE)], pruner)
    assert pruner.prune(study, candidate({3: 0.71})) is True
    assert pruner.prune(study, candidate({3: 0.69})) is False


def test_bandit_compares_only_values_at_the_same_step_and_respects_the_delay() -> None:
    pruner = BanditPruner(slack_amount=0.05, delay_evaluation=2)
    study = study_with("maximize", [({1: 0.9, 2: 0.6}, COMPLETE)], pruner)  # 0.9 was at another step
    assert pruner.prune(study, candidate({2: 0.58})) is False
    assert pruner.prune(study, candidate({2: 0.54})) is True
    assert pruner.prune(study, candidate({1: 0.1})) is False  # step 1 < delay 2
    alone = study_with("maximize", [], pruner)
    assert pruner.prune(alone, candidate({2: 0.01})) is False  # nothing to compare with


def test_median_stopping_compares_running_averages_with_completed_trials_only() -> None:
    pruner = MedianStoppingPruner()
    completed = [({1: 0.2, 2: 0.4}, COMPLETE), ({1: 0.4, 2: 0.6}, COMPLETE), ({1: 0.6, 2: 0.8}, COMPLETE)]
    running_better = [({1: 0.99, 2: 0.99}, RUNNING)]
    study = study_with("maximize", completed + running_better, pruner)
    # running averages at step 2 of completed trials: 0.3, 0.5, 0.7 -> median 0.5 (the running trial is ignored)
    assert pruner.prune(study, candidate({1: 0.3, 2: 0.6})) is True  # average 0.45 < 0.5 although 0.6 > 0.5
    assert pruner.prune(study, candidate({1: 0.5, 2: 0.6})) is False  # average 0.55
    minimize = study_with("minimize", completed, pruner)
    assert pruner.prune(minimize, candidate({1: 0.5, 2: 0.6})) is True
    assert pruner.prune(minimize, candidate({1: 0.3, 2: 0.6})) is False


def test_median_stopping_waits_for_completed_trials_and_the_delay() -> None:
    pruner = MedianStoppingPruner(delay_evaluation=3, min_completed_trials=2)
    one = study_with("maximize", [({3: 0.9}, COMPLETE)], pruner)
    assert pruner.prune(one, candidate({3: 0.1})) is False
    two = study_with("maximize", [({3: 0.9}, COMPLETE), ({3: 0.8}, COMPLETE)], pruner)
    assert pruner.prune(two, candidate({3: 0.1})) is True
    assert pruner.prune(two, candidate({2: 0.1})) is False


def test_truncation_selection_cancels_the_lowest_percentage_at_the_step() -> None:
    pruner = TruncationSelectionPruner(truncation_percentage=40)
    others = [({1: value}, RUNNING if i % 2 else COMPLETE) for i, value in enumerate([0.5, 0.6, 0.7, 0.8])]
    study = study_with("maximize", others, pruner)
    # five values at step 1 with the candidate; 40% -> the two lowest are cancelled
    assert pruner.prune(study, candidate({1: 0.1})) is True
    assert pruner.prune(study, candidate({1: 0.55})) is True  # only 0.5 is worse: second lowest
    assert pruner.prune(study, candidate({1: 0.65})) is False  # two are worse
    minimize = study_with("minimize", others, pruner)
    assert pruner.prune(minimize, candidate({1: 0.1})) is False
    assert pruner.prune(minimize, candidate({1: 0.75})) is True


def test_truncation_selection_needs_enough_trials_for_one_cut() -> None:
    pruner = TruncationSelectionPruner(truncation_percentage=20)
    study = study_with("maximize", [({1: v}, COMPLETE) for v in (0.5, 0.6, 0.7)], pruner)
    assert pruner.prune(study, candidate({1: 0.0})) is False  # floor(4 * 20%) = 0
    study.add_trial(create_trial(params={}, distributions={}, value=0.8, intermediate_values={1: 0.8}))
    assert pruner.prune(study, candidate({1: 0.0})) is True  # floor(5 * 20%) = 1


def test_pruners_reject_invalid_options() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        BanditPruner(slack_factor=0.1, slack_amount=0.1)
    with pytest.raises(ValueError, match="between 1 and 99"):
        TruncationSelectionPruner(truncation_percentage=100)
    with pytest.raises(ValueError, match="evaluation_interval"):
        MedianStoppingPruner(evaluation_interval=0)


def test_pruner_for_maps_each_spec_policy() -> None:
    bandit = pruner_for(BanditPolicy(policy="bandit", slack_amount=0.2, evaluation_interval=2, delay_evaluation=4))
    assert isinstance(bandit, BanditPruner)
    assert bandit.bar(0.9, optuna.study.StudyDirection.MAXIMIZE) == pytest.approx(0.7)
    assert isinstance(pruner_for(MedianStoppingPolicy(policy="median_stopping")), MedianStoppingPruner)
    truncation = pruner_for(TruncationSelectionPolicy(policy="truncation_selection", truncation_percentage=30))
    assert isinstance(truncation, TruncationSelectionPruner)
    assert isinstance(pruner_for(None), NopPruner)


def test_pruners_prune_inside_an_optuna_study() -> None:
    """In a real optimize loop, bad trials are pruned before their last step."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        quality = trial.suggest_float("quality", 0.0, 1.0)
        for step in range(1, 11):
            trial.report(quality * step / 10, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return quality

    for pruner in (
        BanditPruner(slack_factor=0.2, delay_evaluation=2),
        MedianStoppingPruner(delay_evaluation=2),
        TruncationSelectionPruner(truncation_percentage=30, delay_evaluation=2),
    ):
        study = optuna.create_study(direction="maximize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=3))
        study.optimize(objective, n_trials=20)
        pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
        assert pruned, type(pruner).__name__
        assert all(max(t.intermediate_values) < 10 for t in pruned)
        best_pruned = max(t.params["quality"] for t in pruned)
        assert study.best_value > best_pruned * 0.8  # what was pruned was not the winner
