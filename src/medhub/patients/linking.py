"""Linking charts to patient accounts (DESIGN.md, "Clinical model": "matched by verified
email, or claimed through an invitation email").

Three ways, one rule (one live chart per account and organization, the partial unique
index `uq_patients_organization_user`):
- a chart created (or given a new email) by staff is linked at once to the verified
  `patient` account with that email, and the patient is told; otherwise the address
  gets an invitation: a random token (only its SHA-256 stored), valid 14 days, whose
  link `POST /patients/claim` redeems;
- a patient who verifies their email later gets the unlinked charts carrying it, at
  every organization (`link_verified_account`, called by auth's verification).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.kit.errors import PermissionDenied
from medhub.kit.security import digest, new_secret
from medhub.kit.tenancy import set_system_context
from medhub.mail.service import queue_email
from medhub.models.identity import Role, User
from medhub.models.notifications import NotificationCategory
from medhub.models.patients import Patient, PatientInvitation
from medhub.notifications import service as notifications
from medhub.patients.exceptions import (
    AccountAlreadyHasChart,
    InvitationForAnotherEmail,
    InvitationNotFound,
)
from medhub.patients.repository import (
    ONE_CHART_PER_ACCOUNT,
    ChartScope,
    InvitationRepository,
    PatientRepository,
    violated_constraint,
)
from medhub.patients.schemas import ChartLink

INVITATION_TTL = timedelta(days=14)
INVITATION_TEMPLATE = "patient_invitation"
LINKED_TEMPLATE = "patient_chart_linked"
ENTITY = "patient"
# Where the app shows a patient the organizations holding their charts.
PROFILE_LINK = "/patients/profile"


async def _attach(
    session: AsyncSession, repository: PatientRepository, chart: Patient, user_id: uuid.UUID
) -> bool:
    """Link `chart` to the account unless the account has a live chart at the chart's
    organization already; True when linked. Concurrent linkers of one account and
    organization take turns, and the unique index settles any other race."""
    await repository.lock_account_chart(chart.organization_id, user_id)
    if await repository.linked_chart(chart.organization_id, user_id) is not None:
        return False
    try:
        async with session.begin_nested():
            chart.user_id = user_id
            await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) != ONE_CHART_PER_ACCOUNT:
            raise
        return False
    await InvitationRepository(session).retire_open(chart.id, datetime.now(UTC))
    return True


async def _tell_linked(
    session: AsyncSession, user_id: uuid.UUID, organization_name: str, chart: Patient
) -> None:
    """In-app and by email (the security category: records of a new organization are
    attached to the account, which the person must not miss)."""
    await notifications.notify(
        session,
        user_id,
        NotificationCategory.security,
        f"{organization_name} linked your patient record to your account",
        f"Your record at {organization_name} is now linked to your MedHub account: its"
        " appointments and documents appear with the rest of your data.",
        {"link": PROFILE_LINK, "organization_id": str(chart.organization_id)},
        email=(LINKED_TEMPLATE, {"organization_name": organization_name}),
    )


async def link_or_invite(session: AsyncSession, principal: Principal, chart: Patient) -> None:
    """A chart with an email and no account: link the verified patient account of that
    address (409 if that account already has a chart here), else invite the address."""
    assert chart.email is not None  # the callers check
    repository = PatientRepository(session)
    account = await repository.verified_patient_account(chart.email)
    organization_name = await repository.organization_name(chart.organization_id)
    if account is None:
        await _invite(session, principal, chart, organization_name)
        return
    if not await _attach(session, repository, chart, account.id):
        existing = await repository.linked_chart(chart.organization_id, account.id)
        mrn = f" ({existing.mrn})" if existing is not None else ""
        raise AccountAlreadyHasChart(
            f"The patient account with this email already has a chart here{mrn}; use it"
        )
    audit.record(
        session,
        "patient.linked",
        actor=principal,
        organization_id=chart.organization_id,
        entity_type=ENTITY,
        entity_id=chart.id,
        metadata={"via": "verified_email"},
    )
    await _tell_linked(session, account.id, organization_name, chart)


async def _invite(
    session: AsyncSession, principal: Principal, chart: Patient, organization_name: str
) -> None:
    assert chart.email is not None
    now = datetime.now(UTC)
    token = new_secret(32)
    invitations = InvitationRepository(session)
    # One live link per chart: a new address (or a resend) retires the older ones.
    await invitations.retire_open(chart.id, now)
    invitation = await invitations.add(
        PatientInvitation(
            patient_id=chart.id,
            organization_id=chart.organization_id,
            email=chart.email,
            token_hash=digest(token),
            expires_at=now + INVITATION_TTL,
        )
    )
    await queue_email(
        session,
        INVITATION_TEMPLATE,
        chart.email,
        {
            "full_name": f"{chart.first_name} {chart.last_name}".strip(),
            "organization_name": organization_name,
            "token": token,
            "ttl_days": INVITATION_TTL.days,
        },
    )
    audit.record(
        session,
        "patient.invited",
        actor=principal,
        organization_id=chart.organization_id,
        entity_type=ENTITY,
        entity_id=chart.id,
        metadata={"invitation_id": str(invitation.id)},
    )


async def claim(session: AsyncSession, principal: Principal, token: str) -> ChartLink:
    """Redeem an invitation: the chart becomes the caller's. Unknown, expired and used
    tokens are all 404; a valid one for another address is 403."""
    user_id = principal.require_user_id()
    if not principal.is_verified:
        raise PermissionDenied(
            "Verify your email address first: a chart is claimed by the address it was sent to"
        )
    # The invitation and its chart belong to an organization the patient is not part
    # of (yet): found by the token, like a reset link.
    await set_system_context(session)
    invitation = await InvitationRepository(session).by_token_hash(digest(token))
    now = datetime.now(UTC)
    if invitation is None or invitation.claimed_at is not None or invitation.expires_at <= now:
        raise InvitationNotFound()
    repository = PatientRepository(session)
    account = await repository.account(user_id)
    if account is None or account.email.casefold() != invitation.email.casefold():
        raise InvitationForAnotherEmail()
    chart = await repository.get_readable(
        ChartScope(organization_id=invitation.organization_id),
        invitation.patient_id,
        for_update=True,
    )
    # A chart deleted since, or linked to another account meanwhile: the link is spent.
    if chart is None or (chart.user_id is not None and chart.user_id != user_id):
        raise InvitationNotFound()
    if chart.user_id is None and not await _attach(session, repository, chart, user_id):
        raise AccountAlreadyHasChart(
            "Your account already has a chart at this organization; ask them to merge the two"
        )
    invitation.claimed_at = now
    invitation.claimed_by = user_id
    await session.flush()
    audit.record(
        session,
        "patient.linked",
        actor=principal,
        organization_id=chart.organization_id,
        entity_type=ENTITY,
        entity_id=chart.id,
        metadata={"via": "invitation", "invitation_id": str(invitation.id)},
    )
    return ChartLink(
        patient_id=chart.id,
        organization_id=chart.organization_id,
        organization_name=await repository.organization_name(chart.organization_id),
        mrn=chart.mrn,
    )


async def link_verified_account(session: AsyncSession, user: User) -> int:
    """The unlinked live charts carrying `user`'s (just verified) email, at every
    organization, become theirs: one per organization (the oldest), none where they
    have a chart already. The caller runs as the system (email verification finds the
    account by its token). How many were linked."""
    if user.role != Role.patient.value or not user.is_verified or not user.is_active:
        return 0
    repository = PatientRepository(session)
    linked = 0
    for chart in await repository.unlinked_charts_with_email(user.email):
        if not await _attach(session, repository, chart, user.id):
            continue
        linked += 1
        audit.record(
            session,
            "patient.linked",
            user_id=user.id,
            organization_id=chart.organization_id,
            entity_type=ENTITY,
            entity_id=chart.id,
            metadata={"via": "verified_email"},
        )
        organization_name = await repository.organization_name(chart.organization_id)
        await _tell_linked(session, user.id, organization_name, chart)
    return linked


def chart_link(row: Any) -> ChartLink:
    return ChartLink(
        patient_id=row.patient_id,
        organization_id=row.organization_id,
        organization_name=row.organization_name,
        mrn=row.mrn,
    )
