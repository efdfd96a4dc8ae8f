"""Entry point of the `mlops-guardrails` policy pack (`pulumi preview --policy-pack policy`).

The policies are built from the shared rules in `infra/guardrails/`; each carries its own
enforcement level (see docs/policy.md), so the pack-wide default below only applies to none.
"""

import sys
from pathlib import Path

# The project is installed in ../.venv by `uv sync`; this also works from a plain checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.guardrails.pack import PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, policies=build_policies(), enforcement_level=EnforcementLevel.ADVISORY)
