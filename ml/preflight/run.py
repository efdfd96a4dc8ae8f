"""Every check one stack's needs call for, and the gate `ml sweep run` / `ml deploy` pass through.

Why one runner: the command, the deploy workflow and the two verbs that submit work must run the
same checks and block on the same rule (`ml.preflight.checks.blockers`).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.plan.needs import StackNeeds
from ml.preflight.checks import Check, blockers

if TYPE_CHECKING:
    from ml.azure import AzureConnection

PARTS = ("azure", "aws", "kubernetes")


def run_checks(
    needs: StackNeeds, *, azure_connection: AzureConnection | None = None, parts: Collection[str] = PARTS
) -> list[Check]:
    """Azure, AWS and Kubernetes checks for the parts the stack has (and ``parts`` asks for)."""
    checks: list[Check] = []
    if needs.azure is not None and "azure" in parts:
        from ml.preflight.azure import check_azure

        checks.extend(check_azure(needs.azure, azure_connection))
    if needs.aws is not None and "aws" in parts:
        from ml.preflight.aws import check_aws

        checks.extend(check_aws(needs.aws))
    if needs.kubernetes is not None and "kubernetes" in parts:
        from ml.preflight.kubernetes import check_kubernetes

        checks.extend(check_kubernetes(needs.kubernetes))
    return checks


def blocker_message(stack: str, checks: list[Check]) -> str:
    """One message: how many blockers, and for each what it is and what to do."""
    found = blockers(checks)
    lines = [f"pre-flight of stack '{stack}' found {len(found)} blocker(s):"]
    lines += [f"  - {c.check}: needed {c.needed}, available {c.available}. Fix: {c.fix}" for c in found]
    return "\n".join(lines)


def require_preflight(
    outputs: PlatformOutputs,
    *,
    parts: Collection[str] = PARTS,
    project_dir: Path | None = None,
    azure_connection: AzureConnection | None = None,
) -> None:
    """The gate before a cloud submit: nothing for the local stack, else a `UserError` listing the blockers.

    ``parts`` narrows it to what the verb touches (a sweep: the cloud; a rollout: the cloud and
    Kubernetes). The Azure subscription is the one the stack's outputs name. A stack whose
    `Pulumi.<stack>.yaml` is not in this project (outputs read from elsewhere) is not checked
    here: `ml preflight --stack` in the project that owns it does that.
    """
    if outputs.cloud == "local":
        return
    from ml.plan.needs import read_needs
    from ml.plan.stack_file import find_project_dir

    try:
        project = project_dir or find_project_dir()
    except UserError:
        return
    if not (project / f"Pulumi.{outputs.stack}.yaml").is_file():
        return
    subscription = outputs.azure.subscription_id if outputs.azure is not None else None
    needs = read_needs(outputs.stack, project, subscription_id=subscription)
    checks = run_checks(needs, azure_connection=azure_connection, parts=parts)
    if blockers(checks):
        raise UserError(
            blocker_message(outputs.stack, checks) + f"\n(`ml preflight --stack {outputs.stack}` shows every check)"
        )
