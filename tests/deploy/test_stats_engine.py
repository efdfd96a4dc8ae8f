"""Relative gates and A/B experiments through the real engine, on the in-memory target.

The target reports each model version's window per colour (`StatsTarget.windows`), so a test
states "the challenger fails twice as often as the champion" and checks what the engine does with
it: the exact traffic maps, the audit records with their evidence, the aliases and tags.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.ab_rollout import refusals
from ml.deploy.audit import read_records
from ml.deploy.decide import ColourWindow
from ml.deploy.journal import Journal
from ml.deploy.target import DeploymentMetrics
from tests.deploy.helpers import RolloutWorld
from tests.deploy.memory_target import MemoryTarget

UNREACHABLE = ColourWindow(requests=0, errors=0, error="cannot reach Prometheus at http://127.0.0.1:9")


class StatsTarget(MemoryTarget):
    """A memory target whose versions report fixed windows (and sticky cookies, to test that path)."""

    assignments = frozenset({"random", "cookie"})

    def __init__(self, outputs: PlatformOutputs) -> None:
        super().__init__(outputs)
        self.windows: dict[str, ColourWindow] = {}
        self.sticky: list[str | None] = []

    def read_window(self, name: str, since: float) -> ColourWindow:
        return self.windows.get(self.deployments[name].version, ColourWindow(requests=20000, errors=200))

    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        window = self.read_window(name, since)
        return DeploymentMetrics(window.requests, window.errors, 20.0, 30.0)

    def set_assignment(self, weights: dict[str, int], sticky: object | None) -> None:
        self.sticky.append(getattr(sticky, "cookie", None))
        self.set_traffic(weights, {})


class World(RolloutWorld):
    target: StatsTarget

    def __init__(self, outputs: PlatformOutputs, client, journal_dir: Path) -> None:  # type: ignore[no-untyped-def]
        super().__init__(outputs, client, journal_dir, StatsTarget(outputs))

    def configure(self, version: str, how: ColourWindow) -> None:
        self.target.windows[version] = how

    def serve_first(self) -> str:
        version = self.version()
        spec = self.spec("{type: blue_green}", "{min_requests: 0, insufficient_traffic: pass}")
        assert self.engine().run(spec).outcome == "promoted"
        self.target.history.clear()
        return version

    def records(self, rollout_id: str) -> list[dict]:
        return [r for r in read_records(self.audit.path) if r["rollout_id"] == rollout_id]


@pytest.fixture
def world(outputs: PlatformOutputs, client, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    return World(outputs, client, tmp_path / "rollouts")


RELATIVE = (
    "{max_error_rate: 0.05, min_requests: 10, relative: {max_error_ratio: 1.5, min_requests: 200, "
    "extend_by: 0.01, max_extensions: 2}}"
)


def test_doubled_error_rate_passes_absolute_but_fails_relative_and_rolls_back(world: World) -> None:
    world.serve_first()  # champion: 1 % errors (the default window)
    world.version(ColourWindow(requests=20000, errors=400))  # 2 %: under the 5 % threshold
    result = world.engine().run(world.spec("{type: canary, steps: [50, 100]}", RELATIVE))
    assert result.outcome == "rolled_back", result.message
    assert "relative gate" in result.message and "beyond tolerance" in result.message
    assert world.target.traffic.weights == {"blue": 100}
    records = world.records(result.rollout_id)
    absolute = next(r for r in records if r["what"] == "gate")
    assert absolute["outcome"] == "pass"
    relative = next(r for r in records if r["what"] == "relative")
    evidence = relative["gates"]["relative"]["evidence"][0]
    assert relative["outcome"] == "fail"
    assert (evidence["candidate"], evidence["baseline"]) == (0.02, 0.01)
    assert (evidence["n_candidate"], evidence["n_baseline"]) == (20000, 20000)
    assert evidence["p_value"] < 0.01 and evidence["bound"][0] > 1 and evidence["threshold"] == 1.5


def test_same_error_rate_passes_relative_and_promotes(world: World) -> None:
    world.serve_first()
    version = world.version(ColourWindow(requests=20000, errors=195))
    result = world.engine().run(world.spec("{type: canary, steps: [50, 100]}", RELATIVE))
    assert result.outcome == "promoted", result.message
    assert world.registry.alias_version(world.model, "champion") == version
    kinds = [r["what"] for r in world.records(result.rollout_id)]
    assert kinds.count("relative") == 1  # judged at 50 %; at 100 % there is no baseline traffic


def test_quiet_endpoint_extends_then_rolls_back_by_default(world: World) -> None:
    world.serve_first()
    world.target.windows.clear()
    world.target.windows[world.version(ColourWindow(requests=30, errors=0))] = ColourWindow(requests=30, errors=0)
    result = world.engine().run(world.spec("{type: canary, steps: [50, 100]}", RELATIVE.replace("10,", "5,")))
    assert result.outcome == "rolled_back"
    kinds = [r["what"] for r in world.records(result.rollout_id)]
    assert kinds.count("extend") == 2 and kinds.count("relative") == 3
    assert "inconclusive" in result.message


def test_quiet_endpoint_may_pass_when_the_spec_says_so_but_unreachable_never(world: World) -> None:
    world.serve_first()
    quiet = RELATIVE.replace("max_extensions: 2", "max_extensions: 1, on_inconclusive: pass").replace("10,", "5,")
    world.version(ColourWindow(requests=30, errors=0))
    assert world.engine().run(world.spec("{type: canary, steps: [50, 100]}", quiet)).outcome == "promoted"
    world.version(UNREACHABLE)
    lenient = quiet.replace("min_requests: 5,", "min_requests: 0, insufficient_traffic: pass,")
    result = world.engine().run(world.spec("{type: canary, steps: [50, 100]}", lenient))
    assert result.outcome == "rolled_back" and "could not be read" in result.message


def test_relative_gates_need_a_step_where_both_colours_serve(world: World) -> None:
    world.serve_first()
    world.version()
    with pytest.raises(UserError, match="needs a step where both colours serve"):
        world.engine().run(world.spec("{type: blue_green}", RELATIVE))
    assert not Journal(world.journal_dir, "local", "local").path.exists()


AB = "{type: ab, split: [50, 50], assignment: {cookie: ml-arm}, max_samples: 5000, look_every: 0.01}"


def test_ab_promotes_the_better_challenger_with_evidence_on_both_versions(world: World) -> None:
    first = world.serve_first()
    world.target.windows[first] = ColourWindow(requests=6000, errors=180)
    second = world.version(ColourWindow(requests=6000, errors=60))
    result = world.engine().run(world.spec(AB, "{min_requests: 0, insufficient_traffic: pass}"))
    assert result.outcome == "promoted", result.message
    assert world.target.history[0] == ({"blue": 50, "green": 50}, {})
    assert world.target.sticky == ["ml-arm"]
    assert world.registry.alias_version(world.model, "champion") == second
    for version, role in ((second, "challenger"), (first, "champion")):
        tags = world.tags(version)
        assert tags["ml.ab.winner"] == "challenger" and tags["ml.ab.role"] == role and tags["ml.ab.n"] == "6000"
    decision = next(r for r in world.records(result.rollout_id) if r["what"] == "ab.decision")
    assert decision["gates"]["experiment"]["winner"] == "green"


def test_ab_with_no_difference_keeps_the_champion_at_the_horizon(world: World) -> None:
    first = world.serve_first()
    world.target.windows[first] = ColourWindow(requests=6000, errors=60)
    second = world.version(ColourWindow(requests=6000, errors=61))
    result = world.engine().run(world.spec(AB, "{min_requests: 0, insufficient_traffic: pass}"))
    assert result.outcome == "unchanged" and "kept the champion" in result.message
    assert world.target.traffic.weights == {"blue": 100}
    assert world.registry.alias_version(world.model, "champion") == first
    assert world.tags(second)["ml.ab.winner"] == "champion"


def test_targets_refuse_what_they_cannot_do(world: World) -> None:
    world.serve_first()
    world.version()
    header = world.spec(AB.replace("{cookie: ml-arm}", "{header: X-User}"), "{min_requests: 0}")
    with pytest.raises(UserError, match="cannot pin users by header 'X-User'"):
        world.engine().run(header)
    from ml.deploy.targets.azure import AzureTarget
    from ml.deploy.targets.kubernetes import KubernetesTarget
    from ml.deploy.targets.sagemaker import SageMakerTarget

    cookie = world.spec(AB, "{min_requests: 0}")
    latency = world.spec(
        "{type: canary, steps: [50, 100]}", "{relative: {max_error_ratio: null, max_slower_probability: 0.6}}"
    )
    azure = object.__new__(AzureTarget)
    assert any("cannot pin users by cookie" in p for p in refusals(azure, cookie))
    assert any("percentiles" in p for p in refusals(azure, latency))
    sagemaker = object.__new__(SageMakerTarget)
    assert any("strategy: ab cannot run there" in p for p in refusals(sagemaker, cookie))
    assert any("gates.relative" in p for p in refusals(sagemaker, latency))
    assert refusals(object.__new__(KubernetesTarget), latency) == []
