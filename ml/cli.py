"""The `ml` command line: one Typer app, one sub-app per job (plan, sweep, platform, deploy).

Why the wrapper in `main`: every user-fixable problem is raised as `UserError` deep inside; here
it becomes one red line and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ml.contract.errors import UserError

app = typer.Typer(
    name="ml",
    help="Run ML work (plans, sweeps, rollouts) on a platform stack: local, dev or prod.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    """Attach each job's commands; each module owns its own options and help."""
    from ml.deploy.cli import register as register_deploy
    from ml.model.cli import register as register_model
    from ml.monitor.cli import register as register_monitor
    from ml.plan.cli import register as register_plan
    from ml.platform.cli import register as register_platform
    from ml.preflight.cli import register as register_preflight
    from ml.sweep.cli import register as register_sweep
    from ml.teardown.cli import register as register_teardown

    register_plan(app)
    register_sweep(app)
    register_platform(app)
    register_deploy(app)
    register_preflight(app)
    register_teardown(app)
    register_model(app)
    register_monitor(app)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show library log lines (MLflow, SDKs)"),
) -> None:
    """Run ML work (plans, sweeps, rollouts) on a platform stack: local, dev or prod."""
    from ml.logsetup import configure
    from ml.tracking import bound_client_waits

    configure(verbose=verbose)  # library lines go to <platform home>/logs/ml.log, not between ours
    bound_client_waits()  # every MLflow request of this command fails in bounded time


def main() -> None:
    """Console entry point."""
    _register_commands()
    try:
        try:
            app()
        except Exception as exc:
            from ml.tracking import outage_error

            outage = outage_error(exc)  # a tracking server that went away is one stated line, not a traceback
            if outage is None:
                raise
            raise outage from None
    except UserError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
