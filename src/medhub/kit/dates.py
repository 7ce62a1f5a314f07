"""Strict dates and the one `from`/`to` range filter every list and report uses.

Pydantic's lax mode reads `0` as 1970-01-01 and `0.5` as a timestamp, and a day
like 9999-12-31 overflows the moment a range adds its exclusive end. Input dates
are therefore ISO-8601 strings only, within `MIN_DAY`..`MAX_DAY`; instants are
ISO-8601 date-times (UTC when they carry no offset).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Query
from pydantic import AfterValidator, BeforeValidator, Field

from medhub.kit.errors import ErrorDetail, ValidationFailed

MIN_DAY = date(1900, 1, 1)
MAX_DAY = date(2999, 12, 31)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def _iso_day(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


def _supported_day(value: date) -> date:
    if not MIN_DAY <= value <= MAX_DAY:
        raise ValueError(f"must be between {MIN_DAY.isoformat()} and {MAX_DAY.isoformat()}")
    return value


def _iso_instant(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_INSTANT.fullmatch(value):
        raise ValueError("must be an ISO-8601 date-time, e.g. 2026-03-01T09:30:00Z")
    return value


def _supported_instant(value: datetime) -> datetime:
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    _supported_day(value.astimezone(UTC).date())
    return value.astimezone(UTC)


# A calendar day, written YYYY-MM-DD, that MedHub can reason about.
# Entries of the system's zone database that are not places.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The IANA zone names this machine's zone database knows (read once)."""
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def _zone_name(value: object) -> object:
    if not isinstance(value, str) or value not in known_zones():
        raise ValueError("must be an IANA time zone name, e.g. Europe/Berlin")
    return value


Day = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_supported_day)]
# A moment in time, ISO-8601, normalised to UTC.
Instant = Annotated[datetime, BeforeValidator(_iso_instant), AfterValidator(_supported_instant)]


@dataclass(frozen=True)
class DayRange:
    """Whole UTC days, both ends inclusive; either end may be open."""

    first: date | None
    last: date | None

    @property
    def start(self) -> datetime | None:
        return datetime.combine(self.first, time.min, tzinfo=UTC) if self.first else None

    @property
    def end(self) -> datetime | None:
        """Exclusive: midnight after the last day."""
        if self.last is None:
            return None
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=UTC)


@dataclass(frozen=True)
class InstantRange:
    """From and to, both inclusive, UTC; either end may be open."""

    since: datetime | None
    until: datetime | None


def _ordered(first: date | datetime | None, last: date | datetime | None) -> None:
    if first is not None and last is not None and first > last:
        raise ValidationFailed(
            "The range is empty",
            details=[ErrorDetail(field="from", message="must not be later than 'to'")],
        )


_FirstDay = Annotated[
    Day | None, Query(alias="from", description="First day, inclusive (YYYY-MM-DD, UTC)")
]
_LastDay = Annotated[
    Day | None, Query(alias="to", description="Last day, inclusive (YYYY-MM-DD, UTC)")
]


def _checked_day_range(first: Day | None, last: Day | None) -> DayRange:
    _ordered(first, last)
    return DayRange(first, last)


async def _day_range(first: _FirstDay = None, last: _LastDay = None) -> DayRange:
    return _checked_day_range(first, last)


async def _day_range_with_legacy_names(
    first: _FirstDay = None,
    last: _LastDay = None,
    date_from: Annotated[
        Day | None, Query(deprecated=True, description="Old spelling of `from`")
    ] = None,
    date_to: Annotated[
        Day | None, Query(deprecated=True, description="Old spelling of `to`")
    ] = None,
) -> DayRange:
    return _checked_day_range(first or date_from, last or date_to)


async def _instant_range(
    since: Annotated[
        Instant | None,
        Query(alias="from", description="ISO-8601, inclusive (UTC if no offset)"),
    ] = None,
    until: Annotated[
        Instant | None,
        Query(alias="to", description="ISO-8601, inclusive (UTC if no offset)"),
    ] = None,
) -> InstantRange:
    _ordered(since, until)
    return InstantRange(since, until)


# `?from=YYYY-MM-DD&to=YYYY-MM-DD`: the date filter of every list and report.
DayRangeQuery = Annotated[DayRange, Depends(_day_range)]
# The same, for the endpoints that were published with `date_from`/`date_to` first.
DayRangeQueryWithLegacyNames = Annotated[DayRange, Depends(_day_range_with_legacy_names)]
# `?from=…&to=…` as date-times (logs, events).
InstantRangeQuery = Annotated[InstantRange, Depends(_instant_range)]
TimeZoneName = Annotated[
    str,
    BeforeValidator(_zone_name),
    Field(description="IANA time zone, e.g. Europe/Berlin", examples=["Europe/Berlin"]),
]
