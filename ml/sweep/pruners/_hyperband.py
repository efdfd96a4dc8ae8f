"""Hyperband as the spec writes it: Optuna's `HyperbandPruner`, with ``max_resource`` unset = "auto".

Why not a pruner of our own like the others: bandit, median stopping and truncation selection
follow Azure ML's semantics, which Optuna does not have; Hyperband is Optuna's own, and SageMaker's
strategy of the same name follows the same paper (Li et al., 2018). Optuna documents it as best
paired with `TPESampler`, which is what ``sampling: bayesian`` gives locally.
"""

from __future__ import annotations

from optuna.pruners import HyperbandPruner


def hyperband_pruner(
    *, min_resource: int = 1, max_resource: int | None = None, reduction_factor: int = 3
) -> HyperbandPruner:
    """Optuna's Hyperband over the steps a trial reports (``max_resource`` None: the first finished trial's)."""
    return HyperbandPruner(
        min_resource=min_resource,
        max_resource="auto" if max_resource is None else max_resource,
        reduction_factor=reduction_factor,
    )
