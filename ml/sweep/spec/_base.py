"""The building blocks every section of a sweep spec is made of: a strict model, scalars, durations.

Why a shared base: every section forbids unknown keys (a misspelt key is an error naming it, never a
silent default) and is frozen (a backend translates the spec, it never edits it); durations are
written the same way everywhere (``300``, ``"90s"``, ``"20m"``, ``"1h30m"``).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(value: Any) -> int:
    """Seconds from an int or a string like ``"90s"``, ``"20m"``, ``"1h30m"`` (a bare number is seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 300, '5m' or '2h', got {value!r}")
    if isinstance(value, int | float):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            match = _DURATION.match(text)
            if not text or match is None or not any(match.groups()):
                raise ValueError(f"expected a duration such as 300, '90s', '20m', '2h' or '1h30m', got {value!r}")
            hours, minutes, secs = (int(group or 0) for group in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError(f"expected a duration such as 300, '5m' or '2h', got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return math.ceil(seconds)


Duration = Annotated[int, BeforeValidator(parse_duration)]
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr


class SpecModel(BaseModel):
    """A spec section: unknown keys are errors, values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
