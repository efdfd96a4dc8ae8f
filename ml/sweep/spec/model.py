"""The sweep spec's sections and `SweepSpec` itself, with the views every backend shares.

Why the sections are small models: each validates its own values (bounds, one source of an
environment, a slack for bandit) and reports them under its key path; what needs several sections
at once lives in `ml.sweep.spec.checks`, and the parameter types and early-termination policies in
their own modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, StrictStr, model_validator

from ml.sweep.spec._base import Duration, Scalar, SpecModel
from ml.sweep.spec.early_termination import EarlyTermination
from ml.sweep.spec.placeholders import references, render
from ml.sweep.spec.search_space import DISCRETE_TYPES, Parameter

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_CHECKPOINT_ENV = "ML_CHECKPOINT_DIR"


class Environment(SpecModel):
    """What the trial runs in: pip requirements (inline or a file in the code dir) and/or an image.

    The local backend runs trials with the current interpreter and does not install anything; the
    cloud backends build or reference an environment from these fields.
    """

    pip: list[StrictStr] | None = None
    requirements: str | None = None
    image: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Environment:
        if self.pip is not None and self.requirements is not None:
            raise ValueError("give either 'pip' (a list) or 'requirements' (a file), not both")
        if self.pip is None and self.requirements is None and self.image is None:
            raise ValueError("give 'pip' (list of requirements), 'requirements' (a file) or 'image'")
        return self


class Input(SpecModel):
    """A data input the command references as ``${{inputs.<name>}}``; a bare string is its path."""

    type: Literal["uri_folder", "uri_file"] = "uri_folder"
    path: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data


class Objective(SpecModel):
    """The metric the trial reports and whether bigger is better."""

    metric: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-/ ]+$")
    goal: Literal["minimize", "maximize"]


class Sampling(SpecModel):
    """How trials pick parameters; a bare string (``bayesian``) is the algorithm with no seed."""

    algorithm: Literal["random", "grid", "bayesian"]
    seed: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"algorithm": data} if isinstance(data, str) else data


class Limits(SpecModel):
    """How many trials, how many at once, and how long the sweep and each trial may run."""

    max_total_trials: int | None = Field(default=None, ge=1)
    max_concurrent_trials: int = Field(default=1, ge=1)
    timeout: Duration | None = None
    trial_timeout: Duration
    max_failed_trials: int | None = Field(default=None, ge=1)
    """End the sweep once this many trials failed; default: `SweepSpec.failure_limit`."""


class Spot(SpecModel):
    """Run trials on spot / low-priority capacity; an evicted trial restarts from its checkpoint.

    ``enabled`` unset follows the stack (``training.spot`` in the platform outputs). Trials find
    their checkpoint directory in the env var ``checkpoint_env`` (always also ``ML_CHECKPOINT_DIR``);
    ``checkpoint_dir`` is that directory inside a cloud container, synced to the stack's checkpoint
    store. ``max_restarts`` bounds how often one trial is restarted after an eviction.
    """

    enabled: bool | None = None
    checkpoint_env: str = Field(default=DEFAULT_CHECKPOINT_ENV, pattern=_ENV_NAME)
    checkpoint_dir: str = "/opt/ml/checkpoints"
    max_wait: Duration | None = None
    max_restarts: int = Field(default=3, ge=0)


class CostCap(SpecModel):
    """The most the sweep may cost in the worst case; it is refused before submission above it."""

    max_cost: float = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class Compute(SpecModel):
    """Override the stack's training instance type and the number of instances per trial."""

    instance_type: str | None = None
    instance_count: int = Field(default=1, ge=1)


class SweepSpec(SpecModel):
    """A hyperparameter sweep, written once, run by any backend."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")
    experiment: str | None = None
    model_name: str | None = None
    description: str | None = None
    code: str = "."
    command: str = Field(min_length=1)
    environment: Environment
    inputs: dict[str, Input] = Field(default_factory=dict)
    search_space: dict[str, Parameter] = Field(min_length=1)
    objective: Objective
    sampling: Sampling
    early_termination: EarlyTermination | None = None
    limits: Limits
    spot: Spot = Field(default_factory=Spot)
    cost: CostCap | None = None
    compute: Compute = Field(default_factory=Compute)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str = PrivateAttr(default="<spec>")

    # -- derived views the backends share ----------------------------------------------------------

    @property
    def experiment_name(self) -> str:
        """The MLflow experiment: ``experiment`` or the sweep name."""
        return self.experiment or self.name

    @property
    def registered_model_name(self) -> str:
        """The registry name `ml sweep best` registers under: ``model_name`` or the sweep name."""
        return self.model_name or self.name

    @property
    def source(self) -> str:
        """Where the spec was read from (a file path or ``<string>``)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the spec (``code``, local inputs) are resolved against."""
        return self._base_dir

    def code_dir(self) -> Path:
        """The absolute code directory."""
        return (self._base_dir / self.code).resolve()

    def grid(self) -> dict[str, list[Scalar]]:
        """Every parameter's grid values; only valid when all parameters are discrete."""
        params = self.search_space.items()
        return {name: param.grid_values() for name, param in params if isinstance(param, DISCRETE_TYPES)}

    def grid_size(self) -> int:
        """The number of points in the full grid (product of each parameter's value count)."""
        return math.prod(len(values) for values in self.grid().values())

    def trial_budget(self) -> int:
        """How many trials the sweep runs at most: ``max_total_trials``, capped by the grid size for grid."""
        if self.sampling.algorithm == "grid":
            size = self.grid_size()
            return min(size, self.limits.max_total_trials) if self.limits.max_total_trials else size
        assert self.limits.max_total_trials is not None  # enforced by validation
        return self.limits.max_total_trials

    def failure_limit(self) -> int:
        """``limits.max_failed_trials``, else a fifth of the trial budget and at least 3.

        Why this default: a script that fails the same way every time is stopped after 3 trials of a
        small sweep, while a large sweep tolerates the odd trial lost to a bad corner of the space.
        """
        if self.limits.max_failed_trials is not None:
            return self.limits.max_failed_trials
        return max(3, math.ceil(self.trial_budget() / 5))

    def references(self) -> list[tuple[str, str]]:
        """The ``(namespace, name)`` pairs the command's placeholders refer to, in order."""
        return references(self.command)

    def render_command(self, params: Mapping[str, Any], inputs: Mapping[str, str] | None = None) -> str:
        """The command with every placeholder replaced by a shell-quoted value (for a local shell)."""
        inputs = inputs if inputs is not None else {name: spec.path for name, spec in self.inputs.items()}
        return render(self.command, params, inputs)
