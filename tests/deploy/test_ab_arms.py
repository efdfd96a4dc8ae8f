"""A/B experiments with more than two arms, through the real engine on the in-memory target.

The champion serves on ``blue``, the spec's model is created on ``green`` and each further
challenger on ``green-arm<k>``; the target reports each model version's window, so a test states
which version errs less and checks what the engine does: the split, the promotion of exactly the
winner, the deletion of every other arm, the tags on every version, and a crash in the middle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.ab_rollout import refusals
from ml.deploy.decide import ColourWindow
from ml.deploy.journal import Journal
from tests.deploy.memory_target import Crash
from tests.deploy.test_stats_engine import StatsTarget, World

NO_GATES = "{min_requests: 0, insufficient_traffic: pass}"


class ArmsTarget(StatsTarget):
    """A memory target whose traffic map holds up to ten deployments, and that can die mid-experiment."""

    max_arms = 10

    def __init__(self, outputs: PlatformOutputs) -> None:
        super().__init__(outputs)
        self.crash_on_read = False

    def read_window(self, name: str, since: float) -> ColourWindow:
        if self.crash_on_read and len(self.traffic.weights) > 2:
            self.crash_on_read = False
            raise Crash("killed while the experiment looks")
        return super().read_window(name, since)


class ArmsWorld(World):
    target: ArmsTarget  # type: ignore[assignment]

    def __init__(self, outputs: PlatformOutputs, client, journal_dir: Path) -> None:  # type: ignore[no-untyped-def]
        super().__init__(outputs, client, journal_dir)
        self.target = ArmsTarget(outputs)

    def three_arms(self, champion: int, model: int, challenger: int) -> tuple[str, str, str]:
        """Serve a champion, then register the spec's model and one more challenger; errors per 6000 requests."""
        first = self.serve_first()
        self.target.windows[first] = ColourWindow(requests=6000, errors=champion)
        extra = self.version(ColourWindow(requests=6000, errors=challenger))
        second = self.version(ColourWindow(requests=6000, errors=model))  # the spec's model: alias challenger
        return first, second, extra

    def ab(self, extra: str, **options: str) -> str:
        parts = [f"challengers: [models:/{self.model}/{extra}]", "max_samples: 5000", "look_every: 0.01"]
        parts += [f"{key}: {value}" for key, value in options.items()]
        return "{type: ab, " + ", ".join(parts) + "}"


@pytest.fixture
def world(outputs: PlatformOutputs, client, tmp_path: Path) -> ArmsWorld:  # type: ignore[no-untyped-def]
    return ArmsWorld(outputs, client, tmp_path / "rollouts")


def test_three_arms_promote_the_extra_arm_that_wins_and_delete_the_others(world: ArmsWorld) -> None:
    first, second, extra = world.three_arms(champion=180, model=175, challenger=60)
    result = world.engine().run(world.spec(world.ab(extra), NO_GATES))
    assert result.outcome == "promoted", result.message
    assert world.target.history[0] == ({"blue": 34, "green": 33, "green-arm2": 33}, {})
    assert world.target.traffic.weights == {"green-arm2": 100}
    assert set(world.target.deployments) == {"green-arm2"}
    assert world.registry.alias_version(world.model, "champion") == extra
    assert world.tags(first)["previous_champion"] == "true"
    arms = ((first, "champion", "blue"), (second, "challenger", "green"), (extra, "challenger", "green-arm2"))
    for version, role, arm in arms:
        tags = world.tags(version)
        assert (tags["ml.ab.role"], tags["ml.ab.arm"], tags["ml.ab.arms"]) == (role, arm, "3")
        assert tags["ml.ab.winner"] == "challenger" and tags["ml.ab.winner_model"] == f"models:/{world.model}/{extra}"
        assert tags["ml.ab.n"] == "6000"
    assert float(world.tags(extra)["ml.ab.difference"]) == pytest.approx(-0.02)
    decision = next(r for r in world.records(result.rollout_id) if r["what"] == "ab.decision")
    assert decision["gates"]["experiment"]["winner"] == "green-arm2"
    assert [c["arm"] for c in decision["gates"]["experiment"]["comparisons"]] == ["green", "green-arm2"]
    assert not Journal(world.journal_dir, "local", "local").path.exists()
    # the winner serves under its arm name; the next rollout takes a free colour beside it
    world.version(ColourWindow(requests=6000, errors=60))
    follow = world.engine().run(world.spec("{type: blue_green}", NO_GATES))
    assert follow.outcome == "promoted" and set(world.target.deployments) == {"blue"}


def test_three_arms_with_no_difference_keep_the_champion_and_delete_every_challenger(world: ArmsWorld) -> None:
    first, second, extra = world.three_arms(champion=60, model=61, challenger=59)
    result = world.engine().run(world.spec(world.ab(extra), NO_GATES))
    assert result.outcome == "unchanged", result.message
    assert "kept the champion" in result.message and f"models:/{world.model}/{extra}" in result.message
    assert world.target.traffic.weights == {"blue": 100}
    assert set(world.target.deployments) == {"blue"}
    assert world.registry.alias_version(world.model, "champion") == first
    for version in (first, second, extra):
        assert world.tags(version)["ml.ab.winner"] == "champion"


def test_a_crash_mid_experiment_is_recovered_with_every_arm_deleted(world: ArmsWorld) -> None:
    first, _, extra = world.three_arms(champion=180, model=175, challenger=60)
    world.target.crash_on_read = True
    with pytest.raises(Crash):
        world.engine().run(world.spec(world.ab(extra), NO_GATES))
    assert set(world.target.deployments) == {"blue", "green", "green-arm2"}
    assert world.target.traffic.weights == {"blue": 34, "green": 33, "green-arm2": 33}
    journal = Journal(world.journal_dir, "local", "local").load()
    assert journal is not None and set(journal["arms"]) == {"green-arm2"}
    result = world.engine().recover()
    assert result is not None and result.outcome == "rolled_back"
    assert world.target.traffic.weights == {"blue": 100}
    assert set(world.target.deployments) == {"blue"}
    assert world.registry.alias_version(world.model, "champion") == first


def test_a_crash_while_creating_an_arm_is_recovered_too(world: ArmsWorld) -> None:
    _, _, extra = world.three_arms(champion=180, model=175, challenger=60)
    world.target.crash_on = "create:green-arm2"
    with pytest.raises(Crash):
        world.engine().run(world.spec(world.ab(extra), NO_GATES))
    world.engine().recover()
    assert world.target.traffic.weights == {"blue": 100} and set(world.target.deployments) == {"blue"}


def test_arms_a_target_cannot_hold_or_that_are_not_new_versions_are_refused_before_anything_exists(
    world: ArmsWorld,
) -> None:
    first, _, extra = world.three_arms(champion=180, model=175, challenger=60)
    journal = Journal(world.journal_dir, "local", "local")
    world.target.max_arms = 2
    with pytest.raises(UserError, match="serves at most 2 deployments side by side"):
        world.engine().run(world.spec(world.ab(extra), NO_GATES))
    world.target.max_arms = 10
    with pytest.raises(UserError, match="serves the endpoint now"):
        world.engine().run(world.spec(world.ab(first), NO_GATES))
    with pytest.raises(UserError, match="every arm must be a version of"):
        world.engine().run(world.spec(world.ab(extra).replace(f"models:/{world.model}/", "models:/other/"), NO_GATES))
    with pytest.raises(UserError, match="each arm must be a different version"):
        world.engine().run(world.spec(world.ab(extra).replace(f"/{extra}]", "@challenger]"), NO_GATES))
    assert not journal.path.exists() and set(world.target.deployments) == {"blue"}
    from ml.deploy.targets.kubernetes import KubernetesTarget

    why = refusals(object.__new__(KubernetesTarget), world.spec(world.ab(extra), NO_GATES))
    assert any("declares exactly two colours" in p for p in why), why


def test_a_crash_after_an_extra_arm_won_rolls_forward_to_that_arm(world: ArmsWorld) -> None:
    _, _, extra = world.three_arms(champion=180, model=175, challenger=60)
    world.target.crash_on = "delete:blue"  # killed while the commit cleans up
    with pytest.raises(Crash):
        world.engine().run(world.spec(world.ab(extra), NO_GATES))
    journal = Journal(world.journal_dir, "local", "local").load()
    assert journal is not None and journal["phase"] == "committed" and journal["new"] == "green-arm2"
    result = world.engine().recover()
    assert result is not None and result.outcome == "promoted"
    assert world.target.traffic.weights == {"green-arm2": 100} and set(world.target.deployments) == {"green-arm2"}
    assert world.registry.alias_version(world.model, "champion") == extra
