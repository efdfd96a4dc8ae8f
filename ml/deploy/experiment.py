"""Run an A/B experiment to a decision: look at the arms at a fixed pace, decide with the mSPRT.

Why looks at a fixed pace and an always-valid test: the experiment is watched (`ml deploy
status`, the live output) and may be stopped as soon as the evidence is there; `SequentialTest`
stays valid under exactly that continuous monitoring (see `ml.deploy.decide.sequential`). The
horizon -- ``duration`` and/or ``max_samples`` per arm -- bounds it; at the horizon without a
winner the champion is kept.

Per outcome metric, an arm's sufficient statistics come from:

- ``errors``: the arm's window (requests, errors) -- every target;
- ``latency``: the arm's latency distribution -- raw samples, or histogram buckets where each
  request counts as its bucket's upper bound (the test is then exact for that bucketed latency;
  requests past the last finite bound count as that bound); refused where only percentiles exist;
- ``feedback``: the business outcome fed back per request id (`ml.deploy.feedback`), joined with
  the arm that served each request.

A window that could not be read makes that look undecided (never a winner); at the horizon the
champion is kept. Every look is one ``ab`` event (live output + audit) and is written into the
journal, which `ml deploy status` reads to show the running experiment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from ml.deploy.decide import ArmStats, ExperimentDecision, LatencyDistribution
from ml.deploy.relative_step import WindowReader, read_window
from ml.deploy.spec_decide import ABTest


class FeedbackSource(Protocol):
    """Business outcomes per arm since a time (`ml.deploy.feedback.JoinedFeedback`)."""

    def arm_stats(self, arm: str, since: float) -> ArmStats | None: ...


def latency_stats(arm: str, latency: LatencyDistribution) -> ArmStats:
    """Sufficient statistics of an arm's latency (ms); a histogram bucket counts as its upper bound."""
    finite = [b for b in latency.bounds if math.isfinite(b)]
    cap = finite[-1] if finite else 0.0
    total = total_sq = 0.0
    for bound, count in zip(latency.bounds, latency.counts, strict=True):
        value = bound if math.isfinite(bound) else cap
        total += value * count
        total_sq += value * value * count
    return ArmStats(arm, latency.n, total, total_sq)


def summary(decision: ExperimentDecision) -> str:
    """One line per look: each arm's count and estimate with its interval, then the decision."""
    parts = []
    for arm in decision.arms:
        low, high = arm.interval()
        parts.append(f"{arm.name} n={arm.n} {arm.mean:.4g} [{low:.4g}, {high:.4g}]" if arm.n else f"{arm.name} n=0")
    return "; ".join(parts) + f" -> {decision.status}: {decision.reason}"


class Experiment:
    """Looks at the arms of one experiment until `SequentialTest` decides or the horizon is reached."""

    def __init__(
        self,
        reader: WindowReader,
        emit: Callable[..., Any],
        record: Callable[[dict[str, Any]], None],
        *,
        feedback: FeedbackSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reader = reader
        self.emit = emit
        self.record = record
        self.feedback = feedback
        self.sleep = sleep
        self.clock = clock

    def _stats(self, ab: ABTest, arm: str, since: float) -> tuple[ArmStats, str | None]:
        if ab.outcome == "feedback":
            if self.feedback is None:
                return ArmStats(arm, 0, 0.0, 0.0), "no feedback source"
            stats = self.feedback.arm_stats(arm, since)
            return (stats, None) if stats is not None else (ArmStats(arm, 0, 0.0, 0.0), "feedback unreadable")
        window = read_window(self.reader, arm, since)
        if window.error is not None:
            return ArmStats(arm, 0, 0.0, 0.0), window.error
        if ab.outcome == "errors":
            return ArmStats.binary(arm, window.errors, window.requests), None
        if window.latency is None:
            return ArmStats(arm, 0, 0.0, 0.0), "no latency distribution for this arm"
        return latency_stats(arm, window.latency), None

    def run(self, ab: ABTest, *, arms: list[str], champion: str, since: float) -> ExperimentDecision:
        """Look every ``look_every`` seconds from ``since``; return the first decision that is not running."""
        test = ab.test()
        deadline = since + ab.duration if ab.duration is not None else math.inf
        look = 0
        while True:
            self.sleep(max(0.0, min(ab.look_every, deadline - self.clock())))
            look += 1
            read = [self._stats(ab, arm, since) for arm in arms]
            stats = [s for s, _ in read]
            problems = [f"{s.name}: {why}" for s, why in read if why is not None]
            horizon = self.clock() >= deadline or (
                ab.max_samples is not None and min(s.n for s in stats) >= ab.max_samples
            )
            decision = test.decide(stats, champion=champion, horizon_reached=horizon)
            if problems:  # never decide on a look that could not be measured
                status: Literal["running", "keep_champion"] = "keep_champion" if horizon else "running"
                reason = "could not measure " + "; ".join(problems)
                if horizon:
                    reason += f": horizon reached, '{champion}' is kept"
                decision = ExperimentDecision(
                    status, None, reason, champion, stats, decision.comparisons, decision.alpha
                )
            record = {**decision.as_dict(), "look": look, "outcome_metric": ab.outcome, "at": self.clock()}
            self.record(record)
            style = {"running": "info", "winner": "pass", "keep_champion": "warning"}[decision.status]
            self.emit("ab", f"look {look}: {summary(decision)}", outcome=style, gates={"experiment": record})
            if decision.status != "running":
                return decision
