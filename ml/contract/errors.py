"""The one exception type a user sees as a message instead of a traceback.

Why: bad input (a spec key, a config value, a missing stack output, a missing CLI or credential)
is part of the interface. Code raises `UserError` with what was given, what is allowed and how to
fix it; the CLI prints that single message and exits non-zero.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; its message is the whole report."""

    exit_code = 2
