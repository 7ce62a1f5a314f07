"""Doctors: the public directory, profiles, availability and free slots.

The `/doctors/me/...` routes are declared before `/doctors/{doctor_id}/...`, so that
`me` is never read as an id.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from medhub.doctors import directory, service
from medhub.doctors.auth import AvailabilityManage, DoctorSelf
from medhub.doctors.schemas import (
    ISO_639_1,
    MAX_RANGE_DAYS,
    AvailabilityRead,
    AvailabilityWrite,
    DirectoryFilters,
    DoctorProfileRead,
    DoctorProfileWrite,
    DoctorSort,
    PublicDoctor,
    SlotsRead,
    SortOrder,
)
from medhub.kit.appstate import AppSettings
from medhub.kit.dates import Day
from medhub.kit.db import DbSession, ReadSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.pagination import Paging, page_envelope, page_of

router = APIRouter(prefix="/doctors", tags=["doctors"])


@router.get(
    "",
    response_model=page_envelope("doctors", PublicDoctor),
    summary="The public directory of doctors (anonymous allowed)",
)
async def list_doctors(
    session: ReadSession,
    settings: AppSettings,
    paging: Paging,
    specialty: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    search: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Name, case-insensitive")
    ] = None,
    language: Annotated[
        str | None, Query(min_length=2, max_length=2, description="ISO 639-1 code, e.g. de")
    ] = None,
    video: Annotated[bool | None, Query(description="Offers video consultations")] = None,
    max_fee: Annotated[
        Decimal | None, Query(ge=0, description="Consultation fee at most (doctor's currency)")
    ] = None,
    available_on: Annotated[
        Day | None,
        Query(description="Has a free slot on this date (YYYY-MM-DD, in the doctor's zone)"),
    ] = None,
    sort: Annotated[DoctorSort, Query(description="rating, fee, experience or name")] = "name",
    order: SortOrder = "asc",
) -> JSONResponse:
    code = language.lower() if language else None
    if code is not None and code not in ISO_639_1:
        raise ValidationFailed(
            "Unknown language",
            details=[ErrorDetail(field="language", message="must be an ISO 639-1 code")],
        )
    filters = DirectoryFilters(
        specialty=specialty,
        search=search,
        language=code,
        video=video,
        max_fee=max_fee,
        available_on=available_on,
        sort=sort,
        descending=order == "desc",
    )
    items, total = await directory.list_doctors(session, settings, filters, paging)
    return ok(page_of("doctors", items, paging, total))


# The doctor's own profile and availability


@router.get(
    "/me/profile",
    response_model=Envelope[DoctorProfileRead],
    summary="Your doctor profile (doctors)",
)
async def get_my_profile(principal: DoctorSelf, session: DbSession) -> JSONResponse:
    return ok(await service.own_profile(session, principal))


@router.put(
    "/me/profile",
    response_model=Envelope[DoctorProfileRead],
    responses={201: {"description": "Profile created", "model": Envelope[DoctorProfileRead]}},
    summary="Create or replace your doctor profile (201 when created)",
)
async def put_my_profile(
    body: DoctorProfileWrite, principal: DoctorSelf, session: DbSession
) -> JSONResponse:
    profile, was_created = await service.save_own_profile(session, principal, body)
    if was_created:
        return created(profile, message="Profile created")
    return ok(profile, message="Profile updated")


@router.get(
    "/me/availability",
    response_model=Envelope[AvailabilityRead],
    summary="Your weekly rules and dated exceptions (doctors)",
)
async def get_my_availability(principal: DoctorSelf, session: DbSession) -> JSONResponse:
    return ok(await service.availability(session, principal))


@router.put(
    "/me/availability",
    response_model=Envelope[AvailabilityRead],
    summary="Replace your whole availability at once (doctors)",
)
async def put_my_availability(
    body: AvailabilityWrite, principal: DoctorSelf, session: DbSession
) -> JSONResponse:
    result = await service.replace_availability(session, principal, body)
    return ok(result, message="Availability updated")


# One doctor


@router.get(
    "/{doctor_id}",
    response_model=Envelope[PublicDoctor],
    summary="A doctor's public profile (anonymous allowed)",
)
async def get_doctor(doctor_id: uuid.UUID, session: ReadSession) -> JSONResponse:
    return ok(await directory.public_profile(session, doctor_id))


@router.get(
    "/{doctor_id}/availability",
    response_model=Envelope[AvailabilityRead],
    summary="A doctor's availability (admins of the doctor's organization)",
)
async def get_doctor_availability(
    doctor_id: uuid.UUID, principal: AvailabilityManage, session: DbSession
) -> JSONResponse:
    return ok(await service.availability(session, principal, doctor_id))


@router.put(
    "/{doctor_id}/availability",
    response_model=Envelope[AvailabilityRead],
    summary="Replace a doctor's whole availability (admins of the doctor's organization)",
)
async def put_doctor_availability(
    doctor_id: uuid.UUID, body: AvailabilityWrite, principal: AvailabilityManage, session: DbSession
) -> JSONResponse:
    result = await service.replace_availability(session, principal, body, doctor_id)
    return ok(result, message="Availability updated")


async def _slot_dates(
    first: Annotated[
        Day, Query(alias="from", description="First date, inclusive (YYYY-MM-DD, doctor's zone)")
    ],
    last: Annotated[
        Day, Query(alias="to", description="Last date, inclusive (YYYY-MM-DD, doctor's zone)")
    ],
) -> tuple[date, date]:
    if first > last:
        raise ValidationFailed(
            "The range is empty",
            details=[ErrorDetail(field="from", message="must not be later than 'to'")],
        )
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(
            "The range is too long",
            details=[
                ErrorDetail(
                    field="to", message=f"at most {MAX_RANGE_DAYS} days from 'from', inclusive"
                )
            ],
        )
    return first, last


@router.get(
    "/{doctor_id}/slots",
    response_model=Envelope[SlotsRead],
    summary="A doctor's free slots, in UTC with the doctor's zone (anonymous allowed)",
)
async def get_doctor_slots(
    doctor_id: uuid.UUID,
    session: ReadSession,
    settings: AppSettings,
    dates: Annotated[tuple[date, date], Depends(_slot_dates)],
) -> JSONResponse:
    first, last = dates
    result = await directory.free_slots(session, settings, doctor_id, first, last)
    return ok(result.model_dump(mode="json", by_alias=True))
