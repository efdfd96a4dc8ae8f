"""Early-termination policies as Optuna pruners, one policy per module, with Azure ML's semantics.

`pruner_for` maps a spec's ``early_termination`` to its pruner (none -> Optuna's NopPruner).
"""

from __future__ import annotations

from optuna.pruners import BasePruner, NopPruner

from ml.sweep.pruners._bandit import BanditPruner
from ml.sweep.pruners._median_stopping import MedianStoppingPruner
from ml.sweep.pruners._truncation_selection import TruncationSelectionPruner
from ml.sweep.spec import BanditPolicy, EarlyTermination, MedianStoppingPolicy, TruncationSelectionPolicy

__all__ = ["BanditPruner", "MedianStoppingPruner", "TruncationSelectionPruner", "pruner_for"]


def pruner_for(policy: EarlyTermination | None) -> BasePruner:
    """The pruner implementing a spec's early-termination policy."""
    if policy is None:
        return NopPruner()
    timing = {"evaluation_interval": policy.evaluation_interval, "delay_evaluation": policy.delay_evaluation}
    if isinstance(policy, BanditPolicy):
        return BanditPruner(slack_factor=policy.slack_factor, slack_amount=policy.slack_amount, **timing)
    if isinstance(policy, MedianStoppingPolicy):
        return MedianStoppingPruner(**timing)
    if isinstance(policy, TruncationSelectionPolicy):
        return TruncationSelectionPruner(truncation_percentage=policy.truncation_percentage, **timing)
    raise TypeError(f"unknown early-termination policy {policy!r}")
