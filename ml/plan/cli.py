"""`ml plan`: placeholder registration, replaced by the offline planner."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach `ml plan` to the root app."""

    @app.command("plan")
    def plan(stack: str = typer.Option("dev", "--stack", "-s", help="Stack to plan: dev, prod, ...")) -> None:
        """Show the resources a stack declares, offline, with no cloud account."""
        raise typer.Exit(0)
