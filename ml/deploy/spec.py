"""The rollout spec: one typed YAML document that the engine runs against any target.

Why typed and strict: a rollout moves production traffic, so a typo (``max_eror_rate``) must fail
before anything is created, not silently disable a gate. Every problem names its key path and,
when the spec came from YAML, the file line, and all problems are reported at once as one
`UserError`.

Conventions:

- **Durations** are seconds (a number) or strings such as ``"500ms"``, ``"30s"``, ``"5m"``,
  ``"1m30s"``; zero is allowed for bake times (judge as soon as ``min_requests`` arrived).
- **Percentages** are integers 0..100 of the endpoint's traffic given to the *new* deployment.
- **The model** is a registry URI, ``models:/<name>@<alias>`` or ``models:/<name>/<version>``; the
  engine resolves an alias to its version once, at the start, so a later alias move cannot change
  what is being rolled out.
- **Gates** are judged on the new deployment's metrics since the current step began; a latency
  gate left out is not judged. With fewer than ``min_requests`` requests the engine keeps waiting
  up to ``gates.max_wait`` and then fails (``insufficient_traffic: fail``) or passes the step.
- **Statistics**: ``gates.relative`` judges the new colour against the one it replaces (three
  outcomes, a stated confidence), and ``strategy: ab`` runs an A/B experiment to a decision; both
  are defined in `ml.deploy.spec_decide` beside the policies they configure.

Example::

    model: models:/breast-cancer-gbm@challenger
    strategy: {type: canary, steps: [10, 25, 50, 100]}
    bake_time: 30s
    gates: {max_error_rate: 0.01, max_p95_latency_ms: 250, max_p99_latency_ms: 500, min_requests: 100}
    on_failure: rollback
    validation:                  # judged before anything is created; see ml/validate/spec.py
      data: ../data/breast_cancer_holdout.csv
      target: target
      task: classifier
      metrics: [roc_auc]
      compare: {against: champion, tolerance: 0.01}
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.contract.validation import YamlDocument, validate_document
from ml.deploy.spec_decide import ABTest, RelativeGates
from ml.validate.spec import ValidationSpec

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@\s]+)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<version>[0-9]+))$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)")
STRATEGIES = ("blue_green", "canary", "linear", "ab")


class SpecError(UserError):
    """The rollout spec is malformed or incomplete; the message lists every problem with its key path and line."""


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1m30s"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30, '30s' or '5m', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise ValueError(f"expected a duration such as 30, '500ms', '30s', '5m' or '1m30s', got {value!r}")
            scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
            seconds = sum(float(number) * scale[unit] for number, unit in parts)
    else:
        raise ValueError(f"expected a duration such as 30, '30s' or '5m', got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
Percent = Annotated[int, Field(ge=0, le=100, strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlueGreen(_Model):
    """Warm the new colour up (optionally on a mirrored copy of live traffic), then switch all at once.

    ``warmup``: how long to wait after it is healthy before anything else. ``mirror_percent``: the
    share of live requests also sent to the new colour during ``mirror_time`` (its answers are
    discarded; its metrics are judged by the gates), 0 = no mirror. After the switch the old colour
    stays up for one bake time so a failing gate can switch back instantly.
    """

    type: Literal["blue_green"]
    warmup: Duration = 0.0
    mirror_percent: Percent = 0
    mirror_time: Duration | None = None

    def traffic_steps(self) -> list[int]:
        """Traffic steps of the new colour after the (optional) mirror phase: one switch to 100."""
        return [100]


class Canary(_Model):
    """Give the new deployment a growing share of traffic, e.g. ``steps: [10, 25, 50, 100]``."""

    type: Literal["canary"]
    steps: list[Annotated[int, Field(ge=1, le=100, strict=True)]] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _increasing_to_100(cls, steps: list[int]) -> list[int]:
        for before, after in itertools.pairwise(steps):
            if after <= before:
                raise ValueError(f"steps must increase strictly, got {before} then {after} in {steps}")
        if steps[-1] != 100:
            raise ValueError(f"the last step must be 100 (all traffic on the new model), got {steps}")
        return steps

    def traffic_steps(self) -> list[int]:
        return list(self.steps)


class Linear(_Model):
    """Move traffic in equal increments: ``step_percent: 20`` -> 20, 40, 60, 80, 100."""

    type: Literal["linear"]
    step_percent: Annotated[int, Field(ge=1, le=100, strict=True)]

    def traffic_steps(self) -> list[int]:
        steps = list(range(self.step_percent, 100, self.step_percent))
        return [*steps, 100]


Strategy = Annotated[BlueGreen | Canary | Linear | ABTest, Field(discriminator="type")]


class Gates(_Model):
    """Promotion criteria judged on the new deployment's metrics since the current step began."""

    max_error_rate: float = Field(0.01, ge=0, le=1)
    max_p95_latency_ms: float | None = Field(None, gt=0)
    max_p99_latency_ms: float | None = Field(None, gt=0)
    min_requests: int = Field(20, ge=0, strict=True)
    max_wait: Duration | None = None
    """How long past the bake time to wait for ``min_requests``; default: the bake time (at least 30 s)."""
    insufficient_traffic: Literal["fail", "pass"] = "fail"
    relative: RelativeGates | None = None
    """The new colour against the one it replaces, where both serve (`ml.deploy.spec_decide`)."""

    @model_validator(mode="after")
    def _ordered_latencies(self) -> Gates:
        p95, p99 = self.max_p95_latency_ms, self.max_p99_latency_ms
        if p95 is not None and p99 is not None and p99 < p95:
            raise ValueError(f"max_p99_latency_ms ({p99}) is below max_p95_latency_ms ({p95}); p99 >= p95 always")
        return self


class RolloutSpec(_Model):
    """What to roll out, where, how fast, and what must hold at every step."""

    model: str
    endpoint: str | None = None
    """The endpoint to roll out on; default: the stack's ``outputs.endpoint.name``."""
    strategy: Strategy
    bake_time: Duration = 60.0
    gates: Gates = Gates()
    instance_type: str | None = None
    instance_count: int | None = Field(None, ge=1, strict=True)
    health_timeout: Duration = 600.0
    """How long the new deployment may take to become healthy before the rollout fails."""
    promote_alias: str = Field("champion", pattern=r"^[A-Za-z0-9_\-]+$")
    registry_wait: Duration = 120.0
    """How long a rollout holds its traffic while the tracking server (the registry) is unreachable
    before it rolls back; if it returns in time, the rollout goes on and the alias moves."""
    on_failure: Literal["rollback"] = "rollback"
    description: str | None = None
    validation: ValidationSpec | None = None
    """Offline evaluation that must pass before anything is created (`ml.validate.spec`); data paths
    are relative to the spec file."""

    _source: str = "<string>"

    @field_validator("model")
    @classmethod
    def _registry_uri(cls, value: str) -> str:
        if MODEL_URI.match(value) is None:
            raise ValueError(
                f"expected a model registry URI 'models:/<name>@<alias>' or 'models:/<name>/<version>', got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _mirror_time(self) -> RolloutSpec:
        strategy = self.strategy
        if isinstance(strategy, BlueGreen) and strategy.mirror_percent == 0 and (strategy.mirror_time or 0) > 0:
            raise ValueError("strategy.mirror_time is set but strategy.mirror_percent is 0; set both or neither")
        return self

    # --- derived values the engine uses --------------------------------------------------------------

    @property
    def model_name(self) -> str:
        match = MODEL_URI.match(self.model)
        assert match is not None
        return match.group("name")

    @property
    def model_alias(self) -> str | None:
        match = MODEL_URI.match(self.model)
        assert match is not None
        return match.group("alias")

    @property
    def model_version(self) -> str | None:
        match = MODEL_URI.match(self.model)
        assert match is not None
        return match.group("version")

    @property
    def source(self) -> str:
        return self._source

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the spec (``validation.data``) are read from."""
        source = Path(self._source)
        return source.parent if self._source not in ("<string>", "") else Path.cwd()

    def traffic_steps(self) -> list[int]:
        """The new deployment's share of traffic at each step (the last is always 100)."""
        return self.strategy.traffic_steps()

    def gate_wait(self) -> float:
        """Seconds past the bake time to keep waiting for ``min_requests``."""
        return self.gates.max_wait if self.gates.max_wait is not None else max(self.bake_time, 30.0)

    def endpoint_for(self, outputs: PlatformOutputs) -> str:
        """The endpoint this spec targets on a stack; a `SpecError` when neither names one."""
        return endpoint_of(outputs, self.endpoint, source=self.source)


def endpoint_of(outputs: PlatformOutputs, endpoint: str | None, *, source: str | None = None) -> str:
    """The endpoint a rollout acts on: the one named, else the stack's -- the one place that default is applied.

    Why one function: `ml deploy SPEC` names the endpoint with the spec's ``endpoint:`` key, the other
    commands (`ml deploy status|recover`, `ml rollback`) with ``--endpoint``; both fall back to the
    stack's ``outputs.endpoint.name`` and, when the stack exports none, fail with the same message
    (prefixed with the spec file when a spec asked).
    """
    if endpoint is not None:
        return endpoint
    if outputs.endpoint is None:
        where = f"rollout spec {source}: " if source is not None else ""
        raise SpecError(
            f"{where}no 'endpoint' given and stack '{outputs.stack}' exports no endpoint; set `endpoint:` in the "
            f"rollout spec (or `--endpoint` on the command line), or enable the endpoint in the stack config and "
            f"run `pulumi up`"
        )
    return outputs.endpoint.name


def parse_spec(text: str, *, source: str = "<string>") -> RolloutSpec:
    """Parse and validate a rollout spec from YAML text; every problem is reported at once with its line."""
    document = YamlDocument(
        text,
        kind="rollout spec",
        source=source,
        expected="model, strategy, bake_time, gates",
        error_type=SpecError,
    )
    spec: RolloutSpec = validate_document(
        document, RolloutSpec, tag_choices={"type": STRATEGIES}, tag_nouns={"type": "strategy type"}
    )
    spec._source = source
    return spec


def load_spec(path: Path) -> RolloutSpec:
    """Read a rollout spec file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(
            f"rollout spec {path} does not exist; pass the path of a YAML file (deployments/x.yaml)"
        ) from None
    except IsADirectoryError:
        raise SpecError(f"rollout spec {path} is a directory; pass the path of a YAML file") from None
    return parse_spec(text, source=str(path))
