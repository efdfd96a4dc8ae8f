"""`--on-drift retrain SPEC`: the loop from a drift verdict to a new ``challenger``, with the reason on it.

Why through the sweep's own steps (admit -> submit -> best -> register_best, what `ml sweep run`
and `ml sweep best` do) and nothing else: a retrain must obey the same cost cap, budget check and
lineage tags as a hand-started sweep. What it adds is the *why*: the new version is tagged with
the drift verdict (``ml.monitor.retrain_reason``, a short summary), the monitoring run that holds
the full report (``ml.monitor.retrain_report_run``) and the version it replaces. Promotion stays a
reviewed `ml deploy`: nothing here moves ``champion``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.monitor.core import MonitorResult

TAG_REASON = "ml.monitor.retrain_reason"
TAG_REPORT_RUN = "ml.monitor.retrain_report_run"
TAG_REPLACES = "ml.monitor.retrain_replaces"
_TAG_LIMIT = 4800  # MLflow caps tag values at 5000 characters on some stores


@dataclass(frozen=True)
class Retrained:
    """The sweep that ran and the version it registered."""

    sweep_id: str
    name: str
    version: str
    alias: str
    reference: str | None


def reason(result: MonitorResult) -> str:
    """A compact, JSON drift summary that fits a tag: outcome, message, the drifted columns' numbers."""
    drifted = [
        {"column": c.column, "test": c.test, "statistic": c.statistic, "p_value": c.p_value, "threshold": c.threshold}
        for c in result.drift.drifted_columns
    ]
    document = {
        "outcome": result.outcome,
        "message": result.message,
        "model": f"{result.model.name}/{result.model.version}",
        "window": result.to_dict()["window"],
        "drifted": drifted,
    }
    text = json.dumps(document, default=str)
    while len(text) > _TAG_LIMIT and document["drifted"]:
        document["drifted"] = document["drifted"][:-1]
        text = json.dumps(document, default=str)
    return text[:_TAG_LIMIT]


def retrain(
    outputs: PlatformOutputs,
    spec_path: Path,
    result: MonitorResult,
    *,
    report_run: str | None,
    on_progress: Callable[[str], None] | None = None,
) -> Retrained:
    """Run the sweep in ``spec_path`` on ``outputs``'s stack, register its best as ``challenger``, tag why."""
    from ml.sweep.backends.base import SweepState, backend_for, remember_sweep
    from ml.sweep.register import register_best
    from ml.sweep.spec import load_spec
    from ml.tracking import use_tracking

    spec = load_spec(spec_path)
    backend = backend_for(outputs)
    admitted = backend.admit(spec, outputs)

    def progress(status: object) -> None:
        if on_progress is not None:
            done = getattr(status, "finished", 0)
            on_progress(f"sweep {getattr(status, 'sweep_id', '?')}: {done}/{getattr(status, 'total', '?')} trials")

    run = backend.submit(spec, outputs, on_progress=progress, admitted=admitted)
    remember_sweep(outputs, run.sweep_id)
    status = backend.status(outputs, run.sweep_id)
    if status.state in (SweepState.FAILED, SweepState.STOPPED):
        raise UserError(
            f"retrain sweep {run.sweep_id} ended {status.state.value}; see `ml sweep status {run.sweep_id} "
            f"--stack {outputs.stack}`. Nothing was registered."
        )
    best = backend.best(outputs, run.sweep_id)
    registered = register_best(outputs, status, best, model_name=status.model_name or result.model.name)
    client = use_tracking(outputs)
    tags = {
        TAG_REASON: reason(result),
        TAG_REPLACES: f"{result.model.name}/{result.model.version}",
    }
    if report_run:
        tags[TAG_REPORT_RUN] = report_run
    for key, value in tags.items():
        client.set_model_version_tag(registered.name, registered.version, key, value)
    # register_best attached the trial's reference (None: the script logs none; `ml monitor` says how to add one)
    return Retrained(run.sweep_id, registered.name, registered.version, registered.alias, registered.reference)
