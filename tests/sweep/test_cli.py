"""`ml sweep` from the command line, for real: the example sweep, status, best -> registry alias.

`ml sweep run` and the error cases run as their own processes, as a user runs them; `status` and
`best` run in-process through Typer's runner (same code, without paying MLflow's import again),
against the same local platform home (a SQLite MLflow store in a temporary directory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from mlflow import MlflowClient
from typer.testing import CliRunner

from ml.sweep.cli import register

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sweeps" / "breast_cancer.yaml"
MODEL = "breast-cancer-gbm"


def ml(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ML_PLATFORM_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from ml.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=240,
        check=False,
    )


def small_example(directory: Path, *, trials: int = 2, extra: str = "") -> Path:
    """The example spec with its code path made absolute and a smaller budget."""
    text = EXAMPLE.read_text().replace("code: ../train", f"code: {REPO / 'examples' / 'train'}")
    text = text.replace("max_total_trials: 12", f"max_total_trials: {trials}")
    path = directory / "sweep.yaml"
    path.write_text(text + extra)
    return path


def ml_inline(*args: str) -> str:
    """Run `ml <args>` in this process; ML_PLATFORM_HOME comes from the `home` fixture."""
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_PLATFORM_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def finished_sweep(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    spec = small_example(tmp_path_factory.mktemp("spec"))
    result = ml(home, "sweep", "run", str(spec), "--stack", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    sweep_id = next(line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("sweep id: "))
    yield {"sweep_id": sweep_id, "stdout": result.stdout}


def test_run_prints_progress_cost_and_the_plot(home: Path, finished_sweep: dict[str, str]) -> None:
    out = finished_sweep["stdout"]
    assert "cost: worst case 0.00 USD" in out
    assert "COMPLETED" in out and "best so far: val_auc=" in out
    plot = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("plot: "))
    assert Path(plot).is_file() and Path(plot).read_bytes()[:4] == b"\x89PNG"
    assert f"ml sweep best {finished_sweep['sweep_id']}" in out


def test_status_reads_the_latest_sweep_back(home: Path, finished_sweep: dict[str, str]) -> None:
    status = json.loads(ml_inline("sweep", "status", "--stack", "local", "--json"))
    assert status["sweep_id"] == finished_sweep["sweep_id"]
    assert status["state"] == "COMPLETED" and status["total"] == 2
    assert status["completed"] + status["pruned"] == 2 and status["failed"] == 0
    assert status["best"]["metric"] == "val_auc" and 0.9 < status["best"]["value"] <= 1.0
    assert status["model_name"] == MODEL and status["experiment"] == "breast-cancer"
    # read back from the trials' MLflow system metrics, as for every backend
    assert 0 < status["utilization"] <= 100 and 0 < status["memory_utilization"] <= 100


def test_best_registers_the_model_as_challenger_with_lineage(home: Path, finished_sweep: dict[str, str]) -> None:
    sweep_id = finished_sweep["sweep_id"]
    output = ml_inline("sweep", "best", sweep_id, "--stack", "local", "--json")
    document = json.loads(output)
    best, registered = document["best"], document["registered"]
    assert registered["name"] == MODEL and registered["alias"] == "challenger" and not registered["reused"]

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias(MODEL, "challenger")
    assert str(version.version) == registered["version"] and version.run_id == best["run_id"]
    tags = version.tags
    assert tags["ml.sweep.id"] == sweep_id
    assert tags["ml.trial.run_id"] == best["run_id"]
    assert tags["ml.sweep.parent_run_id"] == client.get_run(best["run_id"]).data.tags["mlflow.parentRunId"]
    assert json.loads(tags["ml.trial.params"]).keys() == {"learning_rate", "max_depth", "subsample", "min_samples_leaf"}
    assert tags["ml.objective.metric"] == "val_auc" and float(tags["ml.objective.value"]) == best["value"]
    assert len(tags["ml.git.commit"]) == 40

    # the registered model has a signature and predicts
    import mlflow
    from sklearn.datasets import load_breast_cancer

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    info = mlflow.models.get_model_info(f"models:/{MODEL}@challenger")
    assert info.signature is not None and info.signature.inputs.inputs[0].shape == (-1, 30)
    features, _ = load_breast_cancer(return_X_y=True)
    predictions = mlflow.pyfunc.load_model(f"models:/{MODEL}@challenger").predict(features[:5])
    assert len(predictions) == 5

    again = ml_inline("sweep", "best", "--stack", "local")
    assert f"already registered as {MODEL} version {registered['version']}" in again


def test_spec_errors_and_budget_refusals_are_one_line_with_exit_2(home: Path, tmp_path: Path) -> None:
    broken = small_example(tmp_path).read_text().replace("goal: maximize", "goal: highest")
    (tmp_path / "broken.yaml").write_text(broken)
    result = ml(home, "sweep", "run", str(tmp_path / "broken.yaml"))
    assert result.returncode == 2
    assert "objective.goal: input should be 'minimize' or 'maximize' (got 'highest')" in result.stderr
    assert "Traceback" not in result.stderr

    capped = small_example(tmp_path, extra="compute: {instance_type: Standard_NC24ads_A100_v4}\n")
    capped.write_text(capped.read_text().replace("compute:\n  instance_count: 1", "").replace("5.00", "0.10"))
    result = ml(home, "sweep", "run", str(capped), "--stack", "local")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused" in result.stderr and "exceeds cost.max_cost 0.10 USD" in result.stderr

    poor = tmp_path / "poor-home"
    poor.mkdir()
    from ml.stack import default_local_outputs

    outputs = default_local_outputs(poor)
    tight = outputs.model_copy(update={"budget": outputs.budget.model_copy(update={"remaining": 0.05})})
    (poor / "outputs.json").write_text(tight.model_dump_json())
    spec = small_example(tmp_path, extra="compute: {instance_type: ml.p3.2xlarge}\n")
    spec.write_text(spec.read_text().replace("compute:\n  instance_count: 1", ""))
    result = ml(poor, "sweep", "run", str(spec), "--stack", "local")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "exceeds the budget left of stack 'local' (0.05 USD" in result.stderr

    dry = ml(home, "sweep", "run", str(small_example(tmp_path)), "--dry-run")
    assert dry.returncode == 0 and "nothing submitted" in dry.stdout
