"""The SageMaker sweep backend against moto running as a real server (boto3 unpatched).

The tuning job is created through boto3 (validated by botocore's service model) and read back with
DescribeHyperParameterTuningJob; status is read once with moto's own SageMaker API (which answers
HTTP 500 for ListTrainingJobsForHyperParameterTuningJob, so the backend must fall back to the
job's counters) and once with the test-side extension that answers that call. The entry shim that
runs inside the training container is executed here for real with a hyperparameters file.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from ml.contract import ArtifactStoreRef, AwsWorkspaceRef, BudgetRef, PlatformOutputs, TrainingProfile
from ml.contract.errors import UserError
from ml.sweep import trial
from ml.sweep.backends._cloud_staging import stage_code
from ml.sweep.backends.base import SweepState, backend_for
from ml.sweep.backends.sagemaker import (
    ENTRY,
    SageMakerSweepBackend,
    bundle_files,
    default_image,
    tuning_job_name,
    tuning_job_request,
)
from ml.sweep.spec import SweepSpec, parse_spec
from tests.fakes import moto_server as moto_fixtures
from tests.fakes.moto_server import REGION, MotoServer, TuningTrials

moto_server = moto_fixtures.moto_server  # pytest fixtures used by this module
tuning_trials = moto_fixtures.tuning_trials

BUCKET = "mlops-dev-artifacts"
ROLE = "arn:aws:iam::123456789012:role/mlops-dev-sagemaker"
TRACKING = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev"
KMS = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.5.1-gpu-py311"


def aws_outputs(
    *, spot: bool = True, max_nodes: int = 4, vpc: bool = True, tracking_uri: str = TRACKING
) -> PlatformOutputs:
    return PlatformOutputs(
        stack="dev-aws",
        environment="dev",
        cloud="aws",
        region=REGION,
        tracking_uri=tracking_uri,
        training=TrainingProfile(
            name="gpu-training",
            instance_type="ml.g5.xlarge",
            min_nodes=0,
            max_nodes=max_nodes,
            spot=spot,
            max_run_seconds=3600,
            max_wait_seconds=7200 if spot else None,
            checkpoint_uri=f"s3://{BUCKET}/checkpoints",
            subnet_ids=["subnet-0123456789abcdef0"] if vpc else [],
            security_group_ids=["sg-0123456789abcdef0"] if vpc else [],
        ),
        artifacts=ArtifactStoreRef(
            name=BUCKET, uri=f"s3://{BUCKET}", temp_prefix="tmp", checkpoint_prefix="checkpoints"
        ),
        budget=BudgetRef(name="mlops-dev", monthly_amount=500, currency="USD", thresholds_percent=[80, 100]),
        aws=AwsWorkspaceRef(
            account_id="123456789012", execution_role_arn=ROLE, mlflow_tracking_server_arn=TRACKING, kms_key_arn=KMS
        ),
    )


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "train"
    code.mkdir()
    (code / "train.py").write_text(
        "import argparse, os\n"
        "from ml.sweep import trial\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--lr', type=float)\n"
        "parser.add_argument('--trees', type=int)\n"
        "parser.add_argument('--loss')\n"
        "args = parser.parse_args()\n"
        "(trial.checkpoint_dir() / 'state.txt').write_text('1')\n"
        "print('checkpoint dir', os.environ['ML_CHECKPOINT_DIR'], flush=True)\n"
        "print('args', args.lr, args.trees, args.loss, flush=True)\n"
        "trial.report(1, val_auc=0.5 + args.lr)\n"
    )
    return code


def make_spec(
    code: Path, *, sampling: str = "bayesian", policy: str = "", space: str = "", extra: str = ""
) -> SweepSpec:
    space = space or (
        "  lr: {type: loguniform, min_value: 0.01, max_value: 0.3}\n"
        "  trees: {type: quniform, min_value: 50, max_value: 200, q: 50}\n"
        "  loss: {type: choice, values: [log_loss, exponential]}\n"
    )
    names = [line.split(":")[0].strip() for line in space.strip().splitlines()]
    args = " ".join(f"--{n} ${{{{search_space.{n}}}}}" for n in names)
    text = (
        f"name: gbm-sweep\nexperiment: breast-cancer\nmodel_name: gbm\ncode: {code}\n"
        f"command: python train.py {args}\n"
        f'environment: {{pip: ["scikit-learn>=1.6"], image: "{IMAGE}"}}\n'
        f"search_space:\n{space}"
        "objective: {metric: val_auc, goal: maximize}\n"
        f"sampling: {sampling}\n"
        f"{policy}"
        "limits: {max_total_trials: 12, max_concurrent_trials: 2, timeout: 2h, trial_timeout: 20m}\n"
        f"{extra}"
    )
    return parse_spec(text, source="sweep.yaml", base_dir=code.parent)


def with_bucket(server: MotoServer) -> Any:
    s3 = server.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3


def describe(server: MotoServer, name: str) -> dict[str, Any]:
    result: dict[str, Any] = server.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name
    )
    return result


def test_submit_creates_the_tuning_job_read_back_with_every_field(moto_server: MotoServer, code_dir: Path) -> None:
    s3 = with_bucket(moto_server)
    spec = make_spec(
        code_dir,
        sampling="{algorithm: random, seed: 11}",
        policy="early_termination: {policy: bandit, slack_factor: 0.1}\n",
    )
    run = backend_for(aws_outputs()).submit(spec, aws_outputs())

    name = run.sweep_id
    assert re.fullmatch(r"gbm-sweep-\d{6}-\d{6}", name) and len(name) <= 32
    assert run.status.state is SweepState.RUNNING and run.backend == "sagemaker"
    assert "no bandit policy" in (run.status.message or "")  # translated to Auto, and said so
    job = describe(moto_server, name)
    config = job["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random" and config["RandomSeed"] == 11
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "val_auc"}
    assert config["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 12,
        "MaxParallelTrainingJobs": 2,
        "MaxRuntimeInSeconds": 7200,
    }
    assert config["ParameterRanges"] == {
        "CategoricalParameterRanges": [{"Name": "loss", "Values": ["log_loss", "exponential"]}],
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "0.01", "MaxValue": "0.3", "ScalingType": "Logarithmic"},
            {"Name": "trees", "MinValue": "50", "MaxValue": "200", "ScalingType": "Linear"},
        ],
    }
    definition = job["TrainingJobDefinition"]
    assert definition["RoleArn"] == ROLE
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 1200, "MaxWaitTimeInSeconds": 7200}
    assert definition["CheckpointConfig"] == {
        "S3Uri": f"s3://{BUCKET}/checkpoints/{name}",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert definition["VpcConfig"] == {
        "Subnets": ["subnet-0123456789abcdef0"],
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
    }
    assert definition["ResourceConfig"] == {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert definition["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/sweeps/{name}/output", "KmsKeyId": KMS}
    assert definition["Environment"]["MLFLOW_TRACKING_URI"] == TRACKING
    assert definition["Environment"]["MLFLOW_EXPERIMENT_NAME"] == "breast-cancer"
    algorithm = definition["AlgorithmSpecification"]
    assert algorithm["TrainingImage"] == IMAGE
    [metric] = algorithm["MetricDefinitions"]
    assert metric == {"Name": "val_auc", "Regex": trial.metric_regex("val_auc")}
    static = definition["StaticHyperParameters"]
    code_uri = f"s3://{BUCKET}/tmp/sweeps/{name}/sourcedir.tar.gz"
    assert json.loads(static["sagemaker_program"]) == ENTRY
    assert json.loads(static["sagemaker_submit_directory"]) == code_uri
    assert json.loads(static["ml_sweep_quantize"]) == {"trees": 50.0}

    # The code tarball is in the stack's bucket, with the shim, its config, requirements and the trial helper.
    blob = s3.get_object(Bucket=BUCKET, Key=code_uri.removeprefix(f"s3://{BUCKET}/"))
    with tarfile.open(fileobj=io.BytesIO(blob["Body"].read())) as archive:
        members = sorted(archive.getnames())
        requirements = archive.extractfile("requirements.txt").read().decode()  # type: ignore[union-attr]
    assert members == sorted(
        [
            ENTRY,
            "ml_sweep.json",
            "requirements.txt",
            "train.py",
            "ml/__init__.py",
            "ml/sweep/__init__.py",
            "ml/sweep/trial.py",
        ]
    )
    assert requirements.split() == ["scikit-learn>=1.6", "mlflow", "sagemaker-mlflow"]
    arn = job["HyperParameterTuningJobArn"]
    tags = {t["Key"]: t["Value"] for t in moto_server.client("sagemaker").list_tags(ResourceArn=arn)["Tags"]}
    assert tags["ml.sweep.id"] == name and tags["ml.sweep.model_name"] == "gbm"
    assert float(tags["ml.cost.worst_case"]) == pytest.approx(12 * 20 / 60 * 0.422, abs=0.01)


def test_metric_definition_scrapes_what_trial_report_prints(capsys: pytest.CaptureFixture[str]) -> None:
    trial.report(7, val_auc=0.9876, loss=1.5e-3)
    line = capsys.readouterr().out.strip()
    match = re.search(trial.metric_regex("val_auc"), line)
    assert match is not None and float(match.group(1)) == pytest.approx(0.9876)


@pytest.mark.parametrize(
    ("sampling", "policy", "spot", "strategy", "stopping"),
    [
        ("grid", "", True, "Grid", "Off"),
        ("bayesian", "", False, "Bayesian", "Off"),
        ("bayesian", "early_termination: {policy: median_stopping, delay_evaluation: 2}\n", True, "Bayesian", "Auto"),
        (
            "random",
            "early_termination: {policy: truncation_selection, truncation_percentage: 20}\n",
            True,
            "Random",
            "Auto",
        ),
    ],
)
def test_strategy_early_stopping_and_spot(
    moto_server: MotoServer, code_dir: Path, sampling: str, policy: str, spot: bool, strategy: str, stopping: str
) -> None:
    with_bucket(moto_server)
    space = (
        "  trees: {type: quniform, min_value: 50, max_value: 150, q: 50}\n"
        "  depth: {type: randint, min_value: 1, max_value: 3}\n"
    )
    spec = make_spec(code_dir, sampling=sampling, policy=policy, space=space)
    outputs = aws_outputs(spot=spot, vpc=False)
    name = SageMakerSweepBackend().submit(spec, outputs).sweep_id

    job = describe(moto_server, name)
    config, definition = job["HyperParameterTuningJobConfig"], job["TrainingJobDefinition"]
    assert config["Strategy"] == strategy
    assert config["TrainingJobEarlyStoppingType"] == stopping
    assert definition["EnableManagedSpotTraining"] is spot
    assert ("MaxWaitTimeInSeconds" in definition["StoppingCondition"]) is spot
    assert "VpcConfig" not in definition
    if sampling == "grid":  # every parameter categorical; the grid size is the job count
        assert config["ParameterRanges"] == {
            "CategoricalParameterRanges": [
                {"Name": "trees", "Values": ["50", "100", "150"]},
                {"Name": "depth", "Values": ["1", "2", "3"]},
            ]
        }
        assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 9
    else:
        assert config["ParameterRanges"]["IntegerParameterRanges"] == [
            {"Name": "depth", "MinValue": "1", "MaxValue": "3", "ScalingType": "Linear"}
        ]


@pytest.mark.parametrize(
    ("space", "sampling", "extra", "outputs_kwargs", "fragment"),
    [
        ("  noise: {type: normal, mu: 0.0, sigma: 1.0}\n", "random", "", {}, "search_space.noise is normal"),
        (
            "  depth: {type: randint, min_value: 1, max_value: 20}\n",
            "grid",
            "",
            {},
            "limits.max_total_trials (12) is below the grid size (20)",
        ),
        (
            "",
            "random",
            "inputs: {data: https://example.com/data.csv}\n",
            {},
            "inputs.data.path 'https://example.com/data.csv' is not an s3:// URI",
        ),
        ("", "random", "compute: {instance_count: 3}\n", {}, "= 6 instances exceeds the 4"),
        ("", "random", "", {"max_nodes": 1}, "= 2 instances exceeds the 1"),
    ],
)
def test_what_sagemaker_cannot_run_is_refused_before_anything_is_created(
    moto_server: MotoServer,
    code_dir: Path,
    space: str,
    sampling: str,
    extra: str,
    outputs_kwargs: dict[str, Any],
    fragment: str,
) -> None:
    with_bucket(moto_server)
    spec = make_spec(code_dir, sampling=sampling, space=space, extra=extra)
    with pytest.raises(UserError) as caught:
        SageMakerSweepBackend().submit(spec, aws_outputs(**outputs_kwargs))
    assert str(caught.value).startswith("sweep spec sweep.yaml cannot run on SageMaker: ")
    assert fragment in str(caught.value)
    listed = moto_server.client("sagemaker").list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    assert listed == []


def test_stack_limits_and_missing_aws_section(code_dir: Path) -> None:
    spec = make_spec(code_dir)
    training = aws_outputs().training
    short = aws_outputs().model_copy(update={"training": training.model_copy(update={"max_run_seconds": 600})})
    with pytest.raises(
        UserError, match=r"limits.trial_timeout \(1200s\) exceeds the stack's maximum training run \(600s"
    ):
        tuning_job_request(spec, short, name="x", code="s3://b/c.tar.gz", image=IMAGE)
    impatient = aws_outputs().model_copy(update={"training": training.model_copy(update={"max_wait_seconds": 900})})
    with pytest.raises(UserError, match=r"the spot max wait \(900s, from the stack's trainingCluster.maxWaitHours\)"):
        tuning_job_request(spec, impatient, name="x", code="s3://b/c.tar.gz", image=IMAGE)
    own_wait = make_spec(code_dir, extra="spot: {max_wait: 40m}\n")
    request = tuning_job_request(own_wait, impatient, name="x", code="s3://b/c.tar.gz", image=IMAGE)
    assert request["TrainingJobDefinition"]["StoppingCondition"]["MaxWaitTimeInSeconds"] == 2400
    with pytest.raises(UserError, match=r"stack 'dev-aws' \(cloud 'aws'\) exports no 'aws' section"):
        SageMakerSweepBackend().check(spec, aws_outputs().model_copy(update={"aws": None}))


def test_status_falls_back_to_the_jobs_counters_when_the_list_call_is_missing(
    moto_server: MotoServer, code_dir: Path
) -> None:
    with_bucket(moto_server)
    spec = make_spec(code_dir, policy="", sampling="random")
    backend = SageMakerSweepBackend()
    name = backend.submit(spec, aws_outputs()).sweep_id

    status = backend.status(aws_outputs(), name)  # moto answers HTTP 500 for ListTrainingJobsFor...

    assert status.message is not None
    assert "does not answer ListTrainingJobsForHyperParameterTuningJob (HTTP 500" in status.message
    assert "DescribeHyperParameterTuningJob's counters" in status.message
    # moto's tuning job is Completed at once with canned counters and a canned best training job
    assert (status.state, status.completed, status.failed, status.total) == (SweepState.COMPLETED, 1, 0, 12)
    assert status.best is not None and status.best.trial_id == "FakeTrainingJobName"
    assert status.model_name == "gbm" and status.experiment == "breast-cancer"


def test_status_and_best_from_the_training_jobs(
    moto_server: MotoServer, tuning_trials: TuningTrials, code_dir: Path, tmp_path: Path
) -> None:
    with_bucket(moto_server)
    spec = make_spec(code_dir, sampling="random", policy="early_termination: {policy: median_stopping}\n")
    backend = SageMakerSweepBackend()
    # The stack's tracking server stands in as a local SQLite store (the real one needs AWS).
    outputs = aws_outputs(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    name = backend.submit(spec, outputs).sweep_id
    jobs = [
        ("Completed", {"lr": "0.05", "trees": "97.3", "loss": "log_loss"}, 0.95),
        ("Completed", {"lr": "0.12", "trees": "124.9", "loss": "exponential"}, 0.97),
        ("Stopped", {"lr": "0.29", "trees": "51", "loss": "log_loss"}, 0.61),
        ("Failed", {"lr": "0.02", "trees": "180", "loss": "log_loss"}, None),
        ("InProgress", {"lr": "0.07", "trees": "150", "loss": "exponential"}, None),
    ]
    for index, (state, params, value) in enumerate(jobs):
        tuning_trials.add(
            name, f"{name}-{index:03d}-abc", status=state, params=params, metric="val_auc", value=value, seconds=600
        )

    status = backend.status(outputs, name)

    assert tuning_trials.calls == 1 and status.message is None
    assert (status.completed, status.pruned, status.failed, status.running) == (2, 1, 1, 1)
    assert status.best is not None and status.best.trial_id == f"{name}-001-abc"
    assert status.best.value == pytest.approx(0.97)
    assert status.best.params == {"lr": 0.12, "trees": 100, "loss": "exponential"}  # quniform rounded to q
    assert status.cost == pytest.approx(4 * 600 / 3600 * 0.422)  # four finished jobs, 10 min each, on spot

    best = backend.best(outputs, name)
    assert best.trial_id == f"{name}-001-abc"
    # No MLflow run carries this trial yet, so the SageMaker model artifact is what would be registered.
    assert best.run_id is None
    assert best.model_uri == f"s3://{BUCKET}/sweeps/{name}/output/{name}-001-abc/output/model.tar.gz"

    # The entry shim opens the trial's MLflow run with these tags; then best points at its model.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=outputs.tracking_uri)
    experiment_id = client.create_experiment("breast-cancer")
    run = client.create_run(experiment_id, tags={"ml.sweep.id": name, "ml.trial.id": f"{name}-001-abc"})
    linked = backend.best(outputs, name)
    assert linked.run_id == run.info.run_id and linked.model_uri == f"runs:/{run.info.run_id}/model"


def test_unknown_tuning_job_is_a_clear_error(moto_server: MotoServer) -> None:
    with pytest.raises(UserError, match=r"no tuning job 'nope-1' in eu-west-1 for stack 'dev-aws'"):
        SageMakerSweepBackend().status(aws_outputs(), "nope-1")


def test_entry_shim_runs_the_command_with_the_tuned_values(tmp_path: Path, code_dir: Path) -> None:
    """What runs inside the training container, run here: placeholders filled, checkpoints, metric line."""
    spec = make_spec(code_dir)
    bundle = stage_code(spec, tmp_path / "bundle", extra_files=bundle_files(spec))
    hyperparameters = tmp_path / "hyperparameters.json"
    hyperparameters.write_text(
        json.dumps({"lr": "0.1", "trees": "112.0", "loss": "exponential", "sagemaker_program": json.dumps(ENTRY)})
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ML_", "MLFLOW_")) and key != "PYTHONPATH"
    }
    env.update(
        ML_SWEEP_HYPERPARAMETERS=str(hyperparameters),
        ML_SWEEP_CHECKPOINT_ROOT=str(tmp_path / "checkpoints"),
        TRAINING_JOB_NAME="gbm-sweep-000-abc",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    done = subprocess.run(
        [sys.executable, str(bundle / ENTRY)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "args 0.1 100 exponential" in done.stdout  # 112 rounded to q=50
    checkpoint = tmp_path / "checkpoints" / "gbm-sweep-000-abc"
    assert f"checkpoint dir {checkpoint}" in done.stdout
    assert (checkpoint / "state.txt").read_text() == "1"
    match = re.search(trial.metric_regex("val_auc"), done.stdout)
    assert match is not None and float(match.group(1)) == pytest.approx(0.6)


def test_tuning_job_names_fit_sagemaker_and_default_image(code_dir: Path) -> None:
    spec = make_spec(code_dir).model_copy(update={"name": "a-very-long-sweep-name-that-keeps-going-on"})
    name = tuning_job_name(spec, now=0)
    assert name == "a-very-long-sweep-700101-000000" and len(name) <= 32
    assert default_image("eu-west-1", "ml.g5.xlarge") == IMAGE
    assert default_image("eu-west-1", "ml.m5.xlarge").endswith(":2.5.1-cpu-py311")
    with pytest.raises(UserError, match=r"no default SageMaker training image for region 'mars-1'"):
        default_image("mars-1", "ml.g5.xlarge")
