"""Median stopping: stop a trial whose running average falls below the median of finished trials'."""

from __future__ import annotations

import math
import statistics

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, TrialState

from ml.sweep.pruners._interval import is_evaluation_step, is_worse


def running_average(trial: FrozenTrial, step: int) -> float | None:
    """The mean of the finite values a trial reported at steps up to and including ``step``."""
    values = [v for s, v in trial.intermediate_values.items() if s <= step and not math.isnan(v)]
    return sum(values) / len(values) if values else None


class MedianStoppingPruner(BasePruner):
    """Azure ML's median stopping policy as an Optuna pruner.

    At each evaluation step ``s`` a trial is stopped when its running average (the mean of what it
    reported up to ``s``) is worse than the median of the running averages up to ``s`` of the
    completed trials that reached ``s`` (the median stopping rule of Google Vizier, which Azure ML's
    policy follows). Nothing is stopped until ``min_completed_trials`` completed trials reached ``s``.

    Example:

        .. testcode::

            import optuna
            from ml.sweep.pruners import MedianStoppingPruner

            def objective(trial):
                quality = trial.suggest_float("quality", 0.0, 1.0)
                for step in range(1, 6):
                    trial.report(quality * step / 5, step)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                return quality

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = optuna.create_study(
                direction="maximize",
                pruner=MedianStoppingPruner(evaluation_interval=1, delay_evaluation=2),
                sampler=optuna.samplers.RandomSampler(seed=0),
            )
            study.optimize(objective, n_trials=10)

    Args:
        evaluation_interval: Evaluate once per this many steps.
        delay_evaluation: Do not evaluate before this step.
        min_completed_trials: Completed trials needed at a step before anything is stopped there.
    """

    def __init__(
        self, *, evaluation_interval: int = 1, delay_evaluation: int = 0, min_completed_trials: int = 1
    ) -> None:
        if evaluation_interval < 1 or delay_evaluation < 0 or min_completed_trials < 1:
            raise ValueError("evaluation_interval and min_completed_trials must be >= 1, delay_evaluation >= 0")
        self._interval = evaluation_interval
        self._delay = delay_evaluation
        self._min_completed = min_completed_trials

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        if not is_evaluation_step(step, trial.intermediate_values.keys(), delay=self._delay, interval=self._interval):
            return False
        mine = running_average(trial, step)
        if mine is None:
            return True
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        averages = [
            average
            for other in completed
            if other.number != trial.number
            and step in other.intermediate_values
            and (average := running_average(other, step)) is not None
        ]
        if len(averages) < self._min_completed:
            return False
        return is_worse(mine, statistics.median(averages), study.direction)
