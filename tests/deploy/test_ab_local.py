"""An A/B experiment to a decision through the real local platform: MLflow, Traefik, real model servers.

Two versions of ``examples/ab/flaky_model.py`` -- the champion fails 30 % of requests, the
challenger 1 % -- serve side by side under real concurrent load; the engine reads each arm's
errors from Traefik's counters, the mSPRT decides, and the better arm is promoted. The horizon is
small (``duration: 40s``, a look every second) so the test is bounded even on a loaded machine;
with this difference the test usually decides after about a hundred requests per arm.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest

from ml.deploy.audit import read_records
from ml.deploy.feedback import FeedbackStore
from ml.deploy.loadgen import summarize
from ml.platform import local, model_server
from tests.deploy.test_local_rollouts import Platform, local_platform

FLAKY_MODEL = Path(__file__).resolve().parents[2] / "examples" / "ab" / "flaky_model.py"
MODEL = "fault-demo"  # the name `Platform` (tests/deploy/test_local_rollouts.py) reads aliases and tags of
AB = "{type: ab, outcome: errors, duration: 40s, max_samples: 5000, look_every: 1s, min_samples: 60, mixture_sd: 0.5}"

pytestmark = pytest.mark.timeout(300)


def register_flaky(world: Platform, error_rate: float, label: str) -> str:
    """A version of the flaky example model that fails ``error_rate`` of calls, aliased ``challenger``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run(run_name=label):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(FLAKY_MODEL),
                model_config={"error_rate": error_rate, "label": label},
                pip_requirements=["mlflow"],
                registered_model_name=MODEL,
            )
    version = str(info.registered_model_version)
    world.client.set_registered_model_alias(MODEL, "challenger", version)
    return version


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform with the 30 %-failing champion serving alone on the endpoint."""
    home = tmp_path_factory.mktemp("ab-platform")
    with local_platform(home, lambda world: register_flaky(world, 0.30, "flaky")) as world:
        yield world


def test_ab_on_the_real_platform_promotes_the_arm_with_fewer_errors(platform: Platform) -> None:
    champion = platform.champion()
    (old,) = platform.traffic()["weights"]
    better = register_flaky(platform, 0.01, "steady")
    began = time.monotonic()
    with platform.load(concurrency=4) as load:
        result = platform.run(AB, bake="0s", gates="{max_error_rate: 0.9, min_requests: 0, insufficient_traffic: pass}")
    took = time.monotonic() - began
    assert result.outcome == "promoted", result.message
    new = result.deployment
    assert new is not None and new != old
    assert platform.traffic()["weights"] == {new: 100}
    assert platform.serving() == {new: f"models:/{MODEL}/{better}"}
    assert platform.champion() == better
    assert champion is not None and platform.tags(champion)["previous_champion"] == "true"
    for version, role in ((better, "challenger"), (champion, "champion")):
        tags = platform.tags(version)
        assert tags["ml.ab.winner"] == "challenger" and tags["ml.ab.role"] == role and int(tags["ml.ab.n"]) >= 60
    decision = next(
        r
        for r in read_records(platform.layout.audit)
        if r["what"] == "ab.decision" and r["rollout_id"] == result.rollout_id
    )
    experiment = decision["gates"]["experiment"]
    assert experiment["winner"] == new and experiment["status"] == "winner"
    arms = {arm["arm"]: arm for arm in experiment["arms"]}
    assert arms[old]["mean"] > 0.15 and arms[new]["mean"] < 0.08  # Traefik's counts, per arm
    served = summarize(load.results())["by_deployment"]
    assert served.get(old, 0) > 0 and served.get(new, 0) > 0  # users really reached both arms
    print(f"A/B on the real platform decided in {took:.1f}s: {decision['message']}")


def test_three_arms_on_the_real_platform_keep_a_better_champion_and_remove_both_challengers(
    platform: Platform,
) -> None:
    (old,) = platform.traffic()["weights"]
    champion = platform.champion()
    worse = register_flaky(platform, 0.35, "worse")
    model = register_flaky(platform, 0.30, "flaky-again")  # the spec's model: alias challenger
    strategy = AB.replace("{type: ab,", f"{{type: ab, challengers: [models:/{MODEL}/{worse}],")
    with platform.load(concurrency=4) as load:
        result = platform.run(
            strategy, bake="0s", gates="{max_error_rate: 0.9, min_requests: 0, insufficient_traffic: pass}"
        )
    assert result.outcome == "unchanged", result.message
    assert "every challenger is shown worse" in result.message
    assert platform.traffic()["weights"] == {old: 100}
    assert platform.serving() == {old: f"models:/{MODEL}/{champion}"}
    assert platform.champion() == champion
    arm = f"{result.deployment}-arm2"
    assert (
        model_server.record_of(platform.layout, arm) is None
        and model_server.record_of(platform.layout, result.deployment or "") is None
    )
    served = summarize(load.results())["by_deployment"]
    assert served.get(arm, 0) > 0 and served.get(old, 0) > 0  # the third arm really served users through Traefik
    for version in (worse, model):
        assert platform.tags(version)["ml.ab.winner"] == "champion" and platform.tags(version)["ml.ab.arms"] == "3"


def test_the_platform_serves_post_feedback_where_users_score(platform: Platform) -> None:
    state = local.status(platform.layout)
    feedback = next(s for s in state.services if s.name == "feedback")
    base = platform.url.removesuffix("/invocations")
    assert feedback.healthy and feedback.url == f"{base}/feedback"
    answer = httpx.post(feedback.url, json={"request_id": "ab-local-1", "value": 1}, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"stored": 1}
    assert FeedbackStore.for_endpoint(platform.layout.home, "local").values()["ab-local-1"] == 1.0
