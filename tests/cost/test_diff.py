"""`ml plan --against`: resource and cost diffs between stacks and against a git ref, and its errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from ml.contract.declared import OfflinePlan
from ml.contract.errors import UserError
from ml.cost.model import StackCost
from ml.plan.against import resolve_base
from ml.plan.cli import register as register_plan
from ml.plan.diff import diff_plans
from ml.plan.markdown import diff_markdown, plan_markdown
from tests.infra.helpers import PROJECT_DIR

Planned = Callable[[str], tuple[OfflinePlan, StackCost]]
GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _plan_in_process(*args: str) -> Result:
    """`ml plan ARGS` in this process: the worker has Pulumi and the program imported already (a new `ml`
    process spent its first seconds importing them again); the exit-2 test goes through `ml.cli.main`."""
    app = typer.Typer()
    register_plan(app)
    app.command("noop", hidden=True)(lambda: None)  # a second command keeps `plan` a sub-command
    return CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200", "NO_COLOR": "1"})


def _git(repo: Path, *args: str) -> None:
    assert GIT is not None
    subprocess.run(
        [GIT, "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


def test_markdown_diff_between_two_stacks(planned: Planned) -> None:
    dev, prod = planned("dev"), planned("prod")
    diff = diff_plans("prod", "stack `dev`", dev, prod)
    gpu = "azure-native:machinelearningservices:Compute training-gpu"
    changes = {c.key: (c.before, c.after) for c in diff.changed[gpu]}
    assert changes["vmSize"] == ("Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4")
    assert changes["maxNodeCount"] == ("2.0", "8.0")
    assert "azure-native:machinelearningservices:OnlineDeployment serving-blue" in diff.added
    assert diff.removed == []
    assert diff.max_before == pytest.approx(dev[1].max_total) and diff.after.max_total == prod[1].max_total
    text = diff_markdown(diff, prod[0])
    assert text.startswith("### `ml plan` stack `prod` against stack `dev`")
    assert f"max scale {dev[1].max_total:,.2f} -> **{prod[1].max_total:,.2f}**" in text
    assert f"(+{prod[1].max_total - dev[1].max_total:,.2f})" in text
    assert "| + | `azure-native:machinelearningservices:OnlineDeployment serving-blue` | added |" in text
    assert "`vmSize`: Standard_NC4as_T4_v3 -> Standard_NC24ads_A100_v4" in text
    assert "over budget 'budget-mlopsprod'" in text
    # the same config on both sides: nothing to report
    same = diff_plans("dev", "`HEAD`", dev, dev)
    assert same.empty and "No resource or cost changes." in diff_markdown(same, dev[0])


def test_markdown_plan_without_against_is_a_cost_report(planned: Planned) -> None:
    plan, cost = planned("dev-aws")
    text = plan_markdown(plan, cost)
    assert text.startswith("### `ml plan` stack `dev-aws`")
    assert (
        "| `MlflowTrackingServer` workspace-mlflow | Small tracking server, always on at 0.6/hour | 438.00 | 438.00 |"
        in text
    )
    assert f"| **total** (USD) | | **{cost.idle_total:,.2f}** | **{cost.max_total:,.2f}** |" in text
    assert "https://aws.amazon.com/sagemaker/pricing/ (us-east-1, compiled 2026-11-22)" in text
    assert f"<details><summary>{len(plan.custom_resources)} resources</summary>" in text


@needs_git
def test_against_a_git_ref_through_the_cli(tmp_path: Path) -> None:
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(PROJECT_DIR / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "Pulumi.yaml", "Pulumi.dev.yaml")
    _git(tmp_path, "commit", "-q", "-m", "base")
    text = (tmp_path / "Pulumi.dev.yaml").read_text()
    changed = text.replace("maxNodes: 2\n    priority", "maxNodes: 4\n    priority")
    assert changed != text
    (tmp_path / "Pulumi.dev.yaml").write_text(changed)
    # a stack that did not exist at the base commit: everything is added
    shutil.copy(PROJECT_DIR / "Pulumi.dev-aws.yaml", tmp_path / "Pulumi.dev-aws.yaml")

    result = _plan_in_process(
        "plan",
        "--stack",
        "dev",
        "--stack",
        "dev-aws",
        "--format",
        "markdown",
        "--against",
        "HEAD",
        "--project-dir",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    dev, aws = result.stdout.split("### `ml plan` stack `dev-aws`")
    assert "### `ml plan` stack `dev` against `HEAD` (" in dev
    assert "**Resources**: 0 added, 0 removed, 1 changed" in dev
    assert "`maxNodeCount`: 2.0 -> 4.0" in dev
    gpu_max = 2 * 0.158 * 730
    assert f"| 0.00 | 0.00 | {gpu_max:,.2f} | {2 * gpu_max:,.2f} | +{gpu_max:,.2f} |" in dev
    assert "against `HEAD`" in aws and "(no Pulumi.dev-aws.yaml there)" in aws
    assert "idle 0.00 -> **" in aws
    assert re.search(r"\*\*Resources\*\*: [1-9]\d* added, 0 removed, 0 changed", aws)


def test_unknown_ref_or_stack_is_one_clear_error() -> None:
    with pytest.raises(UserError) as caught:
        resolve_base(PROJECT_DIR, "dev", "no-such-branch-or-stack")
    message = str(caught.value)
    assert "--against 'no-such-branch-or-stack'" in message and "dev-aws" in message


def test_outside_git_and_without_git_the_error_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(PROJECT_DIR / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    if GIT is not None:
        monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
        with pytest.raises(UserError, match=r"not a stack here \(stacks: dev\), and .* is not in a git repository"):
            resolve_base(tmp_path, "dev", "main")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError, match="git is not installed"):
        resolve_base(tmp_path, "dev", "main")
    # a stack name needs no git at all
    assert resolve_base(PROJECT_DIR, "prod", "dev").label == "stack `dev`"


def test_cli_error_has_exit_2_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `ml.cli.main`, the wrapper a user's shell runs, in this process (a new `ml` process spent
    3-13 s importing every command's libraries before it failed)."""
    from ml.cli import main

    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path))  # where the CLI's log file goes
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(PROJECT_DIR)
    bad = "0000000000000000000000000000000000000bad"
    monkeypatch.setattr(sys, "argv", ["ml", "plan", "--stack", "dev", "--format", "markdown", "--against", bad])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "Traceback" not in err
    assert "is neither a stack here" in err
