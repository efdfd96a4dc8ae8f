"""Find the platform outputs of a stack: the `--stack` / `--outputs` half of every `ml` command.

Why here: commands must not know where outputs come from. A stack named ``local`` is the embedded
platform on this machine; any other stack is read from an outputs file (what CI exports) or from
`pulumi stack output --json` when a Pulumi CLI is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ml.contract import (
    SCHEMA_VERSION,
    ArtifactStoreRef,
    AutoscaleProfile,
    BudgetRef,
    ContractError,
    EndpointRef,
    MonitoringRef,
    PlatformOutputs,
    TrainingProfile,
    parse_platform_outputs,
)
from ml.contract.errors import UserError

LOCAL_STACK = "local"
LOCAL_OUTPUTS_FILE = "outputs.json"
LOCAL_CAPTURE_PERCENT = 100.0
"""The local endpoint records every request (one machine, light traffic: a sample would only hide rows)."""


def local_home() -> Path:
    """The directory that holds the local platform's state (MLflow store, artifacts, audit log)."""
    return Path(os.environ.get("ML_PLATFORM_HOME", ".mlops")).resolve()


def default_local_outputs(home: Path) -> PlatformOutputs:
    """The local platform when no `ml platform up` has run: an embedded SQLite MLflow store."""
    artifacts = home / "artifacts"
    return PlatformOutputs(
        schema_version=SCHEMA_VERSION,
        stack=LOCAL_STACK,
        environment=LOCAL_STACK,
        cloud="local",
        region="localhost",
        tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        training=TrainingProfile(
            name="local-processes",
            instance_type="local",
            min_nodes=0,
            max_nodes=max(1, os.cpu_count() or 1),
            spot=False,
        ),
        artifacts=ArtifactStoreRef(
            name="local",
            uri=artifacts.as_uri(),
            temp_prefix="tmp/",
            checkpoint_prefix="checkpoints/",
        ),
        budget=BudgetRef(
            name="local",
            monthly_amount=1_000_000.0,
            currency="USD",
            thresholds_percent=[],
            remaining=None,
        ),
        endpoint=EndpointRef(
            name="local",
            instance_type="local",
            instance_count=1,
            auth_mode="none",
            autoscale=AutoscaleProfile(
                min_instances=1,
                max_instances=1,
                metric="none",
                target=0,
                scale_out_cooldown_seconds=0,
                scale_in_cooldown_seconds=0,
            ),
        ),
        monitoring=MonitoringRef(
            enabled=True, sampling_percent=LOCAL_CAPTURE_PERCENT, capture_uri=str(home / "capture")
        ),
    )


def read_outputs_file(path: Path) -> PlatformOutputs:
    """Read an outputs JSON file as written by `pulumi stack output --json` or `ml platform up`."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(
            f"outputs file {path} does not exist. Export it with `pulumi stack output --json --stack <stack> > {path}`."
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    return parse_platform_outputs(document, source=str(path))


def read_pulumi_stack_outputs(stack: str, *, cwd: Path | None = None) -> PlatformOutputs:
    """Ask the Pulumi CLI for a provisioned stack's outputs."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise UserError(
            f"stack '{stack}': no Pulumi CLI on PATH to read its outputs. Install it "
            f"(https://www.pulumi.com/docs/install/) or pass `--outputs FILE` with the JSON of "
            f"`pulumi stack output --json --stack {stack}`; use `--stack local` for the local platform."
        )
    completed = subprocess.run(
        [pulumi, "stack", "output", "--json", "--stack", stack],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    if completed.returncode != 0:
        raise UserError(f"`pulumi stack output --stack {stack}` failed: {completed.stderr.strip()}")
    return parse_platform_outputs(json.loads(completed.stdout), source=f"pulumi stack '{stack}'")


def resolve_outputs(stack: str | None, outputs_file: Path | None = None) -> PlatformOutputs:
    """The platform outputs for `--stack` (default: local) and an optional `--outputs FILE`."""
    if outputs_file is not None:
        outputs = read_outputs_file(outputs_file)
        if stack is not None and stack != outputs.stack:
            raise UserError(
                f"--outputs {outputs_file} belongs to stack '{outputs.stack}', not '{stack}'. "
                f"Pass the matching file or `--stack {outputs.stack}`."
            )
        return outputs
    if stack is None or stack == LOCAL_STACK:
        home = local_home()
        written = home / LOCAL_OUTPUTS_FILE
        return read_outputs_file(written) if written.exists() else default_local_outputs(home)
    return read_pulumi_stack_outputs(stack)
