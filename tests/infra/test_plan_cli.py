"""`ml plan` from the command line: the first command of the quick start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.infra.helpers import PROJECT_DIR


def _ml(*args: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from ml.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_plan_prints_tree_key_inputs_outputs_and_notice() -> None:
    result = _ml("plan", "--stack", "dev", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Offline plan" in out and "not a diff against deployed state" in out
    assert "stack dev: 16 resources in 7 components" in out
    assert "stack prod: 32 resources in 8 components" in out  # + the private network (14 in 1 component)
    for fragment in (
        "mlops:azure:GpuTrainingCluster",
        "vmPriority = LowPriority",
        "maxNodeCount = 8",
        '"mlops/artifacts/"',
        "tierToArchive",
        "Forecasted 100%",
        "amount = 5000",
        '"maximum": "10"',
        "(protected)",
        '"schema_version": 1',
    ):
        assert fragment in out, fragment


def test_plan_json_is_machine_readable() -> None:
    result = _ml("plan", "--stack", "prod", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["stack"] == "prod"
    assert len(document["resources"]) == 32
    assert document["outputs"]["cloud"] == "azure"


def test_bad_config_is_one_clear_error_without_traceback(tmp_path: Path) -> None:
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (
        (PROJECT_DIR / "Pulumi.dev.yaml").read_text().replace("maxNodes: 2\n    priority", "maxNodes: -1\n    priority")
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    result = _ml("plan", "--stack", "dev", "--project-dir", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "mlops:trainingCluster.maxNodes = -1" in result.stderr


def test_unknown_stack_lists_the_known_ones() -> None:
    result = _ml("plan", "--stack", "staging")
    assert result.returncode == 2
    assert "stack 'staging' has no Pulumi.staging.yaml" in result.stderr
    assert "dev" in result.stderr and "prod" in result.stderr
