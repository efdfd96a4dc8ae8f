"""The model registry side of a rollout: resolve what to deploy, and move aliases only on success.

Why here and nowhere else: MLflow is the system of record for which version serves users. The
alias ``champion`` moves exactly once per successful rollout, the version it leaves is kept and
tagged (``previous_champion=true``, ``retired_at``) so `ml rollback` can find it, and a version
taken out by a rollback is tagged ``rolled_back=true`` so a second rollback does not bounce back
to it. A failed rollout calls nothing here after `resolve`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml.contract.errors import UserError
from ml.deploy.target import ModelRef

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG_PREVIOUS_CHAMPION = "previous_champion"
TAG_RETIRED_AT = "retired_at"
TAG_ROLLED_BACK = "rolled_back"
TAG_CHAMPION_SINCE = "champion_since"
TAG_DEPLOYED_TO = "deployed_to"
TAG_ROLLOUT_ID = "ml.deploy.rollout_id"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _missing(exc: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower()


@dataclass(frozen=True)
class Promotion:
    """What `promote` changed: the alias now points at ``version``; ``previous`` is what it left."""

    alias: str
    version: str
    previous: str | None


class Registry:
    """Alias and tag operations on one MLflow registry (the stack's tracking server)."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client

    def resolve(self, name: str, *, alias: str | None = None, version: str | None = None) -> ModelRef:
        """The concrete version behind ``models:/name@alias`` or ``models:/name/version``."""
        from mlflow.exceptions import MlflowException

        try:
            if alias is not None:
                found = self.client.get_model_version_by_alias(name, alias)
            else:
                found = self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            if not _missing(exc):
                from ml.tracking import tracking_reachable, wait_statement

                uri = self.client._registry_uri
                if not tracking_reachable(uri):
                    raise UserError(
                        f"the registry at {uri} is unreachable, so model '{name}' cannot be resolved; nothing was "
                        f"changed. Start it (local: `ml platform up`) and run this again ({wait_statement()})"
                    ) from None
                raise
            what = f"alias '{alias}'" if alias is not None else f"version {version}"
            raise UserError(
                f"model '{name}' has no {what} in the registry at {self.client._registry_uri}; register it first "
                f"(e.g. `ml sweep best --stack <stack>` sets alias 'challenger') or fix `model:` in the rollout spec"
            ) from None
        return ModelRef(name=name, version=str(found.version), source=found.source)

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version an alias points at, None when the model or the alias does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException as exc:
            if _missing(exc):
                return None
            raise

    def promote(
        self, model: ModelRef, *, alias: str, endpoint: str, rollout_id: str, rollback: bool = False
    ) -> Promotion:
        """Point ``alias`` at ``model`` and tag the version it leaves; idempotent (safe to replay)."""
        previous = self.alias_version(model.name, alias)
        now = _now()
        if previous is not None and previous != model.version:
            self.client.set_model_version_tag(model.name, previous, TAG_RETIRED_AT, now)
            if rollback:
                self.client.set_model_version_tag(model.name, previous, TAG_ROLLED_BACK, "true")
                self.client.set_model_version_tag(model.name, previous, TAG_PREVIOUS_CHAMPION, "false")
            else:
                self.client.set_model_version_tag(model.name, previous, TAG_PREVIOUS_CHAMPION, "true")
        if previous != model.version:
            self.client.set_registered_model_alias(model.name, alias, model.version)
            self.client.set_model_version_tag(model.name, model.version, TAG_CHAMPION_SINCE, now)
        for key, value in (
            (TAG_PREVIOUS_CHAMPION, "false"),
            (TAG_ROLLED_BACK, "false"),
            (TAG_DEPLOYED_TO, endpoint),
            (TAG_ROLLOUT_ID, rollout_id),
        ):
            self.client.set_model_version_tag(model.name, model.version, key, value)
        return Promotion(alias=alias, version=model.version, previous=previous)

    def previous_champion(self, name: str, *, alias: str = "champion") -> ModelRef | None:
        """The most recently retired champion that was not itself rolled back."""
        current = self.alias_version(name, alias)
        candidates = []
        for version in self.client.search_model_versions(f"name='{name}'"):
            tags = version.tags or {}
            if str(version.version) == current or tags.get(TAG_PREVIOUS_CHAMPION) != "true":
                continue
            if tags.get(TAG_ROLLED_BACK) == "true":
                continue
            candidates.append((tags.get(TAG_RETIRED_AT, ""), int(version.version), version))
        if not candidates:
            return None
        _, _, chosen = max(candidates, key=lambda item: (item[0], item[1]))
        return ModelRef(name=name, version=str(chosen.version), source=chosen.source)
