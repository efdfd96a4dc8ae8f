"""`ml deploy SPEC`, `ml deploy status|recover` and `ml rollback`: rollouts from the command line.

Why a thin layer: everything that decides is in `ml.deploy.engine`; here the stack is resolved,
the engine is wired to the stack's target, registry and audit trail, and its events are shown as
they happen (one line per action, one row per gate decision with the measured values). A rollout
that rolls back exits with code 1 and its reason; a problem with the input exits 2 (`UserError`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from ml.contract import PlatformOutputs
from ml.deploy.ab_cli import experiment_table, feedback_cli
from ml.deploy.audit import AuditTrail, audit_path, read_records
from ml.deploy.engine import RolloutEngine, RolloutEvent, RolloutResult
from ml.deploy.journal import Journal
from ml.deploy.registry import Registry
from ml.deploy.spec import load_spec
from ml.deploy.target import target_for
from ml.preflight.run import require_preflight
from ml.stack import local_home, resolve_outputs

console = Console()
_STACK = typer.Option("local", "--stack", "-s", help="Stack to deploy on: local, dev, prod, ...")
_OUTPUTS = typer.Option(None, "--outputs", help="Platform outputs JSON (`pulumi stack output --json`)")
_STYLE = {"pass": "green", "ok": "green", "fail": "red", "warning": "yellow", "info": "cyan"}


class _SpecOrCommand(TyperGroup):
    """`ml deploy SPEC` runs a rollout; `ml deploy status|recover` are subcommands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer vendors its own click Context
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


deploy_app = typer.Typer(
    cls=_SpecOrCommand,
    help="Roll a registered model out with gates and automatic rollback: `ml deploy SPEC --stack S`.",
    no_args_is_help=True,
)


def _outputs(stack: str, outputs_file: Path | None) -> PlatformOutputs:
    return resolve_outputs(stack if outputs_file is None or stack != "local" else None, outputs_file)


def journal_dir() -> Path:
    """Where rollout journals live on this machine."""
    return local_home() / "rollouts"


def build_engine(
    outputs: PlatformOutputs, endpoint: str | None = None, *, on_event: Any = None, poll_interval: float = 0.5
) -> RolloutEngine:
    """The engine wired to a stack's target, registry and audit trail."""
    from ml.tracking import use_tracking

    target = target_for(outputs, endpoint)  # first: a platform that is not there fails before anything else
    client = use_tracking(outputs)
    return RolloutEngine(
        outputs,
        target,
        registry=Registry(client),
        audit=AuditTrail(outputs, client),
        journal_dir=journal_dir(),
        on_event=on_event,
        poll_interval=poll_interval,
    )


def _print_event(event: RolloutEvent) -> None:
    stamp = dt.datetime.fromtimestamp(event.at).strftime("%H:%M:%S")
    style = _STYLE.get(event.outcome, "white")
    console.print(f"[dim]{stamp}[/] [{style}]{event.kind:>8}[/] {event.message}", highlight=False)
    if event.kind == "validate" and event.gates and "validation" in event.gates:
        console.print(validation_table(event.gates["validation"]))


def validation_table(result: dict[str, Any]) -> Table:
    """The offline validation: each check with both models' numbers and why it passed or failed."""
    verdict = "[green]pass[/]" if result.get("passed") else "[red]fail[/]"
    table = Table(
        title=f"validation of {result['model']} v{result['version']} on {result['data']} ({result['rows']} rows): "
        f"{verdict}",
        title_justify="left",
    )
    for column in ("check", "result", "why"):
        table.add_column(column, overflow="fold")
    for check in result.get("checks", []):
        table.add_row(check["name"], "[green]pass[/]" if check["passed"] else "[red]fail[/]", check["detail"])
    for role, values in (result.get("metrics") or {}).items():
        table.add_row(
            f"metrics: {role}", "", ", ".join(f"{k} {v:.4f}" for k, v in sorted(values.items()) if v is not None)
        )
    slices = result.get("slices") or {}
    for role in [key for key, value in slices.items() if isinstance(value, dict)]:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(slices[role].items()) if v is not None)
        table.add_row(f"{slices['metric']} by {slices['column']}: {role}", "", shown)
    return table


def _gate_table(result: RolloutResult) -> Table:
    table = Table(title=f"gate decisions ({result.rollout_id[:8]})", title_justify="left")
    for column in ("traffic", "requests", "error rate", "p95 ms", "p99 ms", "result"):
        table.add_column(column, justify="right" if column not in ("traffic", "result") else "left")
    for event in result.events:
        if event.kind != "gate" or not event.gates:
            continue
        metrics = event.gates["metrics"]
        traffic = ", ".join(f"{k} {v}%" for k, v in (event.traffic or {}).items())
        table.add_row(
            traffic,
            str(metrics["requests"]),
            f"{metrics['error_rate']:.2%}",
            "-" if metrics["p95_ms"] is None else f"{metrics['p95_ms']:.1f}",
            "-" if metrics["p99_ms"] is None else f"{metrics['p99_ms']:.1f}",
            "[green]pass[/]" if event.outcome == "pass" else "[red]fail[/]",
        )
    return table


def _finish(result: RolloutResult | None) -> None:
    if result is None:
        return
    if any(event.kind == "gate" for event in result.events):
        console.print(_gate_table(result))
    colour = "green" if result.ok else "red"
    console.print(f"[bold {colour}]{result.outcome}[/]: {result.message}", highlight=False)
    if result.rollback_seconds is not None:
        console.print(
            f"traffic back on the previous deployment {result.rollback_seconds:.2f}s after the failing decision"
        )
    if not result.ok:
        raise typer.Exit(1)


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM (CI cancelling the job) rolls back like Ctrl-C instead of leaving traffic split."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, handler) if main_thread else None
    try:
        yield
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


@deploy_app.command("run", hidden=True)
def run_command(
    spec_file: Path = typer.Argument(..., help="Rollout spec (YAML), e.g. examples/deployments/canary.yaml"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    registry_wait: float | None = typer.Option(
        None, "--registry-wait", help="Seconds to hold traffic while the tracking server is away (default: spec, 120)"
    ),
) -> None:
    """Roll out the spec's model; exit 1 when it was rolled back."""
    from ml.tracking import wait_statement

    spec = load_spec(spec_file)
    if registry_wait is not None:
        spec = spec.model_copy(update={"registry_wait": registry_wait})
    console.print(
        f"[dim]tracking server away: traffic held up to {spec.registry_wait:g}s (registry_wait), then rolled "
        f"back; {wait_statement()}[/]",
        highlight=False,
    )
    outputs = _outputs(stack, outputs_file)
    endpoint = spec.endpoint_for(outputs)
    require_preflight(outputs)  # a cloud stack's quotas, names, CRDs before anything is created; local: no-op
    engine = build_engine(outputs, endpoint, on_event=_print_event)
    try:
        with _interrupt_on_sigterm():
            result = engine.run(spec)
    finally:
        engine.target.close()
    _finish(result)


@deploy_app.command("recover")
def recover_command(
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    endpoint: str | None = typer.Option(None, help="Endpoint (default: the stack's)"),
    force: bool = typer.Option(False, help="Recover a rollout started on another host"),
) -> None:
    """Converge an interrupted rollout: roll back if it had not committed, roll forward if it had."""
    engine = build_engine(_outputs(stack, outputs_file), endpoint, on_event=_print_event)
    try:
        result = engine.recover(force=force)
    finally:
        engine.target.close()
    if result is None:
        console.print(f"no interrupted rollout on endpoint '{engine.target.endpoint}'")
        return
    _finish(result if result.kind != "deploy" or result.outcome == "promoted" else _recovered(result))


def _recovered(result: RolloutResult) -> RolloutResult:
    """A recovery that rolled back did its job: report it without failing the command."""
    result.outcome = "unchanged"
    return result


@deploy_app.command("status")
def status_command(
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    endpoint: str | None = typer.Option(None, help="Endpoint (default: the stack's)"),
    last: int = typer.Option(8, help="How many audit records to show"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of tables"),
) -> None:
    """The endpoint's traffic map, deployments, any rollout or A/B experiment in progress, the latest audit."""
    outputs = _outputs(stack, outputs_file)
    target = target_for(outputs, endpoint)
    try:
        traffic = target.get_traffic()
        deployments = target.list_deployments()
    finally:
        target.close()
    table = Table(
        title=f"endpoint '{target.endpoint}' on stack '{outputs.stack}' ({target.kind})", title_justify="left"
    )
    for column in ("deployment", "model", "state", "traffic", "mirror"):
        table.add_column(column)
    for info in deployments:
        table.add_row(
            info.name,
            info.model or "-",
            info.state,
            f"{traffic.weights.get(info.name, 0)}%",
            f"{traffic.mirror.get(info.name, 0)}%",
        )
    console.print(table)
    journal = Journal(journal_dir(), outputs.stack, target.endpoint)
    active = journal.load()
    if as_json:
        records = [r for r in read_records(audit_path(outputs)) if r.get("endpoint") == target.endpoint][-last:]
        rollout = None if active is None else {k: active.get(k) for k in ("id", "phase", "step", "new", "model")}
        document = {
            "endpoint": target.endpoint,
            "traffic": traffic.as_dict(),
            "deployments": [vars(info) for info in deployments],
            "rollout": rollout,
            "experiment": None if active is None else active.get("experiment"),
            "audit": records,
        }
        print(json.dumps(document, indent=2, default=str))
        return
    if active is not None:
        alive = journal.holder_alive()
        state = "running" if alive else ("interrupted" if alive is False else f"started on {active.get('host')}")
        model = active.get("model", {})
        console.print(
            f"[yellow]rollout {active['id'][:8]} {state}[/]: phase {active.get('phase')}, step {active.get('step')}, "
            f"model {model.get('name')}/{model.get('version')} as '{active.get('new')}'"
            + ("; run `ml deploy recover`" if alive is False else "")
        )
        if active.get("experiment"):
            console.print(experiment_table(active["experiment"]))
    records = [r for r in read_records(audit_path(outputs)) if r.get("endpoint") == target.endpoint][-last:]
    if records:
        audit = Table(title=f"audit ({audit_path(outputs)}, UTC)", title_justify="left")
        for column in ("when", "who", "what", "outcome", "message"):
            audit.add_column(column, overflow="fold", ratio=6 if column == "message" else None)
        for record in records:
            audit.add_row(
                str(record["ts"])[5:19].replace("T", " "),
                record["who"]["user"],
                record["what"],
                record["outcome"],
                record["message"],
            )
        console.print(audit)


def rollback_command(
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    endpoint: str | None = typer.Option(None, help="Endpoint (default: the stack's)"),
    model: str | None = typer.Option(None, help="Registered model name (default: the one the endpoint serves)"),
    alias: str = typer.Option("champion", help="The alias that names the serving version"),
    bake_time: float = typer.Option(10.0, help="Seconds to watch the restored version's error rate"),
) -> None:
    """Return traffic and the champion alias to the previous champion version."""
    engine = build_engine(_outputs(stack, outputs_file), endpoint, on_event=_print_event)
    try:
        with _interrupt_on_sigterm():
            result = engine.rollback(model_name=model, alias=alias, bake_time=bake_time)
    finally:
        engine.target.close()
    _finish(result)


def register(app: typer.Typer) -> None:
    """Attach `ml deploy` and `ml rollback` to the root app."""
    deploy_app.add_typer(feedback_cli, name="feedback")
    app.add_typer(deploy_app, name="deploy")
    app.command("rollback")(rollback_command)
