"""The Azure ML sweep backend through the real azure-ai-ml SDK, against the local HTTPS ARM fake.

What Azure would receive is asserted on the recorded ``PUT jobs/{name}`` body (sampling, early
termination, limits, compute, search space, command, outputs), and the staged code really goes
through the SDK's upload path to the fake's blob store. Status and best are read back from the
job and its run-history children as the service reports them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ml.contract import ArtifactStoreRef, AzureWorkspaceRef, BudgetRef, PlatformOutputs, TrainingProfile
from ml.contract.errors import UserError
from ml.sweep.backends.azure import AzureSweepBackend, build_sweep_job, request_body
from ml.sweep.backends.base import SweepState, TrialState, backend_for
from ml.sweep.spec import SweepSpec, parse_spec
from tests.fakes import azure_client
from tests.fakes.arm import FakeArm
from tests.fakes.azure_client import ml_client_for, workspace_ref

fake_arm = azure_client.fake_arm  # pytest fixtures used by this module
fake_arm_env = azure_client.fake_arm_env

CLUSTER = "gpu-cluster"


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "train"
    code.mkdir()
    (code / "train.py").write_text("from ml.sweep import trial\ntrial.report(1, val_auc=0.9)\n")
    (code / "mlruns").mkdir()
    (code / "mlruns" / "junk.txt").write_text("local MLflow files are not uploaded")
    return code


def outputs_for(arm: FakeArm | None, *, spot: bool = True, max_nodes: int = 4) -> PlatformOutputs:
    """A dev-like Azure stack whose workspace is the fake's (or none when ``arm`` is None)."""
    return PlatformOutputs(
        stack="dev",
        environment="dev",
        cloud="azure",
        region="westeurope",
        tracking_uri="azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s/resourceGroups/r/workspaces/w",
        training=TrainingProfile(
            name=CLUSTER,
            instance_type="Standard_NC4as_T4_v3",
            min_nodes=0,
            max_nodes=max_nodes,
            spot=spot,
            max_run_seconds=86400,
            max_wait_seconds=86400,
            checkpoint_uri="https://stmlopsdev.blob.core.windows.net/artifacts/checkpoints",
        ),
        artifacts=ArtifactStoreRef(
            name="stmlopsdev",
            uri="https://stmlopsdev.blob.core.windows.net/artifacts",
            temp_prefix="tmp",
            checkpoint_prefix="checkpoints",
        ),
        budget=BudgetRef(name="budget-dev", monthly_amount=500, currency="USD", thresholds_percent=[80, 100]),
        azure=workspace_ref(arm) if arm is not None else None,
    )


def make_spec(code: Path, *, sampling: str, policy: str = "", space: str = "", extra: str = "") -> SweepSpec:
    space = space or (
        "  lr: {type: loguniform, min_value: 0.01, max_value: 0.3}\n"
        "  depth: {type: randint, max_value: 5}\n"
        "  leaf: {type: choice, values: [1, 5, 20]}\n"
    )
    names = [line.split(":")[0].strip() for line in space.strip().splitlines()]
    args = " ".join(f"--{n} ${{{{search_space.{n}}}}}" for n in names)
    text = (
        f"name: gbm-sweep\nexperiment: breast-cancer\nmodel_name: gbm\ncode: {code}\n"
        f"command: python train.py {args}\n"
        'environment: {pip: ["scikit-learn>=1.6"]}\n'
        f"search_space:\n{space}"
        "objective: {metric: val_auc, goal: maximize}\n"
        f"sampling: {sampling}\n"
        f"{policy}"
        "limits: {max_total_trials: 12, max_concurrent_trials: 3, timeout: 30m, trial_timeout: 5m}\n"
        f"{extra}"
    )
    return parse_spec(text, source="sweep.yaml", base_dir=code.parent)


def backend_on(arm: FakeArm) -> AzureSweepBackend:
    return AzureSweepBackend(client_factory=lambda workspace: ml_client_for(arm, workspace))


def job_put(arm: FakeArm, name: str) -> dict[str, Any]:
    puts = arm.find("PUT", rf"/jobs/{name}$")
    assert len(puts) == 1, [r.path for r in arm.requests]
    body: dict[str, Any] = puts[0].body
    return body["properties"]


def test_submit_sends_one_sweep_job_with_the_translated_spec(fake_arm: FakeArm, code_dir: Path) -> None:
    space = (
        "  lr: {type: loguniform, min_value: 0.01, max_value: 0.3}\n"
        "  depth: {type: randint, max_value: 5}\n"
        "  leaves: {type: randint, min_value: 2, max_value: 4}\n"
        "  subsample: {type: uniform, min_value: 0.5, max_value: 1.0}\n"
        "  trees: {type: quniform, min_value: 50, max_value: 200, q: 50}\n"
        "  frac: {type: quniform, min_value: 0.1, max_value: 0.3, q: 0.1}\n"
        "  noise: {type: normal, mu: 0.0, sigma: 0.5}\n"
        "  loss: {type: choice, values: [log_loss, exponential]}\n"
    )
    spec = make_spec(
        code_dir,
        sampling="{algorithm: random, seed: 7}",
        policy="early_termination: {policy: bandit, slack_factor: 0.15, evaluation_interval: 2, delay_evaluation: 4}\n",
        space=space,
    )
    run = backend_on(fake_arm).submit(spec, outputs_for(fake_arm))

    assert run.status.state is SweepState.RUNNING and run.sweep_id.startswith("gbm-sweep-")
    job = job_put(fake_arm, run.sweep_id)
    assert job["jobType"] == "Sweep"
    assert job["computeId"].endswith(f"/workspaces/{fake_arm.workspace_name}/computes/{CLUSTER}")
    assert job["experimentName"] == "breast-cancer"
    assert job["samplingAlgorithm"] == {"samplingAlgorithmType": "Random", "seed": 7}
    assert job["earlyTermination"] == {
        "policyType": "Bandit",
        "slackFactor": 0.15,
        "evaluationInterval": 2,
        "delayEvaluation": 4,
    }
    assert job["limits"] == {
        "jobLimitsType": "Sweep",
        "maxTotalTrials": 12,
        "maxConcurrentTrials": 3,
        "timeout": "PT30M",
        "trialTimeout": "PT5M",
    }
    assert job["objective"] == {"primaryMetric": "val_auc", "goal": "maximize"}
    searched = job["searchSpace"]
    assert searched["lr"][0] == "loguniform"
    assert searched["lr"][1] == pytest.approx([math.log(0.01), math.log(0.3)])  # Azure takes exponents
    assert searched["depth"] == ["randint", [6]]  # [0, 5] inclusive = randint(upper=6)
    assert searched["leaves"] == ["choice", [[2, 3, 4]]]  # Azure's randint has no lower bound
    assert searched["subsample"] == ["uniform", [0.5, 1.0]]
    assert searched["trees"] == ["quniform", [50, 200, 50]]
    assert searched["frac"] == ["choice", [[0.1, 0.2, 0.3]]]  # Azure's q is an integer
    assert searched["noise"] == ["normal", [0.0, 0.5]]
    assert searched["loss"] == ["choice", [["log_loss", "exponential"]]]

    trial = job["trial"]
    assert trial["command"].startswith("export ML_CHECKPOINT_DIR=${{outputs.checkpoints}} && python train.py ")
    assert "--lr ${{search_space.lr}}" in trial["command"]
    assert trial["environmentVariables"]["ML_TRIAL_MLFLOW_METRICS"] == "1"
    assert trial["environmentVariables"]["ML_SWEEP_ID"] == run.sweep_id
    checkpoints = job["outputs"]["checkpoints"]
    assert checkpoints["mode"] == "ReadWriteMount"
    assert checkpoints["uri"] == (
        f"azureml://datastores/workspaceblobstore/paths/checkpoints/{run.sweep_id}/${{{{name}}}}/"
    )
    assert job["tags"]["ml.sweep.id"] == run.sweep_id and job["tags"]["ml.sweep.backend"] == "azure"
    assert job["tags"]["ml.sweep.model_name"] == "gbm"
    assert float(job["tags"]["ml.cost.worst_case"]) == pytest.approx(12 * 5 / 60 * 0.158, abs=0.01)

    # The code went through the SDK's upload path: the user's script and the trial helper, no mlruns.
    assert trial["codeId"].startswith(f"{fake_arm.workspace_path}/codes/")
    uploaded = sorted(name.split("/code/", 1)[1] for name in fake_arm.blobs)
    assert uploaded == ["ml/__init__.py", "ml/sweep/__init__.py", "ml/sweep/trial.py", "train.py"]
    environment = fake_arm.find("PUT", r"/environments/")[0].body["properties"]
    assert environment["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert "azureml-mlflow" in environment["condaFile"] and "scikit-learn>=1.6" in environment["condaFile"]
    assert trial["environmentId"].startswith(f"{fake_arm.workspace_path}/environments/")


@pytest.mark.parametrize(
    ("sampling", "policy", "expected_sampling", "expected_policy"),
    [
        (
            "grid",
            "early_termination: {policy: median_stopping, evaluation_interval: 1, delay_evaluation: 3}\n",
            {"samplingAlgorithmType": "Grid"},
            {"policyType": "MedianStopping", "evaluationInterval": 1, "delayEvaluation": 3},
        ),
        (
            "random",
            "early_termination: {policy: truncation_selection, truncation_percentage: 25, evaluation_interval: 2}\n",
            {"samplingAlgorithmType": "Random"},
            {
                "policyType": "TruncationSelection",
                "truncationPercentage": 25,
                "evaluationInterval": 2,
                "delayEvaluation": 0,
            },
        ),
        ("bayesian", "", {"samplingAlgorithmType": "Bayesian"}, None),
        (
            "random",
            "early_termination: {policy: bandit, slack_amount: 0.02}\n",
            {"samplingAlgorithmType": "Random"},
            {"policyType": "Bandit", "slackAmount": 0.02, "evaluationInterval": 1, "delayEvaluation": 0},
        ),
    ],
)
def test_sampling_and_early_termination_fields(
    fake_arm: FakeArm,
    code_dir: Path,
    sampling: str,
    policy: str,
    expected_sampling: dict[str, Any],
    expected_policy: dict[str, Any] | None,
) -> None:
    space = (
        "  depth: {type: randint, min_value: 1, max_value: 3}\n"
        "  trees: {type: quniform, min_value: 50, max_value: 150, q: 50}\n"
        "  leaf: {type: choice, values: [1, 5]}\n"
    )
    spec = make_spec(code_dir, sampling=sampling, policy=policy, space=space)
    run = backend_on(fake_arm).submit(spec, outputs_for(fake_arm))

    job = job_put(fake_arm, run.sweep_id)
    assert job["samplingAlgorithm"] == expected_sampling
    assert job.get("earlyTermination") == expected_policy
    if sampling == "grid":  # Azure's grid takes choices only: every discrete parameter becomes its grid
        assert job["searchSpace"] == {
            "depth": ["choice", [[1, 2, 3]]],
            "trees": ["choice", [[50, 100, 150]]],
            "leaf": ["choice", [[1, 5]]],
        }
        assert job["limits"]["maxTotalTrials"] == 12  # min(max_total_trials, grid size 18)
    if sampling == "bayesian":  # Bayesian takes choice/uniform/quniform: randint becomes a choice
        assert job["searchSpace"]["depth"] == ["choice", [[1, 2, 3]]]
        assert job["searchSpace"]["trees"] == ["quniform", [50, 150, 50]]


def test_dedicated_cluster_gets_no_checkpoint_mount(fake_arm: FakeArm, code_dir: Path) -> None:
    spec = make_spec(code_dir, sampling="random")
    run = backend_on(fake_arm).submit(spec, outputs_for(fake_arm, spot=False))
    job = job_put(fake_arm, run.sweep_id)
    assert job["trial"]["command"].startswith("python train.py ")
    assert "checkpoints" not in (job.get("outputs") or {})


@pytest.mark.parametrize(
    ("sampling", "policy", "extra", "fragments"),
    [
        (
            "bayesian",
            "early_termination: {policy: bandit, slack_factor: 0.1}\n",
            "",
            ["early_termination (bandit)", "sampling: bayesian", "supports no early-termination policy"],
        ),
        ("bayesian", "", "", ["search_space.lr is loguniform", "Bayesian sampling does not support"]),
        (
            "random",
            "",
            "compute: {instance_type: Standard_NC24ads_A100_v4}\n",
            ["compute.instance_type 'Standard_NC24ads_A100_v4'", f"cluster '{CLUSTER}'", "one VM size"],
        ),
        ("random", "", "spot: {enabled: false}\n", ["spot.enabled is false", "low-priority"]),
        ("random", "", "compute: {instance_count: 8}\n", ["compute.instance_count 8 exceeds the 4 nodes"]),
    ],
)
def test_incompatible_options_are_refused_before_anything_is_sent(
    fake_arm: FakeArm, code_dir: Path, sampling: str, policy: str, extra: str, fragments: list[str]
) -> None:
    spec = make_spec(code_dir, sampling=sampling, policy=policy, extra=extra)
    backend = backend_on(fake_arm)
    with pytest.raises(UserError) as caught:
        backend.check(spec, outputs_for(fake_arm))
    message = str(caught.value)
    assert message.startswith("sweep spec sweep.yaml cannot run on Azure ML: ")
    for fragment in fragments:
        assert fragment in message
    with pytest.raises(UserError):
        backend.submit(spec, outputs_for(fake_arm))
    assert fake_arm.find("PUT") == [] and fake_arm.find("POST") == []


def test_every_problem_is_reported_at_once(code_dir: Path) -> None:
    spec = make_spec(
        code_dir,
        sampling="bayesian",
        policy="early_termination: {policy: median_stopping}\n",
        extra="spot: {enabled: false}\n",
    )
    with pytest.raises(UserError) as caught:
        build_sweep_job(spec, outputs_for(None), name="x")
    message = str(caught.value)
    assert "early_termination (median_stopping)" in message
    assert "search_space.lr is loguniform" in message
    assert "spot.enabled is false" in message


def test_translation_is_available_offline(code_dir: Path) -> None:
    """The request body can be built and asserted without any server (what docs/sweeps-cloud.md shows)."""
    spec = make_spec(code_dir, sampling="grid", space="  leaf: {type: choice, values: [1, 5]}\n")
    body = request_body(build_sweep_job(spec, outputs_for(None, spot=False), name="offline-1"))
    assert body["name"] == "offline-1"
    assert body["properties"]["samplingAlgorithm"] == {"samplingAlgorithmType": "Grid"}
    assert body["properties"]["limits"]["maxTotalTrials"] == 2  # the grid size caps max_total_trials
    assert body["properties"]["computeId"] == CLUSTER
    # Not uploaded yet: the code is the local folder, the environment its own description.
    assert body["properties"]["trial"]["codeId"] == str(code_dir)
    assert body["properties"]["trial"]["environmentId"]["conda_file"]["dependencies"][-1]["pip"] == [
        "scikit-learn>=1.6",
        "mlflow",
        "azureml-mlflow",
    ]


def test_missing_azure_section_and_missing_credential_are_clear(
    code_dir: Path, fake_arm_env: pytest.MonkeyPatch
) -> None:
    spec = make_spec(code_dir, sampling="random")
    no_workspace = outputs_for(None)
    with pytest.raises(UserError, match=r"stack 'dev' \(cloud 'azure'\) exports no 'azure' section"):
        AzureSweepBackend().check(spec, no_workspace)

    # The production path (DefaultAzureCredential) with no credential available: only the environment
    # credential is tried, and its variables are unset, so it fails before any request is sent.
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"):
        fake_arm_env.delenv(name, raising=False)
    fake_arm_env.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    workspace = AzureWorkspaceRef(
        subscription_id="00000000-0000-0000-0000-00000000abcd", resource_group="rg", workspace_name="w"
    )
    outputs = no_workspace.model_copy(update={"azure": workspace})
    with pytest.raises(UserError) as caught:
        backend_for(outputs).submit(spec, outputs)
    message = str(caught.value)
    assert message.startswith("cannot submit sweep 'gbm-sweep-")
    assert "no usable Azure credential" in message and "az login" in message
    assert "Traceback" not in message


def test_status_and_best_read_the_job_and_its_trials(fake_arm: FakeArm, code_dir: Path) -> None:
    spec = make_spec(code_dir, sampling="random", policy="early_termination: {policy: bandit, slack_factor: 0.1}\n")
    backend = backend_on(fake_arm)
    outputs = outputs_for(fake_arm)
    sweep_id = backend.submit(spec, outputs).sweep_id

    early = backend.status(outputs, sweep_id)
    assert (early.state, early.total, early.finished, early.best) == (SweepState.PENDING, 12, 0, None)
    assert early.model_name == "gbm" and early.experiment == "breast-cancer"
    with pytest.raises(UserError, match=r"has no best trial yet .*'val_auc'"):
        backend.best(outputs, sweep_id)

    def child(index: int, status: str, lr: float) -> dict[str, Any]:
        return {
            "runId": f"{sweep_id}_{index}",
            "status": status,
            "experimentId": "breast-cancer",
            "properties": {"hyperparameters": json.dumps({"lr": lr, "depth": 3, "leaf": 5})},
            "tags": {},
        }

    for index, status in enumerate(["Completed", "Completed", "Canceled", "Failed", "Running", "Queued"]):
        fake_arm.add_child_run(sweep_id, child(index, status, 0.01 * (index + 1)))
    fake_arm.update(
        fake_arm.ws("jobs", sweep_id),
        {"properties": {"status": "Running", "properties": {"best_child_run_id": f"{sweep_id}_1", "score": "0.987"}}},
    )

    status = backend.status(outputs, sweep_id)
    assert (status.completed, status.pruned, status.failed, status.running, status.queued) == (2, 1, 1, 1, 1)
    assert status.state is SweepState.RUNNING and status.parent_run_id == sweep_id
    best = backend.best(outputs, sweep_id)
    assert best.trial_id == f"{sweep_id}_1" and best.state is TrialState.COMPLETED
    assert best.value == pytest.approx(0.987) and best.metric == "val_auc"
    assert best.params == {"lr": 0.02, "depth": 3, "leaf": 5}
    assert best.model_uri == f"runs:/{sweep_id}_1/model"

    fake_arm.update(fake_arm.ws("jobs", sweep_id), {"properties": {"status": "Completed"}})
    assert backend.status(outputs, sweep_id).state is SweepState.COMPLETED

    with pytest.raises(UserError, match=r"no sweep job 'nope-1' in workspace 'mlw-test' of stack 'dev'"):
        backend.status(outputs, "nope-1")
