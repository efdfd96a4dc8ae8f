"""`mlops:budget`: the stack's monthly cost budget and who is told when it is crossed.

Why here: a budget that is zero, starts mid-month or mails no valid address protects nothing, so
those values are refused before any resource is registered.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from infra.config.base import Section

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class BudgetThreshold(Section):
    percent: float = Field(gt=0, le=1000)
    kind: Literal["actual", "forecasted"] = "actual"


class BudgetSettings(Section):
    amount: float = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    start_date: dt.date
    thresholds: list[BudgetThreshold] = Field(min_length=1)
    contact_emails: list[str] = Field(min_length=1)

    @field_validator("start_date")
    @classmethod
    def _first_of_month(cls, value: dt.date) -> dt.date:
        if value.day != 1:
            raise ValueError(f"startDate {value} must be the first day of a month (budgets run per month)")
        return value

    @field_validator("contact_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not EMAIL.match(v)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> BudgetSettings:
        keys = [(t.kind, t.percent) for t in self.thresholds]
        if len(set(keys)) != len(keys):
            raise ValueError("thresholds repeat the same kind and percent")
        return self
