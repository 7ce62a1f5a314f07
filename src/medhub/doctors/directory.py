"""The public side of the doctors, for anyone (anonymous included): the directory, a
doctor's public profile and their free slots.

Everything here is read from the public views (`DirectoryRepository`): only the public
columns of listed, approved, active doctors of active hospitals and clinics. Any other
doctor (unknown, unlisted, unapproved, deactivated, or of a suspended organization)
simply is not there: 404.

Booking an appointment checks its start with `free_slot_at`, the same computation as
the public free slots: what GET /doctors/{id}/slots offers is what can be booked.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.config import Settings
from medhub.doctors import slots
from medhub.doctors.exceptions import DoctorNotFound
from medhub.doctors.repository import DirectoryRepository
from medhub.doctors.schemas import DirectoryFilters, PublicDoctor, SlotRead, SlotsRead
from medhub.kit.pagination import PageParams

log = structlog.get_logger(__name__)


def now() -> datetime:
    """The current instant (one place, so tests can stand at a chosen moment)."""
    return datetime.now(UTC)


def _public(row: Row[Any]) -> PublicDoctor:
    return PublicDoctor.model_validate(dict(row._mapping))


def _not_before(settings: Settings) -> datetime:
    """The earliest start a free slot may have: now plus the minimum lead time."""
    return now() + timedelta(minutes=settings.APPOINTMENT_MIN_LEAD_MINUTES)


def _free(
    schedule: slots.Schedule,
    first: date,
    last: date,
    not_before: datetime,
    busy: Sequence[slots.Interval],
) -> Iterator[slots.Slot]:
    """The free slots of one doctor: every read of slots (public lists and booking
    checks) comes through here. `busy`: the doctor's active appointments (`_busy`)."""
    return slots.iter_free_slots(schedule, first, last, not_before=not_before, busy=busy)


async def _busy(
    repository: DirectoryRepository, doctor_ids: Sequence[uuid.UUID], first: date, last: date
) -> defaultdict[uuid.UUID, list[slots.Interval]]:
    """The [starts_at, ends_at) of the doctors' active appointments near the local dates
    first..last, from the public busy view (periods only: slots are public).

    The UTC span reaches a day beyond both ends: whatever the doctor's zone (offsets
    stay within a day of UTC), it holds every slot of those dates, including one that
    runs past local midnight."""
    since = datetime.combine(first - timedelta(days=1), time(), UTC)
    until = datetime.combine(last + timedelta(days=2), time(), UTC)
    busy: defaultdict[uuid.UUID, list[slots.Interval]] = defaultdict(list)
    for row in await repository.busy(doctor_ids, since, until):
        busy[row.doctor_id].append((row.starts_at, row.ends_at))
    return busy


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Validated when saved; gone only if the machine's zone database lost it.
        log.error("doctors.unknown_time_zone", timezone=name)
        return None


async def _schedules(
    repository: DirectoryRepository,
    doctors: Sequence[Row[Any]],
    first: date,
    last: date,
) -> dict[uuid.UUID, slots.Schedule]:
    rules: defaultdict[uuid.UUID, list[slots.Rule]] = defaultdict(list)
    exceptions: defaultdict[uuid.UUID, dict[date, slots.DayException]] = defaultdict(dict)
    rule_rows, exception_rows = await repository.schedules([d.id for d in doctors], first, last)
    for row in rule_rows:
        window = slots.Window(row.start_minute, row.end_minute, row.slot_minutes)
        rules[row.doctor_id].append(slots.Rule(row.weekday, window))
    for row in exception_rows:
        hours = (
            slots.Window(row.start_minute, row.end_minute, row.slot_minutes)
            if row.available
            else None
        )
        exceptions[row.doctor_id][row.day] = slots.DayException(row.day, hours)
    schedules: dict[uuid.UUID, slots.Schedule] = {}
    for doctor in doctors:
        zone = _zone(doctor.timezone)
        if zone is not None:
            schedules[doctor.id] = slots.Schedule(
                zone, rules.get(doctor.id, []), exceptions.get(doctor.id, {})
            )
    return schedules


async def list_doctors(
    session: AsyncSession, settings: Settings, filters: DirectoryFilters, params: PageParams
) -> tuple[list[PublicDoctor], int]:
    repository = DirectoryRepository(session)
    day = filters.available_on
    if day is None:
        rows, total = await repository.page(filters, limit=params.limit, offset=params.offset)
        return [_public(row) for row in rows], total
    # "Has a free slot that day" depends on the clock, each doctor's zone (and later
    # their appointments): SQL narrows the list to the doctors who work that date at
    # all, the slot computation decides, and the page is cut from what remains.
    candidates = await repository.working_on(filters, day)
    schedules = await _schedules(repository, candidates, day, day)
    busy = await _busy(repository, list(schedules), day, day)
    not_before = _not_before(settings)
    matching = [
        row
        for row in candidates
        if row.id in schedules
        and next(_free(schedules[row.id], day, day, not_before, busy[row.id]), None) is not None
    ]
    page = matching[params.offset : params.offset + params.limit]
    return [_public(row) for row in page], len(matching)


async def public_profile(session: AsyncSession, doctor_id: uuid.UUID) -> PublicDoctor:
    row = await DirectoryRepository(session).by_id(doctor_id)
    if row is None:
        raise DoctorNotFound()
    return _public(row)


async def free_slots(
    session: AsyncSession, settings: Settings, doctor_id: uuid.UUID, first: date, last: date
) -> SlotsRead:
    """The doctor's free slots on the dates first..last of their own zone."""
    repository = DirectoryRepository(session)
    doctor = await repository.by_id(doctor_id)
    if doctor is None:
        raise DoctorNotFound()
    schedule = (await _schedules(repository, [doctor], first, last)).get(doctor.id)
    found: list[slots.Slot] = []
    if schedule is not None:
        busy = await _busy(repository, [doctor.id], first, last)
        found = list(_free(schedule, first, last, _not_before(settings), busy[doctor.id]))
    return SlotsRead(
        doctor_id=doctor.id,
        timezone=doctor.timezone,
        from_=first,
        to=last,
        slots=[
            SlotRead(starts_at=s.starts_at, ends_at=s.ends_at, local_start=s.local_start)
            for s in found
        ],
    )


async def free_slot_at(
    session: AsyncSession,
    settings: Settings,
    doctor_id: uuid.UUID,
    starts_at: datetime,
    *,
    held: slots.Interval | None = None,
) -> slots.Slot | None:
    """The doctor's free slot that starts exactly at `starts_at`, as GET /slots offers it
    now (in the doctor's hours, not in the past nor within the minimum lead time, not
    taken), or None. Raises `DoctorNotFound` for a doctor who cannot be booked.

    `held`: a period the caller's own appointment holds and is about to give up (a
    reschedule), counted as free. Only a check: the exclusion constraints on
    appointments decide a race between two bookings of one slot.
    """
    repository = DirectoryRepository(session)
    doctor = await repository.by_id(doctor_id)
    if doctor is None:
        raise DoctorNotFound()
    zone = _zone(doctor.timezone)
    if zone is None:
        return None
    instant = starts_at.astimezone(UTC)
    # A slot's date is the local date of its start (slots.window_slots).
    day = instant.astimezone(zone).date()
    schedule = (await _schedules(repository, [doctor], day, day)).get(doctor.id)
    if schedule is None:
        return None
    busy = (await _busy(repository, [doctor.id], day, day))[doctor.id]
    if held is not None and held in busy:
        # The doctor's active appointments never overlap, so this period is that one.
        busy.remove(held)
    for slot in _free(schedule, day, day, _not_before(settings), busy):
        if slot.starts_at == instant:
            return slot
    return None
