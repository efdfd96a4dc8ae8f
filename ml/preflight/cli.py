"""`ml preflight --stack NAME`: one table of checks (needed, available, status); exit 2 on a blocker."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from ml.preflight.checks import BLOCKER_EXIT, as_json, blockers, table


def preflight_command(
    stack: str = typer.Option(..., "--stack", "-s", help="The stack whose Pulumi.<stack>.yaml to check"),
    subscription: str = typer.Option(
        None,
        "--subscription",
        help="Azure subscription id (default: AZURE_SUBSCRIPTION_ID or azure-native:subscriptionId)",
    ),
    project_dir: Path = typer.Option(
        None, "--project-dir", help="Directory holding Pulumi.yaml (default: found upwards)"
    ),
    as_json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Check the live account can hold what the stack will build: quotas, VM sizes, names, CRDs, GPUs."""
    from ml.plan.needs import read_needs
    from ml.preflight.run import blocker_message, run_checks

    needs = read_needs(stack, project_dir, subscription_id=subscription)
    checks = run_checks(needs)
    found = blockers(checks)
    if as_json_output:
        typer.echo(json.dumps(as_json(stack, checks), indent=2))
        if found:
            raise typer.Exit(BLOCKER_EXIT)
        return
    console = Console()
    console.print(table(checks, title=f"pre-flight: stack {stack} ({needs.cloud}, {needs.environment})"))
    if found:
        Console(stderr=True).print(
            f"[bold red]error:[/] {blocker_message(stack, checks)}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(BLOCKER_EXIT)
    console.print(f"[green]no blockers[/]: `pulumi up --stack {stack}` can proceed", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach `ml preflight` to the root app."""
    app.command("preflight")(preflight_command)
