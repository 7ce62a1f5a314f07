"""Prescriptions: who reaches which, how they read, and reading them.

Issuing is `issuing.py`, cancelling and expiry `lifecycle.py`, what a pharmacy does
`dispensing.py` and its history `history.py`; the emails and notifications
`notices.py`.

Every read of a prescription's content is audited (`prescription.read`,
`prescription.list`) with the chart's id in the metadata, so that the patient's access
log finds it; the metadata never holds what was prescribed.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit.errors import PermissionDenied
from medhub.kit.money import Money
from medhub.kit.pagination import PageParams
from medhub.models.identity import OrganizationKind
from medhub.models.prescriptions import (
    Dispensation,
    DispensationItem,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)
from medhub.organizations import service as organizations
from medhub.prescriptions import qr
from medhub.prescriptions.exceptions import PrescriptionNotFound
from medhub.prescriptions.repository import PrescriptionRepository, PrescriptionScope
from medhub.prescriptions.schemas import PrescriptionFilters
from medhub.prescriptions.tokens import PrescriptionSigner

ENTITY = "prescription"
# The organizations that write prescriptions.
CARE_KINDS = frozenset({OrganizationKind.hospital.value, OrganizationKind.clinic.value})
# A used QR code: something was handed out against it.
_USED = frozenset(
    {PrescriptionStatus.partially_dispensed.value, PrescriptionStatus.dispensed.value}
)


def now() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    """The seed's `qr_hash`: what a scan's token is matched against."""
    return hashlib.sha256(token.encode()).hexdigest()


# Parsed keys per key configuration: a process has one, tests a few.
_SIGNERS: dict[tuple[str, tuple[str, ...]], PrescriptionSigner] = {}


def signer_for(settings: Settings) -> PrescriptionSigner:
    """The platform's prescription signer (its keys parsed once per configuration)."""
    key = settings.PRESCRIPTION_SIGNING_KEY
    configuration = (
        key.get_secret_value() if key is not None else "",
        tuple(settings.PRESCRIPTION_PREVIOUS_PUBLIC_KEYS),
    )
    signer = _SIGNERS.get(configuration)
    if signer is None:
        if len(_SIGNERS) >= 8:
            _SIGNERS.clear()
        signer = _SIGNERS[configuration] = PrescriptionSigner.from_settings(settings)
    return signer


# Who reaches which prescriptions


def scope_of(principal: Principal) -> PrescriptionScope:
    """The organization's prescriptions for its approved doctors and its admins, the
    patient's own (the charts linked to their account), those a pharmacy has been
    shown for its pharmacists; nothing for anyone else."""
    if can(principal.role, Action.PRESCRIPTIONS_READ):
        if principal.organization_id is None or not principal.is_approved:
            return PrescriptionScope()
        return PrescriptionScope(organization_id=principal.organization_id)
    if can(principal.role, Action.PATIENT_SELF) and principal.user_id is not None:
        return PrescriptionScope(user_id=principal.user_id)
    if can(principal.role, Action.PRESCRIPTIONS_DISPENSE) and principal.organization_id:
        return PrescriptionScope(pharmacy_id=principal.organization_id)
    return PrescriptionScope()


def sees_clinical(principal: Principal) -> bool:
    """What was prescribed and why: the prescriber's doctors, the patient, a pharmacist
    who was shown it; not the organization's admins (issue 15's access matrix)."""
    return (
        can(principal.role, Action.CLINICAL_READ)
        or can(principal.role, Action.PATIENT_SELF)
        or can(principal.role, Action.PRESCRIPTIONS_DISPENSE)
    )


# Views


def allowed_quantity(item: PrescriptionItem) -> int:
    return item.quantity * (1 + item.refills)


def remaining_quantity(item: PrescriptionItem) -> int:
    return allowed_quantity(item) - item.dispensed_quantity


def item_view(item: PrescriptionItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "medicine_name": item.medicine_name,
        "product_id": item.product_id,
        "strength": item.strength,
        "dosage": item.strength,
        "form": item.form,
        "frequency": {
            "times_per_day": item.times_per_day,
            "every_hours": item.every_hours,
            "text": item.frequency_text,
        },
        "duration_days": item.duration_days,
        "quantity": item.quantity,
        "refills": item.refills,
        "allowed_quantity": allowed_quantity(item),
        "dispensed_quantity": item.dispensed_quantity,
        "remaining_quantity": remaining_quantity(item),
        "instructions": item.instructions,
    }


def qr_state(prescription: Prescription) -> dict[str, Any]:
    return {
        "qr_hash": prescription.qr_hash,
        "is_used": prescription.status in _USED,
        "scan_count": prescription.scan_count,
        "last_scanned_at": prescription.last_scanned_at,
        "expires_at": prescription.expires_at,
    }


# Views are dicts, rendered without a model (kit/envelope.py): amounts go in as
# `kit.money.Money` renders them, a JSON number with cents (DESIGN.md, money).
_MONEY = TypeAdapter(Money)


def money(amount: Decimal | None) -> float | None:
    """An amount as the API shows it (`kit.money.Money`'s JSON number)."""
    if amount is None:
        return None
    rendered: float = _MONEY.dump_python(amount, mode="json")
    return rendered


def line_views(lines: Sequence[DispensationItem]) -> list[dict[str, Any]]:
    return [
        {
            "prescription_item_id": line.prescription_item_id,
            "product_id": line.product_id,
            "quantity": line.quantity,
            "batch_number": line.batch_number,
            "expiry_date": line.expiry_date,
            "unit_price": money(line.unit_price),
        }
        for line in lines
    ]


def dispensation_view(act: Dispensation, lines: Sequence[DispensationItem]) -> dict[str, Any]:
    return {
        "id": act.id,
        "organization_id": act.organization_id,
        "pharmacy_name": act.pharmacy_name,
        "outcome": act.outcome,
        "reason": act.reason,
        "total_amount": money(act.total_amount),
        "currency": act.currency,
        "created_at": act.created_at,
        "items": line_views(lines),
    }


def _heading(prescription: Prescription) -> dict[str, Any]:
    """What every view of a prescription starts with: which one, whose, when, how far."""
    return {
        "id": prescription.id,
        "prescription_number": prescription.number,
        "status": prescription.status,
        "organization_id": prescription.organization_id,
        "organization_name": prescription.organization_name,
        "patient_id": prescription.patient_id,
        "patient_name": prescription.patient_name,
        "doctor_id": prescription.doctor_id,
        "doctor_name": prescription.prescriber_name,
        "issued_at": prescription.issued_at,
        "expires_at": prescription.expires_at,
    }


def prescription_view(
    prescription: Prescription,
    items: Sequence[PrescriptionItem],
    dispensations: Sequence[tuple[Dispensation, list[DispensationItem]]],
    settings: Settings,
) -> dict[str, Any]:
    """The whole prescription, as its doctors and its patient read it."""
    return {
        **_heading(prescription),
        **qr_access(prescription, settings),
        "consultation_id": prescription.consultation_id,
        "diagnosis": prescription.diagnosis,
        "notes": prescription.notes,
        "items": [item_view(item) for item in items],
        "qr_code": qr_state(prescription),
        "cancelled_at": prescription.cancelled_at,
        "cancelled_reason": prescription.cancelled_reason,
        "rejected_at": prescription.rejected_at,
        "rejected_reason": prescription.rejected_reason,
        "dispensed_at": prescription.dispensed_at,
        "dispensations": [dispensation_view(act, lines) for act, lines in dispensations],
        "created_at": prescription.created_at,
        "updated_at": prescription.updated_at,
    }


def qr_access(prescription: Prescription, settings: Settings) -> dict[str, Any]:
    """How a prescription is presented at a pharmacy: its reference number and what its
    QR code holds (bearer credentials: for its patient and its doctors only)."""
    return {
        "reference_number": prescription.reference_number,
        "qr_token": prescription.qr_token,
        "verification_url": qr.verification_url(settings.PUBLIC_BASE_URL, prescription.qr_token),
    }


def summary_view(
    prescription: Prescription, items: Sequence[PrescriptionItem], *, clinical: bool
) -> dict[str, Any]:
    """A list row: what was prescribed only for those who may read it."""
    return {
        **_heading(prescription),
        "item_count": len(items),
        "diagnosis": prescription.diagnosis if clinical else None,
        "items": [item_view(item) for item in items] if clinical else None,
    }


def audit_about(
    session: AsyncSession,
    action: str,
    principal: Principal,
    prescription: Prescription,
    **metadata: Any,
) -> None:
    """An audit row about one prescription; the chart and its organization in the
    metadata (the patient's access log finds it by the chart), never its content."""
    audit.record(
        session,
        action,
        actor=principal,
        entity_type=ENTITY,
        entity_id=prescription.id,
        metadata={
            "patient_id": str(prescription.patient_id),
            "organization_id": str(prescription.organization_id),
            "number": prescription.number,
            **metadata,
        },
    )


# Reads


async def readable(
    session: AsyncSession,
    principal: Principal,
    prescription_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Prescription:
    prescription = await PrescriptionRepository(session).get_readable(
        scope_of(principal), prescription_id, for_update=for_update
    )
    if prescription is None:
        raise PrescriptionNotFound()
    return prescription


async def full_view(
    session: AsyncSession, prescription: Prescription, settings: Settings
) -> dict[str, Any]:
    repository = PrescriptionRepository(session)
    items = await repository.items_of([prescription.id])
    dispensations = await repository.dispensations_of([prescription.id])
    return prescription_view(
        prescription, items[prescription.id], dispensations[prescription.id], settings
    )


async def read_prescription(
    session: AsyncSession, principal: Principal, prescription_id: uuid.UUID, settings: Settings
) -> dict[str, Any]:
    """One prescription, whole: for its doctors and its patient (audited). An
    organization's admins read the list, without clinical content, not this."""
    if not sees_clinical(principal):
        raise PermissionDenied(
            "A prescription's content is for its doctors and its patient; the organization's"
            " admins see the list (GET /api/v1/doctors/prescriptions)"
        )
    prescription = await readable(session, principal, prescription_id)
    audit_about(session, "prescription.read", principal, prescription)
    return await full_view(session, prescription, settings)


async def _check_care_organization(session: AsyncSession, principal: Principal) -> None:
    """An admin lists prescriptions only of a hospital or clinic (where they are
    written); the admin of a pharmacy or a supplier is refused, not shown an empty list.
    Doctors and patients are placed by their role alone."""
    if not can(principal.role, Action.PRESCRIPTIONS_READ) or can(
        principal.role, Action.CLINICAL_READ
    ):
        return
    kind = (
        await organizations.kind_of(session, principal.organization_id)
        if principal.organization_id is not None
        else None
    )
    if kind not in CARE_KINDS:
        raise PermissionDenied(
            f"Prescriptions are written in hospitals and clinics; your organization is a {kind}"
        )


async def list_prescriptions(
    session: AsyncSession,
    principal: Principal,
    filters: PrescriptionFilters,
    paging: PageParams,
    *,
    qr_access_with: Settings | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the prescriptions the caller reaches; with `qr_access_with` (the
    patient's own list) each row also says how to present it at a pharmacy."""
    await _check_care_organization(session, principal)
    repository = PrescriptionRepository(session)
    found, total = await repository.page(scope_of(principal), filters, paging)
    clinical = sees_clinical(principal)
    items = await repository.items_of([prescription.id for prescription in found])
    if clinical:
        # One row per page read, naming every chart on it.
        audit.record(
            session,
            "prescription.list",
            actor=principal,
            entity_type=ENTITY,
            metadata={
                "count": len(found),
                "patient_ids": sorted({str(item.patient_id) for item in found}),
                "filters": {
                    "status": filters.status,
                    "patient_id": str(filters.patient_id) if filters.patient_id else None,
                },
            },
        )
    return [
        {
            **summary_view(prescription, items[prescription.id], clinical=clinical),
            **(qr_access(prescription, qr_access_with) if qr_access_with is not None else {}),
        }
        for prescription in found
    ], total


async def qr_code(
    session: AsyncSession, principal: Principal, prescription_id: uuid.UUID, settings: Settings
) -> dict[str, Any]:
    """`GET /qr-codes/{id}`: the prescription's QR as images (its doctors and patient)."""
    if not sees_clinical(principal):
        raise PrescriptionNotFound()
    prescription = await readable(session, principal, prescription_id)
    audit_about(session, "prescription.qr_read", principal, prescription)
    url = qr.verification_url(settings.PUBLIC_BASE_URL, prescription.qr_token)
    png, svg = await qr.render_images(url)
    return {
        **qr_state(prescription),
        "prescription_id": prescription.id,
        "prescription_number": prescription.number,
        "reference_number": prescription.reference_number,
        "qr_token": prescription.qr_token,
        "verification_url": url,
        "image_png": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "image_svg": svg,
    }
