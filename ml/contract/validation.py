"""The one translator from pydantic's errors to messages a user can act on.

Why one: the stack config (`infra/config`), the sweep spec and the rollout spec are all pydantic
models read from YAML, and a user should see every problem the same way: the key path (with the
file line when it came from YAML), what was given, and what is allowed. Each document type only
says how its keys are spelt (`key_name`) and which names a discriminated union accepts
(`tag_choices`); walking pydantic's locations, finding the allowed keys of a section and
formatting are done here, once.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel

from ml.contract.errors import UserError
from ml.contract.secrets import looks_secret

KeyPath = tuple[str | int, ...]
Problem = tuple[KeyPath, str]

SPEC_CREDENTIALS_ADVICE = (
    "a spec file is shared and committed: read the secret at run time from an environment variable or "
    "the platform's secret store (key vault, Secrets Manager) instead"
)
"""What a spec's plain-text secret problem says to do instead."""

_TAG_KEYS = ("type", "policy")
"""The keys that select a member of a discriminated union in our documents."""


# --- YAML with line numbers --------------------------------------------------------------------------


class YamlDocument:
    """A YAML text parsed twice: as data, and as nodes that know each key's line.

    Duplicate keys (which PyYAML silently collapses to the last one) are reported as problems, and
    so are secrets written in plain text (`ml.contract.secrets`) unless ``secret_advice`` is None:
    a spec file is committed and shared, so a password, key or SAS token in it is refused, with
    ``secret_advice`` saying where it belongs instead. With ``unique_names`` a list that names the
    same string twice (``metrics: [roc_auc, roc_auc]``, a challenger listed twice) is a problem too:
    the second entry would be judged, deployed or billed twice, or silently dropped. Numbers may
    repeat (an A/B ``split: [50, 50]``); stack files pass False because their own rule
    (`infra.config.input_rules`) covers every list of every ``mlops:`` key.
    """

    def __init__(
        self,
        text: str,
        *,
        kind: str,
        source: str,
        expected: str,
        error_type: type[UserError] = UserError,
        secret_advice: str | None = SPEC_CREDENTIALS_ADVICE,
        unique_names: bool = True,
    ) -> None:
        self.error_type = error_type
        self.secret_advice = secret_advice
        self.unique_names = unique_names
        try:
            root = yaml.compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise error_type(f"{kind} {source}: not valid YAML{where}: {problem}") from None
        if root is None or not isinstance(root, yaml.MappingNode):
            raise error_type(f"{kind} {source}: expected a mapping with keys such as {expected}")
        self.kind = kind
        self.source = source
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []
        self._index(root, ())
        self.data: Any = yaml.safe_load(text)

    def _index(self, node: yaml.Node, path: KeyPath) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    self.problems.append(
                        ((*path, key), f"duplicate key '{key}' (YAML would silently keep only the last one)")
                    )
                seen.add(key)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self._index(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            names: list[str] = []
            for position, item in enumerate(node.value):
                self._index(item, (*path, position))
                if self.unique_names and isinstance(item, yaml.ScalarNode) and item.tag.endswith(":str"):
                    if item.value in names:
                        self.problems.append(
                            ((*path, position), f"'{item.value}' is listed more than once; each entry must be unique")
                        )
                    names.append(item.value)
        elif isinstance(node, yaml.ScalarNode) and self.secret_advice is not None and isinstance(node.value, str):
            leaf = next((str(part) for part in reversed(path) if isinstance(part, str)), None)
            found = looks_secret(node.value, leaf)
            if found is not None:
                self.problems.append((path, f"holds {found} in plain text; {self.secret_advice}"))

    def line_for(self, path: KeyPath) -> int | None:
        """The line of the longest prefix of ``path`` in the YAML (a missing key -> its parent's line)."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None

    def error(self, problems: Sequence[Problem]) -> UserError:
        """One `UserError` listing every problem with its line and key path."""
        parts = []
        for path, message in problems:
            key = ".".join(str(p) for p in path) or "<document>"
            line = self.line_for(path)
            parts.append(f"{f'line {line}, ' if line is not None else ''}{key}: {message}")
        noun = "problem" if len(parts) == 1 else "problems"
        return self.error_type(f"{self.kind} {self.source}: {len(parts)} {noun}: " + "; ".join(parts))


# --- pydantic locations -> document paths ------------------------------------------------------------


def document_path(loc: Sequence[Any], document: Any, *, missing: bool) -> KeyPath:
    """Keep the components of a pydantic ``loc`` that exist in the document.

    pydantic adds union-member tags (``loguniform``, ``function-after[...]``) that the user never
    wrote; the last component of a 'missing' error is kept because it names the key to add.
    """
    path: list[str | int] = []
    node = document
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if (isinstance(node, Mapping) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif last and missing:
            path.append(part)
    return tuple(path)


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


class _DictOf:
    """Marks a ``dict[str, X]`` level: the next path component is a user key, then X."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _resolve(annotation: Any, node: Any) -> Any:
    """Unwrap Optional / dict / discriminated unions down to the model the node is."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _resolve(typing.get_args(annotation)[0], node)
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        models = [m for m in (_resolve(arg, node) for arg in members) if _is_model(m)]
        tag = next((node.get(k) for k in _TAG_KEYS if isinstance(node, Mapping) and k in node), None)
        for candidate in models:
            for key in _TAG_KEYS:
                field = candidate.model_fields.get(key)
                if field is not None and tag in typing.get_args(field.annotation):
                    return candidate
        return models[0] if len(models) == 1 else None
    if origin is dict:
        return _DictOf(typing.get_args(annotation)[1])
    return annotation


def allowed_keys(model: type[BaseModel], path: KeyPath, document: Any) -> list[str]:
    """The keys the section at ``path`` accepts, following the document through unions and dicts."""
    current: Any = model
    node: Any = document
    for part in path:
        if isinstance(current, _DictOf):
            node = node.get(part) if isinstance(node, Mapping) else None
            current = _resolve(current.value, node)
            continue
        if not _is_model(current):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        node = node.get(part) if isinstance(node, Mapping) else None
        current = _resolve(field.annotation, node)
    if not _is_model(current):
        return []
    return [field.alias or name for name, field in current.model_fields.items()]


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name a misspelt one most likely meant, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def describe(
    error: Mapping[str, Any],
    document: Any,
    *,
    model: type[BaseModel],
    tag_choices: Mapping[str, Sequence[str]],
    tag_nouns: Mapping[str, str] | None = None,
) -> Problem:
    """One pydantic error as (key path in the document, message saying what to fix).

    ``tag_choices`` maps a union's discriminator key (``type``) to its allowed values;
    ``tag_nouns`` how a message names it (``strategy type``), the key itself by default.
    """
    kind = error["type"]
    path = document_path(tuple(error["loc"]), document, missing=kind == "missing")
    given = error.get("input")
    if kind == "missing":
        allowed = allowed_keys(model, path[:-1], document)
        return path, "required key is missing" + (f" (keys here: {', '.join(allowed)})" if allowed else "")
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, path[:-1], document)
        suggestion = closest(str(path[-1]), allowed)
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        return path, f"unknown key '{path[-1]}'" + (f"; allowed: {', '.join(allowed)}" if allowed else "") + hint
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        tag = str(error.get("ctx", {}).get("discriminator", "type")).strip("'")
        choices = tag_choices.get(tag, ())
        if kind == "union_tag_not_found":
            return path, f"needs '{tag}', one of: {', '.join(choices)}"
        value = given.get(tag) if isinstance(given, Mapping) else error.get("ctx", {}).get("tag")
        noun = (tag_nouns or {}).get(tag, tag)
        return (*path, tag), f"unknown {noun} {value!r}; allowed: {', '.join(choices)}"
    if kind == "literal_error":
        return path, f"{error['msg'].lower()} (got {given!r})"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return path, f"expected a mapping, got {given!r}"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("value_error", "assertion_error"):
        return path, message
    return path, f"{message[:1].lower()}{message[1:]} (got {given!r})"


def validate_document(
    document: YamlDocument,
    model: type[BaseModel],
    *,
    tag_choices: Mapping[str, Sequence[str]],
    tag_nouns: Mapping[str, str] | None = None,
) -> Any:
    """Validate a YAML document against ``model``; every problem is raised at once, with its line."""
    from pydantic import ValidationError

    try:
        parsed = model.model_validate(document.data)
    except ValidationError as exc:
        problems = list(document.problems)
        problems.extend(
            describe(e, document.data, model=model, tag_choices=tag_choices, tag_nouns=tag_nouns) for e in exc.errors()
        )
        raise document.error(problems) from None
    if document.problems:
        raise document.error(document.problems)
    return parsed


def config_key_messages(
    errors: Iterable[Mapping[str, Any]],
    raw: Mapping[str, Any],
    *,
    key_name: Callable[[Sequence[Any]], str],
    known_keys: Callable[[Sequence[Any]], Iterable[str]] | None = None,
) -> list[str]:
    """pydantic errors of a flat key/value config (Pulumi stack config) as one line per problem.

    ``key_name`` spells a location the way the user writes it (``mlops:trainingCluster.maxNodes``);
    ``known_keys`` lists the keys valid next to a location, so a misspelt one gets the closest.
    """
    lines = []
    for error in errors:
        loc = tuple(error["loc"])
        key = key_name(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        value = _value_at(raw, loc)
        if error["type"] == "missing":
            lines.append(f"{key} is required but not set")
        elif error["type"] == "extra_forbidden":
            suggestion = closest(str(loc[-1]), known_keys(loc[:-1])) if known_keys and loc else None
            hint = f"; did you mean {key_name((*loc[:-1], suggestion))}?" if suggestion else ""
            lines.append(f"{key} is not a known setting (typo?){hint}")
        elif loc and not isinstance(value, Mapping):
            lines.append(f"{key} = {value!r}: {message}")
        elif loc:
            lines.append(f"{key}: {message}")
        else:
            lines.append(message)
    return lines


def _value_at(raw: Mapping[str, Any], loc: Sequence[Any]) -> Any:
    node: Any = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node
