"""`mlops:deploy`: what every rollout on the stack must satisfy.

Why a stack setting and not a rollout-spec key: whether a person must approve a model version
before it serves users is a property of the environment (prod), not of one rollout; it is
exported in the platform outputs (`deploy.require_approval`) so `ml deploy` enforces it on every
target, and dev and prod differ only through their YAML files.

Example (Pulumi.prod.yaml)::

    mlops:deploy:
      requireApproval: true   # ml deploy refuses a version without `ml model approve`
"""

from __future__ import annotations

from infra.config.base import Section


class DeploySettings(Section):
    """Rollout policy for the stack."""

    require_approval: bool = False
