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

Example::

    model: models:/breast-cancer-gbm@challenger
    strategy: {type: canary, steps: [10, 25, 50, 100]}
    bake_time: 30s
    gates: {max_error_rate: 0.01, max_p95_latency_ms: 250, max_p99_latency_ms: 500, min_requests: 100}
    on_failure: rollback
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from ml.contract import PlatformOutputs
from ml.errors import UserError

KeyPath = tuple[str | int, ...]

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@\s]+)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<version>[0-9]+))$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)")
STRATEGIES = ("blue_green", "canary", "linear")


class SpecError(UserError):
    """The rollout spec is malformed; the message lists every problem with its key path and line."""


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


Strategy = Annotated[BlueGreen | Canary | Linear, Field(discriminator="type")]


class Gates(_Model):
    """Promotion criteria judged on the new deployment's metrics since the current step began."""

    max_error_rate: float = Field(0.01, ge=0, le=1)
    max_p95_latency_ms: float | None = Field(None, gt=0)
    max_p99_latency_ms: float | None = Field(None, gt=0)
    min_requests: int = Field(20, ge=0, strict=True)
    max_wait: Duration | None = None
    """How long past the bake time to wait for ``min_requests``; default: the bake time (at least 30 s)."""
    insufficient_traffic: Literal["fail", "pass"] = "fail"

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
    on_failure: Literal["rollback"] = "rollback"
    description: str | None = None

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

    def traffic_steps(self) -> list[int]:
        """The new deployment's share of traffic at each step (the last is always 100)."""
        return self.strategy.traffic_steps()

    def gate_wait(self) -> float:
        """Seconds past the bake time to keep waiting for ``min_requests``."""
        return self.gates.max_wait if self.gates.max_wait is not None else max(self.bake_time, 30.0)

    def endpoint_for(self, outputs: PlatformOutputs) -> str:
        """The endpoint this spec targets on a stack; a `UserError` when neither names one."""
        if self.endpoint is not None:
            return self.endpoint
        if outputs.endpoint is None:
            raise SpecError(
                f"rollout spec {self.source}: no 'endpoint' given and stack '{outputs.stack}' exports no endpoint; "
                f"add `endpoint: <name>` or provision one with `pulumi up`"
            )
        return outputs.endpoint.name


# --- YAML with line numbers --------------------------------------------------------------------------


def _line_index(node: yaml.Node, path: KeyPath, index: dict[KeyPath, int], problems: list[tuple[KeyPath, str]]) -> None:
    """Map every key path to its 1-based YAML line, and report duplicate keys (PyYAML keeps the last)."""
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(((*path, key), f"duplicate key '{key}' (YAML would silently keep only the last one)"))
            seen.add(key)
            index[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), index, problems)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _line_index(item, (*path, position), index, problems)


def _line_for(path: KeyPath, index: Mapping[KeyPath, int]) -> int | None:
    for cut in range(len(path), -1, -1):
        if path[:cut] in index:
            return index[path[:cut]]
    return None


def _document_path(loc: tuple[Any, ...], document: Any, *, missing: bool) -> KeyPath:
    """Keep the loc components that exist in the document (drops pydantic's union-member tags)."""
    path: list[str | int] = []
    node = document
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if (isinstance(node, Mapping) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif last and missing:
            path.append(part)
    return tuple(path)


_ALLOWED_KEYS: dict[KeyPath, list[str]] = {
    (): list(RolloutSpec.model_fields),
    ("gates",): list(Gates.model_fields),
}
_STRATEGY_KEYS = {
    "blue_green": list(BlueGreen.model_fields),
    "canary": list(Canary.model_fields),
    "linear": list(Linear.model_fields),
}


def _allowed(path: KeyPath, document: Any) -> list[str]:
    if path == ("strategy",) and isinstance(document, Mapping) and isinstance(document.get("strategy"), Mapping):
        return _STRATEGY_KEYS.get(str(document["strategy"].get("type")), [])
    return _ALLOWED_KEYS.get(path, [])


def _describe(error: Mapping[str, Any], document: Any) -> tuple[KeyPath, str]:
    kind = error["type"]
    path = _document_path(tuple(error["loc"]), document, missing=kind == "missing")
    given = error.get("input")
    if kind == "missing":
        allowed = _allowed(path[:-1], document)
        return path, "required key is missing" + (f" (keys here: {', '.join(allowed)})" if allowed else "")
    if kind == "extra_forbidden":
        allowed = _allowed(path[:-1], document)
        return path, f"unknown key '{path[-1]}'" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "union_tag_not_found":
        return path, f"needs 'type', one of: {', '.join(STRATEGIES)}"
    if kind == "union_tag_invalid":
        tag = given.get("type") if isinstance(given, Mapping) else given
        return (*path, "type"), f"unknown strategy type {tag!r}; allowed: {', '.join(STRATEGIES)}"
    if kind == "model_attributes_type" or kind == "dict_type":
        return path, f"expected a mapping, got {given!r}"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "value_error":
        return path, message
    return path, f"{message[:1].lower()}{message[1:]} (got {given!r})"


def _format(source: str, problems: list[tuple[KeyPath, str]], index: Mapping[KeyPath, int]) -> str:
    parts = []
    for path, message in problems:
        key = ".".join(str(p) for p in path) or "<document>"
        line = _line_for(path, index)
        parts.append(f"{f'line {line}, ' if line is not None else ''}{key}: {message}")
    noun = "problem" if len(parts) == 1 else "problems"
    return f"rollout spec {source}: {len(parts)} {noun}: " + "; ".join(parts)


def parse_spec(text: str, *, source: str = "<string>") -> RolloutSpec:
    """Parse and validate a rollout spec from YAML text; every problem is reported at once with its line."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise SpecError(f"rollout spec {source}: not valid YAML{where}: {problem}") from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise SpecError(
            f"rollout spec {source}: expected a mapping with keys such as model, strategy, bake_time, gates"
        )
    index: dict[KeyPath, int] = {}
    problems: list[tuple[KeyPath, str]] = []
    _line_index(root, (), index, problems)
    document = yaml.safe_load(text)
    try:
        spec = RolloutSpec.model_validate(document)
    except ValidationError as exc:
        problems.extend(_describe(error, document) for error in exc.errors())
        raise SpecError(_format(source, problems, index)) from None
    if problems:
        raise SpecError(_format(source, problems, index))
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
