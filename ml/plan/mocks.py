"""Provider stand-ins for the offline plan: fill the outputs a real provider would return.

Why more than an echo: the program reads provider-filled outputs (resource names, ids, ARNs,
tracking URIs); an echo mock would leave them empty and the contract would not validate. Values
are deterministic placeholders (zero GUIDs, account 123456789012), never real identifiers.
Each cloud's filler and invoke answers live in `ml/plan/providers/<cloud>.py`.
"""

from __future__ import annotations

from typing import Any

import pulumi

from ml.plan.providers.base import load_providers


class PlatformMocks(pulumi.runtime.Mocks):
    """Fills provider outputs deterministically; unknown invokes return an empty result."""

    def __init__(self) -> None:
        providers = load_providers()
        self._fillers = {p.package: p.fill_outputs for p in providers}
        self._invokes = {token: answer for p in providers for token, answer in p.invokes.items()}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        package = args.typ.split(":", 1)[0]
        filler = self._fillers.get(package)
        state = filler(args) if filler is not None and args.custom else dict(args.inputs)
        return str(state.get("id") or f"{args.name}-id"), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
        answer = self._invokes.get(args.token)
        return (answer(dict(args.args)) if answer is not None else {}), []
