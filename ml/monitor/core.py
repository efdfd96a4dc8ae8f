"""`ml monitor` without the command line: which model, which window, what the capture says, one verdict.

Why split from the CLI: the benchmark (`bench/drift.py`) and the retrain loop run exactly this
code. `analyse` is pure (records + reference -> `MonitorResult`); `resolve_model` turns
``NAME[@ALIAS|/VERSION]`` (default: the endpoint's ``champion``) into a version; `record_result`
logs the report to MLflow on a monitoring run and tags the model version with the outcome.

Outcomes and exit codes: ``drift`` (3) when any column drifts or the live metric dropped beyond
its tolerance; ``no drift`` (0); ``not enough data`` (4) when the window is too small to judge,
which is never reported as a pass. Bad input is a `UserError` (2).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml.contract.capture import CaptureRecord, iso_utc
from ml.contract.errors import UserError
from ml.monitor.drift import DRIFT, NO_DRIFT, NOT_ENOUGH, DriftOptions, DriftResult, detect_drift
from ml.monitor.labels import LiveMetric, live_metric
from ml.monitor.reference import PREDICTION, Reference
from ml.tracking import ensure_experiment

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXIT_CODES = {NO_DRIFT: 0, DRIFT: 3, NOT_ENOUGH: 4}
CHAMPION = "champion"
MONITOR_EXPERIMENT = "ml-monitor"
TAG_LAST_OUTCOME = "ml.monitor.last_outcome"
TAG_LAST_RUN = "ml.monitor.last_run"
TAG_LAST_CHECKED = "ml.monitor.last_checked"
_MODEL = re.compile(r"^(?P<name>[^@/]+)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<version>\d+))?$")


@dataclass(frozen=True)
class ModelChoice:
    """The registered version being monitored, and how it was named."""

    name: str
    version: str
    alias: str | None


@dataclass(frozen=True)
class WindowStats:
    """Traffic in the window: requests (rows of one request count once), errors, latency."""

    requests: int
    rows: int
    errors: int
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    other_versions: int
    """Rows answered by another model version in the window (a canary colour): left out of drift."""


@dataclass(frozen=True)
class MonitorResult:
    model: ModelChoice
    endpoint: str | None
    since: float
    until: float
    capture_uri: str
    stats: WindowStats
    drift: DriftResult
    live: LiveMetric | None
    reference: Reference
    current: pd.DataFrame

    @property
    def outcome(self) -> str:
        if self.drift.outcome == DRIFT or (self.live is not None and self.live.outcome == DRIFT):
            return DRIFT
        return self.drift.outcome

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def message(self) -> str:
        parts = [self.drift.message]
        if self.live is not None:
            parts.append(self.live.message)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "message": self.message,
            "model": {"name": self.model.name, "version": self.model.version, "alias": self.model.alias},
            "endpoint": self.endpoint,
            "window": {"since": iso_utc(self.since), "until": iso_utc(self.until)},
            "capture": self.capture_uri,
            "reference": {"uri": self.reference.uri, "rows": self.reference.rows},
            "traffic": self.stats.__dict__,
            "drift": self.drift.to_dict(),
            "live_metric": None if self.live is None else self.live.to_dict(),
        }


def parse_model(text: str) -> tuple[str, str | None, str | None]:
    """``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION`` -> (name, alias, version)."""
    found = _MODEL.match(text.strip().removeprefix("models:/"))
    if found is None:
        raise UserError(
            f"--model '{text}': expected NAME, NAME@ALIAS or NAME/VERSION (e.g. breast-cancer-gbm@champion)"
        )
    return found["name"], found["alias"], found["version"]


def resolve_model(client: MlflowClient, text: str | None, *, endpoint: str | None) -> ModelChoice:
    """The version to monitor; with no ``--model``, the ``champion`` a rollout deployed to ``endpoint``."""
    from mlflow.exceptions import MlflowException

    if text is None:
        return _endpoint_champion(client, endpoint)
    name, alias, version = parse_model(text)
    try:
        if version is not None:
            found = client.get_model_version(name, version)
        else:
            found = client.get_model_version_by_alias(name, alias or CHAMPION)
    except MlflowException:
        what = f"version {version}" if version else f"alias '{alias or CHAMPION}'"
        raise UserError(
            f"model '{name}' has no {what} in the registry at {client._registry_uri}; "
            f"list versions with `mlflow models` or pass --model NAME/VERSION"
        ) from None
    return ModelChoice(name, str(found.version), None if version else (alias or CHAMPION))


def _endpoint_champion(client: MlflowClient, endpoint: str | None) -> ModelChoice:
    if endpoint is None:
        raise UserError("the stack exports no endpoint; pass --model NAME[@ALIAS|/VERSION]")
    names = sorted({v.name for v in client.search_model_versions(f"tags.deployed_to = '{endpoint}'")})
    champions = []
    for name in names:
        try:
            version = client.get_model_version_by_alias(name, CHAMPION)
        except Exception:  # noqa: S112 - a model without a champion is not the endpoint's
            continue
        if (version.tags or {}).get("deployed_to") == endpoint:
            champions.append(ModelChoice(name, str(version.version), CHAMPION))
    if len(champions) != 1:
        found = ", ".join(f"{c.name}/{c.version}" for c in champions) or "none"
        raise UserError(
            f"cannot tell which model endpoint '{endpoint}' serves (champions deployed to it: {found}); "
            f"pass --model NAME[@ALIAS|/VERSION]"
        )
    return champions[0]


def _window_stats(records: list[CaptureRecord], other_versions: int) -> WindowStats:
    requests: dict[str, CaptureRecord] = {}
    for record in records:
        requests.setdefault(record.request_id.split("#", 1)[0], record)
    errors = sum(1 for record in requests.values() if record.status_code >= 500)
    latencies = np.array([r.latency_ms for r in requests.values() if r.latency_ms is not None], dtype=float)
    return WindowStats(
        requests=len(requests),
        rows=len(records),
        errors=errors,
        error_rate=errors / len(requests) if requests else None,
        p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
        p95_ms=float(np.percentile(latencies, 95)) if len(latencies) else None,
        other_versions=other_versions,
    )


def current_frame(records: list[CaptureRecord], features: list[str]) -> pd.DataFrame:
    """The answered rows as a frame: the reference's feature columns, the prediction and the request id."""
    answered = [record for record in records if record.status_code < 400]
    frame = pd.DataFrame.from_records([record.inputs for record in answered], columns=features)
    frame[PREDICTION] = pd.to_numeric(pd.Series([r.prediction for r in answered], dtype=object), errors="coerce")
    frame["request_id"] = [record.request_id for record in answered]
    return frame


def analyse(
    records: list[CaptureRecord],
    reference: Reference,
    *,
    model: ModelChoice,
    since: float,
    until: float,
    endpoint: str | None = None,
    capture_uri: str = "",
    labels: pd.DataFrame | None = None,
    options: DriftOptions | None = None,
    tolerance: float = 0.05,
) -> MonitorResult:
    """The verdict for one window of captured records against the version's reference."""
    # SageMaker and Azure captures do not name the model: their rows count; rows another version
    # answered (the other colour during a canary) do not.
    ours = [r for r in records if r.model_name in (None, model.name) and r.model_version in (None, model.version)]
    current = current_frame(ours, reference.features)
    drift = detect_drift(
        reference.sample,
        current,
        features=reference.features,
        categorical=reference.categorical,
        prediction=PREDICTION if reference.has_prediction else None,
        options=options,
    )
    live = None
    if labels is not None:
        frame = current.rename(columns={PREDICTION: "prediction"})
        live = live_metric(frame, labels, validation=reference.metric, task=reference.task, tolerance=tolerance)
    return MonitorResult(
        model=model,
        endpoint=endpoint,
        since=since,
        until=until,
        capture_uri=capture_uri,
        stats=_window_stats(ours, len(records) - len(ours)),
        drift=drift,
        live=live,
        reference=reference,
        current=current,
    )


def record_result(
    client: MlflowClient, result: MonitorResult, files: list[Path], *, artifact_root: str | None = None
) -> str:
    """Log the report files and numbers to a run in ``ml-monitor``; tag the version with the outcome.

    ``artifact_root``: where a new ``ml-monitor`` experiment keeps its files (the local stack's store).
    """
    experiment = ensure_experiment(client, MONITOR_EXPERIMENT, artifact_root)
    name, version = result.model.name, result.model.version
    run = client.create_run(
        experiment,
        run_name=f"monitor {name}/{version}",
        tags={"ml.monitor.model": name, "ml.monitor.version": version, "ml.monitor.outcome": result.outcome},
    )
    run_id = run.info.run_id
    metrics: dict[str, float] = {
        "requests": result.stats.requests,
        "rows": result.stats.rows,
        "drifted_columns": len(result.drift.drifted_columns),
    }
    for key in ("error_rate", "p50_ms", "p95_ms"):
        value = getattr(result.stats, key)
        if value is not None:
            metrics[key] = value
    if result.live is not None and result.live.live is not None:
        metrics[f"live_{result.live.metric}"] = result.live.live
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value))
    for path in files:
        client.log_artifact(run_id, str(path), "monitor")
    client.set_terminated(run_id)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for key, value in ((TAG_LAST_OUTCOME, result.outcome), (TAG_LAST_RUN, run_id), (TAG_LAST_CHECKED, now)):
        client.set_model_version_tag(name, version, key, value)
    return run_id


def summary_json(result: MonitorResult) -> str:
    """The report as JSON text (what ``--json`` prints and ``report.json`` holds)."""
    return json.dumps(result.to_dict(), indent=2, default=str)
