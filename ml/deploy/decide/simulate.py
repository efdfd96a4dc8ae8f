"""Seeded simulations of the decisions, shared by the tests and ``bench/gates.py``.

Why in the package and not in a test helper: the benchmark and the tests must measure the same
procedure the engine runs (the same gate, the same looks), and a benchmark must not import tests.
Traffic is simulated with numpy's seeded generator: each request fails independently with its
colour's error rate, which is the model the tests in `proportions` assume -- so these runs check
the implementation (coverage, false-alarm and false-winner rates), not the assumption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.deploy.decide.evidence import Outcome
from ml.deploy.decide.relative import ColourWindow, RelativeGate
from ml.deploy.decide.sequential import ArmStats, SequentialTest


def gate_outcomes(
    gate: RelativeGate,
    *,
    baseline_rate: float,
    candidate_rate: float,
    requests: int,
    runs: int,
    seed: int,
) -> dict[Outcome, int]:
    """How often one look of ``gate`` passes, fails or is inconclusive with ``requests`` per colour."""
    rng = np.random.default_rng(seed)
    errors_b = rng.binomial(requests, baseline_rate, size=runs)
    errors_c = rng.binomial(requests, candidate_rate, size=runs)
    counts = dict.fromkeys(Outcome, 0)
    for eb, ec in zip(errors_b, errors_c, strict=True):
        decision = gate.judge(
            ColourWindow(requests=requests, errors=int(ec)), ColourWindow(requests=requests, errors=int(eb))
        )
        counts[decision.outcome] += 1
    return counts


def requests_to_detect(
    gate: RelativeGate,
    *,
    baseline_rate: float,
    candidate_rate: float,
    power: float = 0.8,
    runs: int = 200,
    seed: int = 0,
    start: int = 500,
    limit: int = 200_000,
) -> int | None:
    """The smallest per-colour request count (doubling, then bisecting) at which ``gate`` fails ``power`` of runs."""

    def detects(n: int) -> bool:
        outcomes = gate_outcomes(
            gate, baseline_rate=baseline_rate, candidate_rate=candidate_rate, requests=n, runs=runs, seed=seed
        )
        return outcomes[Outcome.FAIL] >= power * runs

    low, high = 0, start
    while not detects(high):
        low, high = high, high * 2
        if high > limit:
            return None
    while high - low > max(50, high // 20):
        middle = (low + high) // 2
        low, high = (low, middle) if detects(middle) else (middle, high)
    return high


@dataclass(frozen=True)
class ExperimentRun:
    """One simulated A/B experiment: who won (None = champion kept) and how many samples per arm it took."""

    winner: str | None
    samples_per_arm: int


def run_experiment(
    test: SequentialTest,
    rates: dict[str, float],
    *,
    champion: str,
    batch: int,
    max_samples: int,
    rng: np.random.Generator,
) -> ExperimentRun:
    """Feed 0/1 outcomes with the given ``rates`` in batches, looking after every batch, until a decision."""
    successes = dict.fromkeys(rates, 0)
    n = 0
    while True:
        n += batch
        for arm, rate in rates.items():
            successes[arm] += int(rng.binomial(batch, rate))
        arms = [ArmStats.binary(arm, successes[arm], n) for arm in rates]
        decision = test.decide(arms, champion=champion, horizon_reached=n >= max_samples)
        if decision.status != "running":
            return ExperimentRun(decision.winner, n)
