"""The engine's decisions on an in-memory target, with a real MLflow registry (SQLite) and audit log.

These pin the exact traffic maps each strategy produces, what a failure restores, which aliases
move, and how an interrupted rollout converges; the same engine runs against real model servers
in test_local_rollouts.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.audit import read_records
from ml.deploy.engine import split_traffic
from ml.deploy.gates import evaluate
from ml.deploy.journal import Journal
from ml.deploy.spec import Gates
from ml.deploy.target import DeploymentMetrics, NativeRolloutResult
from tests.deploy.helpers import RolloutWorld
from tests.deploy.memory_target import Behaviour, Crash, MemoryTarget

BAD_ERRORS = DeploymentMetrics(200, 40, 20.0, 30.0)
SLOW = DeploymentMetrics(200, 0, 180.0, 900.0)
FEW = DeploymentMetrics(3, 0, 20.0, 30.0)


class World(RolloutWorld):
    """One endpoint (memory target), one registered model, one engine factory."""

    target: MemoryTarget

    def __init__(self, outputs: PlatformOutputs, client, journal_dir: Path) -> None:  # type: ignore[no-untyped-def]
        super().__init__(outputs, client, journal_dir, MemoryTarget(outputs))

    def configure(self, version: str, how: Behaviour) -> None:
        self.target.behaviour[version] = how

    def champion(self) -> str | None:
        return self.registry.alias_version(self.model, "champion")

    def serve_first(self) -> str:
        version = self.version()
        assert self.engine().run(self.spec("{type: blue_green}")).outcome == "promoted"
        self.target.history.clear()
        return version


@pytest.fixture
def world(outputs: PlatformOutputs, client, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    return World(outputs, client, tmp_path / "rollouts")


def test_first_rollout_takes_all_traffic_and_becomes_champion(world: World) -> None:
    version = world.version()
    result = world.engine().run(world.spec("{type: canary, steps: [10, 50, 100]}"))
    assert result.outcome == "promoted"
    assert world.target.history[0] == ({"blue": 100}, {})
    assert world.target.traffic.weights == {"blue": 100}
    assert world.champion() == version
    assert any("first one takes all traffic" in e.message for e in result.events)


def test_canary_steps_traffic_then_promotes_and_tags(world: World) -> None:
    first = world.serve_first()
    second = world.version()
    result = world.engine().run(world.spec("{type: canary, steps: [10, 25, 50, 100]}"))
    assert result.outcome == "promoted", result.message
    assert world.target.history == [
        ({"blue": 90, "green": 10}, {}),
        ({"blue": 75, "green": 25}, {}),
        ({"blue": 50, "green": 50}, {}),
        ({"green": 100}, {}),
        ({"green": 100}, {}),
    ]
    assert set(world.target.deployments) == {"green"}
    assert world.champion() == second
    retired = world.tags(first)
    assert retired["previous_champion"] == "true" and "retired_at" in retired
    assert world.tags(second)["previous_champion"] == "false"
    assert world.tags(second)["deployed_to"] == "local"
    records = [r for r in read_records(world.audit.path) if r["rollout_id"] == result.rollout_id]
    assert [r["outcome"] for r in records if r["what"] == "gate"] == ["pass"] * 4
    assert records[-1]["what"] == "deploy.promoted"
    assert records[-1]["from"] == f"models:/{world.model}/{first}"
    assert records[-1]["to"] == f"models:/{world.model}/{second}"
    assert records[-1]["who"]["user"] and records[-1]["who"]["host"]
    run_id = world.audit.run_ids[result.rollout_id]
    run = world.client.get_run(run_id)
    assert run.data.tags["ml.deploy.outcome"] == "promoted"
    assert run.info.status == "FINISHED"
    steps = [m.value for m in world.client.get_metric_history(run_id, "traffic_percent")]
    assert steps == [10, 25, 50, 100]
    artifact = world.client.download_artifacts(run_id, "audit.jsonl")
    assert len(Path(artifact).read_text().splitlines()) == len(records)


def test_linear_strategy_steps(world: World) -> None:
    world.serve_first()
    world.version()
    assert world.engine().run(world.spec("{type: linear, step_percent: 40}")).outcome == "promoted"
    assert [weights for weights, _ in world.target.history] == [
        {"blue": 60, "green": 40},
        {"blue": 20, "green": 80},
        {"green": 100},
        {"green": 100},
    ]


@pytest.mark.parametrize(
    ("behaviour", "gates", "reason"),
    [
        (Behaviour(metrics=BAD_ERRORS), "{max_error_rate: 0.05, min_requests: 10}", "error_rate 0.2 > 0.05"),
        (Behaviour(metrics=SLOW), "{max_p95_latency_ms: 100, min_requests: 10}", "p95_latency_ms 180 > 100"),
        (Behaviour(metrics=SLOW), "{max_p99_latency_ms: 500, min_requests: 10}", "p99_latency_ms 900 > 500"),
        (Behaviour(metrics=FEW), "{min_requests: 50, max_wait: 0.1}", "min_requests not reached"),
        (Behaviour(healthy=False), "{min_requests: 10}", "stopped answering its health probe"),
        (Behaviour(starts=False), "{min_requests: 10}", "failed to start"),
    ],
)
def test_failures_restore_traffic_delete_new_and_move_no_alias(
    world: World, behaviour: Behaviour, gates: str, reason: str
) -> None:
    first = world.serve_first()
    bad = world.version(behaviour)
    result = world.engine().run(world.spec("{type: canary, steps: [10, 50, 100]}", gates=gates))
    assert result.outcome == "rolled_back"
    assert reason in result.message
    assert world.target.traffic.weights == {"blue": 100}
    assert world.target.history[-1] == ({"blue": 100}, {})
    if behaviour.starts:
        assert world.target.history[0] == ({"blue": 90, "green": 10}, {})
        assert len(world.target.history) == 2  # failed at the first step, then restored
    assert set(world.target.deployments) == {"blue"}
    assert world.champion() == first
    assert world.tags(bad)["ml.deploy.last_outcome"] == "rolled_back"
    assert world.tags(first)["previous_champion"] == "false" and "retired_at" not in world.tags(first)
    assert result.rollback_seconds is not None and result.rollback_seconds < 1.0
    assert not Journal(world.journal_dir, "local", "local").path.exists()
    run = world.client.get_run(world.audit.run_ids[result.rollout_id])
    assert run.data.tags["ml.deploy.outcome"] == "rolled_back"
    assert run.info.status == "FAILED"


def test_insufficient_traffic_can_be_allowed(world: World) -> None:
    world.serve_first()
    world.version(Behaviour(metrics=FEW))
    gates = "{min_requests: 50, max_wait: 0.05, insufficient_traffic: pass}"
    spec = world.spec("{type: canary, steps: [50, 100]}", gates=gates)
    assert world.engine().run(spec).outcome == "promoted"


def test_blue_green_mirrors_then_switches(world: World) -> None:
    world.serve_first()
    world.version()
    spec = world.spec("{type: blue_green, warmup: 0.05, mirror_percent: 25, mirror_time: 0.05}")
    result = world.engine().run(spec)
    assert result.outcome == "promoted"
    assert world.target.history == [({"blue": 100}, {"green": 25}), ({"green": 100}, {}), ({"green": 100}, {})]
    assert [e.kind for e in result.events].count("gate") == 2


def test_blue_green_without_mirror_support_skips_the_mirror(world: World) -> None:
    world.target.mirror_supported = False
    world.serve_first()
    world.version()
    result = world.engine().run(world.spec("{type: blue_green, mirror_percent: 25}"))
    assert result.outcome == "promoted"
    assert world.target.history == [({"green": 100}, {}), ({"green": 100}, {})]
    assert any("cannot mirror" in e.message for e in result.events)


def test_crash_before_commit_then_rerun_rolls_back_and_redeploys(world: World) -> None:
    first = world.serve_first()
    second = world.version()
    spec = world.spec("{type: canary, steps: [10, 50, 100]}")
    world.target.crash_on = "traffic:[('blue', 50), ('green', 50)]"
    with pytest.raises(Crash):
        world.engine().run(spec)
    journal = Journal(world.journal_dir, "local", "local")
    assert journal.load() is not None and journal.data["phase"] == "shifting" and journal.data["step"] == 2
    assert world.champion() == first
    world.target.history.clear()
    result = world.engine().run(spec)  # the same command, run again
    assert result.outcome == "promoted"
    assert world.target.history[0] == ({"blue": 100}, {})  # recovery restored the previous map first
    assert world.target.history[1:] == [
        ({"blue": 90, "green": 10}, {}),
        ({"blue": 50, "green": 50}, {}),
        ({"green": 100}, {}),
        ({"green": 100}, {}),
    ]
    assert world.champion() == second
    assert set(world.target.deployments) == {"green"}
    whats = [r["what"] for r in read_records(world.audit.path) if r["rollout_id"] == journal.data["id"]]
    assert "recover" in whats and "deploy.rolled_back" in whats
    assert journal.load() is None


def test_crash_after_commit_rolls_forward(world: World) -> None:
    world.serve_first()
    second = world.version()
    world.target.crash_on = "delete:blue"
    with pytest.raises(Crash):
        world.engine().run(world.spec("{type: canary, steps: [50, 100]}"))
    assert world.champion() != second
    result = world.engine().recover()
    assert result is not None and result.outcome == "promoted"
    assert world.champion() == second
    assert set(world.target.deployments) == {"green"}
    assert world.target.traffic.weights == {"green": 100}


def test_crash_while_creating_is_rolled_back(world: World) -> None:
    first = world.serve_first()
    world.version()
    world.target.crash_on = "create:green"
    with pytest.raises(Crash):
        world.engine().run(world.spec("{type: canary, steps: [50, 100]}"))
    result = world.engine().recover()
    assert result is not None and result.outcome == "rolled_back"
    assert world.target.traffic.weights == {"blue": 100}
    assert set(world.target.deployments) == {"blue"}
    assert world.champion() == first


def test_a_live_rollout_holds_the_endpoint(world: World) -> None:
    world.serve_first()
    world.version()
    holder = subprocess.Popen(["sleep", "30"])
    try:
        journal = Journal(world.journal_dir, "local", "local")
        journal.begin({"id": "other", "phase": "shifting", "stack": "local", "endpoint": "local"})
        journal.update(pid=holder.pid)
        with pytest.raises(UserError, match=f"still running \\(pid {holder.pid}\\)"):
            world.engine().run(world.spec("{type: blue_green}"))
        host = json.loads(journal.path.read_text())
        host["host"] = "elsewhere"
        journal.path.write_text(json.dumps(host))
        with pytest.raises(UserError, match=r"started on host elsewhere.*--force"):
            world.engine().run(world.spec("{type: blue_green}"))
    finally:
        holder.kill()
        holder.wait()


def test_both_colours_live_is_refused_and_same_model_is_unchanged(world: World) -> None:
    version = world.serve_first()
    result = world.engine().run(world.spec("{type: canary, steps: [50, 100]}"))
    assert result.outcome == "unchanged"
    assert world.target.history == []
    assert world.champion() == version
    world.version()
    world.target.deployments["green"] = world.target.deployments["blue"]
    world.target.set_traffic({"blue": 60, "green": 40})
    with pytest.raises(UserError, match="splits traffic between both colours"):
        world.engine().run(world.spec("{type: canary, steps: [50, 100]}"))


def test_rollback_returns_to_previous_champion_and_never_bounces(world: World) -> None:
    first = world.serve_first()
    second = world.version()
    assert world.engine().run(world.spec("{type: blue_green}")).outcome == "promoted"
    third = world.version()
    assert world.engine().run(world.spec("{type: blue_green}")).outcome == "promoted"
    assert world.champion() == third
    result = world.engine().rollback(bake_time=0)
    assert result.outcome == "promoted" and result.kind == "rollback"
    assert world.champion() == second
    assert world.target.traffic.weights == {world.target.list_deployments()[0].name: 100}
    assert world.target.list_deployments()[0].model == f"models:/{world.model}/{second}"
    assert world.tags(third)["rolled_back"] == "true"
    assert world.engine().rollback(bake_time=0).outcome == "promoted"
    assert world.champion() == first  # not back to the rolled-back third
    with pytest.raises(UserError, match="no previous champion"):
        world.engine().rollback(bake_time=0)


def test_native_rollout_is_recorded_and_promoted(world: World) -> None:
    world.serve_first()
    second = world.version()
    world.target.native = NativeRolloutResult(True, "canary 10% then all", [{"message": "traffic shifted"}])
    result = world.engine().run(world.spec("{type: canary, steps: [10, 100]}"))
    assert result.outcome == "promoted"
    assert world.target.native_requests[0].deployment == "green"
    assert world.target.native_requests[0].instance_type == "local"
    assert world.champion() == second
    assert any(e.kind == "native" and e.message == "traffic shifted" for e in result.events)


def test_native_rollout_failure_moves_no_alias(world: World) -> None:
    first = world.serve_first()
    world.version()
    world.target.native = NativeRolloutResult(False, "alarm latency-p99 fired")
    result = world.engine().run(world.spec("{type: canary, steps: [10, 100]}"))
    assert result.outcome == "rolled_back"
    assert "alarm latency-p99 fired" in result.message
    assert world.champion() == first
    assert world.target.traffic.weights == {"blue": 100}


@pytest.mark.parametrize(
    ("previous", "percent", "expected"),
    [
        ({"blue": 100}, 10, {"blue": 90, "green": 10}),
        ({"blue": 100}, 100, {"green": 100}),
        ({}, 30, {"green": 100}),
        ({"blue": 50, "default": 50}, 25, {"blue": 38, "default": 37, "green": 25}),
        ({"a": 1, "b": 1, "c": 1}, 1, {"a": 33, "b": 33, "c": 33, "green": 1}),
    ],
)
def test_split_traffic(previous: dict[str, int], percent: int, expected: dict[str, int]) -> None:
    result = split_traffic(previous, "green", percent)
    assert result == expected
    assert sum(result.values()) == 100


def test_gate_evaluation_reports_values_and_limits() -> None:
    gates = Gates(max_error_rate=0.01, max_p95_latency_ms=100, max_p99_latency_ms=200, min_requests=20)
    ok = evaluate(gates, DeploymentMetrics(100, 1, 50.0, 120.0))
    assert ok.passed and ok.as_dict()["checks"]["p99_latency_ms"] == {"value": 120.0, "limit": 200, "passed": True}
    bad = evaluate(gates, DeploymentMetrics(100, 5, 150.0, 120.0))
    assert bad.failures() == ["error_rate 0.05 > 0.01", "p95_latency_ms 150 > 100"]
    few = evaluate(gates, DeploymentMetrics(5, 0, 1.0, 1.0))
    assert not few.passed and few.failures() == ["only 5 requests (min_requests not reached)"]
    assert evaluate(gates, DeploymentMetrics(5, 0, 1.0, 1.0), insufficient_ok=True).passed
    assert evaluate(Gates(), DeploymentMetrics(0, 0)).checks[0].value == 0.0
