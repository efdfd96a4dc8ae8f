"""What every section of the stack config shares: the `mlops` namespace and the section base type.

Why a base type: every section spells its keys in camelCase in YAML and snake_case in Python, and
rejects unknown keys, so a misspelt key is an error naming it instead of a silently used default.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

NAMESPACE = "mlops"
"""The Pulumi config namespace of every key: `mlops:trainingCluster.maxNodes`."""


class Section(BaseModel):
    """camelCase keys in YAML, snake_case in Python; unknown keys are typos and rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)
