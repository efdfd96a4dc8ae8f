"""One check's result, the table they make, and the one rule for what blocks.

Why one record for every cloud: `ml preflight` prints a single table (check, needed, available,
status) and a single JSON list whatever the clouds a stack touches, and the exit code is decided
once: any ``blocker`` exits 2, with each blocker's ``fix`` (the quota request to file, the name to
change, the purge to run). ``unknown`` means the account did not answer what the check needs (a
pool scaled to zero, a quota the service does not list): it is shown, never silently passed, but
it does not block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from rich.table import Table

Status = Literal["ok", "blocker", "unknown"]
BLOCKER_EXIT = 2


@dataclass(frozen=True)
class Check:
    cloud: str
    check: str
    needed: str
    available: str
    status: Status
    fix: str = ""
    """What to do about a blocker (or why a check could not decide)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quota_check(cloud: str, check: str, *, needed: float, available: float | None, unit: str, fix: str) -> Check:
    """``needed`` against ``available`` (None = the account does not report it): ok, blocker or unknown."""

    def number(value: float) -> str:
        return f"{value:g} {unit}".strip()

    if available is None:
        return Check(cloud, check, number(needed), "not reported", "unknown", fix)
    status: Status = "ok" if needed <= available else "blocker"
    return Check(cloud, check, number(needed), number(available), status, fix if status == "blocker" else "")


def blockers(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "blocker"]


def table(checks: list[Check], *, title: str) -> Table:
    """The rich table: one row per check, blockers in red with what to do under them."""
    colours = {"ok": "green", "blocker": "bold red", "unknown": "yellow"}
    grid = Table(title=title, show_header=True, expand=False)
    for column in ("cloud", "check", "needed", "available", "status"):
        grid.add_column(column, justify="right" if column in ("needed", "available") else "left")
    for check in checks:
        status = f"[{colours[check.status]}]{check.status}[/]"
        grid.add_row(check.cloud, check.check, check.needed, check.available, status)
    return grid


def as_json(stack: str, checks: list[Check]) -> dict[str, Any]:
    return {
        "stack": stack,
        "ok": not blockers(checks),
        "blockers": len(blockers(checks)),
        "checks": [c.as_dict() for c in checks],
    }
