"""Approvals: who allowed a version into a stack that requires one, when and why.

Why as version tags: the registry is the system of record a rollout on any target already reads,
so `ml deploy` checks the tag it is about to serve; the audit log gets the same fact as a record
("approve"), and the deploy workflow's GitHub environment approval for prod says the same thing
one step earlier (a person approved the job; here the person approves the version).

Who: ``ML_APPROVER`` if set, else the CI actor (``GITHUB_ACTOR``), else git's ``user.name
<user.email>``, else the operating-system user.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml.contract.errors import UserError

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG_APPROVED = "ml.approval.approved"
TAG_BY = "ml.approval.by"
TAG_AT = "ml.approval.at"
TAG_REASON = "ml.approval.reason"
TAG_HISTORY = "ml.approval.history"


@dataclass(frozen=True)
class Approval:
    """One recorded approval."""

    name: str
    version: str
    by: str
    at: str
    reason: str


def _git(key: str) -> str:
    try:
        done = subprocess.run(["git", "config", key], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def approver() -> str:
    """The person (or CI actor) recording an approval."""
    explicit = os.environ.get("ML_APPROVER") or os.environ.get("GITHUB_ACTOR")
    if explicit:
        return explicit
    name, email = _git("user.name"), _git("user.email")
    if name or email:
        return f"{name} <{email}>".strip() if email else name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def approve(client: MlflowClient, name: str, version: str, *, reason: str, by: str | None = None) -> Approval:
    """Record an approval of ``name`` v``version`` as tags (latest + history)."""
    if not reason.strip():
        raise UserError("an approval needs a reason: `ml model approve NAME VERSION --reason 'why this is safe'`")
    current = client.get_model_version(name, version)
    entry = Approval(
        name=name,
        version=str(version),
        by=by or approver(),
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        reason=reason.strip(),
    )
    history = approvals_of(current.tags or {})
    history.append({"by": entry.by, "at": entry.at, "reason": entry.reason})
    tags = {TAG_APPROVED: "true", TAG_BY: entry.by, TAG_AT: entry.at, TAG_REASON: entry.reason[:4000]}
    tags[TAG_HISTORY] = json.dumps(history[-20:])
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    return entry


def approvals_of(tags: dict[str, str]) -> list[dict[str, Any]]:
    """Every approval recorded on a version (oldest first)."""
    try:
        history = json.loads(tags.get(TAG_HISTORY, "[]"))
    except ValueError:
        history = []
    if not history and tags.get(TAG_APPROVED) == "true":
        history = [{"by": tags.get(TAG_BY, "?"), "at": tags.get(TAG_AT, "?"), "reason": tags.get(TAG_REASON, "")}]
    return [item for item in history if isinstance(item, dict)]


def is_approved(tags: dict[str, str]) -> bool:
    return tags.get(TAG_APPROVED) == "true"


def approve_command(name: str, version: str, stack: str) -> str:
    """The exact command that approves a version (what a refusal tells the user to run)."""
    return f"ml model approve {name} {version} --stack {stack} --reason '<why this version may serve {stack}>'"


def require_approval(client: MlflowClient, name: str, version: str, *, stack: str) -> dict[str, Any]:
    """The latest approval of a version; `UserError` with the command to run when there is none."""
    tags = client.get_model_version(name, version).tags or {}
    if not is_approved(tags):
        raise UserError(
            f"stack '{stack}' requires an approval (mlops:deploy.requireApproval) and {name} v{version} has none "
            f"recorded in the registry; after review, run: {approve_command(name, version, stack)}"
        )
    return approvals_of(tags)[-1]
