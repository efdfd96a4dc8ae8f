"""The data behind `ml model list|show|compare`: plain dicts, so `--json` and the tables agree.

Why plain dicts: the CLI prints a table for people and the same dict as JSON for scripts; nothing
is computed twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml.model.approvals import approvals_of, is_approved
from ml.model.card import _ms
from ml.model.refs import VersionRef, all_versions, find_version
from ml.validate.record import TAG_PASSED, TAG_SUMMARY, read_result

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion


def _row(version: ModelVersion) -> dict[str, Any]:
    tags = dict(version.tags or {})
    return {
        "name": version.name,
        "version": str(version.version),
        "aliases": sorted(version.aliases),
        "created": _ms(version.creation_timestamp),
        "run_id": version.run_id,
        "source": version.source,
        "objective": {"metric": tags.get("ml.objective.metric"), "value": tags.get("ml.objective.value")},
        "sweep_id": tags.get("ml.sweep.id"),
        "validation": tags.get(TAG_PASSED, "-"),
        "validation_summary": tags.get(TAG_SUMMARY),
        "approved": is_approved(tags),
        "card": tags.get("ml.card.uri"),
    }


def list_versions(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """Every version, newest first, with aliases, objective, validation and approval state."""
    return [_row(version) for version in all_versions(client, name)]


def show_version(client: MlflowClient, ref: VersionRef) -> dict[str, Any]:
    """One version: the list row plus its tags, run params and metrics, validation and approvals."""
    version = find_version(client, ref)
    tags = dict(version.tags or {})
    data = _row(version)
    run = None
    if version.run_id:
        try:
            run = client.get_run(version.run_id)
        except Exception:
            run = None
    data["params"] = dict(run.data.params) if run is not None else {}
    data["metrics"] = dict(run.data.metrics) if run is not None else {}
    data["tags"] = tags
    data["validation_result"] = read_result(client, tags)
    data["approvals"] = approvals_of(tags)
    return data


def _diff(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key), right.get(key)
        row: dict[str, Any] = {"key": key, "left": a, "right": b, "same": a == b}
        if isinstance(a, int | float) and isinstance(b, int | float):
            row["delta"] = b - a
        rows.append(row)
    return rows


def compare_versions(client: MlflowClient, name: str, left: str, right: str) -> dict[str, Any]:
    """Params and metrics side by side (with deltas), and each version's validation verdict."""
    a = show_version(client, VersionRef(name, version=left))
    b = show_version(client, VersionRef(name, version=right))

    def verdict(data: dict[str, Any]) -> dict[str, Any] | None:
        result = data["validation_result"]
        if result is None:
            return None
        return {
            "passed": result.get("passed"),
            "checks": result.get("checks", []),
            "metrics": result.get("metrics", {}),
        }

    return {
        "name": name,
        "left": left,
        "right": right,
        "aliases": {left: a["aliases"], right: b["aliases"]},
        "params": _diff(a["params"], b["params"]),
        "metrics": _diff(a["metrics"], b["metrics"]),
        "validation": {left: verdict(a), right: verdict(b)},
    }
