"""A trial's dataset and model land in ITS trial run, warm-started or not (a real local sweep).

Regression: the example script calls `trial.log_dataset` then `trial.log_model`; MLflow's
``start_run``/``end_run`` delete ``MLFLOW_RUN_ID`` from the environment, so the model went to a new,
unnamed run and ``ml sweep best`` found "no model" for the best trial.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from ml.contract import PlatformOutputs
from ml.stack import local_home
from ml.sweep.backends.base import TAG_SWEEP_ID, TAG_SWEEP_ROLE
from ml.sweep.backends.local import LocalSweepBackend
from ml.sweep.spec import parse_spec

TRIALS = Path(__file__).parent / "trials"


@pytest.mark.parametrize("warm", ["1", "0"])
def test_a_trials_dataset_and_model_land_in_its_own_run(
    outputs: PlatformOutputs, warm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_SWEEP_WARM_START", warm)
    spec = parse_spec(
        f"""
name: own-run-{warm}
experiment: own-run-{warm}
code: {TRIALS}
command: python model_trial.py --c ${{{{search_space.c}}}}
environment: {{pip: ["scikit-learn>=1.6"]}}
search_space: {{c: {{type: choice, values: [1]}}}}
objective: {{metric: score, goal: maximize}}
sampling: grid
limits: {{trial_timeout: 4m}}
""",
        source="own-run.yaml",
        check_paths=True,
    )
    status = LocalSweepBackend().submit(spec, outputs).status
    assert status.completed == 1, status.failures
    launcher_log = local_home() / "sweeps" / status.sweep_id / "launcher.log"
    preloaded = "preloaded" in launcher_log.read_text()  # a cold sweep's launcher only exec's its trials
    assert preloaded is (warm == "1")  # the trial really was (or was not) forked warm

    client = MlflowClient(outputs.tracking_uri)
    experiment = client.get_experiment_by_name(f"own-run-{warm}")
    runs = client.search_runs([experiment.experiment_id])
    assert all(run.data.tags.get(TAG_SWEEP_ID) == status.sweep_id for run in runs), [
        run.info.run_name for run in runs if TAG_SWEEP_ID not in run.data.tags
    ]  # no stray unnamed run took the model
    trial_run = next(run for run in runs if run.data.tags.get(TAG_SWEEP_ROLE) == "trial")
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert [model.source_run_id for model in models] == [trial_run.info.run_id]
    assert [d.dataset.name for d in trial_run.inputs.dataset_inputs] == ["toy-train"]
    best = LocalSweepBackend().best(outputs, status.sweep_id)
    assert best.run_id == trial_run.info.run_id and best.model_uri
