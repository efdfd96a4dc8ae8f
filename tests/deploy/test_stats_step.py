"""The relative gate's looks within a step and an A/B experiment run to a decision, on simulated traffic.

Time is the simulation's counter (advanced by the injected sleep), so a step extended three
times or a 30-minute experiment runs in milliseconds, and every run is seeded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from ml.contract.errors import UserError
from ml.deploy.decide import Outcome
from ml.deploy.experiment import Experiment
from ml.deploy.feedback import FeedbackStore, JoinedFeedback, feedback_app
from ml.deploy.relative_step import StepJudge
from ml.deploy.spec_decide import ABTest, RelativeGates
from tests.deploy.traffic_sim import Arm, SimulatedTraffic


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, dict[str, Any] | None]] = []

    def __call__(self, kind: str, message: str, *, outcome: str = "info", gates: Any = None, **_: Any) -> None:
        self.items.append((kind, message, outcome, gates))

    def kinds(self) -> list[str]:
        return [kind for kind, *_ in self.items]


def judge(sim: SimulatedTraffic, options: RelativeGates, events: Events) -> Any:
    since = sim.clock()
    sim.sleep(60)  # the bake
    return StepJudge(sim, events, sleep=sim.sleep).judge(
        options, new="green", baseline="blue", since=since, label="step 1/3 (25%)"
    )


def test_doubled_error_rate_fails_at_the_first_look_with_its_evidence() -> None:
    sim = SimulatedTraffic({"blue": Arm(0.01, 150), "green": Arm(0.02, 150)}, seed=1)
    events = Events()
    decision = judge(sim, RelativeGates(min_requests=200, extend_by=60, max_extensions=3), events)
    assert decision.outcome is Outcome.FAIL
    assert events.kinds() == ["relative"]
    _, message, outcome, gates = events.items[0]
    assert outcome == "fail" and "look 1/4" in message and "FAIL" in message
    evidence = gates["relative"]["evidence"][0]
    assert evidence["n_candidate"] > 8000 and evidence["n_baseline"] > 8000
    assert evidence["bound"][0] > 1 and evidence["p_value"] < 0.0125


def test_quiet_endpoint_extends_to_the_limit_then_rolls_back() -> None:
    sim = SimulatedTraffic({"blue": Arm(0.01, 0.5), "green": Arm(0.01, 0.5)}, seed=2)
    events = Events()
    options = RelativeGates(min_requests=200, extend_by=30, max_extensions=2)
    decision = judge(sim, options, events)
    assert decision.outcome is Outcome.INCONCLUSIVE and decision.measured
    assert events.kinds() == ["relative", "extend", "relative", "extend", "relative"]
    assert "too few requests" in events.items[-1][1]
    assert decision.action(options.on_inconclusive) == "fail"
    assert decision.action("pass") == "pass"


def test_metrics_unreachable_never_passes() -> None:
    sim = SimulatedTraffic({"blue": Arm(0.0, 100), "green": Arm(0.0, 100)}, seed=3)
    sim.unreachable = True
    events = Events()
    options = RelativeGates(min_requests=10, extend_by=5, max_extensions=1, on_inconclusive="pass")
    decision = judge(sim, options, events)
    assert not decision.measured and decision.action(options.on_inconclusive) == "fail"
    assert "could not be read: cannot reach Prometheus" in events.items[-1][1]


def test_same_model_passes() -> None:
    sim = SimulatedTraffic({"blue": Arm(0.01, 200), "green": Arm(0.01, 200)}, seed=4)
    decision = judge(sim, RelativeGates(min_requests=200, max_slower_probability=0.6), Events())
    assert decision.outcome is Outcome.PASS


def run_ab(sim: SimulatedTraffic, ab: ABTest, **kwargs: Any) -> tuple[Any, list[dict[str, Any]], Events]:
    records: list[dict[str, Any]] = []
    events = Events()
    experiment = Experiment(sim, events, records.append, sleep=sim.sleep, clock=sim.clock, **kwargs)
    decision = experiment.run(ab, arms=["blue", "green"], champion="blue", since=sim.clock())
    return decision, records, events


def test_ab_on_errors_promotes_the_better_arm() -> None:
    sim = SimulatedTraffic({"blue": Arm(0.02, 50), "green": Arm(0.01, 50)}, seed=5)
    ab = ABTest.model_validate({"type": "ab", "duration": "2h", "look_every": "30s"})
    decision, records, events = run_ab(sim, ab)
    assert decision.winner == "green"
    assert records[-1]["status"] == "winner" and records[-1]["arms"][1]["n"] > 500
    assert events.items[-1][0] == "ab" and "green" in events.items[-1][1]


def test_ab_with_no_difference_keeps_the_champion_at_the_horizon() -> None:
    sim = SimulatedTraffic({"blue": Arm(0.01, 20), "green": Arm(0.01, 20)}, seed=6)
    ab = ABTest.model_validate({"type": "ab", "max_samples": 3000, "look_every": "20s"})
    decision, records, _ = run_ab(sim, ab)
    assert decision.status == "keep_champion" and decision.winner is None
    assert "horizon" in decision.reason and min(a["n"] for a in records[-1]["arms"]) >= 3000


def test_ab_never_decides_on_unmeasured_looks() -> None:
    sim = SimulatedTraffic({"blue": Arm(0.5, 50), "green": Arm(0.0, 50)}, seed=7)
    sim.unreachable = True
    ab = ABTest.model_validate({"type": "ab", "duration": "5m", "look_every": "1m"})
    decision, records, _ = run_ab(sim, ab)
    assert decision.status == "keep_champion" and "could not measure" in decision.reason
    assert all(r["winner"] is None for r in records)


def test_ab_on_fed_back_outcomes(tmp_path: Path) -> None:
    sim = SimulatedTraffic({"blue": Arm(0.0, 40), "green": Arm(0.0, 40)}, seed=8)
    store = FeedbackStore.for_endpoint(tmp_path, "local")
    rng = sim.rng

    def sleep(seconds: float) -> None:  # the callers' conversions arrive as requests are served
        before = {name: len(arm.served) for name, arm in sim.arms.items()}
        sim.sleep(seconds)
        items = []
        for name, arm in sim.arms.items():
            rate = 0.10 if name == "blue" else 0.14
            items += [{"request_id": row[1], "value": int(rng.random() < rate)} for row in arm.served[before[name] :]]
        store.add(items)

    ab = ABTest.model_validate({"type": "ab", "outcome": "feedback", "duration": "3h", "look_every": "1m"})
    records: list[dict[str, Any]] = []
    experiment = Experiment(
        sim, Events(), records.append, feedback=JoinedFeedback(store, sim), sleep=sleep, clock=sim.clock
    )
    decision = experiment.run(ab, arms=["blue", "green"], champion="blue", since=sim.clock())
    assert decision.winner == "green"
    assert ab.test().goal == "maximize"


def test_feedback_store_validates_and_keeps_the_latest(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.jsonl")
    assert store.add([{"request_id": "r-1", "value": 0}, {"request_id": "r-1", "value": True}]) == 2
    assert store.values() == {"r-1": 1.0}
    with pytest.raises(UserError, match=r"feedback\[0\]: request_id"):
        store.add([{"request_id": "bad id", "value": 1}])
    with pytest.raises(UserError, match="unknown keys"):
        store.add([{"request_id": "r-2", "value": 1, "arm": "green"}])
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,value\nr-3,1\nr-4,0\n")
    assert store.add_labels(labels) == 2 and store.values()["r-3"] == 1.0


def test_feedback_endpoint(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.jsonl")

    async def calls() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=feedback_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://ml") as client:
            good = await client.post("/feedback", json={"request_id": "abc", "value": 1})
            bad = await client.post("/feedback", json=[{"request_id": "abc"}, {"value": 2}])
            return good, bad

    # Not asyncio.run(): it leaves the worker's main thread without a current event loop, which the
    # Pulumi mock tests that later run in the same worker need.
    loop = asyncio.new_event_loop()
    try:
        good, bad = loop.run_until_complete(calls())
    finally:
        loop.close()
    assert good.json() == {"stored": 1}
    assert bad.status_code == 400 and "feedback[0]: value must be a number" in bad.json()["error"]
    assert store.values() == {"abc": 1.0}


def test_ab_spec_needs_a_horizon_and_a_split_per_arm() -> None:
    with pytest.raises(ValueError, match="needs a horizon"):
        ABTest.model_validate({"type": "ab"})
    with pytest.raises(ValueError, match="one share per arm"):
        ABTest.model_validate({"type": "ab", "duration": 60, "split": [50, 30, 20]})
    three = ABTest.model_validate({"type": "ab", "duration": 60, "challengers": ["models:/m/3"]})
    assert three.shares() == [34, 33, 33]
    with pytest.raises(ValueError, match="exactly one of"):
        ABTest.model_validate({"type": "ab", "duration": 60, "assignment": {"cookie": "a", "header": "b"}})
