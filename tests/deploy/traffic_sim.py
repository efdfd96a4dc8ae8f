"""Simulated live traffic for the statistical decisions: a seeded clock-driven stand-in for a target's metrics.

Why a simulation and not servers: the decisions under test (`StepJudge`, `Experiment`) read only
per-deployment windows, and what matters is their behaviour over thousands of requests and many
seeded runs, in milliseconds. Time is a counter advanced by the injected ``sleep``; every call
to it serves ``rps * seconds`` requests per deployment, each failing with that deployment's
error rate and taking a latency from its distribution, each with a request id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ml.contract.errors import UserError
from ml.deploy.decide import ColourWindow, LatencyDistribution


@dataclass
class Arm:
    error_rate: float
    rps: float
    latency_ms: float = 20.0
    served: list[tuple[float, str, bool, float]] = field(default_factory=list)


class SimulatedTraffic:
    def __init__(self, arms: dict[str, Arm], *, seed: int = 0, start: float = 1_000.0) -> None:
        self.arms = arms
        self.now = start
        self.rng = np.random.default_rng(seed)
        self.unreachable = False
        self.counter = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        for name, arm in self.arms.items():
            n = int(self.rng.poisson(arm.rps * seconds))
            errors = self.rng.random(n) < arm.error_rate
            latency = self.rng.lognormal(np.log(arm.latency_ms), 0.3, n)
            for index in range(n):
                self.counter += 1
                at = self.now + seconds * (index + 1) / (n + 1)
                arm.served.append((at, f"{name}-{self.counter}", bool(errors[index]), float(latency[index])))
        self.now += seconds

    def read_window(self, name: str, since: float) -> ColourWindow:
        if self.unreachable:
            raise UserError("cannot reach Prometheus at http://127.0.0.1:9: connection refused")
        rows = [row for row in self.arms[name].served if row[0] >= since]
        return ColourWindow(
            requests=len(rows),
            errors=sum(row[2] for row in rows),
            latency=LatencyDistribution.from_samples(round(row[3], 1) for row in rows),
        )

    def read_assignments(self, since: float) -> dict[str, str]:
        return {row[1]: name for name, arm in self.arms.items() for row in arm.served if row[0] >= since}
