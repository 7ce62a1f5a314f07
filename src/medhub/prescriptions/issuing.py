"""Writing a prescription: `POST /doctors/prescriptions`.

One transaction writes the prescription, its items, its audit row and the
`prescription.created` event (whose handler emails the patient and tells them in
the app): a prescription that rolls back tells no one. Its number is taken just
before, in a statement of its own (`new_number`), like a sequence's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.catalog import lookup as catalog
from medhub.catalog.exceptions import ProductNotFound
from medhub.config import Settings
from medhub.consultations import service as consultations
from medhub.events import service as events
from medhub.field_crypto import keyring
from medhub.kit import idempotency
from medhub.kit.db import Database
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
from medhub.prescriptions.repository import PrescriptionRepository, take_number
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
# How many random reference numbers a prescription is tried with (reference.py).
REFERENCE_ATTEMPTS = 3
REFERENCE_CONSTRAINT = "uq_prescriptions_reference_index"

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Issued:
    status_code: int
    data: dict[str, Any]
    replayed: bool


def reference_index(normalised_reference: str) -> bytes:
    """The blind index a typed reference number is looked up by."""
    return keyring().blind_index(normalised_reference, REFERENCE_CONTEXT)


def number_for(issued_day: date, counter: int) -> str:
    """`RX-YYYYMMDD-NNNN`: the UTC day of issue and that day's counter, four digits at
    least (`RX-20261204-10000` is the 10,000th of a day; models.PrescriptionNumberDay)."""
    return f"RX-{issued_day:%Y%m%d}-{counter:04d}"


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


@dataclass(frozen=True)
class Numbered:
    """A prescription's number and the moment of issue it was taken for."""

    number: str
    issued_at: datetime


async def new_number(database: Database) -> Numbered:
    """The next number of today (UTC: `issued_at` is in UTC, so is its day), taken in a
    statement of its own (repository.take_number). Taken before the request's own
    transaction uses a connection, so that a request never waits for a second one
    while holding the first."""
    issued_at = now()
    day = issued_at.date()
    return Numbered(number_for(day, await take_number(database, day)), issued_at)


async def issue(
    session: AsyncSession,
    database: Database,
    principal: Principal,
    settings: Settings,
    data: PrescriptionCreate,
    *,
    idempotency_key: str | None,
) -> Issued:
    """Write the prescription (honouring `Idempotency-Key`) and answer it whole."""
    # First, before `session` holds a connection (a replayed or refused request leaves a
    # gap in the day's numbers, as a rolled-back one does).
    numbered = await new_number(database)
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
    prescription, items = await write_prescription(session, principal, settings, data, numbered)
    # Answered from what was just written: no dispensation yet, nothing to read back.
    view = prescription_view(prescription, items, [], settings)
    payload = _jsonable(view)
    if slot is not None:
        await idempotency.complete(session, slot, 201, payload)
    return Issued(201, payload, replayed=False)


def _jsonable(view: dict[str, Any]) -> dict[str, Any]:
    # What the replay of an idempotent request answers: the JSON the first one did.
    return PrescriptionRead.model_validate(view).model_dump(mode="json")


async def _insert_with_unique_reference(
    session: AsyncSession,
    repository: PrescriptionRepository,
    drafted: Callable[[str], tuple[Prescription, list[PrescriptionItem]]],
) -> tuple[Prescription, list[PrescriptionItem]]:
    """The prescription `drafted` makes with a new random reference number, written.

    A reference number is unique by the database's unique index (reference.py): on the
    rare collision (55 random bits) the insert is rolled back to a SAVEPOINT and tried
    again with another reference, up to REFERENCE_ATTEMPTS times in all. Any other
    conflict, or the last attempt's, is raised as it is.
    """
    for attempt in range(1, REFERENCE_ATTEMPTS + 1):
        # New rows each time: those of a rolled-back attempt are expunged.
        prescription, items = drafted(new_reference())
        try:
            async with session.begin_nested():
                await repository.add_with_items(prescription, items)
        except IntegrityError as exc:
            violated = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
            if violated != REFERENCE_CONSTRAINT or attempt == REFERENCE_ATTEMPTS:
                raise
            log.warning("prescription.reference_collision", attempt=attempt)
            continue
        return prescription, items
    raise AssertionError("unreachable: the last attempt returns or raises")


async def write_prescription(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    data: PrescriptionCreate,
    numbered: Numbered,
) -> tuple[Prescription, list[PrescriptionItem]]:
    """The prescription and its items, written (with the audit row and the event), under
    the number `new_number` took."""
    doctor_id = principal.require_user_id()
    chart = await patients.get_patient(session, principal, data.patient_id)
    if data.consultation_id is not None and not await consultations.belongs_to_chart(
        session, data.consultation_id, chart.id
    ):
        raise ConsultationNotOfPatient()
    await _check_products(session, principal, data.items)
    repository = PrescriptionRepository(session)
    doctor = await users.get_user(session, doctor_id)
    organization_name = await organizations.name_of(session, chart.organization_id) or ""
    number, issued_at = numbered.number, numbered.issued_at
    expires_at = issued_at + timedelta(days=data.valid_days or settings.PRESCRIPTION_VALID_DAYS)
    prescription_id = new_id()
    token = signer_for(settings).sign(prescription_id, number, expires_at, issued_at=issued_at)

    def drafted(reference: str) -> tuple[Prescription, list[PrescriptionItem]]:
        prescription = Prescription(
            id=prescription_id,
            organization_id=chart.organization_id,
            patient_id=chart.id,
            doctor_id=doctor_id,
            consultation_id=data.consultation_id,
            patient_name=f"{chart.first_name} {chart.last_name}",
            prescriber_name=doctor.full_name,
            organization_name=organization_name,
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
        return prescription, items

    prescription, items = await _insert_with_unique_reference(session, repository, drafted)
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
