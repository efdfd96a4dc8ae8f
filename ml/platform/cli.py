"""`ml platform up|down|status`: the local platform's lifecycle from the command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ml.platform import local
from ml.platform.layout import Layout

platform_app = typer.Typer(
    help="Start, stop and inspect the local platform (MLflow server, Traefik endpoint proxy, model servers).",
    no_args_is_help=True,
)
console = Console()


def _print_status(state: local.PlatformStatus) -> None:
    table = Table(title=f"local platform ({state.home})", title_justify="left")
    for column in ("service", "pid", "url", "state", "model"):
        table.add_column(column)
    for service in state.services:
        health = (
            "[green]healthy[/]" if service.healthy else ("[yellow]starting[/]" if service.alive else "[red]down[/]")
        )
        table.add_row(
            service.name,
            str(service.pid or "-"),
            service.url or "-",
            health,
            str(service.detail.get("model", "")),
        )
    console.print(table)
    if state.traffic:
        weights = ", ".join(f"{k} {v}%" for k, v in state.traffic.get("weights", {}).items()) or "no live deployment"
        mirror = ", ".join(f"{k} {v}%" for k, v in state.traffic.get("mirror", {}).items())
        console.print(f"traffic: {weights}" + (f"; mirror: {mirror}" if mirror else ""))


@platform_app.command("up")
def up_command(
    timeout: float = typer.Option(120.0, help="Seconds to wait for the servers to become healthy."),
) -> None:
    """Start the tracking server and the endpoint proxy (Traefik) in the background (idempotent)."""
    layout = Layout.current()
    with console.status("starting the local platform (MLflow server, Traefik) ..."):
        state = local.up(layout, timeout=timeout)
    _print_status(state)
    console.print(f"outputs written to {layout.outputs}; use `--stack local` with every ml command.")


@platform_app.command("down")
def down_command(
    purge: bool = typer.Option(False, "--purge", help="Also stop strays and delete the platform home: nothing left"),
) -> None:
    """Stop everything `ml platform up` and rollouts started (model servers, proxy, tracking server)."""
    layout = Layout.current()
    stopped = local.down(layout)
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    if purge:
        from ml.teardown.local import purge_local

        result = purge_local(layout.home)
        console.print(
            f"purged {result.home}" + (f"; also stopped {', '.join(result.stopped)}" if result.stopped else "")
        )
        if result.left:
            console.print("[red]still left[/]: " + "; ".join(result.left), highlight=False)
            raise typer.Exit(1)


@platform_app.command("status")
def status_command() -> None:
    """Show each process, whether it answers, and the traffic map the proxy serves; exit 1 when not running."""
    state = local.status(Layout.current())
    _print_status(state)
    if not state.running:
        console.print("[red]the local platform is not running[/]; start it with `ml platform up`")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach `ml platform` to the root app."""
    app.add_typer(platform_app, name="platform")
