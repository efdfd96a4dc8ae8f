"""Parse ``NAME``, ``NAME@ALIAS``, ``NAME/VERSION`` (or ``models:/...``) and find the version.

Why one parser: every `ml model` verb names a version the same way the rollout spec does, so a
reference copied from one place works in the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml.contract.errors import UserError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

_REF = re.compile(r"^(?:models:/)?(?P<name>[^/@\s]+)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<version>[0-9]+))?$")


@dataclass(frozen=True)
class VersionRef:
    """What the user named: a model and, optionally, an alias or a version."""

    name: str
    alias: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return self.name + (f"@{self.alias}" if self.alias else f"/{self.version}" if self.version else "")


def parse_ref(text: str) -> VersionRef:
    """``NAME`` (latest version), ``NAME@ALIAS`` or ``NAME/VERSION``; `UserError` for anything else."""
    match = _REF.match(text.strip())
    if match is None:
        raise UserError(f"'{text}' is not a model reference; use NAME, NAME@ALIAS or NAME/VERSION (e.g. bc@champion)")
    return VersionRef(match.group("name"), match.group("alias"), match.group("version"))


def _missing(exc: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower()


def all_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    """Every version of ``name``, newest first; `UserError` when the model is not registered."""
    versions = list(client.search_model_versions(f"name = '{name}'"))
    if not versions:
        raise UserError(
            f"model '{name}' has no versions in the registry at {client._registry_uri}; "
            f"register one first (`ml sweep best --stack <stack>`)"
        )
    aliases = aliases_by_version(client, name)
    for version in versions:
        if not version.aliases:  # a search result may come without aliases: fill them from the model
            version._aliases = aliases.get(str(version.version), [])
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def aliases_by_version(client: MlflowClient, name: str) -> dict[str, list[str]]:
    """``{version: [alias, ...]}`` from the registered model (one call for every version)."""
    found: dict[str, list[str]] = {}
    for alias, version in (client.get_registered_model(name).aliases or {}).items():
        found.setdefault(str(version), []).append(alias)
    return {version: sorted(names) for version, names in found.items()}


def find_version(client: MlflowClient, ref: VersionRef) -> ModelVersion:
    """The registry's version behind ``ref`` (with its aliases filled in)."""
    from mlflow.exceptions import MlflowException

    try:
        if ref.alias is not None:
            found = client.get_model_version_by_alias(ref.name, ref.alias)
        elif ref.version is not None:
            found = client.get_model_version(ref.name, ref.version)
        else:
            found = all_versions(client, ref.name)[0]
    except MlflowException as exc:
        if not _missing(exc):
            raise
        known = ", ".join(
            f"v{v.version}" + "".join(f" @{a}" for a in v.aliases) for v in all_versions(client, ref.name)
        )
        raise UserError(f"model reference '{ref}' does not exist; versions: {known}") from None
    return client.get_model_version(ref.name, str(found.version))
