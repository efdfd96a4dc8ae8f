"""The relative gate and the tests under it, checked against scipy and over many seeded simulated windows.

No mocks: the windows are what a target reports (counts, latency samples or histogram buckets),
drawn from numpy's seeded generator, so every rate quoted here is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from ml.deploy.decide import ColourWindow, Decision, LatencyDistribution, Outcome, RelativeGate, latency_refusal
from ml.deploy.decide.latency import superiority
from ml.deploy.decide.proportions import rate_difference, rate_ratio
from ml.deploy.decide.simulate import gate_outcomes
from ml.deploy.gates import evaluate
from ml.deploy.spec import Gates
from ml.deploy.target import DeploymentMetrics

GATE = RelativeGate(confidence=0.95, max_error_ratio=1.5, min_requests=200)


def test_rate_ratio_p_value_is_the_exact_binomial_test() -> None:
    result = rate_ratio(31, 3000, 18, 2500, confidence=0.95)
    exact = stats.binomtest(31, 31 + 18, 3000 / 5500, alternative="greater").pvalue
    assert result.p_value == pytest.approx(exact, rel=1e-9)
    assert result.lower < result.estimate < result.upper


def test_rate_bounds_cover_the_true_ratio_at_the_stated_confidence() -> None:
    rng = np.random.default_rng(7)
    true_ratio, runs = 2.0, 1000
    misses_low = misses_high = 0
    for eb, ec in zip(rng.binomial(4000, 0.01, runs), rng.binomial(4000, 0.02, runs), strict=True):
        r = rate_ratio(int(ec), 4000, int(eb), 4000, confidence=0.95)
        misses_low += r.lower > true_ratio
        misses_high += r.upper < true_ratio
    assert misses_low / runs <= 0.06 and misses_high / runs <= 0.06


def test_difference_bounds_and_zero_errors() -> None:
    d = rate_difference(0, 50, 0, 50, confidence=0.95)
    assert d.lower < 0 < d.upper
    assert rate_ratio(0, 50, 0, 50, confidence=0.95).upper == math.inf


def test_superiority_matches_brunner_munzel() -> None:
    rng = np.random.default_rng(3)
    baseline, candidate = rng.lognormal(3.0, 0.4, 600), rng.lognormal(3.1, 0.7, 500)
    ours = superiority(
        LatencyDistribution.from_samples(candidate), LatencyDistribution.from_samples(baseline), confidence=0.95
    )
    u = stats.mannwhitneyu(candidate, baseline, alternative="greater").statistic
    assert ours.estimate == pytest.approx(u / (600 * 500))
    reference = stats.brunnermunzel(candidate, baseline, alternative="greater").pvalue
    assert ours.p_value == pytest.approx(reference, abs=0.01)


def test_histogram_buckets_from_prometheus_cumulative_counts() -> None:
    dist = LatencyDistribution.from_cumulative({10.0: 50, 25.0: 90, 50.0: 100, math.inf: 100})
    assert dist.counts == (50, 40, 10, 0) and dist.n == 100
    assert dist.quantile(0.95) == 50.0


def test_twice_the_champions_error_rate_fails_relative_but_passes_absolute() -> None:
    champion, challenger = ColourWindow(requests=6000, errors=60), ColourWindow(requests=6000, errors=120)
    absolute = evaluate(Gates(max_error_rate=0.05, min_requests=100), DeploymentMetrics(6000, 120, 20.0, 30.0))
    decision = GATE.judge(challenger, champion)
    assert absolute.passed
    assert decision.outcome is Outcome.FAIL
    record = decision.as_dict()["evidence"][0]
    assert record["candidate"] == 0.02 and record["baseline"] == 0.01
    assert record["n_candidate"] == 6000 and record["n_baseline"] == 6000
    assert record["p_value"] < 0.001 and record["bound"][0] > 1 and record["threshold"] == 1.5
    assert "beyond tolerance" in decision.reasons()[0]


def test_doubled_error_rate_over_seeded_runs_fails_and_never_passes() -> None:
    outcomes = gate_outcomes(GATE, baseline_rate=0.01, candidate_rate=0.02, requests=6000, runs=400, seed=11)
    assert outcomes[Outcome.PASS] == 0
    assert outcomes[Outcome.FAIL] >= 0.9 * 400


def test_false_alarm_rate_with_no_difference_is_at_most_alpha() -> None:
    outcomes = gate_outcomes(GATE, baseline_rate=0.01, candidate_rate=0.01, requests=6000, runs=1000, seed=12)
    assert outcomes[Outcome.FAIL] / 1000 <= 0.05
    assert outcomes[Outcome.PASS] > outcomes[Outcome.FAIL]


def test_looks_split_alpha_so_a_step_extended_k_times_keeps_its_false_alarm_rate() -> None:
    gate = RelativeGate(confidence=0.95, max_error_ratio=1.5, min_requests=200, looks=4)
    rng = np.random.default_rng(13)
    alarms, runs = 0, 400
    for _ in range(runs):
        eb = ec = 0
        for look in range(1, 5):  # four looks at growing windows, as an extended step sees them
            eb, ec = eb + int(rng.binomial(1500, 0.01)), ec + int(rng.binomial(1500, 0.01))
            n = 1500 * look
            if gate.judge(ColourWindow(requests=n, errors=ec), ColourWindow(requests=n, errors=eb)).outcome is (
                Outcome.FAIL
            ):
                alarms += 1
                break
    assert alarms / runs <= 0.05


def test_quiet_endpoint_is_inconclusive_and_then_rolls_back_by_default() -> None:
    decision = GATE.judge(ColourWindow(requests=12, errors=0), ColourWindow(requests=40, errors=0))
    assert decision.outcome is Outcome.INCONCLUSIVE
    assert "too few requests (12 candidate, 40 baseline" in decision.reasons()[0]
    assert decision.action() == "fail"
    assert decision.action("pass") == "pass"  # measured, only quiet: the spec may let it through


def test_unreachable_metrics_never_pass_whatever_the_spec_says() -> None:
    down = ColourWindow(requests=0, errors=0, error="cannot reach Prometheus at http://127.0.0.1:9")
    decision = GATE.judge(down, ColourWindow(requests=5000, errors=10))
    assert decision.outcome is Outcome.INCONCLUSIVE and not decision.measured
    assert decision.action("pass") == "fail" and decision.action("rollback") == "fail"
    assert Decision([]).action("pass") == "fail"  # nothing judged is never a pass
    empty = GATE.judge(ColourWindow(requests=0, errors=0), ColourWindow(requests=0, errors=0))
    assert empty.action("pass") == "fail"


def test_latency_slower_candidate_fails_same_passes_on_samples_and_histograms() -> None:
    gate = RelativeGate(max_error_ratio=None, max_slower_probability=0.6, min_requests=200)
    rng = np.random.default_rng(5)
    base, same, slow = rng.lognormal(3, 0.3, 2000), rng.lognormal(3, 0.3, 2000), rng.lognormal(3.4, 0.3, 2000)
    bounds = [5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 75.0, 100.0, math.inf]

    def hist(values: np.ndarray) -> LatencyDistribution:
        return LatencyDistribution.from_cumulative({b: float((values <= b).sum()) for b in bounds})

    for make in (LatencyDistribution.from_samples, hist):
        window = {
            name: ColourWindow(requests=2000, errors=0, latency=make(v))
            for name, v in (("base", base), ("same", same), ("slow", slow))
        }
        assert gate.judge(window["slow"], window["base"]).outcome is Outcome.FAIL
        assert gate.judge(window["same"], window["base"]).outcome is Outcome.PASS


def test_histograms_with_different_buckets_are_not_measured() -> None:
    gate = RelativeGate(max_error_ratio=None, max_slower_probability=0.6, min_requests=10)
    a = LatencyDistribution.from_cumulative({10.0: 500, math.inf: 500})
    b = LatencyDistribution.from_cumulative({20.0: 500, math.inf: 500})
    decision = gate.judge(
        ColourWindow(requests=500, errors=0, latency=a), ColourWindow(requests=500, errors=0, latency=b)
    )
    assert not decision.measured and decision.action("pass") == "fail"


def test_percentile_only_targets_refuse_the_relative_latency_gate() -> None:
    message = latency_refusal("percentiles", "azure")
    assert message is not None and "percentiles" in message and "max_p95_latency_ms" in message
    assert latency_refusal("histogram", "kubernetes") is None


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="max_error_ratio must be >= 1"):
        RelativeGate(max_error_ratio=0.5)
    with pytest.raises(ValueError, match="confidence"):
        RelativeGate(confidence=1.5)
