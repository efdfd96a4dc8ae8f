"""Judge one rollout step's relative gate: at the end of its bake, then after each extension.

Why apart from the engine's step loop: the loop bakes, probes liveness and checks the fixed
thresholds continuously (a broken threshold fails at once); the relative gate is a test at a
stated confidence, and looking at it continuously would be repeated peeking. So it is judged at
fixed points only -- the end of the bake, then every ``extend_by`` while it stays inconclusive, at
most ``max_extensions`` times -- and `RelativeGates.policy` spends the confidence over exactly
those looks. Both colours are read over the same window (since the step's traffic change).

What happens after the last look is `Decision.action`'s call (one place): inconclusive does what
``on_inconclusive`` says, rollback by default; a window that could not be measured never passes.
Every look is one ``relative`` event: live output and audit record carry the full evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from ml.contract.errors import UserError
from ml.deploy.decide import ColourWindow, Decision, Outcome
from ml.deploy.spec_decide import RelativeGates

_STYLE = {Outcome.PASS: "pass", Outcome.FAIL: "fail", Outcome.INCONCLUSIVE: "warning"}


class WindowReader(Protocol):
    """What the judge needs from a target: one colour's window (`DeploymentTarget.read_window`)."""

    def read_window(self, name: str, since: float) -> ColourWindow: ...


def read_window(reader: WindowReader, name: str, since: float) -> ColourWindow:
    """``name``'s window, or an unmeasured one saying why it could not be read (never an exception)."""
    try:
        return reader.read_window(name, since)
    except (UserError, OSError) as exc:
        return ColourWindow(requests=0, errors=0, error=str(exc))


class StepJudge:
    """Runs the looks of one step's relative gate and reports each as an event."""

    def __init__(
        self,
        reader: WindowReader,
        emit: Callable[..., Any],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.reader = reader
        self.emit = emit
        self.sleep = sleep

    def judge(
        self,
        options: RelativeGates,
        *,
        new: str,
        baseline: str,
        since: float,
        label: str,
        traffic: dict[str, int] | None = None,
    ) -> Decision:
        """Look until pass or fail or the extension limit; the last decision is returned."""
        gate = options.policy()
        looks = 1 + options.max_extensions
        decision = Decision([])
        for look in range(1, looks + 1):
            if look > 1:
                self.emit(
                    "extend",
                    f"{label}: relative gate inconclusive; extending the step by {options.extend_by:g}s "
                    f"(extension {look - 1}/{options.max_extensions})",
                    outcome="warning",
                    traffic=traffic,
                )
                self.sleep(options.extend_by)
            decision = gate.judge(read_window(self.reader, new, since), read_window(self.reader, baseline, since))
            lines = "; ".join(item.line() for item in decision.evidence)
            self.emit(
                "relative",
                f"{label}: '{new}' vs '{baseline}' look {look}/{looks} at {gate.look_confidence:.4g} confidence: "
                f"{decision.outcome.value.upper()} -- {lines}",
                outcome=_STYLE[decision.outcome],
                traffic=traffic,
                gates={"relative": decision.as_dict(), "look": look, "looks": looks, "new": new, "baseline": baseline},
            )
            if decision.outcome is not Outcome.INCONCLUSIVE:
                return decision
        return decision
