"""Writing a prescription: `POST /doctors/prescriptions`.

One transaction writes the prescription, its items, its audit row and the
`prescription.created` event (whose handler emails the patient and tells them in
the app): a prescription that rolls back tells no one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.catalog import lookup as catalog
from medhub.catalog.exceptions import ProductNotFound
from medhub.config import Settings
from medhub.consultations import service as consultations
from medhub.events import service as events
from medhub.field_crypto import keyring
from medhub.kit import idempotency
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.models.base import new_id
from medhub.models.prescriptions import (
    DISPENSABLE_STATUSES,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)
from medhub.organizations import service as organizations
from medhub.patients import service as patients
from medhub.prescriptions import (
    handlers,  # noqa: F401 - registers the event handlers
    notices,
)
from medhub.prescriptions.exceptions import (
    ConsultationNotOfPatient,
    PrescriptionClosed,
    PrescriptionNotFound,
)
from medhub.prescriptions.reference import format_reference, new_reference
from medhub.prescriptions.repository import PrescriptionRepository
from medhub.prescriptions.schemas import ItemCreate, PrescriptionCreate, PrescriptionRead
from medhub.prescriptions.service import (
    audit_about,
    now,
    prescription_view,
    readable,
    sees_clinical,
    signer_for,
    token_hash,
)
from medhub.users import service as users

CREATED_EVENT = "prescription.created"
REFERENCE_CONTEXT = "prescriptions.reference"


@dataclass(frozen=True)
class Issued:
    status_code: int
    data: dict[str, Any]
    replayed: bool


def reference_index(normalised_reference: str) -> bytes:
    """The blind index a typed reference number is looked up by."""
    return keyring().blind_index(normalised_reference, REFERENCE_CONTEXT)


def number_for(issued_day: str, counter: int) -> str:
    return f"RX-{issued_day}-{counter:04d}"


async def _check_products(
    session: AsyncSession, principal: Principal, items: list[ItemCreate]
) -> None:
    missing = []
    for index, item in enumerate(items):
        if item.product_id is None:
            continue
        try:
            await catalog.get_product(session, principal, item.product_id)
        except ProductNotFound:
            missing.append(
                ErrorDetail(field=f"items[{index}].product_id", message="no such product")
            )
    if missing:
        raise ValidationFailed("Some items name products that do not exist", details=missing)


async def issue(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    data: PrescriptionCreate,
    *,
    idempotency_key: str | None,
) -> Issued:
    """Write the prescription (honouring `Idempotency-Key`) and answer it whole."""
    slot: idempotency.IdempotencySlot | None = None
    if idempotency_key is not None:
        claimed = await idempotency.claim(
            session,
            owner=str(principal.require_user_id()),
            endpoint="prescriptions.create",
            key=idempotency_key,
            fingerprint=idempotency.request_hash(data.model_dump_json().encode()),
        )
        if isinstance(claimed, idempotency.Replay):
            return Issued(claimed.status_code, claimed.body, replayed=True)
        slot = claimed
    prescription, items = await write_prescription(session, principal, settings, data)
    # Answered from what was just written: no dispensation yet, nothing to read back.
    view = prescription_view(prescription, items, [], settings)
    payload = _jsonable(view)
    if slot is not None:
        await idempotency.complete(session, slot, 201, payload)
    return Issued(201, payload, replayed=False)


def _jsonable(view: dict[str, Any]) -> dict[str, Any]:
    # What the replay of an idempotent request answers: the JSON the first one did.
    return PrescriptionRead.model_validate(view).model_dump(mode="json")


async def write_prescription(
    session: AsyncSession, principal: Principal, settings: Settings, data: PrescriptionCreate
) -> tuple[Prescription, list[PrescriptionItem]]:
    """The prescription and its items, written (with the audit row and the event)."""
    doctor_id = principal.require_user_id()
    chart = await patients.get_patient(session, principal, data.patient_id)
    if data.consultation_id is not None and not await consultations.belongs_to_chart(
        session, data.consultation_id, chart.id
    ):
        raise ConsultationNotOfPatient()
    await _check_products(session, principal, data.items)
    repository = PrescriptionRepository(session)
    issued_at = now()
    expires_at = issued_at + timedelta(days=data.valid_days or settings.PRESCRIPTION_VALID_DAYS)
    number = number_for(f"{issued_at:%Y%m%d}", await repository.next_number())
    prescription_id = new_id()
    token = signer_for(settings).sign(prescription_id, number, expires_at, issued_at=issued_at)
    reference = new_reference()
    doctor = await users.get_user(session, doctor_id)
    prescription = Prescription(
        id=prescription_id,
        organization_id=chart.organization_id,
        patient_id=chart.id,
        doctor_id=doctor_id,
        consultation_id=data.consultation_id,
        patient_name=f"{chart.first_name} {chart.last_name}",
        prescriber_name=doctor.full_name,
        organization_name=await organizations.name_of(session, chart.organization_id) or "",
        number=number,
        reference_number=format_reference(reference),
        reference_index=reference_index(reference),
        qr_token=token,
        qr_hash=token_hash(token),
        diagnosis=data.diagnosis,
        notes=data.notes,
        status=PrescriptionStatus.issued.value,
        issued_at=issued_at,
        expires_at=expires_at,
        scan_count=0,
    )
    items = [
        PrescriptionItem(
            prescription_id=prescription.id,
            position=position,
            medicine_name=item.medicine_name,
            product_id=item.product_id,
            strength=item.strength,
            form=item.form.value if item.form else None,
            times_per_day=item.frequency.times_per_day,
            every_hours=item.frequency.every_hours,
            frequency_text=item.frequency.text,
            duration_days=item.duration_days,
            quantity=item.quantity,
            refills=item.refills,
            instructions=item.instructions,
            dispensed_quantity=0,
        )
        for position, item in enumerate(data.items, start=1)
    ]
    await repository.add_with_items(prescription, items)
    audit_about(
        session,
        "prescription.created",
        principal,
        prescription,
        items=len(data.items),
        expires_at=expires_at.isoformat(),
    )
    await events.emit(
        session,
        CREATED_EVENT,
        {"prescription_id": str(prescription.id)},
        actor_id=doctor_id,
        organization_id=prescription.organization_id,
    )
    return prescription, items


async def email_again(
    session: AsyncSession, principal: Principal, prescription_id: uuid.UUID, settings: Settings
) -> dict[str, Any]:
    """`POST /qr-codes/email/{id}`: the prescription email (QR and reference) once more,
    to the patient, for their doctors or themself."""
    if not sees_clinical(principal):
        raise PrescriptionNotFound()
    prescription = await readable(session, principal, prescription_id)
    # The email sends the patient to a pharmacy with its QR code: not for one that is over.
    if PrescriptionStatus(prescription.status) not in DISPENSABLE_STATUSES:
        raise PrescriptionClosed(
            f"This prescription is {prescription.status}: there is nothing left to take to a"
            " pharmacy"
        )
    if prescription.expires_at <= now():
        raise PrescriptionClosed(f"This prescription expired on {prescription.expires_at:%Y-%m-%d}")
    items = (await PrescriptionRepository(session).items_of([prescription.id]))[prescription.id]
    await notices.prescription_written(session, settings, prescription, items)
    audit_about(session, "prescription.emailed", principal, prescription)
    return {"prescription_id": prescription.id, "queued": True}
