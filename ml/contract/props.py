"""Read provider properties: nested mappings whose leaves arrive as floats, strings or proxies.

Why one module: the policy rules (`infra/guardrails`), the cost rules (`ml/cost/rules.py`) and the
plan's key-input summaries (`ml/plan/providers`) all read the same camelCase property trees from
the engine (or pulumi_policy's read-only proxies), and must agree on what "missing" means.
Kept free of Pulumi imports so the policy pack and `ml plan` load it cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def get(props: Any, path: str, default: Any = None) -> Any:
    """`props["a"]["b"]` for path "a.b", or `default` when any step is missing or not a mapping."""
    node = props
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def items(value: Any) -> list[Any]:
    """A list-like property as a list (strings and mappings are not lists); None -> []."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def number(value: Any) -> float | None:
    """Numbers arrive as floats from the engine and as strings in some APIs (`"10"`): read both."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
