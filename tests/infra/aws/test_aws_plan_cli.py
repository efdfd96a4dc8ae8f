"""`ml plan --stack dev-aws` from the command line prints the whole SageMaker platform."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.infra.helpers import PROJECT_DIR


def test_plan_prints_the_aws_platform_with_its_key_inputs() -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-c", "from ml.cli import main; main()", "plan", "--stack", "dev-aws"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "stack dev-aws: 26 resources in 7 components" in out
    for fragment in (
        "mlops:aws:Platform",
        "mlops:aws:ArtifactStore",
        "mlops:aws:Workspace",
        "mlops:aws:GpuTrainingCluster",
        "mlops:aws:InferenceEndpoint",
        "mlops:aws:Budget",
        "enableKeyRotation = true",
        "restrictPublicBuckets = true",
        "DenyInsecureTransport = Deny",
        '"checkpoints/": ["delete at 14d"]',
        "INTELLIGENT_TIERING at 30d",
        "trackingServerSize = Small",
        'variants = ["primary: ml.m5.large x1"]',
        "rule = keep SageMakerVariantInvocationsPerInstance at 100",
        "p99(ModelLatency) > 1000000 for 3 x 60s",
        "TagKeyValue=user:mlops-stack$mlopsdevaws",
        '"FORECASTED 100%"',
        '"cloud": "aws"',
        '"checkpoint_uri": "s3://mlopsdevaws-artifacts-123456789012-eu-west-1/checkpoints/"',
    ):
        assert fragment in out, fragment
