"""`mlops:artifacts`: the artifact store's versioning and lifecycle tiers.

Why validated here: a tier whose days are out of order (archive before cool) is accepted by the
clouds' lifecycle APIs and silently does the wrong thing; it must fail before `pulumi up`.
"""

from __future__ import annotations

import itertools

from pydantic import Field, field_validator, model_validator

from infra.config.base import Section


class TierRule(Section):
    """One prefix's life: cool (infrequent access), archive, delete. Days count from last modification."""

    prefix: str = Field(min_length=1)
    cool_after_days: int | None = Field(default=None, ge=1)
    archive_after_days: int | None = Field(default=None, ge=1)
    delete_after_days: int | None = Field(default=None, ge=1)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/") or not value.endswith("/"):
            raise ValueError(f"prefix '{value}' must be relative and end with '/', e.g. 'artifacts/'")
        return value

    @model_validator(mode="after")
    def _order(self) -> TierRule:
        steps = [
            (name, days)
            for name, days in (
                ("coolAfterDays", self.cool_after_days),
                ("archiveAfterDays", self.archive_after_days),
                ("deleteAfterDays", self.delete_after_days),
            )
            if days is not None
        ]
        if not steps:
            raise ValueError(
                f"tier '{self.prefix}' sets no action; give coolAfterDays, archiveAfterDays or deleteAfterDays"
            )
        for (earlier, a), (later, b) in itertools.pairwise(steps):
            if a >= b:
                raise ValueError(f"tiers out of order for '{self.prefix}': {earlier}={a} must be less than {later}={b}")
        return self


class ArtifactSettings(Section):
    versioning: bool = True
    tiers: list[TierRule] = Field(default_factory=list)
    temp_prefix: str = "tmp/"
    temp_expire_days: int = Field(default=7, ge=1, le=365)
    checkpoint_prefix: str = "checkpoints/"
    noncurrent_version_expire_days: int = Field(default=30, ge=1, le=3650)
    abort_incomplete_multipart_days: int = Field(default=7, ge=1, le=365)

    @model_validator(mode="after")
    def _unique(self) -> ArtifactSettings:
        prefixes = [t.prefix for t in self.tiers]
        duplicates = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if duplicates:
            raise ValueError(f"tier prefixes must be unique, repeated: {duplicates}")
        if self.temp_prefix in prefixes:
            raise ValueError(f"tempPrefix '{self.temp_prefix}' also appears in tiers; give it one rule")
        return self
