"""The GitHub Actions workflows: they parse, run what we intend, when we intend, with pinned actions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in _steps(job))


ALL = sorted(p.name for p in WORKFLOWS.glob("*.yml"))


def test_the_workflows_exist() -> None:
    assert ALL == ["deploy.yml", "monitor.yml", "pull-request.yml", "retrain.yml"]


@pytest.mark.parametrize("name", ALL)
def test_every_third_party_action_is_pinned_to_a_commit(name: str) -> None:
    uses = [step["uses"] for job in _load(name)["jobs"].values() for step in _steps(job) if "uses" in step]
    assert uses, f"{name} uses no action at all"
    for action in uses:
        assert PINNED.match(action), f"{name}: {action} is not pinned to a 40-hex commit SHA"


@pytest.mark.parametrize("name", ALL)
def test_default_token_is_read_only_and_jobs_time_out(name: str) -> None:
    workflow = _load(name)
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        assert job.get("timeout-minutes"), f"{name}:{job_name} has no timeout"
        assert set(job.get("permissions", {}).values()) <= {"read", "write"}
        assert "write-all" not in str(job.get("permissions", ""))


def test_pull_requests_lint_test_plan_with_policy_and_comment() -> None:
    workflow = _load("pull-request.yml")
    assert workflow["on"] == {"pull_request": {"branches": ["main"]}}
    jobs = workflow["jobs"]
    assert set(jobs) == {"test", "offline-plan", "preview"}
    test_runs = _runs(jobs["test"])
    for command in ("uv sync --frozen --extra dev", "ruff check", "mypy", "pytest"):
        assert command in test_runs
    plan = jobs["offline-plan"]
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    plan_runs = _runs(plan)
    assert "ml plan --stack dev --stack prod --policy" in plan_runs
    assert '--format markdown --against "$BASE_SHA"' in plan_runs
    assert any("github-script" in step.get("uses", "") for step in _steps(plan))


def test_preview_runs_only_with_credentials_and_says_so_otherwise() -> None:
    preview = _load("pull-request.yml")["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "secrets.PULUMI_ACCESS_TOKEN" in preview["env"]["HAS_CREDENTIALS"]
    notice, *rest = _steps(preview)
    assert notice["if"] == "env.HAS_CREDENTIALS != 'true'" and "::notice" in notice["run"]
    assert all(step["if"] == "env.HAS_CREDENTIALS == 'true'" for step in rest)
    pulumi = next(step for step in rest if "pulumi/actions" in step.get("uses", ""))
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert preview["permissions"]["id-token"] == "write"


def test_main_deploys_dev_and_prod_waits_for_approval() -> None:
    workflow = _load("deploy.yml")
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert workflow["on"]["release"] == {"types": ["published"]}
    assert "workflow_dispatch" in workflow["on"]
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    assert dev["if"] == "github.event_name == 'push'"
    assert dev["environment"] == "dev"
    assert prod["environment"] == "prod"
    assert "push" not in prod["if"]
    for job, stack in ((dev, "dev"), (prod, "prod")):
        up = next(step for step in _steps(job) if "pulumi/actions" in step.get("uses", ""))
        assert up["with"] == {"command": "up", "stack-name": stack, "policyPacks": "policy"}
        assert f"ml plan --stack {stack} --policy" in _runs(job)
        assert job["concurrency"]["cancel-in-progress"] is False


def test_weekly_retraining_sweep_registers_a_challenger() -> None:
    workflow = _load("retrain.yml")
    assert workflow["on"]["schedule"] == [{"cron": "0 3 * * 1"}]
    runs = _runs(workflow["jobs"]["sweep"])
    assert "pulumi stack output --json --stack dev > outputs.dev.json" in runs
    assert "ml sweep run examples/sweeps/breast_cancer_cloud.yaml --stack dev --outputs outputs.dev.json" in runs
    assert "ml sweep best --stack dev --outputs outputs.dev.json" in runs
    assert "ml deploy" not in runs  # promotion stays a reviewed rollout
    assert (Path(__file__).resolve().parents[2] / "examples/sweeps/breast_cancer_cloud.yaml").is_file()


@pytest.mark.parametrize("stack", ["dev", "dev-aws"])
def test_the_weekly_spec_is_valid_on_the_cloud_backends(
    stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled sweep must not be refused by Azure ML or SageMaker when the cron fires.

    `ml sweep run` runs in this process (typer CliRunner) from the repository, as the workflow runs it:
    a new `ml` process spent most of this test importing MLflow and the SDKs again.
    """
    import json

    import typer
    from typer.testing import CliRunner

    from ml.sweep.cli import register
    from tests.infra.helpers import PROJECT_DIR, plan_stack

    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"platform": plan_stack(stack).outputs}))
    monkeypatch.chdir(PROJECT_DIR)
    app = typer.Typer()
    register(app)
    args = ["sweep", "run", "examples/sweeps/breast_cancer_cloud.yaml", "--stack", stack, "--outputs", str(outputs)]
    done = CliRunner().invoke(app, [*args, "--dry-run"], catch_exceptions=False, env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "is valid for backend" in done.stdout and "nothing submitted" in done.stdout


def test_daily_monitor_on_prod_starts_the_retrain_on_dev_only_on_drift() -> None:
    workflow = _load("monitor.yml")
    assert "schedule" in workflow["on"] and "workflow_dispatch" in workflow["on"]
    monitor, retrain = workflow["jobs"]["monitor"], workflow["jobs"]["retrain"]
    runs = _runs(monitor)
    assert "pulumi stack output --json --stack prod" in runs
    assert "ml monitor --stack prod --outputs outputs.prod.json" in runs
    # Exit 3 is drift (retrain), 0 and 4 pass, anything else fails the job.
    assert '"$code" -eq 3' in runs and "drift=true" in runs and '"$code" -eq 4' in runs
    assert monitor["outputs"]["drift"] == "${{ steps.monitor.outputs.drift }}"
    assert retrain["needs"] == "monitor" and retrain["if"] == "needs.monitor.outputs.drift == 'true'"
    assert "gh workflow run retrain.yml" in _runs(retrain)
    assert retrain["permissions"] == {"contents": "read", "actions": "write"}
    # Promotion is never part of it: the retrain workflow registers a challenger on dev.
    assert "ml deploy" not in runs + _runs(retrain)
    assert "--stack dev" in _runs(_load("retrain.yml")["jobs"]["sweep"])
