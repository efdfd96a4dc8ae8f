"""What each target says it can do for an A/B test, as `ml.deploy.ab_rollout.refusals` reads it before anything runs.

One table, the one docs/deploy.md shows: sticky by cookie and by header, and the feedback outcome,
per target. The targets are built without a platform (``object.__new__``): the refusals read only
their class-level capabilities; what depends on the stack (session persistence surviving the CRD,
a capture to read) is each target's `preflight`, tested with its fake.
"""

from __future__ import annotations

import pytest

from ml.deploy.ab_rollout import refusals
from ml.deploy.spec import RolloutSpec, parse_spec
from ml.deploy.target import DeploymentTarget
from ml.deploy.targets.azure import AzureTarget
from ml.deploy.targets.kubernetes import KubernetesTarget
from ml.deploy.targets.local import LocalTarget
from ml.deploy.targets.sagemaker import SageMakerTarget


def _spec(assignment: str, outcome: str = "errors") -> RolloutSpec:
    return parse_spec(
        f"model: models:/m@challenger\nstrategy: {{type: ab, assignment: {assignment}, outcome: {outcome}, "
        f"duration: 60}}\n"
    )


def _problems(target_type: type[DeploymentTarget], assignment: str, outcome: str = "errors") -> list[str]:
    return refusals(object.__new__(target_type), _spec(assignment, outcome))


@pytest.mark.parametrize(
    ("target_type", "cookie", "header", "feedback"),
    [
        (LocalTarget, True, False, True),
        (KubernetesTarget, True, True, True),
        (AzureTarget, False, False, True),
        (SageMakerTarget, False, False, False),
    ],
)
def test_each_target_offers_what_the_capability_table_says(
    target_type: type[DeploymentTarget], cookie: bool, header: bool, feedback: bool
) -> None:
    assert (_problems(target_type, "{cookie: ml-arm}") == []) is cookie
    assert (_problems(target_type, "{header: X-Session}") == []) is header
    assert (_problems(target_type, "random", "feedback") == []) is feedback
    assert (_problems(target_type, "random") == []) is (target_type is not SageMakerTarget)


def test_the_local_refusal_of_a_header_names_the_cookie_that_works() -> None:
    (problem,) = _problems(LocalTarget, "{header: X-Session}")
    assert "cannot pin users by header 'X-Session'" in problem and "cookie" in problem
