"""`ml plan --policy` from the command line: tables, levels and exit codes (what CI runs on every PR)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from ml.contract.errors import UserError
from ml.plan.cli import register
from tests.infra.helpers import PROJECT_DIR


def _ml(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "220", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from ml.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env=env,
        timeout=180,
        check=False,
    )


def _project(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the project's dev stack with some YAML lines replaced."""
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    return tmp_path


def _inline(*args: str) -> tuple[int, str, BaseException | None]:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands, so `plan` is a subcommand as under `ml`
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "220", "NO_COLOR": "1"})
    return result.exit_code, result.output, result.exception


def test_mandatory_violation_exits_2_with_table_and_no_traceback(tmp_path: Path) -> None:
    project = _project(tmp_path, ("    minNodes: 0", "    minNodes: 1"))
    result = _ml("plan", "--stack", "dev", "--policy", "--project-dir", str(project))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "error: mandatory policy violations (dev: gpu-training-scale-to-zero)" in result.stderr
    for fragment in ("gpu-training-scale-to-zero", "mandatory", "training-gpu", "minNodeCount=1", "minNodes: 0"):
        assert fragment in result.stdout, fragment


def test_committed_dev_and_prod_pass_as_in_ci() -> None:
    result = _ml("plan", "--stack", "dev", "--stack", "prod", "--policy", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "stack dev: 13 policies, no violations" in result.stderr
    assert "stack prod: 13 policies, no violations" in result.stderr
    assert [d["stack"] for d in json.loads(result.stdout)] == ["dev", "prod"]  # stdout stays machine-readable


def test_advisory_violation_is_printed_and_does_not_fail(tmp_path: Path) -> None:
    project = _project(tmp_path, ("    priority: LowPriority", "    priority: Dedicated"))
    code, output, exception = _inline("plan", "--stack", "dev", "--policy", "--project-dir", str(project))
    assert exception is None and code == 0, output
    assert "gpu-training-spot" in output and "advisory" in output and "not LowPriority" in output
    assert "stack dev: 0 mandatory, 1 advisory violation(s)" in output


def test_policy_config_loosens_a_mandatory_policy(tmp_path: Path) -> None:
    project = _project(tmp_path, ("    minNodes: 0", "    minNodes: 1"))
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"gpu-training-scale-to-zero": {"exemptResources": ["training-gpu"]}}))
    args = ("plan", "--stack", "dev", "--policy", "--project-dir", str(project))
    code, output, exception = _inline(*args, "--policy-config", str(config))
    assert exception is None and code == 0, output
    assert "no violations" in output
    code, output, exception = _inline(*args)
    assert isinstance(exception, UserError) and exception.exit_code == 2
