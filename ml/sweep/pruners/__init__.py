"""Early-termination policies as Optuna pruners, one policy per module, with Azure ML's semantics.

`PRUNERS` is the local backend's one translation table of the spec's ``early_termination``: the
policy's name picks the pruner, the policy's `parameters()` are its keywords (the pruners take
Azure ML's field names; hyperband is Optuna's own pruner). `pruner_for` adds the one case outside
the table: no policy -> NopPruner.
"""

from __future__ import annotations

from collections.abc import Callable

from optuna.pruners import BasePruner, NopPruner

from ml.sweep.pruners._bandit import BanditPruner
from ml.sweep.pruners._hyperband import hyperband_pruner
from ml.sweep.pruners._median_stopping import MedianStoppingPruner
from ml.sweep.pruners._truncation_selection import TruncationSelectionPruner
from ml.sweep.spec import EarlyTermination, PolicyName

__all__ = ["PRUNERS", "BanditPruner", "MedianStoppingPruner", "TruncationSelectionPruner", "pruner_for"]

PRUNERS: dict[PolicyName, Callable[..., BasePruner]] = {
    "bandit": BanditPruner,
    "median_stopping": MedianStoppingPruner,
    "truncation_selection": TruncationSelectionPruner,
    "hyperband": hyperband_pruner,
}


def pruner_for(policy: EarlyTermination | None) -> BasePruner:
    """The pruner implementing a spec's early-termination policy."""
    if policy is None:
        return NopPruner()
    return PRUNERS[policy.policy](**policy.parameters())
