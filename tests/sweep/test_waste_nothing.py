"""Issue 17, tested for real: warm trial starts, stopping a sweep whose trials keep failing,
`--check`, Hyperband per backend, `trial.log_model`, and what a sweep used."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow import MlflowClient
from optuna.pruners import HyperbandPruner

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.sweep.backends._azure_job import refuse_incompatible as azure_refuse
from ml.sweep.backends._local_check import check_trial
from ml.sweep.backends._local_tracking import read_status
from ml.sweep.backends._sagemaker_job import incompatibilities as sagemaker_problems
from ml.sweep.backends._sagemaker_job import tuning_job_request
from ml.sweep.backends.base import SweepState, TrialState
from ml.sweep.backends.local import LocalSweepBackend
from ml.sweep.backends.sagemaker import SageMakerSweepBackend
from ml.sweep.backends.utilization import measured_status
from ml.sweep.cli import render_status, usage_line
from ml.sweep.pruners import pruner_for
from ml.sweep.spec import HyperbandPolicy
from tests.fakes import azure_client
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.arm import FakeArm
from tests.fakes.moto_server import MotoServer, TuningTrials
from tests.sweep import test_azure_backend as azure_tests
from tests.sweep import test_sagemaker_backend as sagemaker_tests
from tests.sweep.test_local_backend import toy_spec

fake_arm = azure_client.fake_arm  # pytest fixtures used by this module
fake_arm_env = azure_client.fake_arm_env
moto_server = moto_fixtures.moto_server
tuning_trials = moto_fixtures.tuning_trials

HYPERBAND = "early_termination: {policy: hyperband, min_resource: 1, max_resource: 9, reduction_factor: 3}\n"


def test_warm_trials_start_fast_and_record_start_up_and_usage(outputs: PlatformOutputs) -> None:
    spec = toy_spec("warm", args="--steps 2", trials=4, concurrent=2)
    run = LocalSweepBackend().submit(spec, outputs)
    assert run.status.completed == 4
    status, results = read_status(MlflowClient(outputs.tracking_uri), run.sweep_id)
    starts = [r.start_seconds for r in results]
    assert all(s is not None and 0 <= s < 30 for s in starts), starts
    assert status.instance_hours is not None and status.instance_hours > 0
    assert status.estimated_instance_hours == pytest.approx(4 * 60 / 3600)
    assert status.utilization is not None and 0 <= status.utilization <= 100
    history = MlflowClient(outputs.tracking_uri).get_metric_history(
        results[0].run_id, "system/cpu_utilization_percentage"
    )
    assert history, "MLflow system metrics on the trial's run"
    launcher_log = Path(os.environ["ML_PLATFORM_HOME"]) / "sweeps" / run.sweep_id / "launcher.log"
    assert "preloaded" in launcher_log.read_text()


def test_a_sweep_whose_trials_keep_failing_stops_and_says_why(outputs: PlatformOutputs) -> None:
    spec = toy_spec("failing", args="--bogus-flag", trials=8, concurrent=1)
    spec = spec.model_copy(update={"limits": spec.limits.model_copy(update={"max_failed_trials": 2})})
    run = LocalSweepBackend().submit(spec, outputs)
    assert run.status.state is SweepState.FAILED
    assert run.status.failed == 2 and run.status.completed == 0
    assert "limits.max_failed_trials = 2" in (run.status.message or "")
    status, _ = read_status(MlflowClient(outputs.tracking_uri), run.sweep_id)
    assert len(status.failures) == 2 and status.max_failed_trials == 2
    for failure in status.failures:
        assert "unrecognized arguments: --bogus-flag" in (failure.error or "")
        assert failure.log is not None and Path(failure.log).is_file()
    text = " ".join(str(part) for part in render_status(status).renderables)
    assert "unrecognized arguments" in text and "trial.log" in text


def test_default_failure_limit_is_a_fifth_of_the_budget_and_at_least_three() -> None:
    assert toy_spec("a", trials=8).failure_limit() == 3
    assert toy_spec("b", trials=40).failure_limit() == 8


def test_check_finds_a_misnamed_objective_metric(outputs: PlatformOutputs) -> None:
    good = toy_spec("check-good", trials=2)
    result = check_trial(good)
    assert result.step == 1 and "score" in result.metrics
    bad = good.model_copy(update={"objective": good.objective.model_copy(update={"metric": "scor"})})
    with pytest.raises(UserError, match=r"objective.metric 'scor' is not what the trial reports.*did you mean 'score'"):
        check_trial(bad)


def test_check_reports_the_last_error_of_a_trial_that_dies_before_reporting() -> None:
    spec = toy_spec("check-crash", args="--nope", trials=2)
    with pytest.raises(UserError, match=r"exited with code 2 before its first report.*unrecognized arguments"):
        check_trial(spec)


def test_hyperband_is_optunas_pruner_locally() -> None:
    pruner = pruner_for(HyperbandPolicy(policy="hyperband", min_resource=1, max_resource=9, reduction_factor=3))
    assert isinstance(pruner, HyperbandPruner)


def test_hyperband_runs_locally_with_tpe(outputs: PlatformOutputs) -> None:
    spec = toy_spec("hyperband", args="--steps 9", trials=6, concurrent=2, policy=HYPERBAND)
    run = LocalSweepBackend().submit(spec, outputs)
    assert run.status.completed + run.status.pruned == 6 and run.status.failed == 0


def test_hyperband_on_sagemaker_is_its_strategy_with_early_stopping_off(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('hi')\n")
    spec = sagemaker_tests.make_spec(code, sampling="bayesian", policy=HYPERBAND)
    request = tuning_job_request(spec, sagemaker_tests.aws_outputs(), name="hb-1", code="s3://b/c.tgz", image="img")
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Hyperband"
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}}
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    environment = request["TrainingJobDefinition"]["Environment"]
    assert json.loads(environment["ML_TRIAL_PIP_REQUIREMENTS"]) == ["scikit-learn>=1.6"]
    assert {"Key": "ml.sweep.max_failed_trials", "Value": "3"} in request["Tags"]
    no_max = sagemaker_tests.make_spec(code, policy="early_termination: {policy: hyperband}\n")
    assert any("max_resource is required" in p for p in sagemaker_problems(no_max, sagemaker_tests.aws_outputs()))


def test_hyperband_on_azure_is_refused_naming_the_closest_policy(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    spec = azure_tests.make_spec(code, sampling="random", policy=HYPERBAND)
    with pytest.raises(UserError, match=r"hyperband has no Azure ML policy.*closest is truncation_selection"):
        azure_refuse(spec, azure_tests.outputs_for(None))


def test_log_model_logs_signature_and_the_specs_requirements(
    mlflow_sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In this process (a trial's process was only isolation; it cost a minute of imports under load)."""
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    from ml.sweep import trial

    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    experiment = client.create_experiment("log-model", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    requirements = ["scikit-learn>=1.6", "skops>=0.10"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_sqlite_uri)
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)  # as the sweep starts a trial
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("ML_TRIAL_PIP_REQUIREMENTS", json.dumps(requirements))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_sqlite_uri)
    try:
        x, y = load_breast_cancer(return_X_y=True)
        model = GradientBoostingClassifier(n_estimators=5, subsample=0.8, random_state=0).fit(x, y)
        uri = trial.log_model(model, x)
        assert os.environ["MLFLOW_RUN_ID"] == run.info.run_id  # kept for a later call (log_dataset, a reference)
        models = client.search_logged_models(
            experiment_ids=[experiment], filter_string=f"source_run_id = '{run.info.run_id}'"
        )
        assert len(models) == 1 and uri == models[0].model_uri
        info = mlflow.models.get_model_info(uri)
        assert info.signature is not None and info.signature.inputs.input_names() is not None
        flavor = info.flavors["sklearn"]
        assert flavor["serialization_format"] == "skops"
        assert "sklearn.tree._tree.Tree" in flavor["skops_trusted_types"]  # the model's own types, read off it
        local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model")))
        lines = (local / "requirements.txt").read_text().split()
        assert lines[0].startswith("mlflow==") and lines[1:] == requirements  # no inferred dependency
        loaded = mlflow.sklearn.load_model(uri)  # skops loads it trusting exactly those types
        assert (loaded.predict(x[:20]) == model.predict(x[:20])).all()
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
    finally:
        mlflow.set_tracking_uri(previous)


def test_model_types_cover_what_skops_would_not_trust() -> None:
    import skops.io  # type: ignore[import-untyped]
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ml.sweep.trial import model_types

    x, y = load_diabetes(return_X_y=True)
    model = make_pipeline(StandardScaler(), GradientBoostingRegressor(n_estimators=3, random_state=0)).fit(x, y)
    untrusted = set(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    assert untrusted and untrusted <= set(model_types(model))


def test_a_failed_trial_state_reads_back() -> None:
    assert TrialState.FAILED.value == "FAILED"


CPU, MEMORY, GPU = (
    f"system/{name}"
    for name in ("cpu_utilization_percentage", "system_memory_usage_percentage", "gpu_utilization_percentage")
)


def seed_trial_run(
    client: MlflowClient, experiment_id: str, tags: dict[str, str], seconds: int, samples: dict[str, list[float]]
) -> None:
    """A finished trial run of ``seconds`` with MLflow system-metric samples, as a cloud trial leaves it."""
    from mlflow.entities import Metric

    start = 1_700_000_000_000
    run = client.create_run(experiment_id, start_time=start, tags=tags)
    metrics = [
        Metric(key, value, start + step * 10_000, step)
        for key, values in samples.items()
        for step, value in enumerate(values)
    ]
    client.log_batch(run.info.run_id, metrics=metrics)
    client.set_terminated(run.info.run_id, end_time=start + seconds * 1000)


def test_status_of_an_azure_sweep_shows_utilisation_from_its_trial_runs(
    fake_arm: FakeArm, mlflow_sqlite_uri: str, tmp_path: Path
) -> None:
    code = tmp_path / "train"
    code.mkdir()
    (code / "train.py").write_text("from ml.sweep import trial\ntrial.report(1, val_auc=0.9)\n")
    spec = azure_tests.make_spec(code, sampling="random")
    # The workspace's MLflow stands in as a local SQLite store (the real one needs Azure).
    outputs = azure_tests.outputs_for(fake_arm).model_copy(update={"tracking_uri": mlflow_sqlite_uri})
    backend = azure_tests.backend_on(fake_arm)
    sweep_id = backend.submit(spec, outputs).sweep_id
    before = measured_status(backend, outputs, sweep_id)
    assert "utilisation not measured" in usage_line(before)

    for index in range(2):
        fake_arm.add_child_run(sweep_id, {"runId": f"{sweep_id}_{index}", "status": "Completed", "tags": {}})
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    experiment = client.create_experiment("breast-cancer")
    # Azure ML's trial runs are the sweep job's children: mlflow.parentRunId = the sweep job's name.
    child = {"mlflow.parentRunId": sweep_id}
    seed_trial_run(client, experiment, child, 100, {CPU: [10, 20], MEMORY: [40, 50], GPU: [5, 15]})
    seed_trial_run(client, experiment, child, 300, {CPU: [30, 40], MEMORY: [40, 50], GPU: [5, 15]})
    seed_trial_run(client, experiment, {"mlflow.parentRunId": "another-sweep"}, 100, {CPU: [99], GPU: [99]})

    status = measured_status(backend, outputs, sweep_id)

    assert status.completed == 2
    assert status.utilization == pytest.approx((100 * 15 + 300 * 35) / 400)  # weighted by each trial's time
    assert (status.memory_utilization, status.gpu_utilization) == (pytest.approx(45), pytest.approx(10))
    line = usage_line(status)
    assert "mean CPU 30%, memory 45%, GPU 10%" in line
    assert "over-sized? mean GPU 10 % < 30 %" in line


def _two_completed_sagemaker_trials(
    moto_server: MotoServer, tuning_trials: TuningTrials, tracking_uri: str, tmp_path: Path
) -> tuple[SageMakerSweepBackend, PlatformOutputs, str, list[str]]:
    """A SageMaker sweep submitted to moto whose two training jobs completed after 600 s each."""
    code = tmp_path / "train"
    code.mkdir()
    (code / "train.py").write_text("from ml.sweep import trial\ntrial.report(1, val_auc=0.9)\n")
    sagemaker_tests.with_bucket(moto_server)
    outputs = sagemaker_tests.aws_outputs(tracking_uri=tracking_uri)
    backend = SageMakerSweepBackend()
    name = backend.submit(sagemaker_tests.make_spec(code, sampling="random"), outputs).sweep_id
    params = {"lr": "0.05", "trees": "100", "loss": "log_loss"}
    jobs = [f"{name}-{index:03d}-abc" for index in range(2)]
    for job in jobs:
        tuning_trials.add(name, job, status="Completed", params=params, metric="val_auc", value=0.9, seconds=600)
    return backend, outputs, name, jobs


def test_status_of_a_sagemaker_sweep_shows_utilisation_from_its_trial_runs(
    moto_server: MotoServer, tuning_trials: TuningTrials, mlflow_sqlite_uri: str, tmp_path: Path
) -> None:
    backend, outputs, name, _ = _two_completed_sagemaker_trials(moto_server, tuning_trials, mlflow_sqlite_uri, tmp_path)
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    experiment = client.create_experiment("breast-cancer")
    # The entry shim tags each trial's run with the sweep (ml_sweep_entry.start_mlflow_run); no GPU sampled.
    tags = {"ml.sweep.id": name, "ml.sweep.role": "trial"}
    for cpu in ([10, 14], [16, 20]):
        seed_trial_run(client, experiment, tags, 600, {CPU: cpu, MEMORY: [62, 64]})

    status = measured_status(backend, outputs, name)

    assert status.completed == 2 and status.gpu_utilization is None
    line = usage_line(status)
    assert "mean CPU 15%, memory 63%" in line and "GPU" not in line.split("over-sized")[0]
    assert "over-sized? mean CPU 15 % < 30 %: a smaller instance would do" in line
    assert "over-sized" in str(render_status(status).renderables[2])


def test_status_says_why_utilisation_could_not_be_read(outputs: PlatformOutputs, tmp_path: Path) -> None:
    from ml.sweep.backends.base import SweepStatus
    from ml.sweep.backends.utilization import with_utilization

    (tmp_path / "a-file").write_text("not a directory")
    uri = f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}"
    broken = outputs.model_copy(update={"tracking_uri": uri})
    status = with_utilization(SweepStatus(sweep_id="s-1", backend="local", state=SweepState.RUNNING, total=1), broken)
    assert status.utilization is None and status.message is not None
    assert status.message.startswith(f"utilisation not read from {uri}: ")


def test_the_warm_launcher_preloads_a_trials_end_with_mlflow() -> None:
    from ml.sweep.backends._warm_launcher import TRIAL_END_PRELOAD, preload_for

    assert TRIAL_END_PRELOAD in preload_for(["scikit-learn>=1.6", "mlflow>=3.1"], None)
    assert TRIAL_END_PRELOAD not in preload_for(["scikit-learn>=1.6"], None)


def test_the_friedman_regression_example_is_a_valid_spec() -> None:
    from ml.sweep.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "examples" / "sweeps" / "friedman.yaml")
    assert spec.objective.metric == "val_rmse" and spec.objective.goal == "minimize"
    assert "--data friedman1" in spec.command and "--n-estimators 500" in spec.command


def test_a_sagemaker_sweep_without_mlflow_samples_reads_cloudwatch(
    moto_server: MotoServer, tuning_trials: TuningTrials, mlflow_sqlite_uri: str, tmp_path: Path
) -> None:
    """No trial run in MLflow: SageMaker's per-instance metrics, CPU and GPU divided by the type's counts."""
    # an empty store: no samples in MLflow
    backend, outputs, name, jobs = _two_completed_sagemaker_trials(
        moto_server, tuning_trials, mlflow_sqlite_uri, tmp_path
    )
    from datetime import UTC, datetime, timedelta

    at = datetime.now(UTC) + timedelta(minutes=1)  # inside both jobs' 10 minutes of training, which start now
    cloudwatch = moto_server.client("cloudwatch")
    # ml.g5.xlarge = 4 vCPUs and 1 GPU: CloudWatch sums CPU over cores (0-400 %)
    samples = {
        jobs[0]: {"CPUUtilization": [200, 240], "MemoryUtilization": [30, 40], "GPUUtilization": [10, 30]},
        jobs[1]: {"CPUUtilization": [40, 40], "MemoryUtilization": [50, 50], "GPUUtilization": [20, 20]},
    }
    for job, metrics in samples.items():
        for metric, values in metrics.items():
            cloudwatch.put_metric_data(
                Namespace="/aws/sagemaker/TrainingJobs",
                MetricData=[
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": "Host", "Value": f"{job}/algo-1"}],
                        "Timestamp": at + timedelta(minutes=minute),
                        "Value": value,
                    }
                    for minute, value in enumerate(values)
                ],
            )

    status = measured_status(backend, outputs, name)

    assert status.utilization == pytest.approx((55 + 10) / 2)
    assert (status.memory_utilization, status.gpu_utilization) == (pytest.approx(42.5), pytest.approx(20))
    assert "mean CPU 32%, memory 42%, GPU 20%; over-sized? mean GPU 20 % < 30 %" in usage_line(status)
