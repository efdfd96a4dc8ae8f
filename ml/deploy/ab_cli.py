"""The command-line side of A/B experiments: `ml deploy feedback add|serve`, and a running experiment's table.

Why apart from `ml.deploy.cli`: feeding outcomes back is its own small job (a CSV, one value, or an
HTTP endpoint callers post to), and the experiment table is what `ml deploy status` prints from the
journal's last look; keeping both here keeps the deploy CLI a thin list of verbs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ml.deploy.feedback import FeedbackStore, feedback_app
from ml.stack import local_home

console = Console()
feedback_cli = typer.Typer(help="Business outcomes for A/B tests, by request id (X-Request-Id of the scoring call).")
_ENDPOINT = typer.Option("local", "--endpoint", help="The endpoint whose experiment the outcomes belong to")


def store_for(endpoint: str) -> FeedbackStore:
    """Where outcomes for ``endpoint`` are kept on this machine (the engine reads the same file)."""
    return FeedbackStore.for_endpoint(local_home(), endpoint)


@feedback_cli.command("add")
def add_command(
    request_id: str | None = typer.Argument(None, help="The request id the scoring call sent as X-Request-Id"),
    value: str | None = typer.Argument(None, help="The outcome: a number, or true/false (1/0)"),
    labels: Path | None = typer.Option(None, "--labels", help="CSV with columns request_id,value"),
    endpoint: str = _ENDPOINT,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Record one outcome, or a CSV of them."""
    store = store_for(endpoint)
    if labels is not None:
        stored = store.add_labels(labels)
    elif request_id is not None and value is not None:
        parsed: Any = {"true": True, "false": False}.get(value.lower(), value)
        stored = store.add([{"request_id": request_id, "value": parsed}], where="ml deploy feedback add")
    else:
        raise typer.BadParameter("give REQUEST_ID VALUE, or --labels FILE")
    if as_json:
        print(json.dumps({"stored": stored, "file": str(store.path)}))
    else:
        console.print(f"stored {stored} outcome(s) in {store.path}", highlight=False)


@feedback_cli.command("serve")
def serve_command(
    port: int = typer.Option(8089, help="Port on 127.0.0.1"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    endpoint: str = _ENDPOINT,
) -> None:
    """Serve `POST /feedback` ({"request_id": ..., "value": ...} or a list) until Ctrl-C."""
    import uvicorn

    store = store_for(endpoint)
    console.print(f"POST http://{host}:{port}/feedback -> {store.path}", highlight=False)
    uvicorn.run(feedback_app(store), host=host, port=port, log_level="warning")


def experiment_table(record: dict[str, Any]) -> Table:
    """A running (or finished) experiment's last look: per arm the count and estimate, and the decision."""
    title = (
        f"A/B experiment, look {record.get('look')}: {record.get('status')} -- {record.get('reason')} "
        f"(outcome {record.get('outcome_metric')}, alpha {record.get('alpha')})"
    )
    table = Table(title=title, title_justify="left")
    for column in ("arm", "n", "estimate", "95% interval", "vs champion", "always-valid interval", "p", "state"):
        table.add_column(column, justify="right" if column in ("n", "estimate", "p") else "left")
    comparisons = {c["arm"]: c for c in record.get("comparisons", [])}
    for arm in record.get("arms", []):
        low, high = arm.get("interval_95") or [None, None]
        comparison = comparisons.get(arm["arm"])
        if comparison is None:
            difference, interval, p, state = "champion", "", "", ""
        else:
            difference = _num(comparison.get("difference"))
            bounds = comparison.get("always_valid_interval") or [None, None]
            interval = f"[{_num(bounds[0])}, {_num(bounds[1])}]"
            p, state = _num(comparison.get("always_valid_p")), str(comparison.get("state"))
        table.add_row(
            arm["arm"], str(arm["n"]), _num(arm.get("mean")), f"[{_num(low)}, {_num(high)}]", difference, interval, p,
            state,
        )  # fmt: skip
    return table


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"
