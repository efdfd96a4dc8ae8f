"""`ml sweep run|status|best`: one spec, the stack's backend, live progress, the best model registered.

Why the CLI does the common part: every backend gets the same treatment around it: the spec is
validated, the backend's own `check`, the worst-case cost against the cap and the stack's budget
(refused before anything is submitted), the sweep id remembered for `status`/`best` without an id,
and registration of the best trial with alias ``challenger`` and lineage tags.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.preflight.run import require_preflight
from ml.stack import resolve_outputs
from ml.sweep.backends.base import SweepState, SweepStatus, backend_for, last_sweep, remember_sweep
from ml.sweep.backends.utilization import measured_status, oversized
from ml.sweep.spec import load_spec

sweep_app = typer.Typer(
    name="sweep",
    help="Hyperparameter sweeps: one spec runs locally, on Azure ML or on SageMaker, tracked in MLflow.",
    no_args_is_help=True,
)

_STACK = typer.Option("local", "--stack", "-s", help="Stack to run on: local, dev, prod, ...")
_OUTPUTS = typer.Option(None, "--outputs", help="Platform outputs JSON (`pulumi stack output --json`)")
_JSON = typer.Option(False, "--json", help="Print JSON instead of a table")


def register(app: typer.Typer) -> None:
    """Attach `ml sweep` to the root app."""
    app.add_typer(sweep_app, name="sweep")


def _outputs(stack: str, outputs_file: Path | None) -> PlatformOutputs:
    return resolve_outputs(stack if outputs_file is None or stack != "local" else None, outputs_file)


def render_status(status: SweepStatus, *, title: str | None = None) -> Group:
    """The progress / status view: counts by state, best so far, cost."""
    table = Table(title=title or f"sweep {status.sweep_id} ({status.backend})", show_header=True, expand=False)
    for column in ("state", "total", "queued", "running", "completed", "pruned", "failed"):
        table.add_column(column, justify="right" if column != "state" else "left")
    table.add_row(
        status.state.value,
        str(status.total),
        str(max(status.queued, status.total - status.finished - status.running)),
        str(status.running),
        f"[green]{status.completed}[/]",
        f"[yellow]{status.pruned}[/]",
        f"[red]{status.failed}[/]",
    )
    lines: list[Any] = [table]
    best = status.best
    if best is not None and best.value is not None:
        params = ", ".join(f"{k}={_short(v)}" for k, v in best.params.items())
        line = Text("best so far: ")
        line.append(f"{best.metric}={best.value:.4f}", style="bold")
        line.append(f" (trial {best.trial_id}: {params})")
        lines.append(line)
    else:
        lines.append(Text("best so far: none yet"))
    lines.append(Text(usage_line(status)))
    if status.message:
        lines.append(Text(status.message))
    for failure in status.failures:
        line = Text(f"trial {failure.trial_id} failed: ", style="red")
        line.append(failure.error or "no error line recorded")
        if failure.log:
            line.append(f" (log: {failure.log})", style="dim")
        lines.append(line)
    return Group(*lines)


def usage_line(status: SweepStatus) -> str:
    """Instance-hours and cost measured against the estimate before submit, and mean utilisation."""
    parts = []
    if status.instance_hours is not None:
        hours = f"{status.instance_hours:.3f} instance-hours"
        if status.estimated_instance_hours is not None:
            hours += f" (worst case {status.estimated_instance_hours:.2f})"
        parts.append(hours)
    if status.cost is not None:
        cost = f"measured cost {status.cost:.2f} {status.currency}"
        if status.estimated_cost is not None:
            cost += f" against {status.estimated_cost:.2f} estimated"
        parts.append(cost)
    measured = [
        f"{name} {value:.0f}%"
        for name, value in (
            ("CPU", status.utilization),
            ("memory", status.memory_utilization),
            ("GPU", status.gpu_utilization),
        )
        if value is not None
    ]
    parts.append(f"mean {', '.join(measured)}" if measured else "utilisation not measured")
    flag = oversized(status)
    if flag:
        parts.append(flag)
    return "; ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    try:
        return f"{float(value):.4g}" if "." in str(value) else str(value)
    except ValueError:
        return str(value)


@sweep_app.command("run")
def run(
    spec: Path = typer.Argument(..., help="Sweep spec YAML, e.g. examples/sweeps/breast_cancer.yaml"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and estimate the cost; submit nothing"),
    check: bool = typer.Option(
        False, "--check", help="Also run one trial here to its first report and verify the objective metric's name"
    ),
) -> None:
    """Validate the spec, check the worst-case cost, run the sweep on the stack's backend."""
    console = Console()
    sweep_spec = load_spec(spec)
    outputs = _outputs(stack, outputs_file)
    backend = backend_for(outputs)
    cost = backend.admit(sweep_spec, outputs)  # the check, the compute and the cost cap, each once
    console.print(f"[dim]cost: {cost.describe()}[/]", highlight=False)
    if check:
        from ml.sweep.backends._local_check import check_trial

        first = check_trial(sweep_spec)
        reported = ", ".join(f"{name}={value:.4g}" for name, value in first.metrics.items())
        console.print(
            f"check: one trial reported '{sweep_spec.objective.metric}' at step {first.step} after "
            f"{first.seconds:.1f} s ({reported}); log: {first.log}",
            highlight=False,
        )
        console.print(f"check passed: sweep '{sweep_spec.name}' not submitted (run without --check to submit)")
        return
    if dry_run:
        console.print(f"dry run: sweep '{sweep_spec.name}' is valid for backend '{backend.name}'; nothing submitted")
        return
    require_preflight(outputs, parts=("azure", "aws"))  # a cloud stack's quotas before submitting; local: no-op
    remembered: set[str] = set()
    with Live(
        Text(f"starting sweep '{sweep_spec.name}' on {backend.name} ..."), console=console, refresh_per_second=4
    ) as live:

        def on_progress(status: SweepStatus) -> None:
            if status.sweep_id not in remembered:
                remember_sweep(outputs, status.sweep_id)
                remembered.add(status.sweep_id)
            live.update(render_status(status))

        result = backend.submit(sweep_spec, outputs, on_progress=on_progress, admitted=cost)
        live.update(render_status(result.status))
    if not console.is_terminal:
        console.print()  # a non-terminal Live leaves the cursor after its last line
    remember_sweep(outputs, result.sweep_id)
    console.print(f"sweep id: [bold]{result.sweep_id}[/]", highlight=False)
    if result.parent_run_id:
        console.print(f"MLflow parent run: {result.parent_run_id} ({outputs.tracking_uri})", highlight=False)
    if result.url:
        console.print(f"console: {result.url}", highlight=False)
    for name, path in result.artifacts.items():
        console.print(f"{name}: {path}", highlight=False)
    state = result.status.state
    if state in (SweepState.FAILED, SweepState.STOPPED):
        console.print(f"[red]sweep ended {state.value}[/]: see `ml sweep status {result.sweep_id} --stack {stack}`")
        raise typer.Exit(1)
    if state is SweepState.COMPLETED:
        console.print(f"next: `ml sweep best {result.sweep_id} --stack {stack}` registers the best model")


@sweep_app.command("status")
def status(
    sweep_id: str | None = typer.Argument(None, help="Sweep id (default: the stack's latest sweep)"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    as_json: bool = _JSON,
) -> None:
    """Counts by state (running, completed, pruned, failed) and the best trial so far."""
    outputs = _outputs(stack, outputs_file)
    sweep = sweep_id or last_sweep(outputs)
    current = measured_status(backend_for(outputs), outputs, sweep)
    if as_json:
        print(json.dumps(asdict(current), default=str, indent=2))
        return
    Console().print(render_status(current))


@sweep_app.command("best")
def best(
    sweep_id: str | None = typer.Argument(None, help="Sweep id (default: the stack's latest sweep)"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    model_name: str | None = typer.Option(None, "--model-name", help="Registry name (default: the spec's)"),
    no_register: bool = typer.Option(False, "--no-register", help="Only show the best trial"),
    as_json: bool = _JSON,
) -> None:
    """Show the best trial and register its model with alias `challenger` and the sweep's lineage."""
    outputs = _outputs(stack, outputs_file)
    sweep = sweep_id or last_sweep(outputs)
    backend = backend_for(outputs)
    current = backend.status(outputs, sweep)
    winner = backend.best(outputs, sweep)
    document: dict[str, Any] = {"sweep_id": sweep, "best": asdict(winner)}
    if not no_register:
        from ml.sweep.register import register_best  # reads reference data with pandas: only when registering

        version = register_best(outputs, current, winner, model_name=model_name)
        document["registered"] = asdict(version)
    if as_json:
        print(json.dumps(document, default=str, indent=2))
        return
    console = Console()
    params = ", ".join(f"{k}={v}" for k, v in winner.params.items())
    console.print(
        f"best trial {winner.trial_id}: {winner.metric}={winner.value} ({params}); run {winner.run_id}", highlight=False
    )
    if "registered" in document:
        registered = document["registered"]
        verb = "already registered as" if registered["reused"] else "registered"
        console.print(
            f"{verb} [bold]{registered['name']}[/] version {registered['version']} with alias "
            f"'{registered['alias']}' (source {registered['source']})",
            highlight=False,
        )
        reference = registered.get("reference")
        console.print(
            f"reference (for ml monitor): {reference}"
            if reference
            else "no reference: the trial logged none (trial.log_reference); `ml monitor` will say how to add one",
            highlight=False,
        )


@sweep_app.command("replay")
def replay(
    sweep_id: str | None = typer.Argument(None, help="Sweep id (default: the stack's latest sweep)"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
) -> None:
    """Send to MLflow the writes a local sweep held through a tracking outage and could not send; each once."""
    from ml.sweep.backends.local import LocalSweepBackend

    outputs = _outputs(stack, outputs_file)
    sweep = sweep_id or last_sweep(outputs)
    backend = backend_for(outputs)
    if not isinstance(backend, LocalSweepBackend):
        raise UserError(f"`ml sweep replay` is for local sweeps; stack '{outputs.stack}' runs sweeps on {backend.name}")
    done = backend.replay(outputs, sweep)
    if done is None:
        print(f"sweep {sweep}: no MLflow writes were held (nothing to replay)")
        return
    print(
        f"sweep {sweep}: replayed {done.sent} held MLflow writes to {outputs.tracking_uri} "
        f"({done.before} had been sent before; journal {done.journal})"
    )
