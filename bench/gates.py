"""Benchmark the gates' statistics: requests needed to see a doubled error rate, false alarms, false winners.

Run: ``uv run python bench/gates.py [--runs 400]`` (about 30-60 s on 2 busy cores; no servers).

What it measures, over seeded simulated traffic (each request fails independently at its colour's rate):

1. **Requests per colour each gate needs** to fail a candidate whose error rate is twice a 1 %
   baseline, in 80 % of runs, with one look at the end of the step: the relative gate (ratio
   tolerance 1.5, 95 % confidence), the same gate spread over 4 looks (a step extended 3 times), and
   fixed thresholds of 1.5 % and 5 %.
2. **False-alarm rate** of each gate at that request count when nothing changed (1 % vs 1 %).
3. **A/B experiments (mSPRT, looked at every 200 requests per arm)**: the false-winner rate with
   no difference for 2 and 3 arms, the rate of picking the better arm and the mean requests per arm
   it took (10 % vs 12.5 % conversion; 2 % vs 1 % errors), and -- for contrast -- the false-winner
   rate of a plain z-test peeked at the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.deploy.decide import Outcome, RelativeGate, SequentialTest
from ml.deploy.decide.simulate import gate_outcomes, requests_to_detect, run_experiment
from ml.deploy.gates import evaluate
from ml.deploy.spec import Gates
from ml.deploy.target import DeploymentMetrics

BASELINE, DOUBLED = 0.01, 0.02


def absolute_fail_rate(limit: float, rate: float, requests: int, runs: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    gates = Gates(max_error_rate=limit, min_requests=0)
    fails = sum(
        not evaluate(gates, DeploymentMetrics(requests, int(e))).passed for e in rng.binomial(requests, rate, runs)
    )
    return fails / runs


def absolute_requests(limit: float, runs: int) -> int | None:
    for requests in (100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 102400):
        if absolute_fail_rate(limit, DOUBLED, requests, runs, seed=1) >= 0.8:
            return requests
    return None


def false_winners(arms: int, runs: int, seed: int) -> float:
    test = SequentialTest(alpha=0.05, goal="maximize")
    rng = np.random.default_rng(seed)
    rates = {"champion": 0.1, **{f"c{i}": 0.1 for i in range(1, arms)}}
    results = [
        run_experiment(test, rates, champion="champion", batch=200, max_samples=20_000, rng=rng) for _ in range(runs)
    ]
    return sum(r.winner is not None for r in results) / runs


def power(rates: dict[str, float], goal: str, runs: int, seed: int) -> tuple[float, float]:
    test = SequentialTest(alpha=0.05, goal=goal)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    results = [
        run_experiment(test, rates, champion="champion", batch=200, max_samples=60_000, rng=rng) for _ in range(runs)
    ]
    picked = sum(r.winner == "challenger" for r in results) / runs
    return picked, float(np.mean([r.samples_per_arm for r in results]))


def peeking_z(runs: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        a = b = n = 0
        while n < 20_000:
            n += 200
            a, b = a + int(rng.binomial(200, 0.1)), b + int(rng.binomial(200, 0.1))
            pooled = (a + b) / (2 * n)
            if abs(b - a) / n > 1.959964 * math.sqrt(pooled * (1 - pooled) * 2 / n):
                hits += 1
                break
    return hits / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=400, help="simulated runs per number (default 400)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = parser.parse_args()
    runs, started = args.runs, time.time()
    report: dict[str, object] = {"runs": runs, "baseline_error_rate": BASELINE, "candidate_error_rate": DOUBLED}

    gates = {
        "relative (ratio<=1.5, 95%, 1 look)": RelativeGate(confidence=0.95, max_error_ratio=1.5, min_requests=100),
        "relative (ratio<=1.5, 95%, 4 looks)": RelativeGate(
            confidence=0.95, max_error_ratio=1.5, min_requests=100, looks=4
        ),
    }
    rows = []
    for name, gate in gates.items():
        needed = requests_to_detect(gate, baseline_rate=BASELINE, candidate_rate=DOUBLED, runs=runs, seed=1)
        n = needed or 10_000
        null = gate_outcomes(gate, baseline_rate=BASELINE, candidate_rate=BASELINE, requests=n, runs=runs * 5, seed=2)
        rows.append({"gate": name, "requests_per_colour": needed, "false_alarm": null[Outcome.FAIL] / (runs * 5)})
    for limit in (0.015, 0.05):
        needed = absolute_requests(limit, runs)
        n = needed or 10_000
        rows.append(
            {
                "gate": f"absolute max_error_rate={limit}",
                "requests_per_colour": needed,
                "false_alarm": absolute_fail_rate(limit, BASELINE, n, runs * 5, seed=2),
            }
        )
    report["gates"] = rows
    report["ab"] = {
        "false_winner_2_arms": false_winners(2, runs * 2, seed=3),
        "false_winner_3_arms": false_winners(3, runs * 2, seed=4),
        "peeking_z_test_false_winner": peeking_z(runs, seed=5),
        "conversion_10_vs_12_5": dict(
            zip(
                ("picked_better", "mean_requests_per_arm"),
                power({"champion": 0.10, "challenger": 0.125}, "maximize", runs, seed=6),
                strict=True,
            )
        ),
        "errors_2_vs_1_percent": dict(
            zip(
                ("picked_better", "mean_requests_per_arm"),
                power({"champion": 0.02, "challenger": 0.01}, "minimize", runs, seed=7),
                strict=True,
            )
        ),
    }
    report["seconds"] = round(time.time() - started, 1)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"doubled error rate ({BASELINE:.0%} -> {DOUBLED:.0%}), 80% detection, {runs} runs per point")
    print(f"{'gate':42} {'requests/colour':>16} {'false alarm (1% vs 1%)':>24}")
    for row in rows:
        needed = row["requests_per_colour"]
        print(f"{row['gate']:42} {needed if needed else 'never':>16} {row['false_alarm']:>24.3%}")
    ab = report["ab"]
    assert isinstance(ab, dict)
    print("\nA/B (mSPRT, alpha 0.05, a look every 200 requests per arm, horizon 20k/arm)")
    print(f"  false-winner rate, 2 arms: {ab['false_winner_2_arms']:.3%}; 3 arms: {ab['false_winner_3_arms']:.3%}")
    print(f"  same monitoring with a plain z-test: {ab['peeking_z_test_false_winner']:.3%}")
    for key in ("conversion_10_vs_12_5", "errors_2_vs_1_percent"):
        value = ab[key]
        print(
            f"  {key}: picked the better arm {value['picked_better']:.1%}, "
            f"mean {value['mean_requests_per_arm']:.0f} requests/arm"
        )
    print(f"\n({report['seconds']} s)")


if __name__ == "__main__":
    main()
