"""Bandit policy: stop a trial that falls outside a slack of the best trial at the same step."""

from __future__ import annotations

import math

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from ml.sweep.pruners._interval import is_evaluation_step, is_worse, values_at


class BanditPruner(BasePruner):
    """Azure ML's bandit policy as an Optuna pruner.

    At each evaluation step, the best value any trial reported at that step sets a bar: a trial is
    stopped when its value there is worse than the bar. With ``slack_factor`` the bar is
    ``best / (1 + slack_factor)`` when maximizing and ``best * (1 + slack_factor)`` when minimizing
    (the factor assumes a positive metric); with ``slack_amount`` it is ``best - slack_amount`` or
    ``best + slack_amount``. Give exactly one of them. A trial alone at a step is never stopped.

    Example:

        .. testcode::

            import optuna
            from ml.sweep.pruners import BanditPruner

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
                pruner=BanditPruner(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
                sampler=optuna.samplers.RandomSampler(seed=0),
            )
            study.optimize(objective, n_trials=10)

    Args:
        slack_factor: Allowed slack as a ratio of the best value.
        slack_amount: Allowed slack as an absolute distance from the best value.
        evaluation_interval: Evaluate once per this many steps.
        delay_evaluation: Do not evaluate before this step.
    """

    def __init__(
        self,
        *,
        slack_factor: float | None = None,
        slack_amount: float | None = None,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
    ) -> None:
        if (slack_factor is None) == (slack_amount is None):
            raise ValueError("give exactly one of slack_factor or slack_amount")
        if (slack_factor is not None and slack_factor <= 0) or (slack_amount is not None and slack_amount <= 0):
            raise ValueError("the slack must be positive")
        if evaluation_interval < 1 or delay_evaluation < 0:
            raise ValueError("evaluation_interval must be >= 1 and delay_evaluation >= 0")
        self._slack_factor = slack_factor
        self._slack_amount = slack_amount
        self._interval = evaluation_interval
        self._delay = delay_evaluation

    def bar(self, best: float, direction: StudyDirection) -> float:
        """The value a trial must not be worse than, given the best value at the step."""
        maximize = direction == StudyDirection.MAXIMIZE
        if self._slack_factor is not None:
            return best / (1 + self._slack_factor) if maximize else best * (1 + self._slack_factor)
        assert self._slack_amount is not None
        return best - self._slack_amount if maximize else best + self._slack_amount

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        if not is_evaluation_step(step, trial.intermediate_values.keys(), delay=self._delay, interval=self._interval):
            return False
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return True
        direction = study.direction
        others = values_at(study.get_trials(deepcopy=False), step, besides=trial)
        if not others:
            return False
        at_step = [*others, value]
        best = max(at_step) if direction == StudyDirection.MAXIMIZE else min(at_step)
        return is_worse(value, self.bar(best, direction), direction)
