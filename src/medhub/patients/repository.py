"""Chart, invitation and profile queries.

Scoping lives here: a `ChartScope` names the organization (staff) or the account
(patient) whose charts a statement may reach, and row-level security repeats it
(migration 0014), so another tenant's chart is simply not found.

Two reads cross tenants on purpose and go through the schema owner's objects of
migration 0016 instead of widening the caller's context: the verified patient account
behind an email (`verified_patient_account()`), and the names of the organizations
holding a patient's charts (`own_patient_charts`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from medhub.field_crypto import keyring, normalise_identifier, normalise_phone
from medhub.kit.repository import Repository
from medhub.models.identity import Organization, User
from medhub.models.patients import Patient, PatientInvitation, PatientProfile
from medhub.patients.schemas import PatientFilters

PHONE_CONTEXT = "patients.phone"
NATIONAL_ID_CONTEXT = "patients.national_id"
# The partial unique index that keeps one live chart per account and organization.
ONE_CHART_PER_ACCOUNT = "uq_patients_organization_user"

_NEXT_MRN = text("SELECT next_patient_mrn(:organization_id)")
_ACCOUNT_CHART_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_VERIFIED_PATIENT = text("SELECT id, full_name, email FROM verified_patient_account(:email)")
_OWN_CHARTS = text(
    "SELECT patient_id, organization_id, organization_name, mrn FROM own_patient_charts"
    " ORDER BY organization_name, mrn"
)


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint a failed write ran into (PostgreSQL reports it)."""
    name: str | None = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    return name


def phone_index(phone: str) -> bytes:
    return keyring().blind_index(normalise_phone(phone), PHONE_CONTEXT)


def national_id_index(national_id: str) -> bytes:
    return keyring().blind_index(normalise_identifier(national_id), NATIONAL_ID_CONTEXT)


def _contains(text_: str) -> str:
    """An ILIKE pattern matching `text_` anywhere, with its wildcards taken literally."""
    return f"%{_escaped(text_)}%"


def _escaped(text_: str) -> str:
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class ChartScope:
    """Whose charts a caller reaches: an organization's (its staff) or an account's
    own, at every organization (the patient). Neither: nothing."""

    organization_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None

    def condition(self) -> ColumnElement[bool]:
        if self.organization_id is not None:
            return Patient.organization_id == self.organization_id
        if self.user_id is not None:
            return Patient.user_id == self.user_id
        return Patient.id.is_(None)  # no scope, no chart (ids are never NULL)


@dataclass(frozen=True)
class VerifiedAccount:
    id: uuid.UUID
    full_name: str
    email: str


class PatientRepository(Repository[Patient]):
    model = Patient

    SORTS: dict[str, tuple[Any, ...]] = {
        "last_name": (Patient.last_name, Patient.first_name),
        "first_name": (Patient.first_name, Patient.last_name),
        "mrn": (Patient.mrn,),
        "date_of_birth": (Patient.date_of_birth,),
        "created_at": (Patient.created_at,),
    }

    def readable_statement(
        self, scope: ChartScope, *, include_deleted: bool = False
    ) -> Select[Patient]:
        statement = select(Patient).where(scope.condition())
        if not include_deleted:
            statement = statement.where(Patient.deleted_at.is_(None))
        return statement

    async def get_readable(
        self,
        scope: ChartScope,
        patient_id: uuid.UUID,
        *,
        include_deleted: bool = False,
        for_update: bool = False,
    ) -> Patient | None:
        statement = self.readable_statement(scope, include_deleted=include_deleted).where(
            Patient.id == patient_id
        )
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def all_readable(self, scope: ChartScope) -> Sequence[Patient]:
        """Every live chart of `scope` (meant for an account's own few charts)."""
        statement = self.readable_statement(scope).order_by(Patient.organization_id, Patient.id)
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalars().all()

    async def linked_chart(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> Patient | None:
        """The account's live chart at the organization, if it has one."""
        statement = select(Patient).where(
            Patient.organization_id == organization_id,
            Patient.user_id == user_id,
            Patient.deleted_at.is_(None),
        )
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def lock_account_chart(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Make the callers that may create or link this account's chart at this
        organization take turns until the end of the transaction: the second finds the
        first's chart instead of drawing an MRN for nothing."""
        key = f"medhub.patient_chart:{organization_id}:{user_id}"
        await self.session.execute(_ACCOUNT_CHART_LOCK, {"key": key})

    async def next_mrn(self, organization_id: uuid.UUID) -> str:
        result = await self.session.execute(_NEXT_MRN, {"organization_id": organization_id})
        return str(result.scalar_one())

    def listing(self, scope: ChartScope, filters: PatientFilters) -> Select[Patient]:
        statement = self.readable_statement(scope, include_deleted=filters.include_deleted)
        if filters.search:
            statement = statement.where(self._search(filters.search))
        if filters.phone:
            statement = statement.where(Patient.phone_index == phone_index(filters.phone))
        if filters.national_id:
            statement = statement.where(
                Patient.national_id_index == national_id_index(filters.national_id)
            )
        if filters.date_of_birth is not None:
            statement = statement.where(Patient.date_of_birth == filters.date_of_birth)
        columns = [*self.SORTS[filters.sort], Patient.id]
        ordering = [c.desc() if filters.descending else c.asc() for c in columns]
        return statement.order_by(*ordering)

    @staticmethod
    def _search(search: str) -> ColumnElement[bool]:
        """Every word in a first or last name (any part, any case), or the MRN: its
        prefix (`MRN-0001`) or its number (`42` is MRN-000042)."""
        words = search.split()
        by_name = and_(
            *(
                or_(
                    Patient.first_name.ilike(_contains(word), escape="\\"),
                    Patient.last_name.ilike(_contains(word), escape="\\"),
                )
                for word in words
            )
        )
        by_mrn: list[ColumnElement[bool]] = [
            Patient.mrn.ilike(_escaped(search.strip()) + "%", escape="\\")
        ]
        if search.strip().isdigit():
            by_mrn.append(Patient.mrn == "MRN-" + search.strip().zfill(6))
        return or_(by_name, *by_mrn)

    async def verified_patient_account(self, email: str) -> VerifiedAccount | None:
        """The active, verified `patient` account with this email, whatever the caller's
        tenant (a SECURITY DEFINER function that answers for this one address only)."""
        row = (await self.session.execute(_VERIFIED_PATIENT, {"email": email})).first()
        if row is None:
            return None
        return VerifiedAccount(id=row.id, full_name=row.full_name, email=row.email)

    async def own_charts(self) -> Sequence[Any]:
        """(patient_id, organization_id, organization_name, mrn) of the caller's live
        linked charts (the view reads the caller's account from the context)."""
        return (await self.session.execute(_OWN_CHARTS)).all()

    async def unlinked_charts_with_email(self, email: str) -> Sequence[Patient]:
        """Live charts of any organization (the caller runs as the system) that carry
        this email and no account yet, oldest first."""
        statement = (
            select(Patient)
            .where(
                Patient.email == email,
                Patient.user_id.is_(None),
                Patient.deleted_at.is_(None),
            )
            .order_by(Patient.organization_id, Patient.created_at, Patient.id)
            .with_for_update()
        )
        return (await self.session.execute(statement)).scalars().all()

    async def organizations_with_chart_of(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        statement = select(Patient.organization_id).where(
            Patient.user_id == user_id, Patient.deleted_at.is_(None)
        )
        return set((await self.session.execute(statement)).scalars())

    async def account(self, user_id: uuid.UUID) -> User | None:
        statement = select(User).where(User.id == user_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def organization_name(self, organization_id: uuid.UUID) -> str:
        statement = select(Organization.name).where(Organization.id == organization_id)
        name = (await self.session.execute(statement)).scalar_one_or_none()
        # Staff read their own organization, the system every one: a name is always there.
        return name or ""


class InvitationRepository(Repository[PatientInvitation]):
    model = PatientInvitation

    async def by_token_hash(self, token_hash: str) -> PatientInvitation | None:
        statement = (
            select(PatientInvitation)
            .where(PatientInvitation.token_hash == token_hash)
            .with_for_update()
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def retire_open(self, patient_id: uuid.UUID, now: datetime) -> None:
        """Expire the chart's unclaimed invitations (a new one replaces them)."""
        statement = (
            update(PatientInvitation)
            .where(
                PatientInvitation.patient_id == patient_id,
                PatientInvitation.claimed_at.is_(None),
                PatientInvitation.expires_at > now,
            )
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(statement)


class ProfileRepository(Repository[PatientProfile]):
    model = PatientProfile

    async def get_profile(self, user_id: uuid.UUID) -> PatientProfile | None:
        statement = select(PatientProfile).where(PatientProfile.user_id == user_id)
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def lock_profile(self, user_id: uuid.UUID) -> None:
        """Concurrent first saves of one profile take turns (the second updates)."""
        await self.session.execute(
            _ACCOUNT_CHART_LOCK, {"key": f"medhub.patient_profile:{user_id}"}
        )
