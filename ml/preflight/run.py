"""Every check one stack's needs call for, and the gate `ml sweep run` / `ml deploy` pass through.

Why one runner: the command, the deploy workflow and the two verbs that submit work must run the
same checks and block on the same rule (`ml.preflight.checks.blockers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml.contract.errors import UserError
from ml.plan.needs import StackNeeds
from ml.preflight.checks import Check, blockers

if TYPE_CHECKING:
    from ml.azure import AzureConnection


def run_checks(needs: StackNeeds, *, azure_connection: AzureConnection | None = None) -> list[Check]:
    """Azure, AWS and Kubernetes checks, for the parts the stack has (a stack may have Azure and Kubernetes)."""
    checks: list[Check] = []
    if needs.azure is not None:
        from ml.preflight.azure import check_azure

        checks.extend(check_azure(needs.azure, azure_connection))
    if needs.aws is not None:
        from ml.preflight.aws import check_aws

        checks.extend(check_aws(needs.aws))
    if needs.kubernetes is not None:
        from ml.preflight.kubernetes import check_kubernetes

        checks.extend(check_kubernetes(needs.kubernetes))
    return checks


def blocker_message(stack: str, checks: list[Check]) -> str:
    """One message: how many blockers, and for each what it is and what to do."""
    found = blockers(checks)
    lines = [f"pre-flight of stack '{stack}' found {len(found)} blocker(s):"]
    lines += [f"  - {c.check}: needed {c.needed}, available {c.available}. Fix: {c.fix}" for c in found]
    return "\n".join(lines)


def require_preflight(stack: str, cloud: str, *, azure_connection: AzureConnection | None = None) -> None:
    """The gate before a cloud submit: nothing for the local stack, else a `UserError` listing the blockers.

    A stack whose `Pulumi.<stack>.yaml` is not in this project (outputs read from elsewhere) is not
    checked here: `ml preflight --stack` on the project that owns it does that.
    """
    if cloud == "local":
        return
    from ml.plan.needs import read_needs
    from ml.plan.stack_file import find_project_dir

    try:
        project = find_project_dir()
    except UserError:
        return
    if not (project / f"Pulumi.{stack}.yaml").is_file():
        return
    checks = run_checks(read_needs(stack, project), azure_connection=azure_connection)
    if blockers(checks):
        raise UserError(blocker_message(stack, checks) + f"\n(`ml preflight --stack {stack}` shows every check)")
