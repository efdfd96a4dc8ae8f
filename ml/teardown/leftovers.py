"""One thing `ml` created that `pulumi destroy` does not know about, or that a destroy left behind.

Why one record: the command lists every cloud's leftovers in one table, deletes them in order
(running jobs first, then what serves, then what configures) and writes one audit record each.
``delete`` is None for what `ml` must not delete itself (a soft-deleted vault: purging is the
user's decision, so the record says the command instead).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table


@dataclass(frozen=True)
class Leftover:
    cloud: str
    kind: str
    name: str
    detail: str = ""
    delete: Callable[[], object] | None = field(default=None, compare=False, repr=False)
    fix: str = ""
    """For `--check` rows: the command that removes it."""

    def as_dict(self) -> dict[str, Any]:
        return {"cloud": self.cloud, "kind": self.kind, "name": self.name, "detail": self.detail, "fix": self.fix}


def table(items: list[Leftover], *, title: str) -> Table:
    grid = Table(title=title, show_header=True, expand=False)
    for column in ("cloud", "kind", "name", "detail"):
        grid.add_column(column)
    for item in items:
        grid.add_row(item.cloud, item.kind, item.name, item.detail or item.fix)
    return grid
