"""The spec's sampling and search space in Optuna terms, for the local backend.

Why separate: the mapping is the part of the local backend with semantics to get right (grid
points, q-uniform rounding, a normal distribution Optuna does not have), and it is unit-testable
without processes or MLflow.

- ``random`` -> `RandomSampler`, ``grid`` -> `GridSampler` over every parameter's grid values (a
  random order of the points when ``max_total_trials`` is below the grid size), ``bayesian`` ->
  `TPESampler` with the constant-liar heuristic for parallel trials and a third of the budget (2
  to 10 trials) as random start-up trials.
- ``normal`` is sampled as a quantile ``u`` in (0, 1) (Optuna parameter ``<name>_quantile``) and
  mapped through the inverse normal CDF, so TPE still models it and the value passed is N(mu, sigma).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import optuna

from ml.sweep.spec import Choice, LogUniform, Normal, QUniform, RandInt, SweepSpec, Uniform

_QUANTILE_EPSILON = 1e-6


def sampler_for(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for the spec's sampling algorithm and seed."""
    seed = spec.sampling.seed
    algorithm = spec.sampling.algorithm
    if algorithm == "grid":
        return optuna.samplers.GridSampler(dict(spec.grid()), seed=seed)
    if algorithm == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = min(10, max(2, spec.trial_budget() // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)


def suggest(trial: optuna.Trial, spec: SweepSpec) -> dict[str, Any]:
    """Ask the trial for every parameter; returns the values to substitute into the command."""
    grid = spec.sampling.algorithm == "grid"
    values: dict[str, Any] = {}
    for name, param in spec.search_space.items():
        if grid:
            assert isinstance(param, Choice | RandInt | QUniform)  # enforced by the spec
            values[name] = trial.suggest_categorical(name, param.grid_values())
        elif isinstance(param, Choice):
            values[name] = trial.suggest_categorical(name, param.values)
        elif isinstance(param, Uniform):
            values[name] = trial.suggest_float(name, param.min_value, param.max_value)
        elif isinstance(param, LogUniform):
            values[name] = trial.suggest_float(name, param.min_value, param.max_value, log=True)
        elif isinstance(param, RandInt):
            values[name] = trial.suggest_int(name, param.min_value, param.max_value)
        elif isinstance(param, QUniform):
            points = param.grid_values()
            low, high = float(points[0]), float(points[-1])
            value = low if low == high else trial.suggest_float(name, low, high, step=param.q)
            values[name] = _tidy(value, points)
        elif isinstance(param, Normal):
            quantile = trial.suggest_float(f"{name}_quantile", _QUANTILE_EPSILON, 1 - _QUANTILE_EPSILON)
            values[name] = NormalDist(param.mu, param.sigma).inv_cdf(quantile)
        else:  # pragma: no cover - the spec's union is exhaustive
            raise TypeError(f"unknown parameter type {param!r}")
    return values


def _tidy(value: float, points: list[Any]) -> Any:
    """Snap a q-uniform draw to the nearest grid point (same type as the grid: int or float)."""
    nearest = min(points, key=lambda point: abs(float(point) - value))
    return nearest if isinstance(nearest, int) or not math.isfinite(value) else float(nearest)
