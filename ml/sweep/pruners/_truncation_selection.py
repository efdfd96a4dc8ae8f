"""Truncation selection: at each evaluation step, stop the trials in the lowest percentage."""

from __future__ import annotations

import math

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial

from ml.sweep.pruners._interval import is_evaluation_step, is_worse, values_at


class TruncationSelectionPruner(BasePruner):
    """Azure ML's truncation selection policy as an Optuna pruner.

    At each evaluation step ``s``, the values every trial (running or finished) reported at ``s``
    are ranked; a trial is stopped when it is among the ``floor(n * truncation_percentage / 100)``
    worst of those ``n`` values, i.e. when fewer than that many trials are strictly worse than it.
    With few trials at a step (``n * truncation_percentage < 100``) nothing is stopped.

    Example:

        .. testcode::

            import optuna
            from ml.sweep.pruners import TruncationSelectionPruner

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
                pruner=TruncationSelectionPruner(truncation_percentage=25, delay_evaluation=2),
                sampler=optuna.samplers.RandomSampler(seed=0),
            )
            study.optimize(objective, n_trials=10)

    Args:
        truncation_percentage: The percentage of worst trials stopped at each evaluation (1-99).
        evaluation_interval: Evaluate once per this many steps.
        delay_evaluation: Do not evaluate before this step.
    """

    def __init__(self, *, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        if not 1 <= truncation_percentage <= 99:
            raise ValueError("truncation_percentage must be between 1 and 99")
        if evaluation_interval < 1 or delay_evaluation < 0:
            raise ValueError("evaluation_interval must be >= 1 and delay_evaluation >= 0")
        self._percentage = truncation_percentage
        self._interval = evaluation_interval
        self._delay = delay_evaluation

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        if not is_evaluation_step(step, trial.intermediate_values.keys(), delay=self._delay, interval=self._interval):
            return False
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return True
        others = values_at(study.get_trials(deepcopy=False), step, besides=trial)
        cut = math.floor((len(others) + 1) * self._percentage / 100)
        if cut == 0:
            return False
        strictly_worse = sum(1 for other in others if is_worse(other, value, study.direction))
        return strictly_worse < cut
