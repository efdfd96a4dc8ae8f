"""AWS facts both layers need: which SageMaker instance types take a volume KMS key.

Why in the contract: the stack's bootstrap endpoint config (`infra/aws/inference_endpoint.py`)
and every config a rollout creates (`ml/deploy/targets`) must apply the same rule, or a rollout
fails on a config the stack itself would have built.
"""

from __future__ import annotations

import re

# Instance families whose storage is local NVMe: SageMaker encrypts it in hardware and refuses a KMS key.
_INSTANCE_STORAGE_FAMILIES = re.compile(r"^ml\.(g4dn|g5|g6|g6e|p3dn|p4d|p4de|p5|m5d|c5d|r5d)\.")


def accepts_volume_kms_key(instance_type: str) -> bool:
    """SageMaker rejects KmsKeyId on endpoint configs for instance types with local NVMe storage.

    Shared by the Pulumi endpoint (bootstrap config) and the rollout target (every later config).
    """
    return not _INSTANCE_STORAGE_FAMILIES.match(instance_type)
