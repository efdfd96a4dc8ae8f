"""A/B decisions that stay valid however often they are looked at: the mixture SPRT (mSPRT).

Why sequential: an experiment's dashboard is watched, and a fixed-horizon test checked every
minute declares a false winner far more often than its alpha (repeated peeking). The mSPRT of
Johari, Pekelis & Walsh ("Always valid inference", 2017/2022) gives *always-valid* p-values and
confidence sequences: the probability that the champion's equal is *ever* declared better, over
the whole experiment and any number of looks, is at most alpha.

For each challenger against the champion, with ``d = mean_challenger - mean_champion`` and its
variance ``V = s_c^2/n_c + s_0^2/n_0``, and a normal mixture ``N(0, tau^2)`` over the true
difference (``tau = mixture_sd`` times the pooled standard deviation), the likelihood ratio is::

    L = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2)))

and ``d +- sqrt(V (V + tau^2) / tau^2 * (2 ln(1/a) + ln((V + tau^2) / V)))`` is its confidence
sequence. With several challengers each comparison gets ``alpha / (arms - 1)`` (Bonferroni), so
the chance of any false winner stays at most alpha.

The decision at each look:

- a challenger whose interval lies wholly on the better side **wins** (the best estimate among
  several such); the experiment stops and it is promoted;
- a challenger whose interval lies wholly on the worse side is **out**; when every challenger is
  out, the champion is kept at once;
- at the horizon (``max_samples`` per arm or the duration, enforced by the caller) with no
  winner, the champion is kept: "no difference shown" is not a reason to switch models.

Example::

    >>> test = SequentialTest(alpha=0.05, goal="minimize")
    >>> arms = [ArmStats.binary("champion", 120, 6000), ArmStats.binary("challenger", 50, 6000)]
    >>> test.decide(arms, champion="champion").winner
    'challenger'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

from ml.deploy.decide.proportions import wilson

Goal = Literal["minimize", "maximize"]


@dataclass(frozen=True)
class ArmStats:
    """One arm's outcome so far as sufficient statistics: count, sum, sum of squares (additive)."""

    name: str
    n: int
    total: float
    total_sq: float
    is_binary: bool = False

    @classmethod
    def binary(cls, name: str, successes: int, n: int) -> ArmStats:
        """Counts of a 0/1 outcome (an error, a conversion, a correct label)."""
        return cls(name, n, float(successes), float(successes), True)

    @classmethod
    def from_values(cls, name: str, values: list[float]) -> ArmStats:
        return cls(name, len(values), float(sum(values)), float(sum(v * v for v in values)))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        if self.n < 2:
            return math.nan
        if self.is_binary:
            p = self.mean
            return p * (1 - p) * self.n / (self.n - 1)
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """A fixed-sample interval of this arm's mean, for display (Wilson for 0/1 outcomes)."""
        if self.is_binary:
            return wilson(round(self.total), self.n, confidence=confidence)
        if self.n < 2:
            return (-math.inf, math.inf)
        half = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(self.variance / self.n)
        return (self.mean - half, self.mean + half)


@dataclass(frozen=True)
class Comparison:
    """One challenger against the champion at this look."""

    arm: str
    difference: float
    lower: float
    upper: float
    p_value: float
    state: Literal["better", "worse", "undecided"]


@dataclass(frozen=True)
class ExperimentDecision:
    """The state of an A/B experiment at one look: winner (or None), why, and the evidence per arm."""

    status: Literal["running", "winner", "keep_champion"]
    winner: str | None
    reason: str
    champion: str
    arms: list[ArmStats]
    comparisons: list[Comparison] = field(default_factory=list)
    alpha: float = 0.05

    def as_dict(self) -> dict[str, Any]:
        def num(value: float) -> float | None:
            return None if math.isnan(value) else (value if math.isinf(value) else round(value, 6))

        return {
            "status": self.status,
            "winner": self.winner,
            "reason": self.reason,
            "champion": self.champion,
            "alpha": self.alpha,
            "arms": [
                {"arm": a.name, "n": a.n, "mean": num(a.mean), "interval_95": [num(x) for x in a.interval()]}
                for a in self.arms
            ],
            "comparisons": [
                {
                    "arm": c.arm,
                    "difference": num(c.difference),
                    "always_valid_interval": [num(c.lower), num(c.upper)],
                    "always_valid_p": num(c.p_value),
                    "state": c.state,
                }
                for c in self.comparisons
            ],
        }


@dataclass(frozen=True, kw_only=True)
class SequentialTest:
    """mSPRT over 2+ arms; ``goal`` says whether a lower (errors, latency) or higher outcome is better."""

    alpha: float = 0.05
    goal: Goal = "minimize"
    mixture_sd: float = 0.1
    """The mixture's spread in units of the outcome's standard deviation: the effect size it is tuned for."""
    min_samples: int = 100
    """Per arm before any decision: the normal approximation of the difference needs some data."""

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if self.mixture_sd <= 0:
            raise ValueError(f"mixture_sd must be > 0, got {self.mixture_sd}")

    def compare(self, challenger: ArmStats, champion: ArmStats, *, alpha: float) -> Comparison:
        """The always-valid interval and p-value of ``challenger - champion`` at this look."""
        if min(challenger.n, champion.n) < max(2, self.min_samples):
            return Comparison(challenger.name, challenger.mean - champion.mean, -math.inf, math.inf, 1.0, "undecided")
        d = challenger.mean - champion.mean
        var = challenger.variance / challenger.n + champion.variance / champion.n
        pooled = math.sqrt(max(0.0, (challenger.variance + champion.variance) / 2))
        tau2 = (self.mixture_sd * pooled) ** 2
        if var <= 0 or tau2 <= 0:
            return Comparison(challenger.name, d, -math.inf, math.inf, 1.0, "undecided")
        log_lr = 0.5 * math.log(var / (var + tau2)) + d * d * tau2 / (2 * var * (var + tau2))
        p_value = min(1.0, math.exp(-log_lr))
        half = math.sqrt(var * (var + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((var + tau2) / var)))
        lower, upper = d - half, d + half
        better_if_positive = self.goal == "maximize"
        if lower > 0:
            state: Literal["better", "worse", "undecided"] = "better" if better_if_positive else "worse"
        elif upper < 0:
            state = "worse" if better_if_positive else "better"
        else:
            state = "undecided"
        return Comparison(challenger.name, d, lower, upper, p_value, state)

    def decide(self, arms: list[ArmStats], *, champion: str, horizon_reached: bool = False) -> ExperimentDecision:
        """One look at the experiment: a winner, the champion kept, or still running."""
        by_name = {arm.name: arm for arm in arms}
        if champion not in by_name or len(arms) < 2:
            raise ValueError(f"an experiment needs the champion '{champion}' and at least one challenger: {arms}")
        base = by_name[champion]
        challengers = [arm for arm in arms if arm.name != champion]
        alpha = self.alpha / len(challengers)
        comparisons = [self.compare(arm, base, alpha=alpha) for arm in challengers]
        better = [c for c in comparisons if c.state == "better"]

        def result(status: Any, winner: str | None, reason: str) -> ExperimentDecision:
            return ExperimentDecision(status, winner, reason, champion, arms, comparisons, self.alpha)

        if better:
            sign = 1.0 if self.goal == "maximize" else -1.0
            best = max(better, key=lambda c: sign * c.difference)
            return result(
                "winner",
                best.arm,
                f"'{best.arm}' beats '{champion}' by {best.difference:+.4g} (always-valid interval "
                f"[{best.lower:.4g}, {best.upper:.4g}] at alpha {alpha:.3g})",
            )
        if all(c.state == "worse" for c in comparisons):
            return result("keep_champion", None, f"every challenger is shown worse than '{champion}'")
        if horizon_reached:
            return result(
                "keep_champion", None, f"horizon reached with no challenger shown better: '{champion}' is kept"
            )
        return result("running", None, "no arm shown better or worse yet")
