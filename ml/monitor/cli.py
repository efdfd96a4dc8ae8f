"""`ml monitor`: drift and live quality of a served model over a time window, and the retrain loop.

Why a thin layer: `ml.monitor.core` decides; here the stack, the model and the window are
resolved from the options, the capture is read, the report is printed (a rich table, or JSON with
``--json``), written (HTML + PNG + JSON under ``--report-dir``) and logged to MLflow on the model
version. Exit codes: 0 no drift, 3 drift, 4 not enough data to judge, 2 bad input.
``ml monitor reference NAME/VERSION --data FILE`` gives a version without a reference one.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from pathlib import Path

import typer
from rich.console import Console

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.stack import local_home, resolve_outputs

console = Console()
monitor_app = typer.Typer(
    name="monitor",
    help="Compare what a served model sees with what it was trained on: per-feature drift, traffic, live metric.",
    invoke_without_command=True,
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NOISY = ("mlflow", "alembic", "botocore", "boto3", "urllib3", "azure", "matplotlib", "sqlalchemy")


def register(app: typer.Typer) -> None:
    """Attach `ml monitor` to the root app."""
    app.add_typer(monitor_app, name="monitor")


def parse_duration(text: str, *, option: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` -> seconds."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise UserError(f"{option} '{text}': expected a duration like 30m, 24h or 7d")
    return float(found[1]) * _UNITS[found[2]]


def parse_window(since: str | None, window: str | None, *, now: float | None = None) -> tuple[float, float]:
    """[start, end] from ``--since`` (a duration back from now, or an ISO time) and ``--window`` (a length)."""
    now = time.time() if now is None else now
    length = parse_duration(window, option="--window") if window else None
    if since is None:
        return now - (length or 86400.0), now
    if _DURATION.match(since.strip()):
        start = now - parse_duration(since, option="--since")
    else:
        try:
            moment = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise UserError(
                f"--since '{since}': expected a duration (24h) or an ISO time (2026-12-01T00:00Z)"
            ) from None
        start = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
    end = min(now, start + length) if length else now
    if end <= start:
        raise UserError(f"--since '{since}' is in the future: the window would be empty")
    return start, end


def _library_logs_to_file(home: Path) -> Path:
    """MLflow, cloud SDK and plotting chatter goes to a file, so the terminal shows only the report."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    path = home / "logs" / "monitor.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in _NOISY:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    return path


def _outputs(stack: str, outputs_file: Path | None) -> PlatformOutputs:
    return resolve_outputs(stack if outputs_file is None or stack != "local" else None, outputs_file)


@monitor_app.callback()
def monitor(
    ctx: typer.Context,
    stack: str = typer.Option("local", "--stack", "-s", help="Stack whose endpoint to watch: local, dev, prod, ..."),
    outputs_file: Path | None = typer.Option(
        None, "--outputs", help="Platform outputs JSON (`pulumi stack output --json`)"
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="NAME, NAME@ALIAS or NAME/VERSION (default: the endpoint's champion)"
    ),
    since: str | None = typer.Option(
        None, "--since", help="Window start: a duration back from now (24h) or an ISO time"
    ),
    window: str | None = typer.Option(
        None, "--window", help="Window length (default: from --since to now; 24h without --since)"
    ),
    capture: str | None = typer.Option(
        None, "--capture", help="Capture location URI (default: the stack's capture prefix)"
    ),
    labels_file: Path | None = typer.Option(
        None, "--labels", help="CSV/JSONL with request_id,label: adds the live metric"
    ),
    ab_feedback: bool = typer.Option(
        False, "--ab-feedback", help="Also store each labelled request's outcome (prediction right = 1) as A/B feedback"
    ),
    tolerance: float = typer.Option(0.05, "--tolerance", help="Relative drop of the live metric that counts as drift"),
    alpha: float = typer.Option(0.05, "--alpha", help="Chance of any false alarm per window (Bonferroni-corrected)"),
    min_samples: int = typer.Option(100, "--min-samples", help="Fewer captured rows than this is 'not enough data'"),
    report_dir: Path | None = typer.Option(None, "--report-dir", help="Where report.html/.png/.json go"),
    on_drift: tuple[str, Path] | None = typer.Option(
        None, "--on-drift", help="`retrain SPEC`: on drift, run the sweep and register its best as challenger"
    ),
    retrain_stack: str | None = typer.Option(
        None, "--retrain-stack", help="Stack the retrain sweep runs on (default: --stack)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
    publish_metric: bool = typer.Option(
        False, "--publish", help="Publish MLOps/Drift to CloudWatch / Azure Monitor (Prometheus textfile locally)"
    ),
) -> None:
    """Drift per feature and of the predictions, traffic and (with --labels) the live metric; exit 3 on drift."""
    if ctx.invoked_subcommand is not None:
        return
    from ml.monitor.core import analyse, record_result, resolve_model, summary_json
    from ml.monitor.drift import DRIFT, DriftOptions  # numpy and pandas: not on every ml start-up
    from ml.monitor.labels import read_labels
    from ml.monitor.reference import load_reference
    from ml.monitor.report import drift_table, traffic_lines, write_html, write_png
    from ml.monitor.sources import capture_location, parse_capture_uri, read_capture
    from ml.tracking import local_artifact_root, use_tracking

    if on_drift is not None and on_drift[0] != "retrain":
        raise UserError(f"--on-drift '{on_drift[0]}': the only action is `--on-drift retrain SPEC`")
    if on_drift is not None and not on_drift[1].exists():
        raise UserError(f"--on-drift retrain {on_drift[1]}: the sweep spec does not exist")
    if not 0 < alpha < 1:
        raise UserError(f"--alpha {alpha}: must be between 0 and 1")
    if min_samples < 1:
        raise UserError(f"--min-samples {min_samples}: must be at least 1")
    if ab_feedback and labels_file is None:
        raise UserError("--ab-feedback needs --labels FILE (request_id,label): the labels are the A/B outcomes")
    start, end = parse_window(since, window)
    labels = read_labels(labels_file) if labels_file is not None else None
    outputs = _outputs(stack, outputs_file)
    home = local_home()
    log_path = _library_logs_to_file(home)
    location = parse_capture_uri(capture) if capture else capture_location(outputs, home=home)
    client = use_tracking(outputs)
    endpoint = outputs.endpoint.name if outputs.endpoint is not None else None
    choice = resolve_model(client, model, endpoint=endpoint)
    reference = load_reference(client, choice.name, choice.version)
    records = read_capture(
        location,
        since=start,
        until=end,
        endpoint=endpoint if capture is None else None,
        columns=reference.features,
        region=outputs.region,
    )
    result = analyse(
        records,
        reference,
        model=choice,
        since=start,
        until=end,
        endpoint=endpoint,
        capture_uri=location.uri,
        labels=labels,
        options=DriftOptions(alpha=alpha, min_samples=min_samples),
        tolerance=tolerance,
    )
    if ab_feedback and labels is not None:
        from ml.monitor.ab_feedback import feed, outcomes

        stored, store_path = feed(home, endpoint, outcomes(records, labels, task=reference.task))
        Console(stderr=True).print(
            f"A/B feedback: {stored} labelled request(s) of endpoint '{endpoint}' stored in {store_path}",
            highlight=False,
        )
    stamp = dt.datetime.fromtimestamp(end, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = report_dir or home / "monitor" / f"{choice.name}-{choice.version}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    png = write_png(result, folder / "report.png")
    page = write_html(result, folder / "report.html", png)
    document = folder / "report.json"
    document.write_text(summary_json(result))
    run_id = record_result(client, result, [page, png, document], artifact_root=local_artifact_root(outputs))
    if publish_metric:
        from ml.monitor.publish import publish

        where = publish(result, outputs, home=home)
        Console(stderr=True).print(f"published drifted features to {where}", highlight=False)
    if as_json:
        print(summary_json(result))
    else:
        console.print(drift_table(result))
        for line in traffic_lines(result):
            console.print(line, highlight=False)
        colour = {"drift": "red", "no drift": "green"}.get(result.outcome, "yellow")
        console.print(f"[bold {colour}]{result.outcome}[/]: {result.message}", highlight=False)
        console.print(f"report: {page} (MLflow run {run_id}); library logs: {log_path}", highlight=False)
    if on_drift is not None and result.outcome == DRIFT:
        from ml.monitor.retrain import retrain

        target = _outputs(retrain_stack, None) if retrain_stack else outputs
        out = Console(stderr=True) if as_json else console
        done = retrain(
            target, on_drift[1], result, report_run=run_id, on_progress=lambda m: out.print(m, highlight=False)
        )
        out.print(
            f"retrained: sweep {done.sweep_id} registered {done.name} version {done.version} as '{done.alias}' "
            f"(reason tagged; promote it with `ml deploy`)",
            highlight=False,
        )
    raise typer.Exit(result.exit_code)


@monitor_app.command("reference")
def reference_command(
    model: str = typer.Argument(..., help="NAME/VERSION (or NAME@ALIAS) of the registered version"),
    data: Path = typer.Option(..., "--data", help="Training data (CSV, JSONL or parquet) the version was trained on"),
    target: str | None = typer.Option(None, "--target", help="The label column in --data, if any"),
    stack: str = typer.Option("local", "--stack", "-s"),
    outputs_file: Path | None = typer.Option(None, "--outputs"),
) -> None:
    """Give a registered version its reference: score --data with the model, log it to the version's run."""
    from ml.monitor.core import resolve_model
    from ml.monitor.reference import reference_from_file
    from ml.tracking import use_tracking

    outputs = _outputs(stack, outputs_file)
    _library_logs_to_file(local_home())
    client = use_tracking(outputs)
    choice = resolve_model(client, model, endpoint=None)
    uri = reference_from_file(client, choice.name, choice.version, data, target_column=target)
    console.print(f"{choice.name} version {choice.version}: reference {uri}", highlight=False)
