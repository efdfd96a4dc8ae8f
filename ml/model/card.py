"""A model card built from the records the platform already keeps, never typed by hand.

Why from records: a card a person writes drifts from the model it describes; this one is a view
of the registry version (tags, aliases, signature), its training run (parameters, metrics, the
MLflow dataset inputs the trial logged), the sweep's parent run (spec, counts, cost), the
validation result, the approvals, the audit log (deployment history) and, when the monitoring
issue has landed, the latest drift result. Each section says where it came from, and says so
plainly when the record is absent instead of leaving the section out.

`build_card` returns a `Card` (an ordered list of sections, each a list of rows or a paragraph);
`ml.model.render` turns it into Markdown and HTML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ml.model.approvals import approvals_of
from ml.model.refs import VersionRef, find_version
from ml.validate.record import read_result, run_json

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

SECTIONS = (
    "Model details",
    "Description and intended use",
    "Training data",
    "Parameters",
    "Metrics",
    "Signature",
    "Sweep lineage",
    "Validation",
    "Approvals",
    "Deployment history",
    "Monitoring",
)
_HISTORY_SKIP = frozenset({"gate", "step", "info", "healthy", "warmup", "mirror"})


@dataclass
class Section:
    """One card section: a source note, a paragraph and/or rows (a table with ``columns``)."""

    title: str
    source: str
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.text.strip() and not self.rows


@dataclass
class Card:
    """Every section for one version, in `SECTIONS` order."""

    name: str
    version: str
    aliases: list[str]
    sections: list[Section]

    def section(self, title: str) -> Section:
        return next(section for section in self.sections if section.title == title)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": self.aliases,
            "sections": [section.__dict__ for section in self.sections],
        }


def _safe(call: Any, default: Any = None) -> Any:
    """Records from other engineers' tools (monitoring, cloud stores) are read defensively."""
    try:
        return call()
    except Exception:
        return default


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _details(version: ModelVersion, registered: Any) -> Section:
    rows = [
        ["name", version.name],
        ["version", str(version.version)],
        ["aliases", ", ".join(version.aliases) or "-"],
        ["source", str(version.source)],
        ["run", str(version.run_id or "-")],
        ["registered", _ms(version.creation_timestamp)],
    ]
    return Section("Model details", "registry: model version", columns=["field", "value"], rows=rows)


def _ms(stamp: Any) -> str:
    import datetime as dt

    if not stamp:
        return "-"
    return dt.datetime.fromtimestamp(int(stamp) / 1000, dt.UTC).isoformat(timespec="seconds")


def _description(version: ModelVersion, registered: Any, sweep_spec: dict[str, Any], tags: dict[str, str]) -> Section:
    rows = []
    described = sweep_spec.get("description") or version.description or getattr(registered, "description", "")
    if described:
        rows.append(["description", str(described)])
    intended = (
        sweep_spec.get("intended_use") or tags.get("ml.intended_use") or getattr(registered, "description", "") or ""
    )
    objective = sweep_spec.get("objective") or {}
    if not intended and objective:
        intended = (
            f"scores inputs that match the signature below; selected to {objective.get('goal', '?')} "
            f"{objective.get('metric', '?')} (set `intended_use` in the sweep spec or a registered-model "
            f"description to state limits)"
        )
    if intended:
        rows.append(["intended use", str(intended)])
    if sweep_spec.get("name"):
        rows.append(["sweep spec", f"{sweep_spec['name']} (experiment {sweep_spec.get('experiment') or '-'})"])
    return Section(
        "Description and intended use",
        "sweep spec (sweep_spec.json on the sweep's parent run), registered-model description",
        text="" if rows else "not recorded: the version has no sweep spec and no registered-model description",
        columns=["field", "value"],
        rows=rows,
    )


def _training_data(run: Any) -> Section:
    rows = []
    for item in _safe(lambda: run.inputs.dataset_inputs, []) or []:
        dataset = item.dataset
        context = next((tag.value for tag in item.tags if tag.key == "mlflow.data.context"), "-")
        rows.append([dataset.name, context, dataset.digest, f"{dataset.source_type}: {dataset.source}"[:200]])
    return Section(
        "Training data",
        "MLflow dataset inputs of the training run (logged by the trial API)",
        text="" if rows else "no dataset input logged by the training run",
        columns=["dataset", "context", "digest", "source"],
        rows=rows,
    )


def build_card(client: MlflowClient, ref: VersionRef, *, audit_records: list[dict[str, Any]]) -> Card:
    """Gather every section for the version ``ref`` names."""
    version = find_version(client, ref)
    tags = dict(version.tags or {})
    registered = _safe(lambda: client.get_registered_model(version.name))
    run = _safe(lambda: client.get_run(version.run_id)) if version.run_id else None
    parent_id = tags.get("ml.sweep.parent_run_id")
    parent = _safe(lambda: client.get_run(parent_id)) if parent_id else None
    sweep_spec: dict[str, Any] = (run_json(client, parent_id, "sweep_spec.json") if parent_id else None) or {}
    sections = [
        _details(version, registered),
        _description(version, registered, sweep_spec, tags),
        _training_data(run),
        _parameters(run, tags),
        _metrics(run, tags),
        _signature(version),
        _lineage(tags, parent, sweep_spec),
        _validation(client, tags),
        _approvals(tags),
        _history(version, audit_records),
        _monitoring(tags, version, audit_records, client),
    ]
    return Card(version.name, str(version.version), list(version.aliases), sections)


def _parameters(run: Any, tags: dict[str, str]) -> Section:
    params: dict[str, Any] = dict(run.data.params) if run is not None else {}
    if not params and tags.get("ml.trial.params"):
        params = _safe(lambda: json.loads(tags["ml.trial.params"]), {}) or {}
    rows = [[key, _fmt(value)] for key, value in sorted(params.items())]
    return Section(
        "Parameters",
        "training run params (the trial's search-space values)",
        text="" if rows else "no parameters recorded",
        columns=["parameter", "value"],
        rows=rows,
    )


def _metrics(run: Any, tags: dict[str, str]) -> Section:
    metrics: dict[str, Any] = dict(run.data.metrics) if run is not None else {}
    if (
        tags.get("ml.objective.metric")
        and tags["ml.objective.metric"] not in metrics
        and tags.get("ml.objective.value")
    ):
        metrics[tags["ml.objective.metric"]] = tags["ml.objective.value"]
    rows = [[key, _fmt(value)] for key, value in sorted(metrics.items())]
    objective = tags.get("ml.objective.metric")
    return Section(
        "Metrics",
        "training run metrics (last reported value per metric)",
        text=f"objective: {objective} = {tags.get('ml.objective.value', '?')}" if objective else "",
        columns=["metric", "value"],
        rows=rows,
    )


def _signature(version: ModelVersion) -> Section:
    import mlflow

    info = _safe(lambda: mlflow.models.get_model_info(f"models:/{version.name}/{version.version}"))
    signature = getattr(info, "signature", None)
    if signature is None:
        return Section("Signature", "MLmodel of the version", text="no signature logged with the model")
    rows = [["inputs", _schema(signature.inputs)], ["outputs", _schema(signature.outputs)]]
    if signature.params is not None:
        rows.append(["params", _schema(signature.params)])
    flavors = ", ".join(sorted(getattr(info, "flavors", {}) or {}))
    return Section("Signature", "MLmodel of the version", text=f"flavors: {flavors}", columns=["", "schema"], rows=rows)


def _schema(schema: Any) -> str:
    if schema is None:
        return "-"
    text = str(schema)
    return text if len(text) <= 400 else text[:400] + " ..."


def _lineage(tags: dict[str, str], parent: Any, sweep_spec: dict[str, Any]) -> Section:
    ptags = dict(parent.data.tags) if parent is not None else {}
    pmetrics = dict(parent.data.metrics) if parent is not None else {}
    rows = [
        ["sweep id", tags.get("ml.sweep.id", "-")],
        ["backend", tags.get("ml.sweep.backend", "-")],
        ["stack", tags.get("ml.stack", "-")],
        ["sweep run", tags.get("ml.sweep.parent_run_id", "-")],
        ["trials", ptags.get("ml.sweep.total_trials", "-")],
        ["completed", ptags.get("ml.sweep.completed", "-")],
        ["pruned", ptags.get("ml.sweep.pruned", "-")],
        ["failed", ptags.get("ml.sweep.failed", "-")],
        ["best trial", f"{tags.get('ml.trial.id', '-')} (run {tags.get('ml.trial.run_id', '-')})"],
        ["objective", f"{tags.get('ml.objective.metric', '-')} = {tags.get('ml.objective.value', '-')}"],
        ["sampling", str((sweep_spec.get("sampling") or {}).get("algorithm", "-"))],
        ["early termination", str((sweep_spec.get("early_termination") or {}).get("policy", "none"))],
        ["cost", _cost(pmetrics, ptags)],
        ["code commit", tags.get("ml.git.commit", "-")],
    ]
    known = bool(tags.get("ml.sweep.id"))
    return Section(
        "Sweep lineage",
        "version tags from `ml sweep best`, the sweep's parent run (counts, cost)",
        text="" if known else "not registered from a sweep",
        columns=["field", "value"],
        rows=rows if known else [],
    )


def _cost(metrics: dict[str, float], tags: dict[str, str]) -> str:
    currency = tags.get("ml.cost.currency", "USD")
    measured, estimated = metrics.get("cost_measured"), metrics.get("cost_estimated")
    if measured is None and estimated is None:
        return "-"
    parts = [f"{measured:.2f} {currency} measured" if measured is not None else ""]
    parts.append(f"{estimated:.2f} {currency} admitted" if estimated is not None else "")
    return ", ".join(part for part in parts if part)


def _validation(client: MlflowClient, tags: dict[str, str]) -> Section:
    result = read_result(client, tags)
    source = "validation result (tags ml.validation.*, validation/result.json on its ml-validations run)"
    if result is None:
        return Section("Validation", source, text="not validated yet (add `validation:` to the rollout spec)")
    verdict = "PASS" if result.get("passed") else "FAIL"
    text = f"{verdict} on {result.get('data', '?')} ({result.get('rows', '?')} rows, {result.get('data_digest', '?')})"
    rows = [
        [check["name"], "pass" if check["passed"] else "fail", check["detail"]] for check in result.get("checks", [])
    ]
    metrics = result.get("metrics") or {}
    for role, values in metrics.items():
        rows.append([f"metrics: {role}", "", ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(values.items()))])
    slices = result.get("slices") or {}
    for role in [key for key in slices if isinstance(slices[key], dict)]:
        rows.append(
            [
                f"slices ({slices.get('column')}): {role}",
                "",
                ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(slices[role].items())),
            ]
        )
    return Section("Validation", source, text=text, columns=["check", "result", "detail"], rows=rows)


def _approvals(tags: dict[str, str]) -> Section:
    rows = [[item.get("by", "?"), item.get("at", "?"), item.get("reason", "")] for item in approvals_of(tags)]
    return Section(
        "Approvals",
        "version tags ml.approval.* (`ml model approve`)",
        text="" if rows else "no approval recorded (required only where mlops:deploy.requireApproval is on)",
        columns=["who", "when", "why"],
        rows=rows,
    )


def _touches(record: dict[str, Any], uri: str, name: str, version: str) -> bool:
    if uri in (record.get("from"), record.get("to")):
        return True
    model = record.get("model")
    return isinstance(model, dict) and model.get("name") == name and str(model.get("version")) == version


def _history(version: ModelVersion, records: list[dict[str, Any]]) -> Section:
    uri = f"models:/{version.name}/{version.version}"
    mine = [
        r
        for r in records
        if _touches(r, uri, version.name, str(version.version)) and r.get("what") not in _HISTORY_SKIP
    ]
    rows = [
        [
            str(r.get("ts", ""))[:19].replace("T", " "),
            str(r.get("stack", "")),
            str(r.get("endpoint", "")),
            str(r.get("what", "")),
            str(r.get("outcome", "")),
            str(r.get("message", ""))[:160],
        ]
        for r in mine[-25:]
    ]
    return Section(
        "Deployment history",
        "audit log (ml.deploy.audit)",
        text="" if rows else "never deployed",
        columns=["when (UTC)", "stack", "endpoint", "what", "outcome", "message"],
        rows=rows,
    )


def _monitoring(
    tags: dict[str, str], version: ModelVersion, records: list[dict[str, Any]], client: MlflowClient
) -> Section:
    rows = [[key, value[:200]] for key, value in sorted(tags.items()) if key.startswith("ml.monitor.")]
    last_run = tags.get("ml.monitor.last_run")
    run = _safe(lambda: client.get_run(last_run)) if last_run else None
    if run is not None:
        for key, value in sorted(run.data.metrics.items()):
            rows.append([f"last check: {key}", _fmt(value)])
    uri = f"models:/{version.name}/{version.version}"
    latest = [
        r
        for r in records
        if str(r.get("what", "")).startswith("monitor") and _touches(r, uri, version.name, str(version.version))
    ]
    if latest:
        record = latest[-1]
        rows.append(
            [
                "latest monitor record",
                f"{record.get('ts', '')}: {record.get('outcome', '')} {record.get('message', '')}",
            ]
        )
    return Section(
        "Monitoring",
        "version tags ml.monitor.*, the last monitor run's metrics, audit records 'monitor*' (`ml monitor`)",
        text="" if rows else "no drift result recorded yet",
        columns=["field", "value"],
        rows=rows,
    )
