"""Write a finished Kubernetes rollout's colours back into ``Pulumi.<stack>.yaml``, so the next `pulumi up` keeps it.

Named for what it edits -- the ``mlops:kubernetes.colours`` keys of the stack file, nothing else -- to
tell it apart from the modules that parse or read the whole stack config for the Pulumi program and `ml plan`.

Why: the Deployments and the HTTPRoute carry ``pulumi.com/patchForce``, so the stack config is the
source of truth and a `pulumi up` reasserts it. A rollout made through the API must therefore end
with ``mlops:kubernetes.colours.<colour>.weight`` and ``.modelUri`` holding what the cluster now
runs, or the next `up` silently puts the old model and weights back.

How: the colour keys of ``Pulumi.<stack>.yaml`` are rewritten in place, line by line, so comments,
key order and every other value stay byte-for-byte; the result is parsed again and must equal the
original document with exactly those values changed, or nothing is written. When the file is not
found (no project here) or its layout is not the block style this editor understands, the exact
``pulumi config set --path`` commands are returned instead, to be run where the project lives.
"""

from __future__ import annotations

import copy
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SECTION = "mlops:kubernetes"
_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>\"[^\"]*\"|'[^']*'|[^\s#][^#]*?):(?P<rest>\s.*|)$")
_VALUE_AND_COMMENT = re.compile(r"^(?P<value>\s*[^#]*?)(?P<comment>\s+#.*)?$")

Changes = dict[str, dict[str, str | int]]
"""colour -> {"weight": 90, "modelUri": "models:/m/3"}."""


@dataclass
class PersistResult:
    """What happened to the stack config: the file rewritten, or the commands to run by hand."""

    path: Path | None
    changed: bool
    commands: list[str] = field(default_factory=list)
    reason: str = ""

    def message(self) -> str:
        if self.path is not None:
            state = "updated" if self.changed else "already up to date"
            return f"stack config {self.path}: mlops:kubernetes colours {state}"
        lines = "\n".join(f"  {command}" for command in self.commands)
        return (
            f"stack config not written ({self.reason}); run these where the Pulumi project lives, "
            f"or the next `pulumi up` puts the old weights and models back:\n{lines}"
        )


def config_commands(stack: str, changes: Changes) -> list[str]:
    """The `pulumi config set --path` commands that record ``changes`` in stack ``stack``."""
    return [
        f"pulumi config set --stack {shlex.quote(stack)} --path "
        f"{shlex.quote(f'{SECTION}.colours.{colour}.{key}')} {shlex.quote(str(value))}"
        for colour, values in changes.items()
        for key, value in values.items()
    ]


def find_stack_file(stack: str, start: Path | None = None) -> Path | None:
    """``Pulumi.<stack>.yaml`` next to the ``Pulumi.yaml`` in ``start`` or the nearest parent directory."""
    short = stack.rsplit("/", 1)[-1]
    directory = (start or Path.cwd()).resolve()
    for candidate in (directory, *directory.parents):
        if (candidate / "Pulumi.yaml").is_file():
            path = candidate / f"Pulumi.{short}.yaml"
            return path if path.is_file() else None
    return None


def _scalar(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return dumped.removesuffix("...").strip()


def _key_of(line: str) -> tuple[int, str, str] | None:
    """(indent, key, rest after the colon) of a block-mapping line, or None for blanks and comments."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    match = _KEY.match(line.rstrip("\n"))
    if match is None:
        return (len(line) - len(line.lstrip()), "", line)
    return (len(match.group("indent")), match.group("key").strip("\"'"), match.group("rest"))


def _block(lines: list[str], start: int) -> tuple[int, int]:
    """The lines [start+1, end) nested under the key on line ``start``."""
    own = _key_of(lines[start])
    assert own is not None
    end = start + 1
    while end < len(lines):
        parsed = _key_of(lines[end])
        if parsed is not None and parsed[0] <= own[0]:
            break
        end += 1
    return start + 1, end


def _child(lines: list[str], start: int, key: str) -> int | None:
    """The line of ``key`` directly under the key on line ``start`` (None when absent)."""
    first, end = _block(lines, start)
    indent = None
    for index in range(first, end):
        parsed = _key_of(lines[index])
        if parsed is None:
            continue
        indent = parsed[0] if indent is None else indent
        if parsed[0] == indent and parsed[1] == key:
            return index
    return None


def _child_indent(lines: list[str], start: int) -> int | None:
    first, end = _block(lines, start)
    for index in range(first, end):
        parsed = _key_of(lines[index])
        if parsed is not None:
            return parsed[0]
    return None


def rewrite(text: str, changes: Changes) -> str | None:
    """``text`` with the colour keys set, everything else untouched; None when it cannot be done safely."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    config = next((i for i, line in enumerate(lines) if (_key_of(line) or (-1, ""))[:2] == (0, "config")), None)
    if config is None:
        return None
    section = _child(lines, config, SECTION)
    colours = _child(lines, section, "colours") if section is not None else None
    if colours is None:
        return None
    for colour, values in changes.items():
        line = _child(lines, colours, colour)
        if line is None:
            return None
        for key, value in values.items():
            target = _child(lines, line, key)
            if target is None:
                indent = _child_indent(lines, line)
                if indent is None:
                    return None
                lines.insert(line + 1, f"{' ' * indent}{key}: {_scalar(value)}\n")
                continue
            parsed = _key_of(lines[target])
            assert parsed is not None
            rest = _VALUE_AND_COMMENT.match(parsed[2].rstrip("\n"))
            if rest is None or rest.group("value").strip() in ("", "|", ">"):
                return None
            comment = rest.group("comment") or ""
            lines[target] = f"{' ' * parsed[0]}{key}: {_scalar(value)}{comment}\n"
    result = "".join(lines)
    return result if _only_these_changed(text, result, changes) else None


def _only_these_changed(before: str, after: str, changes: Changes) -> bool:
    try:
        old, new = yaml.safe_load(before), yaml.safe_load(after)
        expected = copy.deepcopy(old)
        colours: dict[str, Any] = expected["config"][SECTION]["colours"]
        for colour, values in changes.items():
            colours[colour].update(values)
    except (yaml.YAMLError, KeyError, TypeError, AttributeError):
        return False
    return bool(new == expected)


def persist_colours(stack: str, changes: Changes, *, project_dir: Path | None = None) -> PersistResult:
    """Record ``changes`` in ``Pulumi.<stack>.yaml`` (found from ``project_dir`` or the cwd), or say how to."""
    commands = config_commands(stack, changes)
    path = find_stack_file(stack, project_dir)
    if path is None:
        where = project_dir or Path.cwd()
        return PersistResult(None, False, commands, f"no Pulumi.yaml with Pulumi.{stack}.yaml in or above {where}")
    text = path.read_text()
    new = rewrite(text, changes)
    if new is None:
        return PersistResult(
            None, False, commands, f"{path} has no block-style {SECTION}.colours.<colour> keys this editor can update"
        )
    if new != text:
        path.write_text(new)
    return PersistResult(path, new != text)
