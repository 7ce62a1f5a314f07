"""Money in the API: `Decimal` everywhere in Python and the database; in JSON a
number rounded to cents (never a float computation, never a string)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

CENT = Decimal("0.01")


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _json_number(value: Decimal) -> float:
    # Only the final rendering is a float; every sum is done in Decimal first.
    return float(to_cents(value))


Money = Annotated[Decimal, PlainSerializer(_json_number, return_type=float, when_used="json")]
"""An amount in a response: a JSON number with at most 2 decimals."""

MoneyIn = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)]
"""An amount in a request: up to 99,999,999.99, cents at most."""
