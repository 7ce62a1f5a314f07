"""Free slots from a doctor's weekly rules and dated exceptions: pure computation, no I/O.

Dates and clock times are the doctor's, in their IANA zone; the slots come out as UTC
instants (plus the local start, for display). Across daylight-saving changes:

- A rule is wall-clock time: a 09:00 rule starts at 09:00 local on the days the clocks
  change too (07:00 UTC in Berlin on 2026-03-29, 08:00 UTC the day before).
- Slot starts lie on the rule's wall-clock grid (start, start + slot, ...); a slot
  lasts `slot_minutes` of real time.
- Clocks going forward (the gap, e.g. 02:00-03:00 in Berlin on 2026-03-29): a grid
  time that does not exist that day gives no slot, nor does a slot during which the
  clocks jump forward (its wall-clock span would include times that never happen, and
  it would run into the next slot's real time). A slot that ends exactly at the jump
  is kept.
- Clocks going back (the fold, e.g. 02:00-03:00 twice in Berlin on 2026-10-25): each
  wall-clock grid time is offered once, at its first occurrence (`fold=0`, still
  daylight time); the repeated hour gives no second, duplicate set of slots. (That
  real hour stays unused: the doctor's day follows the wall clock, which shows those
  times only once in the schedule.)

The busy time of appointments is a seam for the appointments work: `free_slots` takes
it (`busy`) and drops every slot overlapping it, in one sweep (`_outside`): the busy
intervals sorted once by start, the slots walked in time order.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Window:
    """Working hours on one date: local minutes since midnight, [start, end)."""

    start_minute: int
    end_minute: int
    slot_minutes: int


@dataclass(frozen=True, slots=True)
class Rule:
    weekday: int  # ISO: 1 = Monday ... 7 = Sunday
    window: Window


@dataclass(frozen=True, slots=True)
class DayException:
    """A date off (`window` None), or the hours worked that date instead of the rules."""

    day: date
    window: Window | None


@dataclass(frozen=True, slots=True)
class Schedule:
    zone: ZoneInfo
    rules: Sequence[Rule]
    exceptions: Mapping[date, DayException]


@dataclass(frozen=True, slots=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    local_start: datetime  # the same instant in the doctor's zone


# [start, end) in UTC: time already taken (appointments).
Interval = tuple[datetime, datetime]


def windows_on(schedule: Schedule, day: date) -> list[Window]:
    """The working hours of a date: its exception's, or else its weekday's rules."""
    exception = schedule.exceptions.get(day)
    if exception is not None:
        return [exception.window] if exception.window is not None else []
    weekday = day.isoweekday()
    return sorted(
        (rule.window for rule in schedule.rules if rule.weekday == weekday),
        key=lambda window: window.start_minute,
    )


def window_slots(zone: ZoneInfo, day: date, window: Window) -> Iterator[Slot]:
    """The slots of one window on one date, in order (see the module docstring for DST)."""
    midnight = datetime.combine(day, time())
    length = timedelta(minutes=window.slot_minutes)
    minute = window.start_minute
    while minute + window.slot_minutes <= window.end_minute:
        wall = midnight + timedelta(minutes=minute)
        minute += window.slot_minutes
        # fold=0 (the default): a repeated wall time means its first occurrence.
        local = wall.replace(tzinfo=zone)
        starts_at = local.astimezone(UTC)
        local_start = starts_at.astimezone(zone)
        if local_start.replace(tzinfo=None, fold=0) != wall:
            continue  # in the gap: this wall time does not exist that day
        ends_at = starts_at + length
        if _clocks_jump_forward(zone, starts_at, ends_at):
            continue
        yield Slot(starts_at=starts_at, ends_at=ends_at, local_start=local_start)


def _clocks_jump_forward(zone: ZoneInfo, starts_at: datetime, ends_at: datetime) -> bool:
    """Whether the zone's offset grows strictly inside [starts_at, ends_at)."""
    before = starts_at.astimezone(zone).utcoffset()
    last = (ends_at - _TICK).astimezone(zone).utcoffset()
    assert before is not None
    assert last is not None
    return last > before


def day_slots(schedule: Schedule, day: date) -> list[Slot]:
    slots = [
        slot
        for window in windows_on(schedule, day)
        for slot in window_slots(schedule.zone, day, window)
    ]
    slots.sort(key=lambda slot: slot.starts_at)
    return slots


def free_slots(
    schedule: Schedule,
    first: date,
    last: date,
    *,
    not_before: datetime,
    busy: Sequence[Interval] = (),
) -> list[Slot]:
    """The free slots of the dates `first`..`last` (inclusive, in the doctor's zone):
    the rules' and exceptions' slots that start at `not_before` or later (now plus the
    minimum lead time) and overlap no `busy` interval."""
    return list(iter_free_slots(schedule, first, last, not_before=not_before, busy=busy))


def iter_free_slots(
    schedule: Schedule,
    first: date,
    last: date,
    *,
    not_before: datetime,
    busy: Sequence[Interval] = (),
) -> Iterator[Slot]:
    """`free_slots`, one at a time, in time order."""
    return _outside(_slots_from(schedule, first, last, not_before), busy)


def _slots_from(
    schedule: Schedule, first: date, last: date, not_before: datetime
) -> Iterator[Slot]:
    """The slots of the dates `first`..`last` starting at `not_before` or later, in time
    order: each date's in order (`day_slots`), and a date's all before the next date's
    (a window lies within its date's wall-clock day, 00:00-24:00, and a slot ends
    within its window in real time too: see `window_slots`)."""
    day = first
    while day <= last:
        for slot in day_slots(schedule, day):
            if slot.starts_at >= not_before:
                yield slot
        day += timedelta(days=1)


def _outside(slots: Iterable[Slot], busy: Sequence[Interval]) -> Iterator[Slot]:
    """The `slots` that overlap no `busy` interval, in one sweep.

    A slot [s, e) overlaps a busy [start, end) when `s < end and start < e`; so it
    overlaps some interval exactly when, among the intervals starting before `e`, the
    latest end is after `s`. With the intervals sorted by start once, those starting
    before `e` are a prefix, whose latest end is kept per length (`reach`); as the
    slots come in time order their ends grow, and the prefix only lengthens: one
    pointer walks the intervals once, alongside the slots. (A slot ending earlier
    than the one before it, which the availability rules never give, is answered
    the same, by a binary search back.)
    """
    if not busy:
        yield from slots
        return
    ordered = sorted(busy, key=lambda interval: interval[0])
    starts = [start for start, _ in ordered]
    # reach[k]: the latest end of the first k intervals (by start); reach[0] is no end.
    reach = [datetime.min.replace(tzinfo=UTC)]
    for _, end in ordered:
        reach.append(max(reach[-1], end))
    count = len(starts)
    taken = 0  # how many intervals start before the current slot's end
    for slot in slots:
        ends_at = slot.ends_at
        if taken and starts[taken - 1] >= ends_at:
            taken = bisect_left(starts, ends_at, hi=taken)
        while taken < count and starts[taken] < ends_at:
            taken += 1
        if reach[taken] > slot.starts_at:
            continue
        yield slot
