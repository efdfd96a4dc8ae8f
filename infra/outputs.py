"""Turn a platform's outputs into the contract document, validated against `ml.contract`.

Why validate inside the program: a field renamed in a component must fail `pulumi up` (and the
offline plan), not the first `ml` command run against the stack weeks later.
"""

from __future__ import annotations

from typing import Any

import pulumi

from ml.contract import PlatformOutputs


def contract_document(fields: dict[str, Any]) -> pulumi.Output[dict[str, Any]]:
    """Resolve nested Inputs in `fields` and return the JSON form of `PlatformOutputs`."""
    return pulumi.Output.from_input(fields).apply(
        lambda resolved: PlatformOutputs.model_validate(resolved).model_dump(mode="json")
    )
