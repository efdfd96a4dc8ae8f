"""`ml plan`: what a stack would provision, offline, with no cloud account and no Pulumi CLI."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.syntax import Syntax

from ml.plan.stack_file import find_project_dir, read_stack_config

if TYPE_CHECKING:
    from ml.plan.policy import Violation

NOTICE = (
    "Offline plan: the resources the program declares for this stack's YAML, run under Pulumi's mock "
    "engine. It is not a diff against deployed state; use `pulumi preview --stack {stack}` for that."
)


class PlanFormat(StrEnum):
    tree = "tree"
    json = "json"
    markdown = "markdown"


def register(app: typer.Typer) -> None:
    """Attach `ml plan` to the root app."""

    @app.command("plan")
    def plan(
        stack: list[str] = typer.Option(["dev"], "--stack", "-s", help="Stack(s) to plan: dev, prod, ..."),
        output_format: PlanFormat = typer.Option(
            PlanFormat.tree, "--format", "-f", help="tree, json, or markdown (a pull request comment)"
        ),
        against: str | None = typer.Option(
            None,
            "--against",
            metavar="REF_OR_STACK",
            help="Diff resources and cost against another stack (Pulumi.<name>.yaml) or this stack's YAML at a git ref",
        ),
        project_dir: Path | None = typer.Option(None, "--project-dir", help="Directory with Pulumi.yaml"),
        policy: bool = typer.Option(
            False, "--policy", help="Check the policy pack's guardrails on each plan; mandatory violations exit 2"
        ),
        policy_config: Path | None = typer.Option(
            None, "--policy-config", help="Policy config JSON, as for `pulumi preview --policy-pack-config`"
        ),
    ) -> None:
        """Show the resources a stack declares (tree with key inputs) and the outputs it would export."""
        # Imported here: they pull in Pulumi (~0.7 s), which no other `ml` command needs at start-up.
        from ml.plan.against import resolve_base
        from ml.plan.budget_fit import budget_warnings
        from ml.plan.markdown import diff_markdown, plan_markdown
        from ml.plan.offline import run_offline
        from ml.plan.policy import check_plan, raise_on_mandatory, read_policy_config, render_violations
        from ml.plan.render import plan_as_json, render_cost, render_isolation, render_tree
        from ml.plan.report import price_and_compare

        console = Console()
        directory = project_dir or find_project_dir()
        documents = []
        policy_settings = read_policy_config(policy_config) if policy else {}
        policy_console = Console(stderr=output_format is not PlanFormat.tree)  # keep json/markdown stdout clean
        violations: dict[str, list[Violation]] = {}
        for name in stack:
            config = read_stack_config(directory, name)
            base = resolve_base(directory, name, against) if against is not None else None  # fail before planning
            started = time.perf_counter()
            result = run_offline(config)
            elapsed = time.perf_counter() - started
            if policy:
                violations[name] = check_plan(result, policy_settings)
                render_violations(name, violations[name], policy_console)
            cost, diff = price_and_compare(config, result, base)
            if output_format is PlanFormat.json:
                document = {**plan_as_json(result, cost), "budget_warnings": budget_warnings(cost)}
                documents.append({**document, **({"against": diff.as_json()} if diff else {})})
                continue
            if output_format is PlanFormat.markdown:
                print(diff_markdown(diff, result) if diff is not None else plan_markdown(result, cost))
                continue
            console.print(f"[dim]{NOTICE.format(stack=name)}[/]")
            render_tree(result, console)
            render_isolation(result, console)
            render_cost(cost, console)
            for warning in budget_warnings(cost):
                console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
            if diff is not None:
                console.print(Markdown(diff_markdown(diff, result, html=False)))
            console.print(f"[bold]outputs[/] (stack output `platform`, planned in {elapsed:.1f}s):")
            console.print(Syntax(json.dumps(result.outputs, indent=2), "json", word_wrap=True))
        if output_format is PlanFormat.json:
            print(json.dumps(documents if len(documents) > 1 else documents[0], indent=2))
        if policy:
            raise_on_mandatory(violations)
