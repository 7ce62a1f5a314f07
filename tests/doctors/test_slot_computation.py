"""The slot computation alone (medhub.doctors.slots): rules, exceptions, the clock,
busy time, and the days the clocks change."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from medhub.doctors.slots import (
    DayException,
    Rule,
    Schedule,
    Window,
    day_slots,
    free_slots,
    windows_on,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def window(start: str, end: str, slot: int) -> Window:
    return Window(hm(start), hm(end), slot)


def schedule(
    zone: ZoneInfo, *rules: tuple[int, str, str, int], exceptions: list[DayException] | None = None
) -> Schedule:
    return Schedule(
        zone,
        [Rule(weekday, window(start, end, slot)) for weekday, start, end, slot in rules],
        {e.day: e for e in exceptions or []},
    )


def local(slots_: list[object]) -> list[str]:
    return [s.local_start.isoformat() for s in slots_]  # type: ignore[attr-defined]


def test_rules_give_slots_on_their_weekday_in_order() -> None:
    s = schedule(BERLIN, (1, "14:00", "15:00", 30), (1, "09:00", "10:00", 20))
    monday = date(2026, 1, 5)
    assert local(day_slots(s, monday)) == [
        "2026-01-05T09:00:00+01:00",
        "2026-01-05T09:20:00+01:00",
        "2026-01-05T09:40:00+01:00",
        "2026-01-05T14:00:00+01:00",
        "2026-01-05T14:30:00+01:00",
    ]
    assert day_slots(s, monday + timedelta(days=1)) == []


def test_a_window_ends_with_the_last_whole_slot_and_may_end_at_midnight() -> None:
    s = schedule(BERLIN, (1, "22:00", "24:00", 45))
    slots = day_slots(s, date(2026, 1, 5))
    assert local(slots) == ["2026-01-05T22:00:00+01:00", "2026-01-05T22:45:00+01:00"]
    assert slots[-1].ends_at == datetime(2026, 1, 5, 22, 30, tzinfo=UTC)


def test_exceptions_replace_the_rules_of_their_date() -> None:
    monday = date(2026, 1, 5)
    off = schedule(BERLIN, (1, "09:00", "10:00", 30), exceptions=[DayException(monday, None)])
    assert windows_on(off, monday) == []
    extra = schedule(
        BERLIN,
        (1, "09:00", "10:00", 30),
        exceptions=[DayException(monday, window("18:00", "19:00", 60))],
    )
    assert windows_on(extra, monday) == [window("18:00", "19:00", 60)]
    assert local(day_slots(extra, monday)) == ["2026-01-05T18:00:00+01:00"]
    # Other Mondays keep the rules.
    assert windows_on(extra, monday + timedelta(days=7)) == [window("09:00", "10:00", 30)]


def test_free_slots_start_no_earlier_than_asked_and_avoid_busy_time() -> None:
    s = schedule(BERLIN, (1, "09:00", "12:00", 60))
    monday = date(2026, 1, 5)
    not_before = datetime(2026, 1, 5, 8, 0, 1, tzinfo=UTC)  # 09:00:01 local
    assert local(free_slots(s, monday, monday, not_before=not_before)) == [
        "2026-01-05T10:00:00+01:00",
        "2026-01-05T11:00:00+01:00",
    ]
    # Busy 10:30-10:45 local takes the 10:00 slot; one ending at 11:00 sharp takes no more.
    busy = [
        (datetime(2026, 1, 5, 9, 30, tzinfo=UTC), datetime(2026, 1, 5, 9, 45, tzinfo=UTC)),
        (datetime(2026, 1, 5, 9, 45, tzinfo=UTC), datetime(2026, 1, 5, 10, 0, tzinfo=UTC)),
    ]
    assert local(free_slots(s, monday, monday, not_before=LONG_AGO, busy=busy)) == [
        "2026-01-05T09:00:00+01:00",
        "2026-01-05T11:00:00+01:00",
    ]


def test_spring_forward_berlin() -> None:
    s = schedule(BERLIN, (7, "01:00", "04:00", 30), (7, "09:00", "10:00", 60))
    slots = day_slots(s, date(2026, 3, 29))
    assert local(slots) == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-29T09:00:00+02:00",
    ]
    assert slots[-1].starts_at == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    # Real time, never overlapping: the 01:30 slot ends as the clocks jump to 03:00.
    for earlier, later in itertools.pairwise(slots):
        assert earlier.ends_at <= later.starts_at
    assert slots[1].ends_at == slots[2].starts_at


def test_spring_forward_drops_a_slot_the_clocks_jump_through() -> None:
    # 45-minute slots from 01:30: 01:30-02:15 would include wall times that never
    # happen (and overlap 03:00 in real time); 02:15 and 02:30-ish do not exist.
    s = schedule(BERLIN, (7, "00:45", "04:00", 45))
    assert local(day_slots(s, date(2026, 3, 29))) == [
        "2026-03-29T00:45:00+01:00",
        "2026-03-29T03:00:00+02:00",
    ]
    # The day before, the same rule is four ordinary slots.
    assert len(day_slots(s, date(2026, 3, 22))) == 4


def test_fall_back_berlin_offers_each_wall_time_once() -> None:
    s = schedule(BERLIN, (7, "01:00", "04:00", 30))
    slots = day_slots(s, date(2026, 10, 25))
    assert local(slots) == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]
    assert len({slot.starts_at for slot in slots}) == len(slots)
    # A slot running through the change lasts its real length all the same.
    crossing = day_slots(schedule(BERLIN, (7, "02:40", "03:40", 30)), date(2026, 10, 25))
    assert local(crossing) == ["2026-10-25T02:40:00+02:00", "2026-10-25T03:10:00+01:00"]
    assert crossing[0].ends_at - crossing[0].starts_at == timedelta(minutes=30)
    assert crossing[0].ends_at < crossing[1].starts_at


def test_spring_forward_new_york() -> None:
    s = schedule(NEW_YORK, (7, "01:00", "04:00", 30), (7, "09:00", "10:00", 60))
    slots = day_slots(s, date(2026, 3, 8))
    assert local(slots) == [
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T03:30:00-04:00",
        "2026-03-08T09:00:00-04:00",
    ]
    assert slots[-1].starts_at == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    assert day_slots(s, date(2026, 3, 1))[-1].starts_at == datetime(2026, 3, 1, 14, 0, tzinfo=UTC)


def test_a_half_hour_daylight_saving_change() -> None:
    # Lord Howe Island moves its clocks by 30 minutes (02:00 → 02:30 on 2026-10-04).
    zone = ZoneInfo("Australia/Lord_Howe")
    s = schedule(zone, (7, "01:30", "03:30", 30))
    assert local(day_slots(s, date(2026, 10, 4))) == [
        "2026-10-04T01:30:00+10:30",
        "2026-10-04T02:30:00+11:00",
        "2026-10-04T03:00:00+11:00",
    ]


def test_free_slots_span_several_days_inclusive() -> None:
    s = schedule(BERLIN, (1, "09:00", "10:00", 60), (2, "09:00", "10:00", 60))
    found = free_slots(s, date(2026, 1, 5), date(2026, 1, 12), not_before=LONG_AGO)
    assert [slot.local_start.date().isoformat() for slot in found] == [
        "2026-01-05",
        "2026-01-06",
        "2026-01-12",
    ]
