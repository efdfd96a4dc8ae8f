"""Policy configuration: the same JSON file `pulumi preview --policy-pack-config` reads.

Why one format: loosening a guardrail must look the same for the real preview and for
`ml plan --policy`. The file maps a policy name (or `all`) to either an enforcement level
(`"advisory"`, `"mandatory"`, `"disabled"`) or an object with `enforcementLevel` and the
policy's own keys, e.g. `{"required-tags": {"requiredTags": ["environment"]},
"gpu-training-spot": "disabled", "prod-protect-stateful": {"exemptResources": ["workspace-acr"]}}`.
Every policy accepts `exemptResources`: logical resource names it does not report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.guardrails.core import Level

EXEMPT_RESOURCES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "default": [],
    "description": "Logical resource names this policy does not report (a reviewed, named exception).",
}


class PolicyConfigError(ValueError):
    """A policy config file that cannot be used; the message names the file, key and allowed values."""


def _level(value: Any, where: str) -> Level:
    try:
        return Level(value)
    except ValueError:
        allowed = ", ".join(level.value for level in Level)
        raise PolicyConfigError(f"{where}: enforcement level {value!r} is not one of {allowed}") from None


def parse_policy_config(document: Mapping[str, Any], *, source: str = "policy config") -> dict[str, dict[str, Any]]:
    """Normalize `{name: level | {enforcementLevel?, ...}}` into `{name: {enforcementLevel?, ...}}`."""
    parsed: dict[str, dict[str, Any]] = {}
    for name, value in document.items():
        where = f"{source}: {name}"
        if isinstance(value, str):
            parsed[name] = {"enforcementLevel": _level(value, where)}
        elif isinstance(value, Mapping):
            entry = dict(value)
            if "enforcementLevel" in entry:
                entry["enforcementLevel"] = _level(entry["enforcementLevel"], where)
            parsed[name] = entry
        else:
            raise PolicyConfigError(f"{where}: expected a level string or an object, got {value!r}")
    return parsed


def load_policy_config(path: Path) -> dict[str, dict[str, Any]]:
    """Read a `--policy-pack-config` JSON file."""
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise PolicyConfigError(f"{path}: cannot read policy config ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(document, Mapping):
        raise PolicyConfigError(f"{path}: expected a JSON object mapping policy names to settings")
    return parse_policy_config(document, source=str(path))


def effective_level(name: str, default: Level, config: Mapping[str, Mapping[str, Any]]) -> Level:
    """The policy's own entry wins over `all`, which wins over the level in code."""
    for key in (name, "all"):
        level = config.get(key, {}).get("enforcementLevel")
        if level is not None:
            return Level(level)
    return default


def exempt_names(policy_config: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(str(n) for n in policy_config.get("exemptResources") or ())
