"""Pieces shared by request schemas."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator


def not_null(*fields: str) -> Any:
    """For partial updates: these fields may be left out, but not sent as null.

    Use as a class attribute: `_present = not_null("name", "status")`.
    """

    def check(cls: type, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value

    return field_validator(*fields)(classmethod(check))
