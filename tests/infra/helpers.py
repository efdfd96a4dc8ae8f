"""Shared helpers for infra tests: run the real program under Pulumi's mocks for a stack config.

Why through `run_offline`: it is the same runner `ml plan` uses, with preview=False so every
apply runs, and a recording monitor that keeps each resource's real inputs, parent and protect.
Assertions read recorded inputs, never values inside `Output.apply`, so a test cannot pass
while asserting nothing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ml.plan.offline import OfflinePlan, run_offline
from ml.plan.stack_file import StackConfig, read_stack_config

PROJECT_DIR = Path(__file__).resolve().parents[2]


def stack_config(stack: str) -> StackConfig:
    """A stack's config exactly as committed in Pulumi.<stack>.yaml."""
    return read_stack_config(PROJECT_DIR, stack)


def plan_stack(stack: str) -> OfflinePlan:
    return run_offline(stack_config(stack))


def with_changes(base: StackConfig, changes: dict[str, Any], *, stack: str | None = None) -> StackConfig:
    """A copy of `base` with `mlops:` keys changed; dotted keys reach into objects, None deletes."""
    values = copy.deepcopy(base.values)
    for dotted, value in changes.items():
        top, *rest = dotted.split(".")
        key = top if ":" in top else f"mlops:{top}"
        if not rest:
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
            continue
        node = values.setdefault(key, {})
        for part in rest[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = rest[-1]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return StackConfig(
        project=base.project,
        stack=stack or base.stack,
        values=values,
        source=base.source,
        secret_keys=base.secret_keys,
    )
