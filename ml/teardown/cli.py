"""`ml teardown --stack NAME [--yes]` and `ml teardown --stack NAME --check`.

Without `--check`: list what `ml` created outside Pulumi's state, ask (or `--yes`), delete it,
write one audit record per item (``what: teardown.delete``) to the stack's audit log, and print the
`pulumi destroy` to run next. With `--check` (after the destroy): list what is still there (Azure's
soft-deleted names, SageMaker's endpoints/configs/models/alarms/log groups, the Kubernetes serving
namespace and what it holds) and exit 1 when anything is, each with the command that removes it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer
from rich.console import Console

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.teardown.leftovers import Leftover, table

LEFT_EXIT = 1


def collect(stack: str, outputs_file: Path | None) -> tuple[list[Leftover], PlatformOutputs]:
    from ml.stack import resolve_outputs

    outputs = resolve_outputs(stack, outputs_file)
    if outputs.cloud == "local":
        raise UserError("the local stack has no cloud leftovers: use `ml platform down --purge`")
    items: list[Leftover] = []
    if outputs.azure is not None:
        from ml.teardown import azure

        items += azure.created_by_ml(outputs)
    if outputs.aws is not None:
        from ml.teardown import aws

        items += aws.created_by_ml(outputs)
    if outputs.kubernetes is not None:
        from ml.teardown import kubernetes

        items += kubernetes.created_by_ml(outputs)
    return items, outputs


def delete_all(items: list[Leftover], outputs: PlatformOutputs) -> list[dict[str, object]]:
    """Delete each item in list order (jobs first), one audit record per item, failures recorded too."""
    from ml.deploy.audit import AuditTrail

    trail = AuditTrail(outputs, None)
    run = f"teardown-{uuid.uuid4().hex[:8]}"
    endpoint = outputs.endpoint.name if outputs.endpoint is not None else "-"
    records = []
    for item in items:
        if item.delete is None:
            continue
        try:
            item.delete()
            outcome, message = "deleted", f"{item.kind} {item.name}: {item.detail}"
        except UserError as exc:
            outcome, message = "failed", f"{item.kind} {item.name}: {exc}"
        records.append(
            trail.record(
                "teardown.delete",
                rollout_id=run,
                endpoint=endpoint,
                outcome=outcome,
                message=message,
                extra={"cloud": item.cloud, "kind": item.kind, "name": item.name},
            )
        )
    return records


def left(stack: str, project_dir: Path | None, subscription: str | None) -> list[Leftover]:
    from ml.plan.needs import read_needs

    needs = read_needs(stack, project_dir, subscription_id=subscription)
    items: list[Leftover] = []
    if needs.azure is not None:
        from ml.teardown import azure

        if not needs.azure.subscription_id:
            raise UserError("ml teardown --check needs the subscription: set AZURE_SUBSCRIPTION_ID or --subscription")
        items += azure.left_after_destroy(needs.azure)
    if needs.aws is not None:
        from ml.teardown import aws

        items += aws.left_after_destroy(needs.aws)
    if needs.kubernetes is not None:
        from ml.teardown import kubernetes

        items += kubernetes.left_after_destroy(needs.kubernetes)
    return items


def teardown_command(
    stack: str = typer.Option(..., "--stack", "-s", help="The cloud stack to tear down"),
    outputs_file: Path = typer.Option(None, "--outputs", help="Platform outputs JSON (`pulumi stack output --json`)"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking"),
    check: bool = typer.Option(False, "--check", help="After `pulumi destroy`: list what is left, exit 1 if any"),
    subscription: str = typer.Option(None, "--subscription", help="Azure subscription id (for --check)"),
    project_dir: Path = typer.Option(None, "--project-dir", help="Directory holding Pulumi.yaml (for --check)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Delete what `ml` created outside Pulumi's state; `--check` lists what a destroy left behind."""
    console = Console()
    if check:
        remaining = left(stack, project_dir, subscription)
        if as_json:
            typer.echo(json.dumps({"stack": stack, "left": [i.as_dict() for i in remaining]}, indent=2))
        elif remaining:
            console.print(table(remaining, title=f"left after destroy: stack {stack}"))
            for item in remaining:
                console.print(f"  {item.kind} {item.name}: `{item.fix}`", highlight=False)
        else:
            console.print(f"[green]nothing left[/] of stack {stack}: it can be redeployed under the same names")
        if remaining:
            raise typer.Exit(LEFT_EXIT)
        return
    items, outputs = collect(stack, outputs_file)
    destroy = f"pulumi destroy --stack {stack}"
    if not as_json:
        if items:
            console.print(table(items, title=f"created by ml outside Pulumi's state: stack {stack}"))
        else:
            console.print(f"nothing created by ml outside Pulumi's state on stack {stack}")
    if items and not yes and not typer.confirm(f"delete these {len(items)} item(s)?", default=False):
        raise typer.Exit(1)
    records = delete_all(items, outputs)
    failed = [r for r in records if r["outcome"] == "failed"]
    if as_json:
        typer.echo(
            json.dumps(
                {"stack": stack, "deleted": [i.as_dict() for i in items], "failed": failed, "next": destroy}, indent=2
            )
        )
    else:
        for record in failed:
            console.print(f"[red]failed[/]: {record['message']}", highlight=False)
        console.print(f"next: `{destroy}`, then `ml teardown --stack {stack} --check`", highlight=False)
    if failed:
        raise typer.Exit(LEFT_EXIT)


def register(app: typer.Typer) -> None:
    """Attach `ml teardown` to the root app."""
    app.command("teardown")(teardown_command)
