"""The Pulumi program as a function, so `pulumi up`, `ml plan` and the tests run the same code.

Why: `__main__.py` stays three lines; the offline planner and the unit tests call `build()` under
Pulumi's mock engine with a stack's YAML and see exactly what `pulumi up` would register.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.config import StackSettings, settings_from_pulumi
from infra.outputs import contract_document, deploy_section
from ml.contract import OUTPUT_NAME

SECRETS_OUTPUT = "platformSecrets"


def _platform(settings: StackSettings) -> Any:
    """Pick the cloud's platform component; imported lazily so one cloud never loads another's SDK."""
    if settings.cloud == "azure":
        from infra.azure.platform import AzurePlatform

        return AzurePlatform("platform", settings)
    from infra.aws.platform import AwsPlatform

    return AwsPlatform("platform", settings)


def build(settings: StackSettings | None = None) -> pulumi.Output[dict[str, Any]]:
    """Build the stack's platform and export the contract document; returns that document."""
    settings = settings or settings_from_pulumi()
    platform = _platform(settings)
    document = contract_document({**platform.contract_fields, "deploy": deploy_section(settings.deploy)})
    pulumi.export(OUTPUT_NAME, document)
    secrets = {
        key: value
        for key, value in {"endpoint_primary_key": getattr(platform, "endpoint_primary_key", None)}.items()
        if value is not None
    }
    if secrets:
        pulumi.export(SECRETS_OUTPUT, pulumi.Output.secret(secrets))
    return document
