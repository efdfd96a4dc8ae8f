"""A local sweep while the tracking server goes away: a real MLflow server is killed mid-sweep.

Trials must keep training, their reports held and replayed once the server is back (every step
exactly once), the sweep must either resume or end with one clear error after the bounded wait
(`ML_SWEEP_TRACKING_WAIT`), no trial process may outlive it, and `status` must not call a dead sweep
running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from mlflow import MlflowClient
from typer.testing import CliRunner

from ml.contract import PlatformOutputs
from ml.stack import default_local_outputs
from ml.sweep.backends.base import TAG_SWEEP_ID, TAG_SWEEP_ROLE, TAG_TRIAL_NUMBER, SweepState, SweepStatus
from ml.sweep.backends.local import LocalSweepBackend
from ml.sweep.cli import register
from ml.sweep.spec import parse_spec
from ml.tracking import CLIENT_WAITS
from tests.tracking_server import TrackingServer, quick_client_waits, running_server

TRIALS = Path(__file__).parent / "trials"


@pytest.fixture(scope="module")
def server(_mlflow_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    with running_server(_mlflow_sqlite_template, tmp_path_factory.mktemp("sweep-outage")) as tracking:
        yield tracking


@pytest.fixture
def outputs(server: TrackingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PlatformOutputs:
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path))
    quick_client_waits(monkeypatch)
    monkeypatch.setenv("ML_SWEEP_WARM_START", "0")
    server.ensure_started()
    return default_local_outputs(tmp_path).model_copy(update={"tracking_uri": server.uri})


def spec_text(name: str, *, steps: int, sleep: float) -> str:
    return f"""
name: {name}
experiment: outage
code: {TRIALS}
command: python toy_trial.py --quality ${{{{search_space.quality}}}} --steps {steps} --sleep {sleep}
environment: {{pip: []}}
search_space:
  quality: {{type: uniform, min_value: 0.4, max_value: 0.6}}
objective: {{metric: score, goal: maximize}}
sampling: {{algorithm: random, seed: 1}}
limits: {{max_total_trials: 2, max_concurrent_trials: 2, trial_timeout: 300s}}
spot: {{enabled: false}}
"""


def sweep_processes(sweep_id: str) -> list[int]:
    """Processes of this user whose environment names the sweep (the trials and anything they started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"ML_SWEEP_ID={sweep_id}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def reports_written(home: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in home.glob("sweeps/*/trial-*/metrics.jsonl"))


def test_trials_train_through_an_outage_and_every_report_reaches_mlflow_once(
    server: TrackingServer, outputs: PlatformOutputs, tmp_path: Path
) -> None:
    spec = parse_spec(spec_text("through", steps=8, sleep=1.0), source="through.yaml", check_paths=True)
    notes: list[str] = []

    def on_progress(status: SweepStatus) -> None:
        if status.message and (not notes or notes[-1] != status.message.split(":")[0]):
            notes.append(status.message)

    def outage() -> None:
        while reports_written(tmp_path) < 2:
            time.sleep(0.1)
        server.stop()
        while not any("unreachable" in n for n in notes):
            time.sleep(0.2)
        server.start()

    chaos = threading.Thread(target=outage, daemon=True)
    chaos.start()
    started = time.monotonic()
    run = LocalSweepBackend().submit(spec, outputs, on_progress=on_progress)
    took = time.monotonic() - started
    chaos.join(timeout=5)
    print(f"sweep through an outage: {took:.1f}s; notes: {notes[:1]} ... {notes[-1:]}")
    assert run.status.state is SweepState.COMPLETED and run.status.completed == 2
    assert any("unreachable" in n and "trials keep training" in n for n in notes)
    assert any("back after" in n for n in notes)
    assert sweep_processes(run.sweep_id) == []
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("outage")
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.`{TAG_SWEEP_ID}` = '{run.sweep_id}' and tags.`{TAG_SWEEP_ROLE}` = 'trial'"
    )
    assert len(runs) == 2
    for trial in runs:
        history = client.get_metric_history(trial.info.run_id, "score")
        assert sorted(m.step for m in history) == list(range(1, 9)), trial.data.tags[TAG_TRIAL_NUMBER]
        assert trial.info.status == "FINISHED"
    assert took < 180


def test_an_outage_past_the_wait_ends_the_sweep_with_one_error_and_status_tells_the_truth(
    server: TrackingServer, outputs: PlatformOutputs, tmp_path: Path
) -> None:
    spec_file = tmp_path / "long.yaml"
    spec_file.write_text(spec_text("long", steps=60, sleep=1.0))
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(outputs.model_dump_json())
    env = {**os.environ, "ML_SWEEP_TRACKING_WAIT": "4", "PYTHONPATH": str(Path(__file__).parents[2])}
    started = time.monotonic()
    sweep = subprocess.Popen(
        [sys.executable, "-c", "from ml.cli import main; main()", "sweep", "run", str(spec_file), "--outputs",
         str(outputs_file)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while reports_written(tmp_path) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        server.stop()
        stopped = time.monotonic()
        out, err = sweep.communicate(timeout=90)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, 9)
    ended = time.monotonic() - stopped
    print(f"sweep gave up {ended:.1f}s after the server stopped (wait 4 s); total {time.monotonic() - started:.1f}s")
    text = err.decode() + out.decode()
    assert sweep.returncode == 2, text
    assert "did not come back within 4s (ML_SWEEP_TRACKING_WAIT)" in text
    assert "ml sweep replay" in " ".join(text.split())  # the error names the command that sends the held writes
    assert "Traceback" not in text
    assert ended < 30  # the first failed MLflow write (~1 s here), the wait, the stop grace
    sweep_id = next(p.name for p in (tmp_path / "sweeps").iterdir() if p.is_dir())  # not last-<stack>.txt
    assert sweep_processes(sweep_id) == []

    server.start()
    status = LocalSweepBackend().status(outputs, sweep_id)
    assert status.state is SweepState.FAILED and status.running == 0
    assert status.message and "ended without recording an end" in status.message
    assert f"`ml sweep replay {sweep_id}`" in status.message  # status says what is not in MLflow yet

    first = ml_inline("replay", sweep_id, "--outputs", str(outputs_file))
    again = ml_inline("replay", sweep_id, "--outputs", str(outputs_file))
    print(first.strip(), "|", again.strip())
    sent = int(first.split("replayed ")[1].split()[0])
    assert sent > 0 and "replayed 0 held MLflow writes" in again
    client = MlflowClient(server.uri)
    for trial_dir in sorted((tmp_path / "sweeps" / sweep_id).glob("trial-*")):
        reported = [json.loads(line)["step"] for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
        (run,) = client.search_runs(
            [client.get_experiment_by_name("outage").experiment_id],
            f"tags.`{TAG_SWEEP_ID}` = '{sweep_id}' and tags.`{TAG_TRIAL_NUMBER}` = '{trial_dir.name.split('-')[1]}'",
        )
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "score"))
        assert steps == sorted(reported), trial_dir.name  # every report in MLflow, exactly once
        assert run.info.status == "KILLED"  # the trial's end, held and replayed
    replayed = LocalSweepBackend().status(outputs, sweep_id)
    assert replayed.state is SweepState.STOPPED and "ml sweep replay" not in (replayed.message or "")


def ml_inline(*args: str) -> str:
    """`ml sweep <args>` in this process (ML_PLATFORM_HOME from the `outputs` fixture); its output."""
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["sweep", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_trials_get_the_sweeps_bounded_mlflow_waits(
    outputs: PlatformOutputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial's own MLflow calls are bounded like the sweep's: the sweep states MLflow's knobs in its env."""
    for name in CLIENT_WAITS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "9")  # a user's own bound is kept
    names = " ".join(CLIENT_WAITS)
    spec = parse_spec(
        f"""
name: waits
experiment: outage
code: {TRIALS}
command: python -c "import os;print('waits', *(os.environ[n] for n in '{names}'.split()))" ${{{{search_space.quality}}}}
environment: {{pip: []}}
search_space: {{quality: {{type: choice, values: [1]}}}}
objective: {{metric: score, goal: maximize}}
sampling: grid
limits: {{trial_timeout: 2m}}
""",
        source="waits.yaml",
        check_paths=True,
    )
    run = LocalSweepBackend().submit(spec, outputs)
    log = next((tmp_path / "sweeps" / run.sweep_id).glob("trial-*/trial.log")).read_text()
    seen = dict(zip(CLIENT_WAITS, log.split("waits ", 1)[1].split(), strict=False))
    assert seen == {**CLIENT_WAITS, "MLFLOW_HTTP_REQUEST_TIMEOUT": "9"}
