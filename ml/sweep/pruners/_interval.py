"""When an early-termination policy evaluates a trial: after a delay, once per evaluation interval.

Azure ML applies a policy "every ``evaluation_interval`` reports, starting after ``delay_evaluation``";
here a step is the ``step`` the trial reports. Trials may skip steps, so a policy evaluates at the
first reported step in each window ``[delay + k * interval, delay + (k + 1) * interval)``, the rule
Optuna's percentile pruner uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial


def is_evaluation_step(step: int, reported_steps: Iterable[int], *, delay: int, interval: int) -> bool:
    """True when ``step`` is the first reported step of its evaluation window (and not before the delay)."""
    if step < delay:
        return False
    window_start = (step - delay) // interval * interval + delay
    previous = max((s for s in reported_steps if s != step), default=-1)
    return previous < window_start


def values_at(trials: Iterable[FrozenTrial], step: int, *, besides: FrozenTrial) -> list[float]:
    """The finite values the trials other than ``besides`` reported at exactly ``step``."""
    values = (t.intermediate_values.get(step) for t in trials if t.number != besides.number)
    return [v for v in values if v is not None and not math.isnan(v)]


def is_worse(value: float, than: float, direction: StudyDirection) -> bool:
    """Strictly worse for the study's direction."""
    return value < than if direction == StudyDirection.MAXIMIZE else value > than
