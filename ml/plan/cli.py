"""`ml plan`: what a stack would provision, offline, with no cloud account and no Pulumi CLI."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.syntax import Syntax

from ml.plan.offline import run_offline
from ml.plan.render import plan_as_json, render_tree
from ml.plan.stack_config import find_project_dir, read_stack_config

NOTICE = (
    "Offline plan: the resources the program declares for this stack's YAML, run under Pulumi's mock "
    "engine. It is not a diff against deployed state; use `pulumi preview --stack {stack}` for that."
)


class PlanFormat(StrEnum):
    tree = "tree"
    json = "json"


def register(app: typer.Typer) -> None:
    """Attach `ml plan` to the root app."""

    @app.command("plan")
    def plan(
        stack: list[str] = typer.Option(["dev"], "--stack", "-s", help="Stack(s) to plan: dev, prod, ..."),
        output_format: PlanFormat = typer.Option(PlanFormat.tree, "--format", "-f", help="tree or json"),
        project_dir: Path | None = typer.Option(None, "--project-dir", help="Directory with Pulumi.yaml"),
    ) -> None:
        """Show the resources a stack declares (tree with key inputs) and the outputs it would export."""
        console = Console()
        directory = project_dir or find_project_dir()
        documents = []
        for name in stack:
            started = time.perf_counter()
            result = run_offline(read_stack_config(directory, name))
            elapsed = time.perf_counter() - started
            if output_format is PlanFormat.json:
                documents.append(plan_as_json(result))
                continue
            console.print(f"[dim]{NOTICE.format(stack=name)}[/]")
            render_tree(result, console)
            console.print(f"[bold]outputs[/] (stack output `platform`, planned in {elapsed:.1f}s):")
            console.print(Syntax(json.dumps(result.outputs, indent=2), "json", word_wrap=True))
        if output_format is PlanFormat.json:
            print(json.dumps(documents if len(documents) > 1 else documents[0], indent=2))
