"""The relative gate: judge the new colour against the colour it replaces, over the same window.

Why relative: a fixed threshold cannot tell a new model that doubles a noisy champion's error rate
(1 % -> 2 %, both under a 5 % limit) from one that changed nothing. Comparing both colours over the
same window also cancels what they share -- a slow dependency, a burst of bad input -- which would
otherwise fail (or pass) a canary for reasons that are not the model's.

The rule, per metric, from one-sided bounds at the stated confidence (Kayenta's idea: a difference
must be both statistically and practically significant to fail):

- **pass** when the upper bound shows the candidate within tolerance (error-rate ratio <=
  ``max_error_ratio``, or the absolute increase <= ``error_margin``; probability of being slower
  <= ``max_slower_probability``);
- **fail** when the lower bound shows it worse at all (ratio > 1, probability > 0.5) *and* the
  estimate is beyond the tolerance;
- **inconclusive** otherwise, and always with fewer than ``min_requests`` per colour.

Looks: the engine judges a step at the end of its bake and again at each extension. Every look
spends ``alpha / looks`` (Bonferroni alpha-spending), so the false-alarm rate over the whole step
stays at most ``1 - confidence`` however many extensions are used. The gate is never judged
continuously while a step bakes (that would be repeated peeking); the fixed thresholds still are.

Example::

    >>> gate = RelativeGate(confidence=0.95, max_error_ratio=1.5, min_requests=200)
    >>> champion = ColourWindow(requests=5000, errors=50)
    >>> challenger = ColourWindow(requests=5000, errors=100)
    >>> gate.judge(challenger, champion).outcome.value
    'fail'
    >>> gate.judge(ColourWindow(requests=30, errors=0), champion).outcome.value
    'inconclusive'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ml.deploy.decide.evidence import Decision, MetricEvidence, Outcome, fmt, unmeasured
from ml.deploy.decide.latency import IncomparableError, LatencyDistribution, superiority
from ml.deploy.decide.proportions import rate_difference, rate_ratio

LatencyEvidence = Literal["samples", "histogram", "percentiles", "none"]
"""What a target can report about latency per colour, best first."""


@dataclass(frozen=True, kw_only=True)
class ColourWindow:
    """One colour's traffic over the judged window, as a target reports it.

    ``error`` set means the window could not be read (metrics backend unreachable, ...): every metric
    of the pair is then recorded as not measured.
    """

    requests: int
    errors: int
    latency: LatencyDistribution | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    error: str | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None


def latency_refusal(evidence: LatencyEvidence, target: str) -> str | None:
    """Why a relative latency gate cannot run on a target that reports ``evidence``; None when it can."""
    if evidence in ("samples", "histogram"):
        return None
    if evidence == "percentiles":
        return (
            f"the {target} target reports latency only as percentiles per colour, and two percentiles cannot be "
            f"tested against each other without the requests behind them; drop gates.relative.max_slower_probability "
            f"and keep the fixed max_p95_latency_ms / max_p99_latency_ms gates on this target"
        )
    return f"the {target} target reports no latency per colour; drop gates.relative.max_slower_probability"


@dataclass(frozen=True, kw_only=True)
class RelativeGate:
    """Candidate-vs-baseline gate on error rate and (optionally) latency; see the module docstring.

    ``max_error_ratio`` None skips the error comparison; ``max_slower_probability`` None (the default)
    skips latency. ``looks`` is how many times one step may be judged (1 + the extension limit).
    """

    confidence: float = 0.95
    max_error_ratio: float | None = 1.5
    error_margin: float = 0.001
    max_slower_probability: float | None = None
    min_requests: int = 100
    looks: int = 1

    def __post_init__(self) -> None:
        if not 0.5 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0.5, 1), got {self.confidence}")
        if self.max_error_ratio is not None and self.max_error_ratio < 1.0:
            raise ValueError(f"max_error_ratio must be >= 1 (1 = no increase tolerated), got {self.max_error_ratio}")
        if self.max_slower_probability is not None and not 0.5 <= self.max_slower_probability < 1.0:
            raise ValueError(f"max_slower_probability must be in [0.5, 1), got {self.max_slower_probability}")
        if self.looks < 1:
            raise ValueError(f"looks must be >= 1, got {self.looks}")

    @property
    def look_confidence(self) -> float:
        """The confidence of each look: ``1 - alpha / looks``."""
        return 1.0 - (1.0 - self.confidence) / self.looks

    def judge(self, candidate: ColourWindow, baseline: ColourWindow) -> Decision:
        """Compare ``candidate`` with ``baseline`` (same window) and explain every metric."""
        evidence: list[MetricEvidence] = []
        if self.max_error_ratio is not None:
            evidence.append(self._errors(candidate, baseline))
        if self.max_slower_probability is not None:
            evidence.append(self._latency(candidate, baseline))
        return Decision(evidence)

    # --- metrics -----------------------------------------------------------------------------------------

    def _unreadable(self, metric: str, candidate: ColourWindow, baseline: ColourWindow) -> MetricEvidence | None:
        for colour, window in (("candidate", candidate), ("baseline", baseline)):
            if window.error is not None:
                return unmeasured(metric, f"{colour} metrics could not be read: {window.error}")
        return None

    def _too_few(self, metric: str, rule: str, n_c: int, n_b: int, c: float | None, b: float | None) -> MetricEvidence:
        return MetricEvidence(
            metric=metric,
            rule=rule,
            outcome=Outcome.INCONCLUSIVE,
            reason=f"too few requests ({n_c} candidate, {n_b} baseline; {self.min_requests} each needed)",
            candidate=c,
            baseline=b,
            n_candidate=n_c,
            n_baseline=n_b,
            confidence=self.look_confidence,
            measured=n_c > 0 and n_b > 0,
        )

    def _errors(self, candidate: ColourWindow, baseline: ColourWindow) -> MetricEvidence:
        rule = "exact conditional binomial (error-rate ratio) + Agresti-Caffo (difference)"
        unreadable = self._unreadable("error_rate", candidate, baseline)
        if unreadable is not None:
            return unreadable
        n_c, n_b = candidate.requests, baseline.requests
        if min(n_c, n_b) < max(1, self.min_requests):
            return self._too_few("error_rate", rule, n_c, n_b, candidate.error_rate, baseline.error_rate)
        tolerance = self.max_error_ratio
        assert tolerance is not None
        conf = self.look_confidence
        ratio = rate_ratio(candidate.errors, n_c, baseline.errors, n_b, confidence=conf)
        diff = rate_difference(candidate.errors, n_c, baseline.errors, n_b, confidence=conf)

        def record(outcome: Outcome, reason: str) -> MetricEvidence:
            return MetricEvidence(
                metric="error_rate",
                rule=rule,
                outcome=outcome,
                reason=reason,
                candidate=candidate.error_rate,
                baseline=baseline.error_rate,
                n_candidate=n_c,
                n_baseline=n_b,
                estimate=ratio.estimate,
                bound=(ratio.lower, ratio.upper),
                threshold=tolerance,
                p_value=ratio.p_value,
                confidence=conf,
            )

        if ratio.upper <= tolerance:
            why = f"ratio upper bound {fmt(ratio.upper)} <= {fmt(tolerance)}"
            return record(Outcome.PASS, why)
        if diff.upper <= self.error_margin:
            why = f"increase upper bound {fmt(diff.upper)} <= error_margin {fmt(self.error_margin)}"
            return record(Outcome.PASS, why)
        estimate = ratio.estimate if not math.isnan(ratio.estimate) else 1.0
        if ratio.lower > 1.0 and estimate > tolerance and diff.estimate > self.error_margin:
            why = (
                f"worse than baseline (ratio lower bound {fmt(ratio.lower)} > 1) and beyond tolerance "
                f"(ratio {fmt(estimate)} > {fmt(tolerance)}, +{diff.estimate:.4%})"
            )
            return record(Outcome.FAIL, why)
        why = f"cannot decide yet: ratio bounds [{fmt(ratio.lower)}, {fmt(ratio.upper)}] straddle 1..{fmt(tolerance)}"
        return record(Outcome.INCONCLUSIVE, why)

    def _latency(self, candidate: ColourWindow, baseline: ColourWindow) -> MetricEvidence:
        rule = "Mann-Whitney effect P(slower) with Brunner-Munzel variance"
        unreadable = self._unreadable("latency", candidate, baseline)
        if unreadable is not None:
            return unreadable
        if candidate.latency is None or baseline.latency is None:
            return unmeasured("latency", "no latency samples or histogram for both colours in this window", rule=rule)
        lat_c, lat_b = candidate.latency, baseline.latency
        rule = f"{rule} on {lat_c.kind}"
        median_c, median_b = lat_c.quantile(0.5), lat_b.quantile(0.5)
        if min(lat_c.n, lat_b.n) < max(1, self.min_requests):
            return self._too_few("latency", rule, lat_c.n, lat_b.n, median_c, median_b)
        tolerance = self.max_slower_probability
        assert tolerance is not None
        try:
            effect = superiority(lat_c, lat_b, confidence=self.look_confidence)
        except IncomparableError as exc:
            return unmeasured("latency", f"cannot compare the colours' latency: {exc}", rule=rule)

        def record(outcome: Outcome, reason: str) -> MetricEvidence:
            return MetricEvidence(
                metric="latency",
                rule=rule,
                outcome=outcome,
                reason=reason,
                candidate=median_c,
                baseline=median_b,
                n_candidate=lat_c.n,
                n_baseline=lat_b.n,
                estimate=effect.estimate,
                bound=(effect.lower, effect.upper),
                threshold=tolerance,
                p_value=effect.p_value,
                confidence=self.look_confidence,
            )

        if effect.upper <= tolerance:
            why = f"P(slower) upper bound {fmt(effect.upper)} <= {fmt(tolerance)} (medians in ms)"
            return record(Outcome.PASS, why)
        if effect.lower > 0.5 and effect.estimate > tolerance:
            why = f"slower than baseline: P(slower) {fmt(effect.estimate)} > {fmt(tolerance)}, lower bound > 0.5"
            return record(Outcome.FAIL, why)
        why = f"cannot decide yet: P(slower) bounds [{fmt(effect.lower)}, {fmt(effect.upper)}]"
        return record(Outcome.INCONCLUSIVE, why)
