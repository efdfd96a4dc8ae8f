"""Where a validation result is kept: tags on the challenger's version, its run, the audit log.

Why three places: the tags answer "was this version validated, and did it pass?" from the
registry alone (what `ml deploy` and `ml model show` read); the run in ``ml-validations`` holds
the full result (``validation/result.json``) and MLflow's evaluation plots; the audit record says
who validated what against which champion when, next to the rollout it guarded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from ml.validate.evaluate import ValidationResult

TAG_PASSED = "ml.validation.passed"
TAG_SUMMARY = "ml.validation.summary"
TAG_RUN = "ml.validation.run_id"
TAG_AGAINST = "ml.validation.against"
TAG_AT = "ml.validation.at"
TAG_RESULT = "ml.validation.result"
ARTIFACT = "validation/result.json"
_TAG_LIMIT = 5000


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version ``alias`` points at; None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_tags(result: ValidationResult) -> dict[str, str]:
    """The tags a validated version carries (the full JSON too when it fits in a tag)."""
    tags = {
        TAG_PASSED: str(result.passed).lower(),
        TAG_SUMMARY: result.summary()[:_TAG_LIMIT],
        TAG_AT: result.at,
        TAG_AGAINST: f"{result.against}@v{result.against_version}" if result.against_version else "-",
    }
    if result.run_id:
        tags[TAG_RUN] = result.run_id
    text = json.dumps(result.to_dict(), default=str, sort_keys=True)
    if len(text) <= _TAG_LIMIT:
        tags[TAG_RESULT] = text
    return tags


def tag_version(client: MlflowClient, result: ValidationResult) -> None:
    """Write the result's tags onto the validated version."""
    for key, value in version_tags(result).items():
        client.set_model_version_tag(result.model, result.version, key, value)


def read_result(client: MlflowClient, tags: dict[str, str]) -> dict[str, Any] | None:
    """The latest validation of a version, from its tags or its run's artifact; None when never validated."""
    if TAG_RESULT in tags:
        try:
            loaded: dict[str, Any] = json.loads(tags[TAG_RESULT])
            return loaded
        except ValueError:
            pass
    run_id = tags.get(TAG_RUN)
    stored = run_json(client, run_id, ARTIFACT) if run_id else None
    if stored is not None:
        return stored
    if TAG_PASSED in tags:
        return {"passed": tags[TAG_PASSED] == "true", "summary": tags.get(TAG_SUMMARY, ""), "checks": []}
    return None


def run_json(client: MlflowClient, run_id: str, path: str) -> dict[str, Any] | None:
    """A JSON artifact of a run, read through ``client`` (None when absent or unreadable)."""
    import tempfile
    from pathlib import Path

    try:
        with tempfile.TemporaryDirectory() as scratch:
            local = client.download_artifacts(run_id, path, scratch)
            loaded = json.loads(Path(local).read_text())
    except Exception:
        return None
    return loaded if isinstance(loaded, dict) else None
