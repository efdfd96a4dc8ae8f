"""`ml model list|show|compare|approve|card`: the registry from the command line.

Why thin: the data comes from `ml.model.versions`, `ml.model.approvals` and `ml.model.card`;
here the stack is resolved, tables are printed for people, and ``--json`` prints the same data
for scripts. Approvals also go to the stack's audit log (the one writer, `ml.deploy.audit`).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ml.contract import PlatformOutputs
from ml.stack import local_home, resolve_outputs

model_app = typer.Typer(help="Registered models: list versions, show, compare, approve, write a model card.")
_STACK = typer.Option("local", "--stack", "-s", help="Stack whose registry to use: local, dev, prod, ...")
_OUTPUTS = typer.Option(None, "--outputs", help="Platform outputs JSON (`pulumi stack output --json`)")
_JSON = typer.Option(False, "--json", help="Print JSON instead of tables")


def _outputs(stack: str, outputs_file: Path | None) -> PlatformOutputs:
    return resolve_outputs(stack if outputs_file is None or stack != "local" else None, outputs_file)


def _client(outputs: PlatformOutputs) -> Any:
    from ml.tracking import use_tracking

    return use_tracking(outputs)


def _console() -> Console:
    """A console sized when the command runs (the terminal's, or ``COLUMNS``), not at import."""
    return Console()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, sort_keys=True))


@model_app.command("list")
def list_command(name: str, stack: str = _STACK, outputs_file: Path | None = _OUTPUTS, as_json: bool = _JSON) -> None:
    """Every version of NAME, newest first, with its aliases, objective, validation and approval."""
    from ml.model.versions import list_versions

    rows = list_versions(_client(_outputs(stack, outputs_file)), name)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"model '{name}'", title_justify="left")
    for column in ("version", "aliases", "created (UTC)", "objective", "validation", "approved", "sweep"):
        table.add_column(column)
    for row in rows:
        objective = row["objective"]
        table.add_row(
            row["version"],
            ", ".join("@" + a for a in row["aliases"]) or "-",
            row["created"][:19].replace("T", " "),
            f"{objective['metric']} {objective['value']}" if objective["metric"] else "-",
            row["validation"],
            "yes" if row["approved"] else "-",
            row["sweep_id"] or "-",
        )
    _console().print(table)


@model_app.command("show")
def show_command(
    ref: str = typer.Argument(..., help="NAME, NAME@ALIAS or NAME/VERSION"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    as_json: bool = _JSON,
) -> None:
    """One version: aliases, source, params, metrics, validation, approvals and tags."""
    from ml.model.refs import parse_ref
    from ml.model.versions import show_version

    data = show_version(_client(_outputs(stack, outputs_file)), parse_ref(ref))
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"{data['name']} v{data['version']}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("aliases", ", ".join("@" + a for a in data["aliases"]) or "-")
    table.add_row("created", data["created"])
    table.add_row("source", str(data["source"]))
    table.add_row("params", ", ".join(f"{k}={v}" for k, v in sorted(data["params"].items())) or "-")
    table.add_row("metrics", ", ".join(f"{k}={v:.4g}" for k, v in sorted(data["metrics"].items())) or "-")
    result = data["validation_result"]
    table.add_row("validation", "-" if result is None else ("pass" if result.get("passed") else "fail"))
    for check in (result or {}).get("checks", []):
        table.add_row("", f"{'pass' if check['passed'] else 'FAIL'}: {check['detail']}")
    table.add_row("approvals", "; ".join(f"{a['by']} at {a['at']}: {a['reason']}" for a in data["approvals"]) or "-")
    table.add_row("card", data["card"] or "-")
    _console().print(table)


@model_app.command("compare")
def compare_command(
    name: str,
    left: str = typer.Argument(..., help="First version number"),
    right: str = typer.Argument(..., help="Second version number"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    as_json: bool = _JSON,
) -> None:
    """Params and metrics of two versions side by side (with deltas) and their validation verdicts."""
    from ml.model.versions import compare_versions

    data = compare_versions(_client(_outputs(stack, outputs_file)), name, left, right)
    if as_json:
        _print_json(data)
        return
    for part in ("params", "metrics"):
        table = Table(title=f"{part}: {name} v{left} vs v{right}", title_justify="left")
        for column in ("key", f"v{left}", f"v{right}", "delta"):
            table.add_column(column)
        for row in data[part]:
            delta = row.get("delta")
            style = "" if row["same"] else "yellow"
            table.add_row(
                row["key"], str(row["left"]), str(row["right"]), "-" if delta is None else f"{delta:+.4g}", style=style
            )
        _console().print(table)
    for version, verdict in data["validation"].items():
        shown = "not validated" if verdict is None else ("pass" if verdict["passed"] else "fail")
        _console().print(f"validation v{version}: {shown}")


@model_app.command("approve")
def approve_command(
    name: str,
    version: str,
    reason: str = typer.Option(..., "--reason", help="Why this version may serve (recorded with who and when)"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    as_json: bool = _JSON,
) -> None:
    """Record an approval of NAME VERSION (who, when, why) on the version and in the audit log."""
    from ml.deploy.audit import AuditTrail
    from ml.model.approvals import approve

    outputs = _outputs(stack, outputs_file)
    client = _client(outputs)
    entry = approve(client, name, version, reason=reason)
    AuditTrail(outputs, None).record(
        "approve",
        rollout_id=f"approve-{uuid.uuid4().hex[:12]}",
        endpoint="-",
        outcome="ok",
        message=f"{entry.by} approved {name} v{version}: {entry.reason}",
        to=f"models:/{name}/{version}",
        extra={"approval": {"by": entry.by, "at": entry.at, "reason": entry.reason}},
    )
    if as_json:
        _print_json(entry.__dict__)
        return
    _console().print(
        f"[green]approved[/] {name} v{version} by {entry.by} at {entry.at}: {entry.reason}", highlight=False
    )


@model_app.command("card")
def card_command(
    ref: str = typer.Argument(..., help="NAME, NAME@ALIAS or NAME/VERSION"),
    out: Path | None = typer.Option(None, "--out", help="Directory for the .md and .html (default: <home>/cards)"),
    publish: bool = typer.Option(False, help="Also log the card as an artifact on the version"),
    stack: str = _STACK,
    outputs_file: Path | None = _OUTPUTS,
    as_json: bool = _JSON,
) -> None:
    """Write the version's model card (Markdown and HTML) from the registry, its runs and the audit log."""
    from ml.deploy.audit import audit_path, read_records
    from ml.model.card import build_card
    from ml.model.refs import parse_ref
    from ml.model.render import publish_card, write_card

    outputs = _outputs(stack, outputs_file)
    client = _client(outputs)
    card = build_card(client, parse_ref(ref), audit_records=read_records(audit_path(outputs)))
    markdown, page = write_card(card, out or local_home() / "cards")
    published = publish_card(client, card) if publish else None
    if as_json:
        _print_json({"markdown": str(markdown), "html": str(page), "published": published, "card": card.to_dict()})
        return
    for section in card.sections:
        state = "[green]recorded[/]" if section.rows else f"[yellow]{section.text}[/]"
        _console().print(f"  {section.title:<28} {state}  [dim]({section.source})[/]", highlight=False)
    _console().print(f"card for {card.name} v{card.version}: {markdown} and {page}", highlight=False, soft_wrap=True)
    if published:
        _console().print(f"logged on the version: {published}", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach `ml model` to the root app."""
    app.add_typer(model_app, name="model")
