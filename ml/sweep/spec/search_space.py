"""The search space's parameter types: what a spec may sample, each validated on its own.

Why bounds are values, inclusive: ``loguniform`` ``min_value``/``max_value`` are the actual values
(0.01, 0.3), not exponents (Azure's ``LogUniform`` takes exponents; its backend converts);
``randint`` draws integers in ``[min_value, max_value]`` (``min_value`` defaults to 0). The discrete
types (choice, randint, quniform) expose ``grid_values()``, which grid sampling and the backends
that can only take categorical ranges use.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from ml.sweep.spec._base import Scalar, SpecModel


class Choice(SpecModel):
    """One of a list of values (numbers, strings or booleans)."""

    type: Literal["choice"]
    values: list[Scalar] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[Scalar]) -> list[Scalar]:
        seen = [repr(v) for v in values]
        duplicates = sorted({v for v in seen if seen.count(v) > 1})
        if duplicates:
            raise ValueError(f"values must be distinct, repeated: {', '.join(duplicates)}")
        return values

    def grid_values(self) -> list[Scalar]:
        return list(self.values)


class Uniform(SpecModel):
    """A float drawn uniformly from ``[min_value, max_value]``."""

    type: Literal["uniform"]
    min_value: float
    max_value: float

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        _require_order(self.min_value, self.max_value)
        return self


class LogUniform(SpecModel):
    """A float whose logarithm is uniform: bounds are the values themselves and must be > 0."""

    type: Literal["loguniform"]
    min_value: float = Field(gt=0)
    max_value: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        _require_order(self.min_value, self.max_value)
        return self


class RandInt(SpecModel):
    """An integer drawn uniformly from ``[min_value, max_value]`` (both inclusive)."""

    type: Literal["randint"]
    min_value: int = 0
    max_value: int

    @model_validator(mode="after")
    def _ordered(self) -> RandInt:
        _require_order(self.min_value, self.max_value)
        return self

    def grid_values(self) -> list[Scalar]:
        return list(range(self.min_value, self.max_value + 1))


class QUniform(SpecModel):
    """``round(uniform(min_value, max_value) / q) * q``: a discretised uniform, usable in a grid."""

    type: Literal["quniform"]
    min_value: float
    max_value: float
    q: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> QUniform:
        _require_order(self.min_value, self.max_value)
        if not self.grid_values():
            raise ValueError(f"no multiple of q={self.q} lies in [{self.min_value}, {self.max_value}]")
        return self

    def grid_values(self) -> list[Scalar]:
        low = math.ceil(self.min_value / self.q - 1e-9)
        high = math.floor(self.max_value / self.q + 1e-9)
        integral = float(self.q).is_integer() and float(self.min_value).is_integer()
        return [int(k * self.q) if integral else round(k * self.q, 12) for k in range(low, high + 1)]


class Normal(SpecModel):
    """A float drawn from a normal distribution N(mu, sigma)."""

    type: Literal["normal"]
    mu: float
    sigma: float = Field(gt=0)


Parameter = Annotated[Union[Choice, Uniform, LogUniform, RandInt, QUniform, Normal], Field(discriminator="type")]  # noqa: UP007
DISCRETE_TYPES = (Choice, RandInt, QUniform)
PARAMETER_TYPES = ("choice", "uniform", "loguniform", "randint", "quniform", "normal")


def _require_order(low: float, high: float) -> None:
    if not low < high:
        raise ValueError(f"min_value ({low}) must be less than max_value ({high})")
