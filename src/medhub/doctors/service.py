"""A doctor's own profile, and the availability the doctor or their organization's admin
sets. The public reads (directory, public profile, free slots) are in `directory`.

A doctor not yet approved edits both like anyone else: approval decides whether the
directory shows them, not whether they may prepare.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.doctors.exceptions import DoctorNotFound, ProfileNotFound, ProfileRequired
from medhub.doctors.repository import DirectoryRepository, ProfileRepository
from medhub.doctors.schemas import (
    DEFAULT_SLOT_MINUTES,
    AvailabilityRead,
    AvailabilityWrite,
    DoctorProfileRead,
    DoctorProfileWrite,
    ExceptionRead,
    RuleRead,
    RuleWrite,
    clock,
    minutes,
)
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.models.doctors import AvailabilityException, AvailabilityRule, DoctorProfile

# Profile


def _profile_view(
    profile: DoctorProfile, *, is_approved: bool, in_directory: bool
) -> DoctorProfileRead:
    return DoctorProfileRead(
        id=profile.user_id,
        organization_id=profile.organization_id,
        specialty=profile.specialty,
        license_number=profile.license_number,
        qualifications=list(profile.qualifications),
        years_of_experience=profile.years_of_experience,
        bio=profile.bio,
        languages=list(profile.languages),
        consultation_fee=profile.consultation_fee,
        currency=profile.currency,
        offers_video=profile.offers_video,
        is_listed=profile.is_listed,
        rating_average=profile.rating_average,
        rating_count=profile.rating_count,
        timezone=profile.timezone,
        is_approved=is_approved,
        in_directory=in_directory,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
    )


async def own_profile(session: AsyncSession, principal: Principal) -> DoctorProfileRead:
    doctor_id = principal.require_user_id()
    profile = await ProfileRepository(session).get_profile(doctor_id)
    if profile is None:
        raise ProfileNotFound(
            "You have no doctor profile yet: create it with PUT /api/v1/doctors/me/profile"
        )
    return _profile_view(
        profile,
        is_approved=principal.is_approved,
        in_directory=await DirectoryRepository(session).is_public(doctor_id),
    )


async def save_own_profile(
    session: AsyncSession, principal: Principal, data: DoctorProfileWrite
) -> tuple[DoctorProfileRead, bool]:
    """Create the caller's profile or replace it; True when it was created. The profile
    belongs to the doctor's organization as it is now."""
    doctor_id = principal.require_user_id()
    repository = ProfileRepository(session)
    values = data.model_dump()
    before = await repository.get_profile(doctor_id)
    previous: dict[str, Any] = (
        {key: getattr(before, key) for key in values} if before is not None else {}
    )
    created = await repository.save(doctor_id, principal.organization_id, values)
    profile = await repository.get_profile(doctor_id)
    assert profile is not None  # just written, in this transaction
    changed = sorted(key for key, value in values.items() if previous.get(key) != value)
    audit.record(
        session,
        "doctor_profile_created" if created else "doctor_profile_updated",
        actor=principal,
        organization_id=principal.organization_id,
        entity_type="doctor",
        entity_id=doctor_id,
        metadata={"fields": changed},
    )
    view = _profile_view(
        profile,
        is_approved=principal.is_approved,
        in_directory=await DirectoryRepository(session).is_public(doctor_id),
    )
    return view, created


async def join_organization(
    session: AsyncSession, doctor_id: uuid.UUID, organization_id: uuid.UUID
) -> bool:
    """The doctor's profile follows the doctor into `organization_id` (an independent
    doctor's own clinic, made at their approval): the directory lists a doctor only
    where their account and their profile name the same organization. True when the
    doctor had a profile to move; one made later takes the account's organization.

    The caller audits the move with the change of the account it belongs to."""
    return await ProfileRepository(session).move_to_organization(doctor_id, organization_id)


# Availability


async def _doctor_for(
    session: AsyncSession, principal: Principal, doctor_id: uuid.UUID | None
) -> uuid.UUID:
    """The doctor whose availability is meant: the caller ("me", `doctor_id` None), or a
    doctor of the caller's organization (its admins); any other doctor is not found."""
    if doctor_id is None:
        return principal.require_user_id()
    organization_id = principal.organization_id
    if organization_id is None or not await ProfileRepository(session).doctor_in_organization(
        doctor_id, organization_id
    ):
        raise DoctorNotFound()
    return doctor_id


def _availability_view(
    doctor_id: uuid.UUID,
    timezone: str,
    rules: Sequence[AvailabilityRule],
    exceptions: Sequence[AvailabilityException],
) -> AvailabilityRead:
    return AvailabilityRead(
        doctor_id=doctor_id,
        timezone=timezone,
        rules=[
            RuleRead(
                weekday=rule.weekday,
                start=clock(rule.start_minute),
                end=clock(rule.end_minute),
                slot_minutes=rule.slot_minutes,
            )
            for rule in sorted(rules, key=lambda r: (r.weekday, r.start_minute))
        ],
        exceptions=[
            ExceptionRead(
                date=exception.day,
                available=exception.available,
                start=clock(exception.start_minute) if exception.start_minute is not None else None,
                end=clock(exception.end_minute) if exception.end_minute is not None else None,
                slot_minutes=exception.slot_minutes,
            )
            for exception in sorted(exceptions, key=lambda e: e.day)
        ],
    )


async def availability(
    session: AsyncSession, principal: Principal, doctor_id: uuid.UUID | None = None
) -> AvailabilityRead:
    doctor_id = await _doctor_for(session, principal, doctor_id)
    repository = ProfileRepository(session)
    profile = await repository.get_profile(doctor_id)
    if profile is None:
        raise ProfileNotFound()
    return _availability_view(
        doctor_id,
        profile.timezone,
        await repository.rules_of(doctor_id),
        await repository.exceptions_of(doctor_id),
    )


def default_slot_minutes(rules: Sequence[RuleWrite], weekday: int) -> int:
    """The slot length of extra hours that do not name one: that weekday's (earliest)
    rule's, else the week's first rule's, else 30 minutes."""
    ordered = sorted(rules, key=lambda r: (r.weekday, minutes(r.start)))
    same_day = [rule for rule in ordered if rule.weekday == weekday]
    if same_day:
        return same_day[0].slot_minutes
    return ordered[0].slot_minutes if ordered else DEFAULT_SLOT_MINUTES


def _exceptions(doctor_id: uuid.UUID, data: AvailabilityWrite) -> list[AvailabilityException]:
    exceptions: list[AvailabilityException] = []
    problems: list[ErrorDetail] = []
    for index, item in enumerate(data.exceptions):
        if item.start is None or item.end is None:  # a day off (the schema checked)
            exceptions.append(
                AvailabilityException(doctor_id=doctor_id, day=item.date, available=False)
            )
            continue
        slot = item.slot_minutes or default_slot_minutes(data.rules, item.date.isoweekday())
        start, end = minutes(item.start), minutes(item.end)
        if end - start < slot:
            problems.append(
                ErrorDetail(
                    field=f"exceptions.{index}.end",
                    message=f"leaves no room for one slot of {slot} minutes",
                )
            )
        exceptions.append(
            AvailabilityException(
                doctor_id=doctor_id,
                day=item.date,
                available=True,
                start_minute=start,
                end_minute=end,
                slot_minutes=slot,
            )
        )
    if problems:
        raise ValidationFailed("Invalid availability", details=problems)
    return exceptions


async def replace_availability(
    session: AsyncSession,
    principal: Principal,
    data: AvailabilityWrite,
    doctor_id: uuid.UUID | None = None,
) -> AvailabilityRead:
    """Replace every rule and exception of the doctor at once, and set the doctor's zone
    (the profile's: rules are clock times in it)."""
    own = doctor_id is None
    doctor_id = await _doctor_for(session, principal, doctor_id)
    repository = ProfileRepository(session)
    # The lock makes concurrent replacements take turns: the last one wins whole.
    profile = await repository.get_profile(doctor_id, for_update=True)
    if profile is None:
        raise ProfileRequired()
    exceptions = _exceptions(doctor_id, data)
    rules = [
        AvailabilityRule(
            doctor_id=doctor_id,
            weekday=rule.weekday,
            start_minute=minutes(rule.start),
            end_minute=minutes(rule.end),
            slot_minutes=rule.slot_minutes,
        )
        for rule in data.rules
    ]
    previous_timezone = profile.timezone
    profile.timezone = data.timezone
    await repository.replace_availability(doctor_id, rules, exceptions)
    audit.record(
        session,
        "doctor_availability_updated",
        actor=principal,
        organization_id=profile.organization_id,
        entity_type="doctor",
        entity_id=doctor_id,
        metadata={
            "by": "doctor" if own else "organization_admin",
            "rules": len(rules),
            "exceptions": len(exceptions),
            "timezone": data.timezone,
            "previous_timezone": previous_timezone,
        },
    )
    return _availability_view(doctor_id, data.timezone, rules, exceptions)
