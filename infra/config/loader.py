"""Load a stack's `mlops:*` values into `StackSettings`, or fail with one message listing every problem.

Why here and not in each section: a user sees every problem the same way, spelt as in the YAML
(`mlops:trainingCluster.maxNodes = 0: ...`); the translation of pydantic's errors is the one in
`ml.contract.validation` (`config_key_messages`), this module only says how a key is spelt and
which keys a section knows, so a misspelt key also gets the closest known one.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from infra.config.base import NAMESPACE
from infra.config.input_rules import duplicate_problems, secret_problems
from infra.config.stack import StackSettings
from ml.contract.errors import UserError
from ml.contract.validation import config_key_messages


class ConfigError(UserError):
    """The stack config is invalid; the message lists each key, value and what is allowed."""


def key_name(loc: Sequence[Any]) -> str:
    """A pydantic location as the user spells the key: ``mlops:artifacts.tiers[0].coolAfterDays``."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        else:
            parts.append(to_camel(part) if "_" in part else part)
    if not parts:
        return f"{NAMESPACE}:<stack>"
    return f"{NAMESPACE}:{parts[0]}" + "".join(f".{p}" for p in parts[1:])


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The section a field holds, through Optional, list and Annotated (None for plain values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None


def known_keys(loc: Sequence[Any]) -> list[str]:
    """The keys (as spelt in YAML) of the section at ``loc``; [] when ``loc`` is not a section."""
    model: type[BaseModel] | None = StackSettings
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        by_key = {field.alias or name: field for name, field in model.model_fields.items()}
        field = by_key.get(str(part)) or model.model_fields.get(str(part))
        model = _section_model(field.annotation) if field is not None else None
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def load_settings(raw: Mapping[str, Any], *, source: str, secret_keys: Collection[str] = ()) -> StackSettings:
    """Validate the `mlops:*` values of one stack (keys without the namespace prefix).

    ``secret_keys`` are the keys set with `--secret` (secure in the YAML): their values may hold secrets.
    Plain-text secrets and repeated list entries (`infra.config.input_rules`) are reported with the
    section errors, in one message.
    """
    lines = secret_problems(raw, secret_keys) + duplicate_problems(raw)
    try:
        settings = StackSettings.model_validate(dict(raw))
    except ValidationError as exc:
        lines += config_key_messages(exc.errors(), raw, key_name=key_name, known_keys=known_keys)
    if lines:
        detail = "\n  - ".join(lines)
        raise ConfigError(f"invalid stack config in {source}:\n  - {detail}") from None
    return settings


def settings_from_pulumi() -> StackSettings:
    """Read the running stack's config through `pulumi.Config`: the path `pulumi up` takes."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    prefix = f"{NAMESPACE}:"
    # Every `mlops:` key the engine passed, not only the known ones: a misspelt key must be an error.
    names = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    raw: dict[str, Any] = {}
    secrets = set()
    for name in sorted(k for k in names if k.startswith(prefix)):
        key = name[len(prefix) :]
        value = runtime_config.get_config(name)
        if value is None:
            continue
        raw[key] = json.loads(value) if isinstance(value, str) and value[:1] in ("{", "[") else value
        if runtime_config.is_config_secret(name):
            secrets.add(key)
    return load_settings(raw, source=f"Pulumi.{pulumi.get_stack()}.yaml", secret_keys=secrets)
