"""Patient charts: one person's record within one care organization (DESIGN.md,
"Clinical model").

Staff (the organization's admins and approved doctors) reach their organization's
charts; a patient reaches the charts linked to their account, at every organization.
Reads of one chart and every write are audited (`patient.*`, no PHI in metadata).

Other domains call `get_patient` (a chart as a principal may see it),
`chart_for_account` (a booking patient's chart at the doctor's organization, created
on first booking) and `own_charts` (a patient's charts everywhere: the medical history).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.kit.errors import ErrorDetail, PermissionDenied, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.models.identity import Role, User
from medhub.models.patients import Patient, Sex
from medhub.patients import linking
from medhub.patients.exceptions import (
    AccountAlreadyHasChart,
    PatientAlreadyDeleted,
    PatientNotDeleted,
    PatientNotFound,
)
from medhub.patients.repository import (
    ONE_CHART_PER_ACCOUNT,
    ChartScope,
    PatientRepository,
    ProfileRepository,
    national_id_index,
    phone_index,
    violated_constraint,
)
from medhub.patients.schemas import CLINICAL_FIELDS, PatientCreate, PatientFilters, PatientUpdate

ENTITY = "patient"


# Who reaches which charts


def chart_scope(principal: Principal) -> ChartScope:
    """The organization's charts for its staff (a doctor only once approved), the
    account's own linked charts for a patient, nothing for anyone else."""
    if can(principal.role, Action.PATIENTS_READ):
        if principal.organization_id is None or not principal.is_approved:
            return ChartScope()
        return ChartScope(organization_id=principal.organization_id)
    if can(principal.role, Action.PATIENT_SELF) and principal.user_id is not None:
        return ChartScope(user_id=principal.user_id)
    return ChartScope()


def sees_clinical(principal: Principal) -> bool:
    """Allergies and chronic conditions are clinical content: the organization's doctors
    read them, its admins do not (issue 12's access matrix)."""
    return can(principal.role, Action.CLINICAL_READ)


def _may_see_deleted(principal: Principal, include_deleted: bool) -> bool:
    if include_deleted and not can(principal.role, Action.PATIENTS_DELETE):
        raise PermissionDenied(
            "Only the organization's admins see deleted charts",
            details=[ErrorDetail(field="include_deleted", message="admins only")],
        )
    return include_deleted


# Views


def summary_view(chart: Patient) -> dict[str, Any]:
    return {
        "id": chart.id,
        "organization_id": chart.organization_id,
        "mrn": chart.mrn,
        "first_name": chart.first_name,
        "last_name": chart.last_name,
        "date_of_birth": chart.date_of_birth,
        "sex": chart.sex,
        "email": chart.email,
        "phone": chart.phone,
        "linked": chart.user_id is not None,
        "created_at": chart.created_at,
        "deleted_at": chart.deleted_at,
    }


def chart_view(chart: Patient, principal: Principal) -> dict[str, Any]:
    """The whole chart, decrypted, as this caller may read it."""
    view = {
        **summary_view(chart),
        "user_id": chart.user_id,
        "national_id": chart.national_id,
        "insurance_number": chart.insurance_number,
        "address": chart.address,
        "emergency_contact": chart.emergency_contact,
        "blood_type": chart.blood_type,
        "updated_at": chart.updated_at,
    }
    if sees_clinical(principal):
        view["allergies"] = chart.allergies
        view["chronic_conditions"] = chart.chronic_conditions
    return view


# What other domains call


async def get_patient(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID
) -> Patient:
    """The live chart as `principal` may see it (staff: their organization's; a patient:
    their own linked charts), else PatientNotFound. Not audited: the caller audits
    what it does with it."""
    chart = await PatientRepository(session).get_readable(chart_scope(principal), patient_id)
    if chart is None:
        raise PatientNotFound()
    return chart


async def chart_by_id(session: AsyncSession, patient_id: uuid.UUID) -> Patient | None:
    """A chart by id as the caller's context may read it, for background work that
    reaches a patient (a job in system context emailing them); no caller's scope."""
    return await PatientRepository(session).get(patient_id)


async def own_charts(session: AsyncSession, principal: Principal) -> Sequence[Patient]:
    """The live charts linked to a patient's account, at every organization (nothing for
    anyone but a patient). Not audited: the caller audits what it does with them."""
    if not can(principal.role, Action.PATIENT_SELF) or principal.user_id is None:
        return []
    return await PatientRepository(session).all_readable(chart_scope(principal))


def _split_name(full_name: str) -> tuple[str, str]:
    """'Mary Ann Lee' → ('Mary Ann', 'Lee'); a one-word name is the first name."""
    parts = full_name.split()
    if len(parts) < 2:
        return (parts[0] if parts else full_name.strip()), ""
    return " ".join(parts[:-1]), parts[-1]


async def chart_for_account(
    session: AsyncSession, *, organization_id: uuid.UUID, user: User
) -> Patient:
    """The live chart of this `patient` account at the organization; created (with the
    next MRN, linked to the account, audited) when it has none.

    Names come from the account, date of birth, sex and phone from the account's
    patient profile: a chart needs a date of birth, so without one in the profile this
    is a 400 asking the patient to fill it in. Concurrent first calls for one account
    and organization take turns (an advisory lock), and the partial unique index
    `uq_patients_organization_user` settles a race with a link made another way (a
    claim, a verification): either way there is one chart.
    """
    if user.role != Role.patient.value:
        raise PermissionDenied("Only patient accounts have charts of their own")
    repository = PatientRepository(session)
    chart = await repository.linked_chart(organization_id, user.id)
    if chart is not None:
        return chart
    await repository.lock_account_chart(organization_id, user.id)
    chart = await repository.linked_chart(organization_id, user.id)
    if chart is not None:
        return chart
    profile = await ProfileRepository(session).get_profile(user.id)
    if profile is None or profile.date_of_birth is None:
        raise ValidationFailed(
            "Fill in your date of birth first (PUT /api/v1/patients/profile): the"
            " organization's chart for you needs it",
            details=[
                ErrorDetail(field="date_of_birth", message="missing from your patient profile")
            ],
        )
    first_name, last_name = _split_name(user.full_name)
    chart = Patient(
        organization_id=organization_id,
        mrn=await repository.next_mrn(organization_id),
        user_id=user.id,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=profile.date_of_birth,
        sex=profile.sex if profile.sex in {sex.value for sex in Sex} else Sex.unknown.value,
        email=user.email,
        phone=profile.phone,
        phone_index=phone_index(profile.phone) if profile.phone else None,
        created_by=user.id,
    )
    try:
        async with session.begin_nested():
            await repository.add(chart)
    except IntegrityError as exc:
        if violated_constraint(exc) != ONE_CHART_PER_ACCOUNT:
            raise
        existing = await repository.linked_chart(organization_id, user.id)
        if existing is None:
            raise
        return existing
    audit.record(
        session,
        "patient.created",
        user_id=user.id,
        organization_id=organization_id,
        entity_type=ENTITY,
        entity_id=chart.id,
        metadata={"source": "account"},
    )
    return chart


async def link_verified_account(session: AsyncSession, user: User) -> int:
    """`user` has just verified their email: link the unlinked charts carrying it, at
    every organization (the caller runs as the system). How many were linked."""
    return await linking.link_verified_account(session, user)


# MedFlow / MedConnect chart routes


async def list_patients(
    session: AsyncSession, principal: Principal, filters: PatientFilters, page: PageParams
) -> tuple[Sequence[dict[str, Any]], int]:
    _may_see_deleted(principal, filters.include_deleted)
    repository = PatientRepository(session)
    charts, total = await repository.paginate(
        repository.listing(chart_scope(principal), filters), page
    )
    # One row per list read: who searched the organization's charts, and how (which
    # filters were used, never their values).
    audit.record(
        session,
        "patient.list",
        actor=principal,
        entity_type=ENTITY,
        metadata={
            "filters": sorted(
                name
                for name in ("search", "phone", "national_id", "date_of_birth")
                if getattr(filters, name)
            ),
            "include_deleted": filters.include_deleted,
            "page": page.page,
            "returned": len(charts),
        },
    )
    return [summary_view(chart) for chart in charts], total


async def _readable(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    *,
    include_deleted: bool = False,
    for_update: bool = False,
) -> Patient:
    chart = await PatientRepository(session).get_readable(
        chart_scope(principal), patient_id, include_deleted=include_deleted, for_update=for_update
    )
    if chart is None:
        raise PatientNotFound()
    return chart


async def read_chart(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    *,
    include_deleted: bool = False,
) -> dict[str, Any]:
    include_deleted = _may_see_deleted(principal, include_deleted)
    chart = await _readable(session, principal, patient_id, include_deleted=include_deleted)
    _audit(session, principal, "patient.read", chart)
    return chart_view(chart, principal)


def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    chart: Patient,
    metadata: dict[str, Any] | None = None,
) -> None:
    audit.record(
        session,
        action,
        actor=principal,
        organization_id=chart.organization_id,
        entity_type=ENTITY,
        entity_id=chart.id,
        metadata=metadata,
    )


def _check_clinical_write(principal: Principal, fields: set[str]) -> None:
    written = sorted(fields & CLINICAL_FIELDS)
    if written and not can(principal.role, Action.CLINICAL_WRITE):
        raise PermissionDenied(
            "Allergies and chronic conditions are clinical: only the organization's doctors"
            " record them",
            details=[ErrorDetail(field=name, message="doctors only") for name in written],
        )


def _apply(chart: Patient, values: dict[str, Any]) -> None:
    """Set fields from validated input, keeping the blind indexes in step."""
    for name, value in values.items():
        setattr(chart, name, value)
    if "phone" in values:
        chart.phone_index = phone_index(values["phone"]) if values["phone"] else None
    if "national_id" in values:
        chart.national_id_index = (
            national_id_index(values["national_id"]) if values["national_id"] else None
        )


def _values(data: PatientCreate | PatientUpdate) -> dict[str, Any]:
    """The fields the client sent, as column values (the model's defaults fill the rest)."""
    return data.written()


def _organization_of(principal: Principal) -> uuid.UUID:
    organization_id = chart_scope(principal).organization_id
    if organization_id is None:
        # The routes' dependencies let only approved staff of an organization through.
        raise PermissionDenied("Only the staff of an organization create its charts")
    return organization_id


async def create_chart(
    session: AsyncSession, principal: Principal, data: PatientCreate
) -> dict[str, Any]:
    """A new chart in the caller's organization, with the next MRN. With an email, the
    verified patient account of that address is linked (and told), or the address is
    invited to claim the chart."""
    organization_id = _organization_of(principal)
    values = _values(data)
    _check_clinical_write(principal, set(values))
    repository = PatientRepository(session)
    chart = Patient(
        organization_id=organization_id,
        mrn=await repository.next_mrn(organization_id),
        created_by=principal.user_id,
    )
    _apply(chart, values)
    await repository.add(chart)
    _audit(session, principal, "patient.created", chart, {"fields": sorted(values)})
    if chart.email:
        await linking.link_or_invite(session, principal, chart)
    return chart_view(chart, principal)


async def update_chart(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: PatientUpdate
) -> dict[str, Any]:
    values = _values(data)
    _check_clinical_write(principal, set(values))
    chart = await _readable(session, principal, patient_id, for_update=True)
    before = {name: getattr(chart, name) for name in values}
    _apply(chart, values)
    changed = sorted(name for name, value in values.items() if before[name] != value)
    # The UPDATE reads the new updated_at back (the models' eager defaults).
    await session.flush()
    _audit(session, principal, "patient.updated", chart, {"fields": changed})
    # A new address for a chart nobody holds yet: link or invite as on creation.
    if "email" in changed and chart.email and chart.user_id is None:
        await linking.link_or_invite(session, principal, chart)
    return chart_view(chart, principal)


async def delete_chart(session: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> None:
    """Soft delete: the chart leaves every list and read; an admin can restore it."""
    chart = await _readable(session, principal, patient_id, include_deleted=True, for_update=True)
    if chart.deleted_at is not None:
        raise PatientAlreadyDeleted()
    chart.deleted_at = datetime.now(UTC)
    chart.deleted_by = principal.user_id
    await session.flush()
    _audit(session, principal, "patient.deleted", chart)


async def restore_chart(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID
) -> dict[str, Any]:
    chart = await _readable(session, principal, patient_id, include_deleted=True, for_update=True)
    if chart.deleted_at is None:
        raise PatientNotDeleted()
    repository = PatientRepository(session)
    if chart.user_id is not None:
        # Meanwhile the account may have got another chart here (a booking): two live
        # charts of one account in one organization are not allowed.
        await repository.lock_account_chart(chart.organization_id, chart.user_id)
        if await repository.linked_chart(chart.organization_id, chart.user_id) is not None:
            raise AccountAlreadyHasChart(
                "The patient's account has another chart at this organization now;"
                " restoring this one would make two"
            )
    chart.deleted_at = None
    chart.deleted_by = None
    await session.flush()
    _audit(session, principal, "patient.restored", chart)
    return chart_view(chart, principal)
