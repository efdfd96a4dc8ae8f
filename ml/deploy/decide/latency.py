"""Latency of two colours over the same window: the Mann-Whitney effect on raw samples or on histogram buckets.

Why the *probability of superiority* ``A = P(candidate slower) + P(tie)/2`` (the effect Mann-Whitney's
U estimates, ``A = U / (n_c n_b)``): it compares whole distributions, not one percentile, needs no
assumption about their shape, and it is computed the same way from raw per-request latencies and
from the grouped counts of a Prometheus histogram (each bucket is a group of ties). Its variance is
DeLong's / Brunner-Munzel's (from the placement values), which stays valid when the two
distributions differ in spread -- the usual case for a new model -- where the classic Mann-Whitney
null variance does not. ``A = 0.5`` means no difference; ``0.6`` means a request to the candidate
is slower than one to the baseline 60 % of the time.

What each target can give (decided in `ml.deploy.decide.relative`): raw samples (the local
router), histogram buckets (Traefik, Envoy via Prometheus: the test then only sees shifts across
bucket bounds, and the record says how many buckets held data), or percentiles only (Azure
Monitor, CloudWatch): two percentiles cannot be tested against each other without the counts
behind them, so the relative latency gate is refused there, with that reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from ml.deploy.decide.proportions import Comparison


@dataclass(frozen=True)
class LatencyDistribution:
    """Counts of requests by latency value (ms): exact values from samples, or bucket upper bounds."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    kind: Literal["samples", "histogram"]

    @property
    def n(self) -> int:
        return sum(self.counts)

    @classmethod
    def from_samples(cls, values: Iterable[float]) -> LatencyDistribution:
        grouped: dict[float, int] = {}
        for value in values:
            grouped[float(value)] = grouped.get(float(value), 0) + 1
        keys = tuple(sorted(grouped))
        return cls(keys, tuple(grouped[k] for k in keys), "samples")

    @classmethod
    def from_cumulative(cls, buckets: Mapping[float, float]) -> LatencyDistribution:
        """From Prometheus ``le`` buckets (cumulative counts keyed by upper bound, ``inf`` included)."""
        keys = tuple(sorted(buckets))
        counts, below = [], 0
        for key in keys:
            cumulative = round(buckets[key])
            counts.append(max(0, cumulative - below))
            below = max(below, cumulative)
        return cls(keys, tuple(counts), "histogram")

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile: exact for samples, the bucket's upper bound for a histogram (conservative)."""
        n = self.n
        if n == 0:
            return None
        rank, seen = q * n, 0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            seen += count
            if seen >= rank and count:
                return bound
        return self.bounds[-1]


class IncomparableError(ValueError):
    """The two distributions cannot be compared (histograms with different bucket bounds)."""


def superiority(candidate: LatencyDistribution, baseline: LatencyDistribution, *, confidence: float) -> Comparison:
    """``A = P(candidate slower)`` with one-sided normal bounds (DeLong variance) and the p-value of "A > 0.5".

    >>> fast = LatencyDistribution.from_samples(range(0, 100))
    >>> slow = LatencyDistribution.from_samples(range(50, 150))
    >>> r = superiority(slow, fast, confidence=0.95)
    >>> round(r.estimate, 3), r.lower > 0.5
    (0.875, True)
    """
    histograms = "histogram" in (candidate.kind, baseline.kind)
    if histograms and (candidate.kind != baseline.kind or candidate.bounds != baseline.bounds):
        raise IncomparableError(
            f"bucket bounds differ ({list(candidate.bounds)} vs {list(baseline.bounds)}); "
            f"both colours must be measured with the same histogram"
        )
    grid = sorted(set(candidate.bounds) | set(baseline.bounds))
    c = dict(zip(candidate.bounds, candidate.counts, strict=True))
    b = dict(zip(baseline.bounds, baseline.counts, strict=True))
    n_c, n_b = candidate.n, baseline.n
    if n_c == 0 or n_b == 0:
        return Comparison(math.nan, 0.0, 1.0, 1.0)
    # placement of a candidate in group g: share of baselines below + half the tied ones
    below_b, above_c = 0, n_c
    place_c: list[tuple[float, int]] = []
    place_b: list[tuple[float, int]] = []
    for g in grid:
        cg, bg = c.get(g, 0), b.get(g, 0)
        above_c -= cg
        if cg:
            place_c.append(((below_b + 0.5 * bg) / n_b, cg))
        if bg:
            place_b.append(((above_c + 0.5 * cg) / n_c, bg))
        below_b += bg
    estimate = sum(p * w for p, w in place_c) / n_c
    var_c = _variance(place_c, estimate, n_c)
    var_b = _variance(place_b, estimate, n_b)
    se = math.sqrt(var_c / n_c + var_b / n_b)
    if se == 0.0:
        p_value = 0.0 if estimate > 0.5 else 1.0
        return Comparison(estimate, estimate, estimate, p_value)
    z = NormalDist().inv_cdf(confidence)
    p_value = 1.0 - NormalDist().cdf((estimate - 0.5) / se)
    return Comparison(estimate, max(0.0, estimate - z * se), min(1.0, estimate + z * se), p_value)


def _variance(placements: list[tuple[float, int]], mean: float, n: int) -> float:
    if n < 2:
        return 0.0
    return sum(w * (p - mean) ** 2 for p, w in placements) / (n - 1)
