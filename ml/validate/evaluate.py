"""Evaluate a challenger (and the model it is compared against) with `mlflow.models.evaluate`.

Why MLflow's evaluator and not hand-written metrics: the numbers a reviewer sees in the card are
the ones MLflow's default evaluator logs (same names, same definitions as everywhere else in
MLflow), and every evaluation is a run in the experiment ``ml-validations`` with its plots, so a
decision can be audited later. One parent run per validation; one nested run per model and slice.

The judgement is a list of named checks, each with pass/fail and a sentence saying why; the
validation passes when every check does. A model the data does not fit (missing columns, wrong
types) is a `UserError` naming the data and the model, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.contract.errors import UserError
from ml.tracking import ensure_experiment
from ml.validate.spec import ValidationSpec, higher_is_better

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

EXPERIMENT = "ml-validations"
_REMOTE_SCHEMES = ("runs:", "models:", "mlflow-artifacts:", "s3:", "gs:", "wasbs:", "abfss:", "dbfs:")
_EPSILON = 1e-12


@dataclass(frozen=True)
class Check:
    """One named rule and its outcome."""

    name: str
    passed: bool
    detail: str


@dataclass
class ValidationResult:
    """Both models' metrics, per slice, every check, and the verdict: what the audit log and tags hold."""

    model: str
    version: str
    data: str
    data_digest: str
    rows: int
    task: str
    against: str | None = None
    against_version: str | None = None
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """``{"challenger": {...}, "champion": {...}}`` (the second key is the compared alias)."""
    slices: dict[str, Any] | None = None
    checks: list[Check] = field(default_factory=list)
    run_id: str | None = None
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def reasons(self) -> list[str]:
        """The failed checks' sentences (empty when it passed)."""
        return [check.detail for check in self.checks if not check.passed]

    def summary(self) -> str:
        """One line: the verdict and why."""
        if not self.passed:
            return "fail: " + "; ".join(self.reasons)
        return "pass: " + "; ".join(check.detail for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["reasons"] = self.reasons
        return data


def resolve_data(data: str, base_dir: Path) -> Path:
    """A local path for the evaluation data: a relative path is read next to the spec file."""
    if data.startswith(_REMOTE_SCHEMES):
        import mlflow

        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=data))
        except Exception as exc:
            raise UserError(f"validation.data '{data}' could not be downloaded: {exc}") from None
    path = Path(data.removeprefix("file://").removeprefix("file:"))
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise UserError(f"validation.data '{data}' is not a file (looked at {path}); give a CSV or Parquet file")
    return path


def read_frame(data: str, base_dir: Path) -> tuple[pd.DataFrame, str]:
    """The evaluation set and its SHA-256 digest (recorded, so the card says which data judged it)."""
    import pandas as pd

    if data.startswith(("http://", "https://")):
        frame = pd.read_csv(data) if not data.endswith(".parquet") else pd.read_parquet(data)
        return frame, hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    path = resolve_data(data, base_dir)
    raw = path.read_bytes()
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    return frame, hashlib.sha256(raw).hexdigest()


def _features(model: Any, uri: str, frame: pd.DataFrame, spec: ValidationSpec) -> list[str]:
    """The columns the model gets, in order.

    ``validation.features`` when given; else the names in the model's signature; else (a tensor
    signature, as `infer_signature` gives for NumPy training data) every numeric column but the
    target and the slice column, which must match the tensor's width.
    """
    schema = model.metadata.get_input_schema()
    names = schema.input_names() if schema is not None and schema.has_input_names() else None
    wanted = list(spec.features or names or [])
    if wanted:
        missing = [name for name in wanted if name not in frame.columns]
        if missing:
            raise UserError(
                f"validation.data lacks column(s) {', '.join(map(str, missing))} that {uri} expects "
                f"(its signature or validation.features); columns given: {', '.join(map(str, frame.columns))}"
            )
        return [str(name) for name in wanted]
    dropped = {spec.target, *([spec.slices.column] if spec.slices else [])}
    numeric = frame.drop(columns=[c for c in frame.columns if c in dropped]).select_dtypes("number")
    columns = [str(column) for column in numeric.columns]
    width = _tensor_width(schema)
    if width is not None and width != len(columns):
        raise UserError(
            f"{uri} takes {width} features (a tensor signature) but validation.data has {len(columns)} numeric "
            f"columns besides the target and slice column; list them in order as validation.features"
        )
    return columns


def _tensor_width(schema: Any) -> int | None:
    try:
        shape = schema.inputs[0].shape
    except (AttributeError, IndexError, TypeError):
        return None
    return int(shape[-1]) if shape and len(shape) == 2 and shape[-1] > 0 else None


def _evaluate(model: Any, frame: pd.DataFrame, spec: ValidationSpec, label: str) -> dict[str, float | None]:
    """One `mlflow.models.evaluate` call in a nested run; the spec's metrics as plain floats."""
    import mlflow

    with mlflow.start_run(run_name=label, nested=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mlflow.models.evaluate(
            model,
            frame,
            targets=spec.target,
            model_type=spec.task,
            evaluator_config={"log_model_explainability": False},
        )
    wanted = {*spec.judged_metrics(), *([spec.slices.metric] if spec.slices else [])}
    return {name: (None if result.metrics.get(name) is None else float(result.metrics[name])) for name in wanted}


def _load(uri: str) -> Any:
    import mlflow

    try:
        return mlflow.pyfunc.load_model(uri)
    except Exception as exc:
        raise UserError(f"model {uri} could not be loaded for validation: {exc}") from None


def _slice_metrics(
    model: Any, frame: pd.DataFrame, features: list[str], spec: ValidationSpec, label: str
) -> dict[str, float | None]:
    assert spec.slices is not None
    values: dict[str, float | None] = {}
    for key, part in frame.groupby(spec.slices.column, sort=True):
        if len(part) < spec.slices.min_rows:
            continue
        scored = _evaluate(model, part[[*features, spec.target]], spec, f"{label}-{spec.slices.column}={key}")
        values[str(key)] = scored.get(spec.slices.metric)
    return values


def _better_by(metric: str, new: float, old: float) -> float:
    return new - old if higher_is_better(metric) else old - new


def judge(result: ValidationResult, spec: ValidationSpec) -> None:
    """Fill ``result.checks`` from the measured metrics: comparison, thresholds, slice gap."""
    new = result.metrics.get("challenger", {})
    old = result.metrics.get(result.against or "", {})
    if spec.compare is not None:
        if result.against_version is None:
            result.checks.append(
                Check(f"vs {spec.compare.against}", True, f"no '{spec.compare.against}' yet: nothing to compare with")
            )
        else:
            need = spec.compare.allowed_change()
            for metric in spec.metrics:
                a, b = new.get(metric), old.get(metric)
                if a is None or b is None:
                    result.checks.append(Check(f"{metric} vs {result.against}", False, f"{metric} was not computed"))
                    continue
                gain = _better_by(metric, a, b)
                rule = f"at least {need:+.4g}" if need > 0 else f"no worse than {need:+.4g}"
                ok = gain >= need - _EPSILON
                result.checks.append(
                    Check(
                        f"{metric} vs {result.against}",
                        ok,
                        f"{metric} {a:.4f} vs {result.against} v{result.against_version} {b:.4f} "
                        f"(change {gain:+.4f}, {rule} allowed)"
                        if ok
                        else f"{metric} {a:.4f} is worse than {result.against} v{result.against_version} {b:.4f} "
                        f"by {-gain:.4f} (change {gain:+.4f}; required {rule})",
                    )
                )
    for metric, bound in spec.thresholds.items():
        value = new.get(metric)
        higher = higher_is_better(metric)
        ok = value is not None and (value >= bound - _EPSILON if higher else value <= bound + _EPSILON)
        shown = "not computed" if value is None else f"{value:.4f}"
        result.checks.append(
            Check(f"{metric} threshold", ok, f"{metric} {shown} {'>=' if higher else '<='} {bound} required")
        )
    if spec.slices is not None and result.slices is not None:
        values = {k: v for k, v in result.slices["challenger"].items() if v is not None}
        if len(values) < 2:
            result.checks.append(
                Check(
                    f"{spec.slices.metric} gap by {spec.slices.column}",
                    False,
                    f"fewer than 2 slices of '{spec.slices.column}' with >= {spec.slices.min_rows} rows and a "
                    f"computable {spec.slices.metric}: {sorted(values)}",
                )
            )
        else:
            sign = 1.0 if higher_is_better(spec.slices.metric) else -1.0
            worst = min(values, key=lambda k: sign * values[k])
            best = max(values, key=lambda k: sign * values[k])
            gap = abs(values[best] - values[worst])
            result.slices["gap"] = gap
            ok = gap <= spec.slices.max_gap + _EPSILON
            result.checks.append(
                Check(
                    f"{spec.slices.metric} gap by {spec.slices.column}",
                    ok,
                    f"{spec.slices.metric} gap {gap:.4f} between {spec.slices.column}={best} ({values[best]:.4f}) and "
                    f"{spec.slices.column}={worst} ({values[worst]:.4f}); at most {spec.slices.max_gap} allowed",
                )
            )


def validate(
    client: MlflowClient,
    spec: ValidationSpec,
    *,
    name: str,
    version: str,
    base_dir: Path = Path(),
    artifact_root: str | None = None,
) -> ValidationResult:
    """Evaluate ``name`` v``version`` (and the compared alias's version) on the spec's data and judge it.

    ``artifact_root``: where a new ``ml-validations`` experiment keeps its artifacts (the local
    stack's ``file:`` artifact store); a tracking server decides for itself when it is None.
    """
    import mlflow

    from ml.validate.record import alias_version

    frame, digest = read_frame(spec.data, base_dir)
    if spec.target not in frame.columns:
        raise UserError(f"validation.target '{spec.target}' is not a column of {spec.data}: {', '.join(frame.columns)}")
    if spec.slices is not None and spec.slices.column not in frame.columns:
        raise UserError(
            f"validation.slices.column '{spec.slices.column}' is not a column of {spec.data}: "
            f"{', '.join(map(str, frame.columns))}"
        )
    against = spec.compare.against if spec.compare else None
    result = ValidationResult(
        model=name, version=version, data=spec.data, data_digest=f"sha256:{digest}", rows=len(frame), task=spec.task
    )
    if against is not None:
        result.against = against
        compared = alias_version(client, name, against)
        result.against_version = compared if compared != version else None
    models = {"challenger": f"models:/{name}/{version}"}
    if result.against_version is not None and against is not None:
        models[against] = f"models:/{name}/{result.against_version}"
    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.set_registry_uri(client._registry_uri)  # models:/ URIs below resolve against this registry
    logging.getLogger("mlflow.models.evaluation").setLevel(logging.ERROR)
    with mlflow.start_run(
        experiment_id=ensure_experiment(client, EXPERIMENT, artifact_root),
        run_name=f"validate-{name}-v{version}",
        tags={"ml.validation.model": name, "ml.validation.version": version},
    ) as run:
        result.run_id = run.info.run_id
        slices: dict[str, Any] = {}
        for role, uri in models.items():
            model = _load(uri)
            features = _features(model, uri, frame, spec)
            try:
                result.metrics[role] = _evaluate(model, frame[[*features, spec.target]], spec, role)
                if spec.slices is not None:
                    slices[role] = _slice_metrics(model, frame, features, spec, role)
            except UserError:
                raise
            except Exception as exc:
                raise UserError(
                    f"evaluating {uri} on {spec.data} failed: {exc}; the data's columns must fit the model's signature"
                ) from None
        if spec.slices is not None:
            result.slices = {"column": spec.slices.column, "metric": spec.slices.metric, "max_gap": spec.slices.max_gap}
            result.slices.update(slices)
        judge(result, spec)
        mlflow.log_dict(result.to_dict(), "validation/result.json")
        mlflow.set_tag("ml.validation.passed", str(result.passed).lower())
    return result
