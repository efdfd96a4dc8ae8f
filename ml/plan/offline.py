"""Run the Pulumi program offline under Pulumi's mock engine and record what it declares.

Why: no Pulumi CLI and no cloud account are needed to see what a stack's YAML would build. The
program (`infra.program.build`) runs exactly as under `pulumi up`, reading its config through
`pulumi.Config`, while a recording monitor keeps every registration: type, name, parent,
`protect`, and the real inputs. The same runner backs `ml plan` and the infra unit tests.
It is a plan of declared resources, not a diff against deployed state.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from ml.contract.declared import OfflinePlan, PlannedResource
from ml.plan.stack_file import StackConfig


def _config_strings(config: StackConfig) -> dict[str, str]:
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.values.items()}


def run_offline(config: StackConfig, *, record_into: dict[str, PlannedResource] | None = None) -> OfflinePlan:
    """Run `infra.program.build()` for one stack's config under mocks (preview=False, so applies run).

    `record_into` receives registrations as they happen, so a caller can see what was declared
    even when the program fails part way (it must not: config errors come before any resource).
    """
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings as pulumi_settings

    from ml.plan.mocks import PlatformMocks

    recorded: dict[str, PlannedResource] = record_into if record_into is not None else {}

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                registration = self.resources.get(response.urn)
                recorded[response.urn] = PlannedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent_urn=request.parent,
                    custom=bool(request.custom),
                    protect=bool(request.protect),
                    inputs=pulumi.runtime.rpc.deserialize_properties(request.object),
                    state=dict(registration.state) if registration is not None else {},
                    ignore_changes=tuple(request.ignoreChanges),
                )
            return response

    mocks = PlatformMocks()
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project=config.project, stack=config.stack, preview=False, monitor=RecordingMonitor(mocks)
    )
    pulumi.runtime.set_all_config(_config_strings(config), secret_keys=list(config.secret_keys))

    document: dict[str, Any] = {}
    secret_exports: set[str] = set()

    @pulumi.runtime.test
    def program() -> Any:
        from infra.program import build

        built = build().apply(document.update)
        root = pulumi_settings.get_root_resource()
        exported: dict[str, Any] = dict(getattr(root, "outputs", {}))

        async def secret(name: str, value: Any) -> None:
            if isinstance(value, pulumi.Output) and await value.is_secret():
                secret_exports.add(name)

        async def mark_secrets() -> None:
            for name, value in exported.items():
                await secret(name, value)

        marked: pulumi.Output[None] = pulumi.Output.from_input(mark_secrets())
        return pulumi.Output.all(built, marked)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        program()
    return OfflinePlan(
        stack=config.stack,
        resources=list(recorded.values()),
        outputs=document,
        secret_exports=frozenset(secret_exports),
    )
