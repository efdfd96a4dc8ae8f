"""The sweep spec: one typed document that every backend (local, azure, sagemaker) translates.

Why one typed model: the user writes a sweep once; each backend maps the same fields to Optuna,
an azure-ai-ml sweep job or a SageMaker tuning job. Validation that holds for every backend lives
here (bounds, grid needs discrete parameters, placeholders that name real parameters); what only
one backend cannot do (e.g. Azure's bayesian sampling with early termination) is that backend's
`check()`.

Errors are part of the interface: every problem names the key path (``search_space.lr.min_value``)
and, when the spec came from YAML, the file and line, and is raised as one `UserError`.

Conventions a spec author (and a backend) can rely on:

- **Placeholders** in ``command`` use Azure ML's syntax: ``${{search_space.<param>}}`` and
  ``${{inputs.<name>}}``. Backends substitute them (local: shell-quoted values; Azure: verbatim).
- **Bounds are values, inclusive**: ``loguniform`` ``min_value``/``max_value`` are the actual
  values (0.01, 0.3), not exponents (Azure's ``LogUniform`` takes exponents; its backend converts);
  ``randint`` draws integers in ``[min_value, max_value]`` (``min_value`` defaults to 0).
- **Durations** are seconds (int) or strings such as ``"90s"``, ``"20m"``, ``"2h"``, ``"1h30m"``.
- **The objective value of a trial** is the last value it reported for ``objective.metric``.

Example::

    name: breast-cancer-gbm
    code: ../train
    command: python train_gbm.py --learning-rate ${{search_space.learning_rate}}
    environment: {pip: ["scikit-learn>=1.6", "mlflow>=3.1"]}
    search_space:
      learning_rate: {type: loguniform, min_value: 0.01, max_value: 0.3}
    objective: {metric: val_auc, goal: maximize}
    sampling: bayesian
    limits: {max_total_trials: 12, max_concurrent_trials: 2, trial_timeout: 5m}
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from ml.contract.errors import UserError
from ml.contract.validation import KeyPath, YamlDocument, validate_document

PLACEHOLDER = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
"""Any ``${{ ... }}`` in the command; its content must be ``search_space.<p>`` or ``inputs.<n>``."""
_REFERENCE = re.compile(r"^(search_space|inputs)\.([A-Za-z_][A-Za-z0-9_]*)$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_CHECKPOINT_ENV = "ML_CHECKPOINT_DIR"


class SpecError(UserError):
    """The sweep spec is malformed; the message lists every problem with its key path and line."""


def parse_duration(value: Any) -> int:
    """Seconds from an int or a string like ``"90s"``, ``"20m"``, ``"1h30m"`` (a bare number is seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 300, '5m' or '2h', got {value!r}")
    if isinstance(value, int | float):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            match = _DURATION.match(text)
            if not text or match is None or not any(match.groups()):
                raise ValueError(f"expected a duration such as 300, '90s', '20m', '2h' or '1h30m', got {value!r}")
            hours, minutes, secs = (int(group or 0) for group in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError(f"expected a duration such as 300, '5m' or '2h', got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return math.ceil(seconds)


Duration = Annotated[int, BeforeValidator(parse_duration)]
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- search space -------------------------------------------------------------------------------


class Choice(_Model):
    """One of a list of values (numbers, strings or booleans)."""

    type: Literal["choice"]
    values: list[Scalar] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[Scalar]) -> list[Scalar]:
        seen = [repr(v) for v in values]
        duplicates = sorted({v for v in seen if seen.count(v) > 1})
        if duplicates:
            raise ValueError(f"values must be distinct, repeated: {', '.join(duplicates)}")
        return values

    def grid_values(self) -> list[Scalar]:
        return list(self.values)


class Uniform(_Model):
    """A float drawn uniformly from ``[min_value, max_value]``."""

    type: Literal["uniform"]
    min_value: float
    max_value: float

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        _require_order(self.min_value, self.max_value)
        return self


class LogUniform(_Model):
    """A float whose logarithm is uniform: bounds are the values themselves and must be > 0."""

    type: Literal["loguniform"]
    min_value: float = Field(gt=0)
    max_value: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        _require_order(self.min_value, self.max_value)
        return self


class RandInt(_Model):
    """An integer drawn uniformly from ``[min_value, max_value]`` (both inclusive)."""

    type: Literal["randint"]
    min_value: int = 0
    max_value: int

    @model_validator(mode="after")
    def _ordered(self) -> RandInt:
        _require_order(self.min_value, self.max_value)
        return self

    def grid_values(self) -> list[Scalar]:
        return list(range(self.min_value, self.max_value + 1))


class QUniform(_Model):
    """``round(uniform(min_value, max_value) / q) * q``: a discretised uniform, usable in a grid."""

    type: Literal["quniform"]
    min_value: float
    max_value: float
    q: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> QUniform:
        _require_order(self.min_value, self.max_value)
        if not self.grid_values():
            raise ValueError(f"no multiple of q={self.q} lies in [{self.min_value}, {self.max_value}]")
        return self

    def grid_values(self) -> list[Scalar]:
        low = math.ceil(self.min_value / self.q - 1e-9)
        high = math.floor(self.max_value / self.q + 1e-9)
        integral = float(self.q).is_integer() and float(self.min_value).is_integer()
        return [int(k * self.q) if integral else round(k * self.q, 12) for k in range(low, high + 1)]


class Normal(_Model):
    """A float drawn from a normal distribution N(mu, sigma)."""

    type: Literal["normal"]
    mu: float
    sigma: float = Field(gt=0)


Parameter = Annotated[Union[Choice, Uniform, LogUniform, RandInt, QUniform, Normal], Field(discriminator="type")]  # noqa: UP007
DISCRETE_TYPES = (Choice, RandInt, QUniform)
PARAMETER_TYPES = ("choice", "uniform", "loguniform", "randint", "quniform", "normal")


def _require_order(low: float, high: float) -> None:
    if not low < high:
        raise ValueError(f"min_value ({low}) must be less than max_value ({high})")


# --- the rest of the spec ------------------------------------------------------------------------


class Environment(_Model):
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


class Input(_Model):
    """A data input the command references as ``${{inputs.<name>}}``; a bare string is its path."""

    type: Literal["uri_folder", "uri_file"] = "uri_folder"
    path: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data


class Objective(_Model):
    """The metric the trial reports and whether bigger is better."""

    metric: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-/ ]+$")
    goal: Literal["minimize", "maximize"]


class Sampling(_Model):
    """How trials pick parameters; a bare string (``bayesian``) is the algorithm with no seed."""

    algorithm: Literal["random", "grid", "bayesian"]
    seed: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"algorithm": data} if isinstance(data, str) else data


class _Policy(_Model):
    evaluation_interval: int = Field(default=1, ge=1)
    delay_evaluation: int = Field(default=0, ge=0)


class BanditPolicy(_Policy):
    """Stop a trial whose metric is worse than the best by more than a slack (factor or amount)."""

    policy: Literal["bandit"]
    slack_factor: float | None = Field(default=None, gt=0)
    slack_amount: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_slack(self) -> BanditPolicy:
        if (self.slack_factor is None) == (self.slack_amount is None):
            raise ValueError("bandit needs exactly one of 'slack_factor' or 'slack_amount'")
        return self


class MedianStoppingPolicy(_Policy):
    """Stop a trial whose running average is worse than the median of the others' at that step."""

    policy: Literal["median_stopping"]


class TruncationSelectionPolicy(_Policy):
    """At each evaluation interval, stop the trials in the lowest ``truncation_percentage`` percent."""

    policy: Literal["truncation_selection"]
    truncation_percentage: int = Field(ge=1, le=99)


EarlyTermination = Annotated[
    Union[BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy],  # noqa: UP007
    Field(discriminator="policy"),
]
POLICY_NAMES = ("bandit", "median_stopping", "truncation_selection")


class Limits(_Model):
    """How many trials, how many at once, and how long the sweep and each trial may run."""

    max_total_trials: int | None = Field(default=None, ge=1)
    max_concurrent_trials: int = Field(default=1, ge=1)
    timeout: Duration | None = None
    trial_timeout: Duration


class Spot(_Model):
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


class CostCap(_Model):
    """The most the sweep may cost in the worst case; it is refused before submission above it."""

    max_cost: float = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class Compute(_Model):
    """Override the stack's training instance type and the number of instances per trial."""

    instance_type: str | None = None
    instance_count: int = Field(default=1, ge=1)


class SweepSpec(_Model):
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

    def references(self) -> list[tuple[str, str]]:
        """The ``(namespace, name)`` pairs the command's placeholders refer to, in order."""
        found = []
        for match in PLACEHOLDER.finditer(self.command):
            reference = _REFERENCE.match(match.group(1))
            if reference:
                found.append((reference.group(1), reference.group(2)))
        return found

    def render_command(self, params: Mapping[str, Any], inputs: Mapping[str, str] | None = None) -> str:
        """The command with every placeholder replaced by a shell-quoted value (for a local shell)."""
        inputs = inputs if inputs is not None else {name: spec.path for name, spec in self.inputs.items()}

        def substitute(match: re.Match[str]) -> str:
            reference = _REFERENCE.match(match.group(1))
            if reference is None:  # validation rejects these; keep the text if a caller skipped it
                return match.group(0)
            namespace, name = reference.groups()
            value = params[name] if namespace == "search_space" else inputs[name]
            return shlex.quote(_format_value(value))

        return PLACEHOLDER.sub(substitute, self.command)


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


# --- cross-field checks: (key path, message) pairs --------------------------------------------------


def _cross_checks(spec: SweepSpec, *, check_paths: bool) -> Iterator[tuple[KeyPath, str]]:
    for name in spec.search_space:
        if not _IDENTIFIER.match(name):
            yield ("search_space", name), f"parameter name '{name}' must be an identifier (letters, digits, _)"
    for name in spec.inputs:
        if not _IDENTIFIER.match(name):
            yield ("inputs", name), f"input name '{name}' must be an identifier (letters, digits, _)"

    used: set[tuple[str, str]] = set()
    for match in PLACEHOLDER.finditer(spec.command):
        reference = _REFERENCE.match(match.group(1))
        if reference is None:
            yield (
                ("command",),
                (
                    f"placeholder '{match.group(0)}' is not understood; use ${{{{search_space.<param>}}}} "
                    f"or ${{{{inputs.<name>}}}}"
                ),
            )
            continue
        namespace, name = reference.groups()
        known = spec.search_space if namespace == "search_space" else spec.inputs
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none defined"
            yield (
                ("command",),
                (f"placeholder '{match.group(0)}' names no {namespace} entry '{name}' (defined: {allowed})"),
            )
        used.add((namespace, name))
    for name in spec.search_space:
        if ("search_space", name) not in used:
            yield (
                ("search_space", name),
                (f"parameter '{name}' is never passed to the command; add ${{{{search_space.{name}}}}} to 'command'"),
            )

    if spec.sampling.algorithm == "grid":
        continuous = [n for n, p in spec.search_space.items() if not isinstance(p, DISCRETE_TYPES)]
        for name in continuous:
            kind = spec.search_space[name].type
            yield (
                ("search_space", name, "type"),
                (
                    f"grid sampling needs discrete parameters (choice, randint, quniform); '{name}' is {kind}. "
                    f"Use sampling: random or bayesian, or make it a choice"
                ),
            )
    elif spec.limits.max_total_trials is None:
        yield (
            ("limits", "max_total_trials"),
            (f"required for {spec.sampling.algorithm} sampling (only grid sampling can default to the grid size)"),
        )

    if spec.limits.timeout is not None and spec.limits.timeout < spec.limits.trial_timeout:
        yield (
            ("limits", "timeout"),
            (
                f"the sweep timeout ({spec.limits.timeout}s) is shorter than one trial's trial_timeout "
                f"({spec.limits.trial_timeout}s)"
            ),
        )
    if spec.limits.max_total_trials is not None and spec.limits.max_concurrent_trials > spec.limits.max_total_trials:
        yield (
            ("limits", "max_concurrent_trials"),
            (f"{spec.limits.max_concurrent_trials} exceeds max_total_trials ({spec.limits.max_total_trials})"),
        )
    if spec.spot.max_wait is not None and spec.spot.max_wait < spec.limits.trial_timeout:
        yield (
            ("spot", "max_wait"),
            (f"max_wait ({spec.spot.max_wait}s) must be at least limits.trial_timeout ({spec.limits.trial_timeout}s)"),
        )

    if check_paths:
        code = spec.code_dir()
        if not code.is_dir():
            yield ("code",), f"code directory {code} does not exist (resolved relative to {spec.base_dir})"
        elif spec.environment.requirements is not None and not (code / spec.environment.requirements).is_file():
            missing = code / spec.environment.requirements
            yield ("environment", "requirements"), f"requirements file {missing} does not exist"


def parse_spec(
    text: str, *, source: str = "<string>", base_dir: Path | None = None, check_paths: bool = False
) -> SweepSpec:
    """Parse and validate a sweep spec from YAML text; every problem is reported at once with its line.

    ``base_dir`` is where relative paths resolve (the spec file's directory); ``check_paths`` also
    verifies that the code directory and requirements file exist.
    """
    document = YamlDocument(
        text,
        kind="sweep spec",
        source=source,
        expected="name, command, search_space, objective, sampling, limits",
        error_type=SpecError,
    )
    spec: SweepSpec = validate_document(
        document, SweepSpec, tag_choices={"type": PARAMETER_TYPES, "policy": POLICY_NAMES}
    )
    spec._base_dir = (base_dir or Path.cwd()).resolve()
    spec._source = source
    problems = list(_cross_checks(spec, check_paths=check_paths))
    if problems:
        raise document.error(problems)
    return spec


def load_spec(path: Path) -> SweepSpec:
    """Read a sweep spec file; relative paths in it resolve against the file's directory."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"sweep spec {path} does not exist; pass the path of a YAML file (sweeps/x.yaml)") from None
    except IsADirectoryError:
        raise SpecError(f"sweep spec {path} is a directory; pass the path of a YAML file") from None
    return parse_spec(text, source=str(path), base_dir=path.parent, check_paths=True)
