"""The record every statistical decision leaves: one `MetricEvidence` per metric, one `Decision` per judgement.

Why a record and not a boolean: a rollout that moved (or refused to move) production traffic must
say why, in the audit log and on the terminal, in terms a reviewer can check by hand: each
metric's value for both colours, the rule (a fixed threshold or a named test), the p-value or the
confidence bound, the sample sizes and the outcome. Users of Argo Rollouts and Flagger report
analyses that passed when the measurement failed; here a measurement that could not be taken is
recorded as such (``measured=False``) and `Decision.action` never turns it into a pass, whatever
the spec says about inconclusive results.

Three outcomes, not two:

- ``pass``: the evidence shows the new colour is within what the gate tolerates;
- ``fail``: the evidence shows it is worse than tolerated (at the stated confidence);
- ``inconclusive``: too few requests, or a test that cannot decide yet; more data may decide it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


class Outcome(StrEnum):
    """The three results of a judgement."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and math.isinf(value):
        return value
    return round(float(value), digits)


def fmt(value: float | None) -> str:
    """A number for a one-line explanation: 4 significant digits, ``n/a`` for missing, ``inf`` kept."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


@dataclass(frozen=True, kw_only=True)
class MetricEvidence:
    """One metric judged for one pair (or one colour alone, for an absolute threshold).

    ``candidate``/``baseline`` are the metric's values (``baseline`` None for an absolute gate);
    ``estimate`` is the compared quantity (a ratio, a difference, a probability) with its
    confidence ``bound`` (lower, upper); ``threshold`` is what it was held against.
    """

    metric: str
    rule: str
    """``threshold`` or the test's name, e.g. ``exact conditional binomial (rate ratio)``."""
    outcome: Outcome
    reason: str
    candidate: float | None = None
    baseline: float | None = None
    n_candidate: int = 0
    n_baseline: int | None = None
    estimate: float | None = None
    bound: tuple[float | None, float | None] | None = None
    threshold: float | None = None
    p_value: float | None = None
    confidence: float | None = None
    measured: bool = True
    """False when the value could not be read (metrics unreachable, empty window, unsupported)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "rule": self.rule,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "candidate": _num(self.candidate),
            "baseline": _num(self.baseline),
            "n_candidate": self.n_candidate,
            "n_baseline": self.n_baseline,
            "estimate": _num(self.estimate),
            "bound": None if self.bound is None else [_num(self.bound[0]), _num(self.bound[1])],
            "threshold": _num(self.threshold),
            "p_value": _num(self.p_value, 8),
            "confidence": self.confidence,
            "measured": self.measured,
        }

    def line(self) -> str:
        """One line for the live output, e.g. ``error_rate: FAIL 0.02 vs 0.01 (n 4000/4000) ratio 2 [1.6, inf] ...``."""
        parts = [f"{self.metric}: {self.outcome.value.upper()}"]
        if self.baseline is not None or self.n_baseline is not None:
            parts.append(f"{fmt(self.candidate)} vs {fmt(self.baseline)} (n {self.n_candidate}/{self.n_baseline})")
        else:
            parts.append(f"{fmt(self.candidate)} (n {self.n_candidate})")
        if self.estimate is not None:
            bound = "" if self.bound is None else f" [{fmt(self.bound[0])}, {fmt(self.bound[1])}]"
            parts.append(f"est {fmt(self.estimate)}{bound}")
        if self.p_value is not None:
            parts.append(f"p={self.p_value:.3g}")
        parts.append(f"-- {self.reason}")
        return " ".join(parts)


def unmeasured(metric: str, reason: str, *, rule: str = "not measured") -> MetricEvidence:
    """The evidence for a value that could not be read: inconclusive, and flagged so it never passes."""
    return MetricEvidence(metric=metric, rule=rule, outcome=Outcome.INCONCLUSIVE, reason=reason, measured=False)


InconclusiveAction = Literal["rollback", "pass"]


@dataclass(frozen=True)
class Decision:
    """The outcome of one judgement and the evidence behind it.

    The outcome is the worst of the metrics' outcomes: any ``fail`` fails, else any
    ``inconclusive`` is inconclusive, else pass. A decision with no evidence is inconclusive (an
    empty judgement is never a pass).
    """

    evidence: list[MetricEvidence] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        outcomes = {item.outcome for item in self.evidence}
        if Outcome.FAIL in outcomes:
            return Outcome.FAIL
        if Outcome.INCONCLUSIVE in outcomes or not self.evidence:
            return Outcome.INCONCLUSIVE
        return Outcome.PASS

    @property
    def measured(self) -> bool:
        """False when any metric could not be read: such a decision may extend or fail, never pass."""
        return bool(self.evidence) and all(item.measured for item in self.evidence)

    def action(self, on_inconclusive: InconclusiveAction = "rollback") -> Literal["pass", "fail"]:
        """What to do once no more waiting is allowed: the outcome, with inconclusive resolved by the spec.

        Why here and only here: "an unmeasured window never passes" is one decision, so it is taken in
        one place -- ``on_inconclusive: pass`` lets a quiet but *measured* endpoint through; it never
        lets through a window whose metrics could not be read.
        """
        outcome = self.outcome
        if outcome is Outcome.PASS:
            return "pass"
        if outcome is Outcome.INCONCLUSIVE and on_inconclusive == "pass" and self.measured:
            return "pass"
        return "fail"

    def reasons(self) -> list[str]:
        """The lines of the metrics that did not pass (all lines when everything passed)."""
        failing = [item.line() for item in self.evidence if item.outcome is not Outcome.PASS]
        return failing or [item.line() for item in self.evidence]

    def explain(self) -> str:
        head = f"{self.outcome.value.upper()}" + ("" if self.measured else " (not measured)")
        return "\n".join([head, *(f"  {item.line()}" for item in self.evidence)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "measured": self.measured,
            "evidence": [item.as_dict() for item in self.evidence],
        }
