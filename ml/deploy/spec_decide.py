"""The rollout spec's statistical sections: ``gates.relative`` and ``strategy: ab``.

Why a module of its own: these options map one to one onto the policies in `ml.deploy.decide`
(`RelativeGate`, `SequentialTest`), and keeping them beside each other -- not inside the general
spec -- lets a reader check every default against the policy that uses it. `ml.deploy.spec`
includes them in `Gates` and in its strategy union. Durations are parsed by the spec's one
`parse_duration` (looked up when a value is validated, so the two modules import in any order).

Relative gates (judged where both colours serve: canary and linear steps below 100 %, and the
mirror phase of blue/green)::

    gates:
      max_error_rate: 0.05          # the fixed thresholds still apply
      relative:
        confidence: 0.95
        max_error_ratio: 1.5        # pass when the new colour's error rate is shown <= 1.5x the old one's
        error_margin: 0.001         # ... or at most 0.1 percentage point above it
        max_slower_probability: 0.6 # optional: latency, P(a request to the new colour is slower)
        min_requests: 200           # per colour, before any judgement
        extend_by: 60s              # inconclusive: judge again after this long ...
        max_extensions: 3           # ... at most this often (the confidence is split over the looks)
        on_inconclusive: rollback   # then: rollback (default) or pass; an unmeasured window never passes

An A/B experiment (the spec's ``model`` is the challenger; the champion is what serves now)::

    strategy:
      type: ab
      challengers: [models:/m/9]    # optional further arms: other versions of the same model, each a deployment
      split: [50, 50]               # champion first; default: equal shares
      assignment: random            # or {cookie: ml-arm} / {header: X-User-Id}: sticky per user
      outcome: errors               # errors | latency | feedback (POST /feedback, `ml deploy feedback`)
      max_samples: 20000            # per arm; and/or duration: 30m -- the horizon
      alpha: 0.05
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ml.deploy.decide import RelativeGate, SequentialTest

_URI = r"^models:/[^/@\s]+(?:@[A-Za-z0-9_\-]+|/[0-9]+)$"


def _duration(value: Any) -> float:
    from ml.deploy.spec import parse_duration  # the spec's one parser; imported late: spec imports this module

    return parse_duration(value)


Seconds = Annotated[float, BeforeValidator(_duration)]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelativeGates(_Options):
    """``gates.relative``: the new colour against the one it replaces; see `ml.deploy.decide.relative`."""

    confidence: float = Field(0.95, gt=0.5, lt=1)
    max_error_ratio: float | None = Field(1.5, ge=1)
    error_margin: float = Field(0.001, ge=0, le=1)
    max_slower_probability: float | None = Field(None, ge=0.5, lt=1)
    min_requests: int = Field(100, ge=1, strict=True)
    extend_by: Seconds = 60.0
    max_extensions: int = Field(3, ge=0, le=100, strict=True)
    on_inconclusive: Literal["rollback", "pass"] = "rollback"

    @model_validator(mode="after")
    def _something_judged(self) -> RelativeGates:
        if self.max_error_ratio is None and self.max_slower_probability is None:
            raise ValueError("gates.relative judges nothing: set max_error_ratio and/or max_slower_probability")
        return self

    def policy(self) -> RelativeGate:
        """The gate the engine runs, its confidence spread over ``1 + max_extensions`` looks."""
        return RelativeGate(
            confidence=self.confidence,
            max_error_ratio=self.max_error_ratio,
            error_margin=self.error_margin,
            max_slower_probability=self.max_slower_probability,
            min_requests=self.min_requests,
            looks=1 + self.max_extensions,
        )


class StickyAssignment(_Options):
    """Sticky per user: the same cookie or header value always reaches the same arm."""

    cookie: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-]+$")
    header: str | None = Field(None, pattern=r"^[A-Za-z0-9\-]+$")

    @model_validator(mode="after")
    def _one_key(self) -> StickyAssignment:
        if (self.cookie is None) == (self.header is None):
            raise ValueError("sticky assignment needs exactly one of 'cookie' or 'header'")
        return self

    def describe(self) -> str:
        return f"cookie '{self.cookie}'" if self.cookie else f"header '{self.header}'"


Assignment = Literal["random"] | StickyAssignment
OutcomeMetric = Literal["errors", "latency", "feedback"]


class ABTest(_Options):
    """``strategy: ab``: arms serve side by side until `SequentialTest` decides or the horizon is reached."""

    type: Literal["ab"]
    challengers: list[Annotated[str, Field(pattern=_URI)]] = Field(default_factory=list, max_length=8)
    split: list[Annotated[int, Field(ge=1, le=99, strict=True)]] | None = None
    assignment: Assignment = "random"
    outcome: OutcomeMetric = "errors"
    goal: Literal["minimize", "maximize"] | None = None
    """Default: minimize errors and latency, maximize feedback (a conversion, a correct label)."""
    duration: Seconds | None = None
    max_samples: int | None = Field(None, ge=100, strict=True)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    mixture_sd: float = Field(0.1, gt=0)
    min_samples: int = Field(100, ge=2, strict=True)
    look_every: Seconds = 10.0

    @model_validator(mode="after")
    def _horizon_and_split(self) -> ABTest:
        if self.duration is None and self.max_samples is None:
            raise ValueError("an A/B test needs a horizon: set strategy.duration and/or strategy.max_samples (per arm)")
        arms = 2 + len(self.challengers)
        if self.split is not None and (len(self.split) != arms or sum(self.split) != 100):
            raise ValueError(
                f"strategy.split must give one share per arm (champion, model, challengers: {arms}) "
                f"summing to 100, got {self.split}"
            )
        return self

    @property
    def arms(self) -> int:
        return 2 + len(self.challengers)

    def shares(self) -> list[int]:
        """Traffic per arm, champion first: the split, or equal shares (the remainder to the champion)."""
        if self.split is not None:
            return list(self.split)
        equal = 100 // self.arms
        return [100 - equal * (self.arms - 1), *([equal] * (self.arms - 1))]

    def test(self) -> SequentialTest:
        goal = self.goal or ("maximize" if self.outcome == "feedback" else "minimize")
        return SequentialTest(alpha=self.alpha, goal=goal, mixture_sd=self.mixture_sd, min_samples=self.min_samples)

    def traffic_steps(self) -> list[int]:
        """After the experiment the winner takes all traffic in one switch."""
        return [100]
