"""What each cloud's plan module provides, and the shared helper to summarise inputs.

Why per-cloud modules: each cloud teaches the offline plan three things (how its provider fills
outputs, how its data sources answer, which inputs a reviewer must see) without touching the
planner, so adding a cloud is adding one module to `PROVIDER_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from ml.contract.props import get

Summary = Callable[[dict[str, Any]], dict[str, Any]]
Filler = Callable[[pulumi.runtime.MockResourceArgs], dict[str, Any]]
Invoke = Callable[[dict[str, Any]], dict[str, Any]]

PROVIDER_MODULES = ("azure", "kubernetes", "aws")


def pick_paths(*paths: str) -> Summary:
    """A summary that picks dotted input paths (labelled by their last two parts), skipping unset ones."""

    def pick(inputs: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for path in paths:
            node = get(inputs, path)
            if node is not None:
                parts = [p for p in path.split(".") if p != "properties"]
                label = ".".join(parts[-2:]) if parts[-1] in {"name", "type", "days", "tier"} else parts[-1]
                result[label] = node
        return result

    return pick


@dataclass(frozen=True)
class ProviderPlanSupport:
    package: str
    fill_outputs: Filler
    invokes: dict[str, Invoke]
    key_inputs: dict[str, Summary]


def load_providers() -> list[ProviderPlanSupport]:
    supports = []
    for name in PROVIDER_MODULES:
        module = importlib.import_module(f"ml.plan.providers.{name}")
        supports.append(
            ProviderPlanSupport(
                package=module.PACKAGE,
                fill_outputs=module.fill_outputs,
                invokes=module.INVOKES,
                key_inputs=module.KEY_INPUTS,
            )
        )
    return supports
