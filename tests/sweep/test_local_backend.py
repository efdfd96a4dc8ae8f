"""The local backend for real: trial processes, a SQLite MLflow store, pruning, crashes, evictions.

The trials are `trials/toy_trial.py` (standard library only, so each starts in a fraction of a
second); the real example (scikit-learn + an MLflow model) runs end to end in test_cli.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from ml.contract import PlatformOutputs
from ml.sweep.backends.base import (
    TAG_SWEEP_ID,
    TAG_SWEEP_ROLE,
    TAG_TRIAL_NUMBER,
    TAG_TRIAL_STATE,
    SweepState,
    SweepStatus,
    TrialState,
    backend_for,
)
from ml.sweep.backends.local import LocalSweepBackend
from ml.sweep.spec import SweepSpec, parse_spec

TRIALS = Path(__file__).parent / "trials"


def toy_spec(
    name: str,
    *,
    args: str = "",
    trials: int,
    concurrent: int = 1,
    policy: str = "",
    spot: bool = True,
    trial_timeout: str = "60s",
) -> SweepSpec:
    text = f"""
name: {name}
experiment: toy
code: {TRIALS}
command: python toy_trial.py --quality ${{{{search_space.quality}}}} {args}
environment: {{pip: []}}
search_space:
  quality: {{type: uniform, min_value: 0.4, max_value: 0.6}}
objective: {{metric: score, goal: maximize}}
sampling: {{algorithm: random, seed: 1}}
{policy}
limits: {{max_total_trials: {trials}, max_concurrent_trials: {concurrent}, trial_timeout: {trial_timeout}}}
spot: {{enabled: {str(spot).lower()}, max_restarts: 1}}
"""
    return parse_spec(text, source=f"{name}.yaml", check_paths=True)


def trial_runs(outputs: PlatformOutputs, sweep_id: str) -> dict[int, object]:
    client = MlflowClient(outputs.tracking_uri)
    experiment = client.get_experiment_by_name("toy")
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.`{TAG_SWEEP_ID}` = '{sweep_id}' and tags.`{TAG_SWEEP_ROLE}` = 'trial'"
    )
    return {int(run.data.tags[TAG_TRIAL_NUMBER]): run for run in runs}


def metric_steps(outputs: PlatformOutputs, run_id: str, key: str) -> list[tuple[int, float]]:
    history = MlflowClient(outputs.tracking_uri).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in history)


def test_backend_for_local_stack_is_the_local_backend(outputs: PlatformOutputs) -> None:
    assert isinstance(backend_for(outputs), LocalSweepBackend)


def test_pruning_stops_weak_trials_and_the_sweep_reads_back(outputs: PlatformOutputs) -> None:
    """Median stopping with trials of known quality: the weak ones are stopped mid-run.

    Trial 1 (0.2) is judged against trial 0 (0.9); trial 2 (0.95) beats it and completes; trial 3
    (0.1) is judged against the median of 0.9 and 0.95.
    """
    spec = toy_spec(
        "pruning",
        args="--quality-by-trial 0.9,0.2,0.95,0.1 --steps 8 --sleep 0.25",
        trials=4,
        policy="early_termination: {policy: median_stopping, evaluation_interval: 1, delay_evaluation: 2}",
    )
    progress: list[SweepStatus] = []
    run = LocalSweepBackend().submit(spec, outputs, on_progress=progress.append)

    assert run.status.state is SweepState.COMPLETED
    assert (run.status.completed, run.status.pruned, run.status.failed) == (2, 2, 0)
    assert run.status.best is not None and run.status.best.trial_id == "2"
    assert run.status.best.value == pytest.approx(0.95)
    assert any(s.running == 1 for s in progress) and progress[-1].finished == 4

    runs = trial_runs(outputs, run.sweep_id)
    for number in (1, 3):  # the weak trials: stopped at the first evaluation step, process terminated
        pruned = runs[number]
        assert pruned.data.tags[TAG_TRIAL_STATE] == "PRUNED"
        assert pruned.info.status == "KILLED"
        steps = [step for step, _ in metric_steps(outputs, pruned.info.run_id, "score")]
        assert steps and max(steps) < 8
        checkpoint = outputs.artifacts.uri.removeprefix("file://")
        assert not (Path(checkpoint) / "checkpoints" / run.sweep_id / f"trial-{number}" / "finished").exists()
    completed = runs[2]
    assert completed.info.status == "FINISHED"
    assert [step for step, _ in metric_steps(outputs, completed.info.run_id, "score")] == list(range(1, 9))
    assert completed.data.params["quality"]  # the sampled value was logged
    assert completed.data.tags["mlflow.parentRunId"] == run.parent_run_id
    for key in ("trial_seconds", "cost_estimated", "cost_measured"):
        assert key in completed.data.metrics

    # a new backend object (a later `ml sweep status`) reads the same sweep back from MLflow
    status = LocalSweepBackend().status(outputs, run.sweep_id)
    assert (status.state, status.completed, status.pruned, status.total) == (SweepState.COMPLETED, 2, 2, 4)
    best = LocalSweepBackend().best(outputs, run.sweep_id)
    assert best.run_id == runs[2].info.run_id and best.value == pytest.approx(0.95)
    assert run.artifacts["plot"].stat().st_size > 10_000
    parent = MlflowClient(outputs.tracking_uri).get_run(run.parent_run_id)
    artifacts = {a.path for a in MlflowClient(outputs.tracking_uri).list_artifacts(run.parent_run_id)}
    assert {"sweep.png", "sweep_spec.json"} <= artifacts
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_pruned"] == 2


def test_crash_fails_one_trial_and_eviction_resumes_from_checkpoint(outputs: PlatformOutputs) -> None:
    """Trial 0 is evicted once at step 3 and resumes at 4; trial 1 crashes; trial 2 is ordinary."""
    spec = toy_spec("faults", args="--crash-trial 1 --evict-trial 0 --evict-at 3 --steps 6", trials=3, concurrent=2)
    run = LocalSweepBackend().submit(spec, outputs)

    assert run.status.state is SweepState.COMPLETED
    assert (run.status.completed, run.status.failed) == (2, 1)
    runs = trial_runs(outputs, run.sweep_id)

    crashed = runs[1]
    assert crashed.data.tags[TAG_TRIAL_STATE] == TrialState.FAILED.value
    assert crashed.info.status == "FAILED"
    assert "exited with code 1" in crashed.data.tags["ml.trial.message"]
    assert "toy trial 1 crashed at step 2" in crashed.data.tags["ml.trial.message"]

    evicted = runs[0]
    assert evicted.data.tags[TAG_TRIAL_STATE] == "COMPLETED"
    assert evicted.data.tags["ml.trial.restarts"] == "1"
    assert [s for s, _ in metric_steps(outputs, evicted.info.run_id, "score")] == [1, 2, 3, 4, 5, 6]
    assert metric_steps(outputs, evicted.info.run_id, "resumes")[-1] == (6, 1.0)
    assert metric_steps(outputs, evicted.info.run_id, "resumed_from")[-1] == (6, 3.0)
    assert runs[2].data.tags[TAG_TRIAL_STATE] == "COMPLETED"


def test_eviction_without_spot_and_a_hung_trial_fail(outputs: PlatformOutputs) -> None:
    """Off spot, a SIGTERM death is not restarted; a trial past trial_timeout is stopped."""
    evicted = LocalSweepBackend().submit(
        toy_spec("no-spot", args="--evict-trial 0 --evict-at 1 --steps 3", trials=1, spot=False), outputs
    )
    assert evicted.status.state is SweepState.FAILED and evicted.status.failed == 1
    message = trial_runs(outputs, evicted.sweep_id)[0].data.tags["ml.trial.message"]
    assert "evicted (SIGTERM)" in message and "does not run on spot" in message

    hung = LocalSweepBackend().submit(toy_spec("hung", args="--hang", trials=1, trial_timeout="1s"), outputs)
    assert hung.status.failed == 1
    record = trial_runs(outputs, hung.sweep_id)[0]
    assert "exceeded limits.trial_timeout (1s)" in record.data.tags["ml.trial.message"]
    assert record.data.metrics["trial_seconds"] < 10


def test_best_of_a_sweep_without_completed_trials_is_a_user_error(outputs: PlatformOutputs) -> None:
    from ml.contract.errors import UserError

    failed = LocalSweepBackend().submit(toy_spec("all-crash", args="--crash-trial 0 --steps 3", trials=1), outputs)
    with pytest.raises(UserError, match="no completed trial"):
        LocalSweepBackend().best(outputs, failed.sweep_id)
    with pytest.raises(UserError, match="no sweep 'nope'"):
        LocalSweepBackend().status(outputs, "nope")


def test_terminating_the_sweep_stops_its_trials_and_records_it(outputs: PlatformOutputs, tmp_path: Path) -> None:
    """`kill <ml sweep run>`: the hanging trial is stopped too, and the sweep is recorded STOPPED."""
    spec = tmp_path / "hang.yaml"
    spec.write_text(
        f"""
name: killed
experiment: toy
code: {TRIALS}
command: python toy_trial.py --quality ${{{{search_space.quality}}}} --hang
environment: {{pip: []}}
search_space: {{quality: {{type: choice, values: [0.5]}}}}
objective: {{metric: score, goal: maximize}}
sampling: grid
limits: {{trial_timeout: 5m}}
"""
    )
    sweep = subprocess.Popen(
        [sys.executable, "-c", "from ml.cli import main; main()", "sweep", "run", str(spec)],
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    checkpoints = Path(outputs.artifacts.uri.removeprefix("file://")) / "checkpoints"
    deadline = time.monotonic() + 60
    pid_files: list[Path] = []
    while not pid_files and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.2)
        pid_files = list(checkpoints.glob("killed-*/trial-0/pid"))
    if not pid_files:
        sweep.kill()
        output = sweep.communicate()[1].decode(errors="replace")[-2000:]
        pytest.fail(f"no trial 60 s after `ml sweep run` (about 5 s on a busy 2-core machine):\n{output}")
    trial_pid = int(pid_files[0].read_text())
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=30) == 128 + signal.SIGTERM
    for _ in range(50):  # the trial was stopped with the sweep, not left behind
        try:
            os.kill(trial_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(trial_pid, signal.SIGKILL)
        pytest.fail(f"trial process {trial_pid} outlived the sweep")
    sweep_id = pid_files[0].parent.parent.name
    status = LocalSweepBackend().status(outputs, sweep_id)
    assert status.state is SweepState.STOPPED and status.failed == 1
    assert trial_runs(outputs, sweep_id)[0].data.tags[TAG_TRIAL_STATE] == "STOPPED"


def test_grid_sweep_runs_every_point_once(outputs: PlatformOutputs) -> None:
    text = f"""
name: grid
experiment: toy
code: {TRIALS}
command: python toy_trial.py --quality ${{{{search_space.quality}}}} --steps 2
environment: {{pip: []}}
search_space: {{quality: {{type: choice, values: [0.3, 0.6, 0.45]}}}}
objective: {{metric: score, goal: maximize}}
sampling: {{algorithm: grid, seed: 4}}
limits: {{max_concurrent_trials: 2, trial_timeout: 60s}}
"""
    run = LocalSweepBackend().submit(parse_spec(text, source="grid.yaml", check_paths=True), outputs)
    assert (run.status.state, run.status.completed, run.status.total) == (SweepState.COMPLETED, 3, 3)
    values = sorted(float(r.data.params["quality"]) for r in trial_runs(outputs, run.sweep_id).values())
    assert values == [0.3, 0.45, 0.6]
    assert run.status.best is not None and run.status.best.value == pytest.approx(0.6)
