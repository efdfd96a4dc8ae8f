"""The pack boots as Pulumi boots it and answers the analyzer protocol with the intended levels.

Why over gRPC: `pulumi preview --policy-pack policy` runs `policy/__main__.py`, reads the port it
prints and calls GetAnalyzerInfo / Analyze. No Pulumi CLI here, so the test plays the engine's
part with Pulumi's own protobuf stubs; the process is killed at the end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tests.infra.helpers import PROJECT_DIR
from tests.policy.test_pack import INTENDED_LEVELS

# The analyzer protocol's enum: ADVISORY = 0, MANDATORY = 1.
WIRE_LEVELS = {"ADVISORY": 0, "MANDATORY": 1}


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-u", str(PROJECT_DIR / "policy" / "__main__.py")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_DIR / "policy",
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_pack_lists_every_policy_with_its_level(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "mlops-guardrails"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels == {name: WIRE_LEVELS[level.name] for name, level in INTENDED_LEVELS.items()}


def _analyze(analyzer: analyzer_pb2_grpc.AnalyzerStub, public: bool) -> list[str]:
    props = struct_pb2.Struct()
    tags = {"environment": "dev", "cost-center": "ml-platform", "managed-by": "pulumi"}
    props.update({"allowBlobPublicAccess": public, "minimumTlsVersion": "TLS1_2", "tags": tags})
    request = analyzer_pb2.AnalyzeRequest(
        type="azure-native:storage:StorageAccount",
        properties=props,
        urn="urn:pulumi:dev::mlops::azure-native:storage:StorageAccount::st",
        name="st",
    )
    return [d.policyName for d in analyzer.Analyze(request, timeout=30).diagnostics]


def test_pack_reports_a_public_storage_account_and_passes_a_private_one(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    assert _analyze(analyzer, public=True) == ["no-public-blob-or-bucket-access"]
    assert _analyze(analyzer, public=False) == []
