"""`ml` commands against a cloud endpoint that accepts connections and never answers end within the stated bound.

Why a silent server and not a closed port: a refused connection fails at once whatever the
timeouts; an endpoint that swallows requests (a black-holed network, a hung proxy) is what made
commands look hung for minutes under the SDKs' defaults. The bound is made small through the
environment (`ml.cloud_waits`), the command runs through `ml.cli.main` as a user runs it, and the
test checks the time it took, the one error line (service, bound, variables) and no traceback.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml.azure import AzureConnection
from ml.cloud_waits import cloud_waits
from ml.contract import AutoscaleProfile, AzureWorkspaceRef
from tests.fakes.azure_client import FakeTokenCredential, azure_outputs

REPO = Path(__file__).resolve().parents[1]
AUTOSCALE = AutoscaleProfile(
    min_instances=1, max_instances=2, metric="cpu", target=70, scale_out_cooldown_seconds=1, scale_in_cooldown_seconds=1
)
SMALL = {"ML_CLOUD_CONNECT_TIMEOUT": "1", "ML_CLOUD_READ_TIMEOUT": "1", "ML_CLOUD_ATTEMPTS": "2"}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A 127.0.0.1 port that accepts connections, reads nothing and answers nothing; closed after the test."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(32)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        listener.close()


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> float:
    for name, value in {**SMALL, "ML_CLOUD_BACKOFF_MAX": "0.5", "ML_PLATFORM_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    return cloud_waits().worst_case_seconds()


def run_ml(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, float]:
    """``ml <args>`` through the console entry point in this process: exit code, output, seconds.

    The SDKs are imported before the clock starts: the seconds measured are the command's, not Python's imports.
    """
    import importlib

    for module in ("boto3", "azure.core", "ml.plan.needs", "ml.preflight.aws", "ml.preflight.azure"):
        importlib.import_module(module)
    for verb in ("deploy", "model", "monitor", "plan", "platform", "preflight", "sweep", "teardown"):
        importlib.import_module(f"ml.{verb}.cli")  # what `main` registers
    from ml.cli import main

    monkeypatch.setattr(sys, "argv", ["ml", *args])
    started = time.monotonic()
    with pytest.raises(SystemExit) as ended:
        main()
    took = time.monotonic() - started
    captured = capsys.readouterr()
    return int(ended.value.code or 0), captured.err + captured.out, took


def test_aws_preflight_against_a_silent_endpoint_ends_within_the_bound(
    silent_port: int, small_bound: float, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent_port}")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    code, text, took = run_ml(monkeypatch, capsys, "preflight", "--stack", "dev-aws", "--project-dir", str(REPO))
    print(f"aws: ended after {took:.1f}s (bound ~{small_bound:.1f}s): {text.strip()}")
    assert code == 2
    assert "AWS did not answer" in text and "ML_CLOUD_READ_TIMEOUT" in text and "2 tries" in text
    assert "Traceback" not in text and len(text.strip().splitlines()) <= 3  # one error (wrapped at most)
    assert took < small_bound + 3


def test_azure_preflight_against_a_silent_endpoint_ends_within_the_bound(
    silent_port: int, small_bound: float, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ARM at a silent HTTPS endpoint (the connection is where a test points `ml` at a fake, as elsewhere)."""
    import ml.preflight.azure

    arm = AzureConnection(FakeTokenCredential(), resource_manager=f"https://127.0.0.1:{silent_port}/")
    monkeypatch.setattr(ml.preflight.azure, "default_connection", lambda: arm)
    code, text, took = run_ml(
        monkeypatch,
        capsys,
        *("preflight", "--stack", "dev", "--project-dir", str(REPO)),
        *("--subscription", "00000000-0000-0000-0000-000000000000"),
    )
    print(f"azure: ended after {took:.1f}s (bound ~{small_bound:.1f}s): {text.strip()}")
    assert code == 2
    assert "Azure did not answer" in text and "ML_CLOUD_READ_TIMEOUT" in text and "2 tries" in text
    assert "Traceback" not in text and len(text.strip().splitlines()) <= 3
    assert took < small_bound + 3


def test_azure_sweep_status_through_mlclient_ends_within_the_bound(
    silent_port: int,
    small_bound: float,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """azure-ai-ml's `MLClient` (every endpoint of its cloud at the silent server) takes the same bound."""
    import ml.sweep.backends.azure

    monkeypatch.delenv("AZUREML_CURRENT_CLOUD", raising=False)  # MLClient writes it into os.environ
    url = f"https://127.0.0.1:{silent_port}"
    cloud = AzureConnection(
        FakeTokenCredential(),
        resource_manager=f"{url}/",
        cloud=f"SilentCloud{silent_port}",
        cloud_metadata={
            **{key: f"{url}/" for key in ("resource_manager", "aml_resource_id", "registry_discovery_endpoint")},
            **{"azure_portal": f"{url}/portal/", "active_directory": f"{url}/login/"},
            "storage_endpoint": f"127.0.0.1:{silent_port}",
        },
        enable_telemetry=False,
    )
    monkeypatch.setattr(ml.sweep.backends.azure, "default_connection", lambda: cloud)
    outputs = azure_outputs(None, endpoint="e", autoscale=AUTOSCALE)
    workspace = AzureWorkspaceRef(subscription_id="s", resource_group="r", workspace_name="w")
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(outputs.model_copy(update={"azure": workspace}).model_dump_json())
    code, text, took = run_ml(monkeypatch, capsys, "sweep", "status", "sweep-1", "--outputs", str(outputs_file))
    print(f"azure ml: ended after {took:.1f}s (bound ~{small_bound:.1f}s): {text.strip()}")
    assert code == 2
    assert "Azure did not answer" in text and "ML_CLOUD_READ_TIMEOUT" in text
    assert "Traceback" not in text and len(text.strip().splitlines()) <= 3
    assert took < small_bound + 3


def test_a_bad_bound_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml.contract.errors import UserError

    monkeypatch.setenv("ML_CLOUD_ATTEMPTS", "2.5")
    with pytest.raises(UserError, match=r"ML_CLOUD_ATTEMPTS='2\.5' must be a positive whole number"):
        cloud_waits()
