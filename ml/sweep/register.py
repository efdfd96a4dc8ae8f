"""Register a sweep's best trial in the MLflow model registry as ``challenger``, with its lineage.

Why the lineage tags: a registered version must answer "where did this model come from?" without
the sweep that made it: which sweep, which parent and trial runs, which parameters, what it
scored, and which commit of the training code. The trial's reference (`ml.sweep.trial.log_reference`:
the training distribution `ml monitor` compares with) is attached to the version here too, so a
version `ml monitor` watches names it without a lookup. Registering the same trial twice reuses its version
(the alias is set again) instead of piling up copies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.logsetup import library_prints
from ml.reference import attach_reference
from ml.sweep.backends.base import TAG_GIT_COMMIT, TAG_STACK, TAG_SWEEP_BACKEND, TAG_SWEEP_ID, SweepStatus, TrialResult
from ml.tracking import use_tracking

CHALLENGER = "challenger"
TAG_PARENT_RUN = "ml.sweep.parent_run_id"
TAG_TRIAL_RUN = "ml.trial.run_id"
TAG_TRIAL_ID = "ml.trial.id"
TAG_PARAMS = "ml.trial.params"
TAG_METRIC = "ml.objective.metric"
TAG_VALUE = "ml.objective.value"


@dataclass(frozen=True)
class RegisteredVersion:
    """The model version that now carries the alias."""

    name: str
    version: str
    alias: str
    source: str
    tags: dict[str, str]
    reused: bool
    reference: str | None = None
    """The attached reference's URI; None when the trial logged none (`ml monitor` then says how to add one)."""


def lineage_tags(outputs: PlatformOutputs, status: SweepStatus, best: TrialResult) -> dict[str, str]:
    """The tags a registered version gets: sweep, runs, params, objective, code commit."""
    tags = {
        TAG_SWEEP_ID: status.sweep_id,
        TAG_SWEEP_BACKEND: status.backend,
        TAG_STACK: outputs.stack,
        TAG_TRIAL_ID: best.trial_id,
        TAG_PARAMS: json.dumps(dict(best.params), sort_keys=True, default=str),
        TAG_METRIC: best.metric,
        TAG_VALUE: repr(best.value),
    }
    if status.parent_run_id:
        tags[TAG_PARENT_RUN] = status.parent_run_id
    if best.run_id:
        tags[TAG_TRIAL_RUN] = best.run_id
    if status.git_commit:
        tags[TAG_GIT_COMMIT] = status.git_commit
    return tags


def register_best(
    outputs: PlatformOutputs,
    status: SweepStatus,
    best: TrialResult,
    *,
    model_name: str | None = None,
    alias: str = CHALLENGER,
) -> RegisteredVersion:
    """Register (or reuse) the best trial's model version and point ``alias`` at it."""
    name = model_name or status.model_name
    if not name:
        raise UserError(
            f"sweep '{status.sweep_id}' does not record a model name; pass --model-name NAME "
            f"(or set model_name in the sweep spec)"
        )
    if not best.model_uri:
        raise UserError(
            f"the best trial ({best.trial_id}, run {best.run_id}) of sweep '{status.sweep_id}' logged no model; "
            f"log one from the training script, e.g. mlflow.sklearn.log_model(model, name='model')"
        )
    import mlflow

    client = use_tracking(outputs)
    tags = lineage_tags(outputs, status, best)
    existing = None
    if best.run_id:
        for version in client.search_model_versions(f"name = '{name}'"):
            if version.tags.get(TAG_TRIAL_RUN) == best.run_id and version.tags.get(TAG_SWEEP_ID) == status.sweep_id:
                existing = version
                break
    if existing is None:
        with library_prints():
            version = mlflow.register_model(best.model_uri, name, tags=tags)
        number, source, reused = str(version.version), str(version.source), False
    else:
        number, source, reused = str(existing.version), str(existing.source), True
    client.set_registered_model_alias(name, alias, number)
    try:
        reference: str | None = attach_reference(client, name, number)
    except UserError:
        reference = None
    return RegisteredVersion(
        name=name, version=number, alias=alias, source=source, tags=tags, reused=reused, reference=reference
    )
