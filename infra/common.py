"""Small helpers every component shares: resource options and naming.

Why: `protect` on stateful resources and `parent=self` must be applied the same way in every
component; one helper keeps that a config decision, never a per-component `if`.
"""

from __future__ import annotations

import pulumi


def child_options(parent: pulumi.Resource, *, protect: bool = False, **extra: object) -> pulumi.ResourceOptions:
    """Options for a component's child: always parented, protected only when it holds state."""
    return pulumi.ResourceOptions(parent=parent, protect=protect, **extra)  # type: ignore[arg-type]


def compact_name(*parts: str, max_length: int = 24) -> str:
    """A name for services that allow only lowercase letters and digits (storage, registries)."""
    name = "".join(ch for ch in "".join(parts).lower() if ch.isalnum())
    return name[:max_length]
