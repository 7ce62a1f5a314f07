"""The patient's own profile (`GET/PUT /patients/profile`): their data, no organization's
(date of birth, sex, time zone, phone, emergency contact, allergies), used by booking
and Pillio, and the organizations holding a chart linked to them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.models.patients import PatientProfile
from medhub.patients.linking import chart_link
from medhub.patients.repository import PatientRepository, ProfileRepository
from medhub.patients.schemas import PatientProfileRead, PatientProfileUpdate

DEFAULT_TIMEZONE = "UTC"


async def _view(session: AsyncSession, profile: PatientProfile | None) -> PatientProfileRead:
    charts = [chart_link(row) for row in await PatientRepository(session).own_charts()]
    if profile is None:
        return PatientProfileRead(
            date_of_birth=None,
            sex=None,
            timezone=DEFAULT_TIMEZONE,
            phone=None,
            emergency_contact=None,
            allergies=None,
            charts=charts,
            updated_at=None,
        )
    return PatientProfileRead(
        date_of_birth=profile.date_of_birth,
        sex=profile.sex,
        timezone=profile.timezone,
        phone=profile.phone,
        emergency_contact=profile.emergency_contact,
        allergies=profile.allergies,
        charts=charts,
        updated_at=profile.updated_at,
    )


async def own_profile(session: AsyncSession, principal: Principal) -> PatientProfileRead:
    """The caller's profile (defaults until they save one: nothing is written by a read)."""
    profile = await ProfileRepository(session).get_profile(principal.require_user_id())
    return await _view(session, profile)


async def save_own_profile(
    session: AsyncSession, principal: Principal, data: PatientProfileUpdate
) -> PatientProfileRead:
    """Change the fields sent (creating the profile on the first save)."""
    user_id = principal.require_user_id()
    repository = ProfileRepository(session)
    await repository.lock_profile(user_id)
    profile = await repository.get_profile(user_id)
    values = data.written()
    if profile is None:
        profile = await repository.add(
            PatientProfile(**{"user_id": user_id, "timezone": DEFAULT_TIMEZONE, **values})
        )
        changed = sorted(values)
    else:
        changed = sorted(name for name, value in values.items() if getattr(profile, name) != value)
        for name, value in values.items():
            setattr(profile, name, value)
        # The UPDATE reads the new updated_at back (the models' eager defaults).
        await session.flush()
    audit.record(
        session,
        "patient_profile.updated",
        actor=principal,
        entity_type="patient_profile",
        entity_id=user_id,
        metadata={"fields": changed},
    )
    return await _view(session, profile)
