"""One place per decision: each backend translates every early-termination policy in one table, and
`ml sweep run` checks a spec and resolves its compute once per command."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import ml.sweep.backends._sagemaker_job as sagemaker_job
import ml.sweep.backends.base as base
import ml.sweep.cost as cost
from ml.sweep.backends._azure_job import azure_policy
from ml.sweep.backends.sagemaker import SageMakerSweepBackend
from ml.sweep.pruners import PRUNERS, pruner_for
from ml.sweep.spec import POLICY_NAMES, BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.moto_server import MotoServer
from tests.sweep import test_sagemaker_backend as sagemaker_tests

moto_server = moto_fixtures.moto_server  # pytest fixtures used by this module
code_dir = sagemaker_tests.code_dir

POLICIES = [
    BanditPolicy(policy="bandit", slack_amount=0.02, evaluation_interval=2, delay_evaluation=3),
    MedianStoppingPolicy(policy="median_stopping", delay_evaluation=1),
    TruncationSelectionPolicy(policy="truncation_selection", truncation_percentage=20),
]


def test_every_policy_has_one_entry_in_each_backend_table() -> None:
    assert {p.policy for p in POLICIES} | {"hyperband"} == set(POLICY_NAMES)  # hyperband: test_waste_nothing
    assert set(PRUNERS) == set(POLICY_NAMES)
    assert set(sagemaker_job.EARLY_STOPPING) == set(POLICY_NAMES)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.policy)
def test_each_backend_translates_each_policy(policy: Any) -> None:
    pruner = pruner_for(policy)
    assert type(pruner).__name__ == type(policy).__name__.replace("Policy", "Pruner")
    azure = azure_policy(policy)
    assert type(azure).__name__ == type(policy).__name__
    for field, value in policy.parameters().items():
        assert getattr(azure, field) == value
    stopping_type, notes = sagemaker_job.early_stopping(policy)
    assert stopping_type == "Auto" and len(notes) == 1 and notes[0].startswith("early_termination: ")
    assert sagemaker_job.early_stopping(None) == ("Off", [])


def test_sweep_run_on_sagemaker_checks_and_resolves_compute_once(
    moto_server: MotoServer, code_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sagemaker_tests.with_bucket(moto_server)
    calls: Counter[str] = Counter()

    def count(module: Any, name: str) -> None:
        original = getattr(module, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    for module in (base, cost, sagemaker_job):
        count(module, "resolve_compute")
    count(sagemaker_job, "incompatibilities")
    spec = sagemaker_tests.make_spec(
        code_dir, sampling="random", policy="early_termination: {policy: bandit, slack_factor: 0.1}\n"
    )
    outputs = sagemaker_tests.aws_outputs()
    backend = SageMakerSweepBackend()

    admitted = backend.admit(spec, outputs)  # what `ml sweep run` does before submitting
    backend.submit(spec, outputs, admitted=admitted)

    assert calls == {"incompatibilities": 1, "resolve_compute": 1}
