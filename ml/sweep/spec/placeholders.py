"""The placeholders a spec's ``command`` may hold, and how a value is written into a shell command.

Why Azure ML's syntax (``${{search_space.<param>}}``, ``${{inputs.<name>}}``): the Azure backend
passes the command verbatim, the local backend substitutes shell-quoted values, and the SageMaker
entry module (`ml.sweep.backends.sagemaker_entry`, which runs without this package) keeps its own
copy of the pattern; a test holds the two to the same rendering.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
"""Any ``${{ ... }}`` in the command; its content must be ``search_space.<p>`` or ``inputs.<n>``."""
REFERENCE = re.compile(r"^(search_space|inputs)\.([A-Za-z_][A-Za-z0-9_]*)$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def references(command: str) -> list[tuple[str, str]]:
    """The ``(namespace, name)`` pairs the command's placeholders refer to, in order."""
    found = []
    for match in PLACEHOLDER.finditer(command):
        reference = REFERENCE.match(match.group(1))
        if reference:
            found.append((reference.group(1), reference.group(2)))
    return found


def render(command: str, params: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """``command`` with every placeholder replaced by a shell-quoted value (for a local shell)."""

    def substitute(match: re.Match[str]) -> str:
        reference = REFERENCE.match(match.group(1))
        if reference is None:  # validation rejects these; keep the text if a caller skipped it
            return match.group(0)
        namespace, name = reference.groups()
        value = params[name] if namespace == "search_space" else inputs[name]
        return shlex.quote(format_value(value))

    return PLACEHOLDER.sub(substitute, command)


def format_value(value: Any) -> str:
    """A value as a trial's command line gets it: booleans lower-case, floats exact (``repr``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
