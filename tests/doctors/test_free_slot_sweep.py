"""Busy time in the slot computation (medhub.doctors.slots): the one-sweep filter gives
exactly what the definition says, a slot is dropped iff it overlaps some busy
[start, end) interval (`slot.start < end and start < slot.end`), whatever the
intervals: touching, nested, overlapping, in any order; and the slots it walks come
in time order, as the sweep expects of availability the API accepts."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from medhub.doctors.slots import (
    DayException,
    Interval,
    Rule,
    Schedule,
    Slot,
    Window,
    day_slots,
    free_slots,
)

ZONES = [
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),  # a 30-minute daylight-saving change
    ZoneInfo("UTC"),
]
# The first of four dates: an ordinary week, or around a change of the clocks (New York
# and Berlin springing forward, Lord Howe's half hour, Berlin and New York falling back).
FIRST_DATES = [
    date(2026, 1, 5),
    date(2026, 3, 7),
    date(2026, 3, 27),
    date(2026, 10, 2),
    date(2026, 10, 23),
    date(2026, 10, 30),
]
DAYS = 4
# Busy times lie on a 5-minute grid, as the slots do: touching and equal ends are common.
GRID = 5
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def by_definition(
    schedule: Schedule, first: date, last: date, not_before: datetime, busy: list[Interval]
) -> list[Slot]:
    """The free slots as the definition has them: every slot against every interval."""
    found = []
    day = first
    while day <= last:
        for slot in day_slots(schedule, day):
            if slot.starts_at < not_before:
                continue
            if any(slot.starts_at < end and start < slot.ends_at for start, end in busy):
                continue
            found.append(slot)
        day += timedelta(days=1)
    return found


SLOT_LENGTHS = st.sampled_from([15, 20, 30, 45, 60, 90])
QUARTERS = 1440 // 15  # windows start and end on quarter hours, up to 24:00


@st.composite
def one_window(draw: st.DrawFn) -> Window:
    start = draw(st.integers(0, QUARTERS - 1))
    end = draw(st.integers(start + 1, QUARTERS))
    return Window(start * 15, end * 15, draw(SLOT_LENGTHS))


@st.composite
def windows(draw: st.DrawFn, *, overlapping: bool) -> list[Window]:
    """A weekday's working hours: apart (as the API accepts them), or, for the pure
    function, overlapping ones of different slot lengths too."""
    if overlapping:
        return draw(st.lists(one_window(), max_size=3))
    cuts = sorted(draw(st.sets(st.integers(0, QUARTERS), max_size=6)))
    return [
        Window(start * 15, end * 15, draw(SLOT_LENGTHS)) for start, end in itertools.pairwise(cuts)
    ]


@st.composite
def schedules(draw: st.DrawFn, *, overlapping: bool = False) -> tuple[Schedule, date]:
    zone = draw(st.sampled_from(ZONES))
    first = draw(st.sampled_from(FIRST_DATES))
    rules = [
        Rule(weekday, window)
        for weekday in range(1, 8)
        for window in draw(windows(overlapping=overlapping))
    ]
    exceptions = {}
    for offset in draw(st.sets(st.integers(0, DAYS - 1), max_size=2)):
        day = first + timedelta(days=offset)
        exceptions[day] = DayException(day, draw(st.one_of(st.none(), one_window())))
    return Schedule(zone, rules, exceptions), first


@st.composite
def busy_times(draw: st.DrawFn, first: date) -> list[Interval]:
    """Up to 40 intervals around the dates (a day either side covers every zone), from
    empty to 5 hours long: nested, overlapping and touching ones arise often."""
    origin = datetime.combine(first - timedelta(days=1), datetime.min.time(), UTC)
    span = (DAYS + 2) * 24 * 60 // GRID
    intervals = draw(st.lists(st.tuples(st.integers(0, span), st.integers(0, 60)), max_size=40))
    return [
        (origin + timedelta(minutes=start * GRID), origin + timedelta(minutes=(start + n) * GRID))
        for start, n in intervals
    ]


@given(
    made=schedules(overlapping=True),
    data=st.data(),
    lead=st.integers(-1, DAYS * 24 * 60 // GRID),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_sweep_drops_exactly_the_slots_that_overlap_busy_time(
    made: tuple[Schedule, date], data: st.DataObject, lead: int, seed: int
) -> None:
    schedule, first = made
    last = first + timedelta(days=DAYS - 1)
    busy = data.draw(busy_times(first))
    # The clock: before the dates (everything counts), or some time during them.
    midnight = datetime.combine(first, datetime.min.time(), UTC)
    not_before = LONG_AGO if lead < 0 else midnight + timedelta(minutes=lead * GRID)

    expected = by_definition(schedule, first, last, not_before, busy)
    assert free_slots(schedule, first, last, not_before=not_before, busy=busy) == expected
    # The order the intervals come in changes nothing.
    shuffled = busy[:]
    random.Random(seed).shuffle(shuffled)
    for order in (shuffled, sorted(busy, reverse=True)):
        assert free_slots(schedule, first, last, not_before=not_before, busy=order) == expected


@given(made=schedules())
def test_slots_of_accepted_availability_come_in_time_order(made: tuple[Schedule, date]) -> None:
    """What the sweep relies on to walk the busy intervals once: with windows apart (as
    the availability API requires), every slot ends before the next one starts, across
    the dates and the days the clocks change."""
    schedule, first = made
    found = free_slots(schedule, first, first + timedelta(days=DAYS - 1), not_before=LONG_AGO)
    for earlier, later in itertools.pairwise(found):
        assert earlier.ends_at <= later.starts_at


def test_touching_nested_and_overlapping_busy_time_in_any_order() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    monday = date(2026, 1, 5)  # Berlin is UTC+1: 09:00 local is 08:00 UTC
    schedule = Schedule(berlin, [Rule(1, Window(9 * 60, 13 * 60, 30))], {})

    def at(clock: str) -> datetime:
        hours, minutes = (int(part) for part in clock.split(":"))
        return datetime(2026, 1, 5, hours - 1, minutes, tzinfo=UTC)  # local → UTC

    busy = [
        (at("12:30"), at("12:30")),  # empty, at a slot boundary: takes nothing
        (at("10:00"), at("11:00")),  # takes 10:00 and 10:30
        (at("10:10"), at("10:20")),  # nested in the one above
        (at("09:00"), at("09:30")),  # takes 09:00, touches 09:30
        (at("11:45"), at("12:15")),  # overlaps 11:30 and 12:00
        (at("11:40"), at("11:50")),  # overlaps the one above, inside 11:30
    ]
    found = free_slots(schedule, monday, monday, not_before=LONG_AGO, busy=busy)

    assert [slot.local_start.strftime("%H:%M") for slot in found] == ["09:30", "11:00", "12:30"]
    assert found == by_definition(schedule, monday, monday, LONG_AGO, busy)


def test_a_slot_ending_before_the_one_before_it_is_judged_on_its_own() -> None:
    """Overlapping windows (which the availability API refuses, but a schedule may
    hold) give a short slot after a long one that ends later: busy time after the
    short slot's end must not take it."""
    zone = ZoneInfo("UTC")
    monday = date(2026, 1, 5)
    schedule = Schedule(
        zone,
        [Rule(1, Window(9 * 60, 10 * 60 + 30, 90)), Rule(1, Window(9 * 60 + 15, 10 * 60, 15))],
        {},
    )
    busy = [(datetime(2026, 1, 5, 10, 0, tzinfo=UTC), datetime(2026, 1, 5, 10, 15, tzinfo=UTC))]

    found = free_slots(schedule, monday, monday, not_before=LONG_AGO, busy=busy)

    assert [slot.local_start.strftime("%H:%M") for slot in found] == ["09:15", "09:30", "09:45"]
    assert found == by_definition(schedule, monday, monday, LONG_AGO, busy)
