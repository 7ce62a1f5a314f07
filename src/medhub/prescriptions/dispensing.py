"""What a pharmacy does with a prescription: presenting it (scan of the QR code, or
lookup by reference number), validating it, dispensing it (in parts, from stock),
rejecting it.

A pharmacy reaches a prescription only by presenting it: the token's signature is
checked here, and `grant_prescription_access()` (migration 0019) records the
pharmacy's access only when the token's hash, or the reference's blind index,
matches the prescription's. From then on row-level security lets that pharmacy see
it, and nothing else.

Dispensing locks the prescription row first: two pharmacies dispensing the last
units at once take turns, and the second finds nothing left (409). The counts are
raised by a conditional UPDATE under a CHECK as well, so even code that forgot the
lock could not hand out more than was prescribed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from limits import parse
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.events import service as events
from medhub.kit.db import Database
from medhub.kit.errors import ErrorDetail, PermissionDenied, RateLimitExceeded, ValidationFailed
from medhub.kit.money import to_cents
from medhub.kit.ratelimit import RateLimiter, RateLimitResult
from medhub.models.prescriptions import (
    DISPENSABLE_STATUSES,
    AccessVia,
    Dispensation,
    DispensationItem,
    DispensationOutcome,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)
from medhub.organizations import service as organizations
from medhub.pharmacy_stock import service as stock
from medhub.pharmacy_stock.exceptions import BatchExpired
from medhub.prescriptions import notices
from medhub.prescriptions.exceptions import (
    DispenseExceedsRemaining,
    InvalidPrescriptionToken,
    NotValidated,
    PrescriptionClosed,
    PrescriptionNotFound,
    ReferenceLookupThrottled,
)
from medhub.prescriptions.issuing import reference_index
from medhub.prescriptions.reference import normalise_reference
from medhub.prescriptions.repository import PrescriptionRepository
from medhub.prescriptions.schemas import DispenseLine, DispenseRequest
from medhub.prescriptions.service import (
    ENTITY,
    audit_about,
    dispensation_view,
    item_view,
    now,
    qr_state,
    readable,
    remaining_quantity,
    signer_for,
    token_hash,
)
from medhub.prescriptions.tokens import token_from_qr_data

DISPENSED_EVENT = "prescription.dispensed"
REJECTED_EVENT = "prescription.rejected"
MISS_SCOPE = "rx_reference_miss"
SCAN_REFUSED = "prescription.scan_refused"
# The refusal reason of an authentic token that matches no stored prescription (the
# others are the token checks' own: tokens.InvalidTokenReason).
NO_MATCHING_PRESCRIPTION = "no_matching_prescription"


def _pharmacy_of(principal: Principal) -> uuid.UUID:
    if principal.organization_id is None:
        raise PermissionDenied("Only a pharmacist of a pharmacy may do this")
    return principal.organization_id


# Views


def pharmacy_view(
    prescription: Prescription,
    items: Sequence[PrescriptionItem],
    dispensations: Sequence[tuple[Dispensation, list[DispensationItem]]],
    *,
    validated_by_you: bool,
) -> dict[str, Any]:
    return {
        "id": prescription.id,
        "prescription_number": prescription.number,
        "patient_name": prescription.patient_name,
        "doctor_name": prescription.prescriber_name,
        "organization_name": prescription.organization_name,
        "diagnosis": prescription.diagnosis,
        "status": prescription.status,
        "issued_at": prescription.issued_at,
        "expires_at": prescription.expires_at,
        "items": [item_view(item) for item in items],
        "qr_code": qr_state(prescription),
        "validated_by_you": validated_by_you,
        "dispensations": [dispensation_view(act, lines) for act, lines in dispensations],
    }


def _why_not(prescription: Prescription, items: Sequence[PrescriptionItem]) -> str | None:
    """Why this prescription cannot be dispensed now, or None if it can."""
    if prescription.status == PrescriptionStatus.expired or prescription.expires_at <= now():
        return f"This prescription expired on {prescription.expires_at:%Y-%m-%d}"
    if prescription.status in (PrescriptionStatus.cancelled, PrescriptionStatus.rejected):
        return f"This prescription was {prescription.status}"
    if prescription.status == PrescriptionStatus.dispensed or not any(
        remaining_quantity(item) for item in items
    ):
        return "This prescription has been dispensed in full"
    return None


async def _pharmacy_answer(
    session: AsyncSession, principal: Principal, prescription: Prescription
) -> dict[str, Any]:
    repository = PrescriptionRepository(session)
    items = (await repository.items_of([prescription.id]))[prescription.id]
    dispensations = (await repository.dispensations_of([prescription.id]))[prescription.id]
    access = await repository.access_of(prescription.id, _pharmacy_of(principal))
    reason = _why_not(prescription, items)
    valid = prescription.expires_at > now() and prescription.status not in (
        PrescriptionStatus.cancelled,
        PrescriptionStatus.rejected,
        PrescriptionStatus.expired,
    )
    return {
        "prescription": pharmacy_view(
            prescription,
            items,
            dispensations,
            validated_by_you=access is not None and access.validated_at is not None,
        ),
        "is_valid": valid,
        "can_dispense": reason is None,
        "reason": reason,
    }


# Presenting


async def _audit_apart(
    database: Database, principal: Principal, action: str, **metadata: Any
) -> None:
    """An audit row about a presentation that found nothing, in a transaction of its
    own: it outlives the request's, which the refusal (a 400 or a 404) rolls back."""
    async with database.unit_of_work() as side:
        audit.record(side, action, actor=principal, entity_type=ENTITY, metadata=metadata)


async def scan(
    session: AsyncSession,
    principal: Principal,
    database: Database,
    settings: Settings,
    qr_data: str,
) -> dict[str, Any]:
    """`POST /pharmacy/scan`: a QR code's URL or token. A forged or altered one is a
    400 before any query; an authentic expired one answers `is_valid: false`.

    Every scan is audited: a refused one too (`prescription.scan_refused`, apart from
    the request's transaction), with why and nothing of what was presented: neither
    the token nor the prescription it names."""
    pharmacy_id = _pharmacy_of(principal)
    try:
        token = token_from_qr_data(qr_data)
        claims = signer_for(settings).verify(token, allow_expired=True)
    except InvalidPrescriptionToken as refused:
        await _audit_apart(database, principal, SCAN_REFUSED, via="qr", reason=refused.reason)
        raise
    repository = PrescriptionRepository(session)
    found = await repository.grant_access(
        prescription_id=claims.prescription_id,
        qr_hash=token_hash(token),
        reference_index=None,
        via=AccessVia.qr.value,
    )
    if found is None:
        # Signed by us, but no longer this prescription's code (or never stored).
        await _audit_apart(
            database, principal, SCAN_REFUSED, via="qr", reason=NO_MATCHING_PRESCRIPTION
        )
        raise PrescriptionNotFound()
    prescription = await repository.count_scan(found, pharmacy_id)
    audit_about(session, "prescription.scanned", principal, prescription, via="qr")
    return await _pharmacy_answer(session, principal, prescription)


async def lookup(  # noqa: PLR0917 - the route's parts, each needed once
    session: AsyncSession,
    principal: Principal,
    database: Database,
    limiter: RateLimiter,
    settings: Settings,
    reference_number: str,
) -> dict[str, Any]:
    """`POST /pharmacy/lookup`: a typed reference number. A typo is a 400 before any
    query; misses are counted per pharmacist (`RATE_LIMIT_REFERENCE_MISSES`) and each
    is audited in a transaction of its own, so guessing reference numbers stops fast
    and leaves a trail."""
    pharmacy_id = _pharmacy_of(principal)
    normalised = normalise_reference(reference_number)
    identity = str(principal.user_id or principal.api_key_id)
    allowance = settings.RATE_LIMIT_REFERENCE_MISSES
    if not await limiter.would_allow(allowance, MISS_SCOPE, identity):
        raise await _throttled(limiter, allowance, identity)
    repository = PrescriptionRepository(session)
    found = await repository.grant_access(
        prescription_id=None,
        qr_hash=None,
        reference_index=reference_index(normalised),
        via=AccessVia.reference.value,
    )
    if found is None:
        await limiter.count(allowance, MISS_SCOPE, identity)
        await _audit_apart(
            database, principal, "prescription.lookup_missed", reference_suffix=normalised[-4:]
        )
        raise PrescriptionNotFound("No prescription has this reference number")
    prescription = await repository.count_scan(found, pharmacy_id)
    audit_about(session, "prescription.scanned", principal, prescription, via="reference")
    return await _pharmacy_answer(session, principal, prescription)


async def _throttled(limiter: RateLimiter, allowance: str, identity: str) -> RateLimitExceeded:
    """The 429 of a pharmacist out of misses, with the headers every 429 carries
    (DESIGN.md): when the oldest miss of the window stops counting."""
    limit = parse(allowance)
    reset_at = await limiter.reset_at(allowance, MISS_SCOPE, identity)
    result = RateLimitResult(allowed=False, limit=limit.amount, remaining=0, reset_at=reset_at)
    return ReferenceLookupThrottled(
        headers={
            "Retry-After": str(result.retry_after),
            "X-RateLimit-Limit": str(result.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(result.reset_at),
        }
    )


# Acting on it


async def _open_for_pharmacy(
    session: AsyncSession, principal: Principal, prescription_id: uuid.UUID
) -> Prescription:
    """The prescription, locked, if this pharmacy was shown it (else 404) and it can
    still be acted on (else 409)."""
    prescription = await readable(session, principal, prescription_id, for_update=True)
    if prescription.status == PrescriptionStatus.expired or prescription.expires_at <= now():
        raise PrescriptionClosed(f"This prescription expired on {prescription.expires_at:%Y-%m-%d}")
    if PrescriptionStatus(prescription.status) not in DISPENSABLE_STATUSES:
        raise PrescriptionClosed(f"This prescription is {prescription.status}")
    return prescription


async def validate(
    session: AsyncSession, principal: Principal, prescription_id: uuid.UUID
) -> dict[str, Any]:
    """`POST /pharmacy/validate/{id}`: this pharmacy checked it and will dispense it."""
    pharmacy_id = _pharmacy_of(principal)
    prescription = await _open_for_pharmacy(session, principal, prescription_id)
    repository = PrescriptionRepository(session)
    access = await repository.access_of(prescription.id, pharmacy_id, for_update=True)
    if access is None:  # readable() found it through this access: cannot be missing
        raise PrescriptionNotFound()
    if access.validated_at is None:
        access.validated_at = now()
        access.validated_by = principal.user_id
    previous = prescription.status
    if prescription.status in (PrescriptionStatus.issued, PrescriptionStatus.scanned):
        prescription.status = PrescriptionStatus.validated.value
    await session.flush()
    audit_about(
        session,
        "prescription.validated",
        principal,
        prescription,
        previous=previous,
        pharmacy_id=str(pharmacy_id),
    )
    return await _pharmacy_answer(session, principal, prescription)


def _check_lines(lines: Sequence[DispenseLine], items: dict[uuid.UUID, PrescriptionItem]) -> None:
    problems: list[ErrorDetail] = []
    seen: set[uuid.UUID] = set()
    for index, line in enumerate(lines):
        if line.item_id not in items:
            problems.append(
                ErrorDetail(
                    field=f"items[{index}].item_id", message="not an item of this prescription"
                )
            )
        elif line.item_id in seen:
            problems.append(
                ErrorDetail(
                    field=f"items[{index}].item_id", message="named twice: give one line per item"
                )
            )
        seen.add(line.item_id)
    if problems:
        raise ValidationFailed("Some lines do not match the prescription", details=problems)


async def dispense(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    prescription_id: uuid.UUID,
    data: DispenseRequest,
) -> dict[str, Any]:
    """`POST /pharmacy/dispense/{id}`: hand out some or all of what remains. All or
    nothing: a line over what remains, an expired batch or missing stock refuses the
    whole request."""
    pharmacy_id = _pharmacy_of(principal)
    prescription = await _open_for_pharmacy(session, principal, prescription_id)
    repository = PrescriptionRepository(session)
    access = await repository.access_of(prescription.id, pharmacy_id)
    if access is None or access.validated_at is None:
        raise NotValidated()
    items = {
        item.id: item
        for item in (await repository.items_of([prescription.id], for_update=True))[prescription.id]
    }
    _check_lines(data.items, items)
    for index, line in enumerate(data.items):
        if line.quantity > remaining_quantity(items[line.item_id]):
            raise DispenseExceedsRemaining(
                f"Item {index + 1} has {remaining_quantity(items[line.item_id])} left to dispense",
                details=[
                    ErrorDetail(
                        field=f"items[{index}].quantity",
                        message=f"at most {remaining_quantity(items[line.item_id])}",
                    )
                ],
            )
    today = now().date()
    pharmacy_name = await organizations.name_of(session, pharmacy_id) or ""
    act = Dispensation(
        prescription_id=prescription.id,
        organization_id=pharmacy_id,
        pharmacy_name=pharmacy_name,
        pharmacist_id=principal.user_id,
        outcome=DispensationOutcome.dispensed.value,
        total_amount=Decimal("0"),
        # What its unit prices are in (kit/money.py: an amount always has a currency).
        currency=data.currency or settings.DEFAULT_CURRENCY,
    )
    session.add(act)
    await session.flush()
    warnings: list[str] = []
    lines: list[DispensationItem] = []
    # Stock is taken in product order: two dispensings of the same products listed the
    # other way round would otherwise lock each other's stock rows (a deadlock).
    in_stock_order = sorted(
        enumerate(data.items),
        key=lambda numbered: (items[numbered[1].item_id].product_id or uuid.UUID(int=0)).bytes,
    )
    for index, line in in_stock_order:
        item = items[line.item_id]
        taken = await _hand_out(
            session, principal, item, line, dispensation_id=act.id, today=today, index=index
        )
        for batch_number, expiry, quantity in taken:
            lines.append(
                DispensationItem(
                    dispensation_id=act.id,
                    prescription_item_id=item.id,
                    product_id=item.product_id,
                    quantity=quantity,
                    batch_number=batch_number,
                    expiry_date=expiry,
                    unit_price=line.unit_price,
                )
            )
            warning = _expiry_warning(item, expiry, today)
            if warning:
                warnings.append(warning)
        if not await repository.add_dispensed(item.id, line.quantity):
            raise DispenseExceedsRemaining()
    session.add_all(lines)
    act.total_amount = to_cents(
        sum(
            (line.unit_price * line.quantity for line in lines if line.unit_price is not None),
            Decimal("0"),
        )
    )
    await session.flush()
    refreshed = (await repository.items_of([prescription.id]))[prescription.id]
    complete = not any(remaining_quantity(item) for item in refreshed)
    previous = prescription.status
    prescription.status = (
        PrescriptionStatus.dispensed if complete else PrescriptionStatus.partially_dispensed
    ).value
    if complete:
        prescription.dispensed_at = now()
    await session.flush()
    audit_about(
        session,
        "prescription.dispensed",
        principal,
        prescription,
        previous=previous,
        dispensation_id=str(act.id),
        complete=complete,
        units=sum(line.quantity for line in data.items),
    )
    await events.emit(
        session,
        DISPENSED_EVENT,
        {
            "prescription_id": str(prescription.id),
            "dispensation_id": str(act.id),
            "pharmacy_name": pharmacy_name,
            "complete": complete,
            "summary": notices.dispensed_summary(
                [(items[line.item_id].medicine_name, line.quantity) for line in data.items]
            ),
        },
        actor_id=principal.user_id,
        organization_id=pharmacy_id,
    )
    answer = await _pharmacy_answer(session, principal, prescription)
    return {
        "dispensation": dispensation_view(act, lines),
        "prescription": answer["prescription"],
        "warnings": warnings,
    }


async def _hand_out(
    session: AsyncSession,
    principal: Principal,
    item: PrescriptionItem,
    line: DispenseLine,
    *,
    dispensation_id: uuid.UUID,
    today: date,
    index: int,
) -> list[tuple[str | None, date | None, int]]:
    """The batches one line is handed out from: the pharmacy's stock for a catalog
    product, else what the pharmacist recorded."""
    if item.product_id is not None:
        taken = await stock.take_for_dispensing(
            session,
            principal,
            product_id=item.product_id,
            quantity=line.quantity,
            batch_number=line.batch_number,
            dispensation_id=dispensation_id,
            on=today,
        )
        return [(batch.batch_number, batch.expiry_date, batch.quantity) for batch in taken]
    if line.expiry_date is not None and line.expiry_date <= today:
        # The same refusal as for an expired batch of the pharmacy's stock: it is the
        # batch that is wrong, not the prescription.
        raise BatchExpired(
            f"The batch of item {index + 1} expired on {line.expiry_date:%Y-%m-%d}: it cannot be"
            " dispensed",
            details=[ErrorDetail(field=f"items[{index}].expiry_date", message="expired")],
        )
    return [(line.batch_number, line.expiry_date, line.quantity)]


def _expiry_warning(item: PrescriptionItem, expiry: date | None, today: date) -> str | None:
    if expiry is None or item.duration_days is None:
        return None
    treatment_ends = today + timedelta(days=item.duration_days)
    if expiry < treatment_ends:
        return (
            f"{item.medicine_name}: the batch expires on {expiry:%Y-%m-%d}, before the"
            f" {item.duration_days}-day treatment ends ({treatment_ends:%Y-%m-%d})"
        )
    return None


async def reject(
    session: AsyncSession, principal: Principal, prescription_id: uuid.UUID, reason: str
) -> dict[str, Any]:
    """`POST /pharmacy/reject/{id}`: this pharmacy refuses it; no one dispenses it any
    more. The prescriber and the patient are told why."""
    pharmacy_id = _pharmacy_of(principal)
    prescription = await _open_for_pharmacy(session, principal, prescription_id)
    pharmacy_name = await organizations.name_of(session, pharmacy_id) or ""
    previous = prescription.status
    prescription.status = PrescriptionStatus.rejected.value
    prescription.rejected_at = now()
    prescription.rejected_by = pharmacy_id
    prescription.rejected_reason = reason
    session.add(
        Dispensation(
            prescription_id=prescription.id,
            organization_id=pharmacy_id,
            pharmacy_name=pharmacy_name,
            pharmacist_id=principal.user_id,
            outcome=DispensationOutcome.rejected.value,
            reason=reason,
            total_amount=Decimal("0"),
        )
    )
    await session.flush()
    audit_about(
        session,
        "prescription.rejected",
        principal,
        prescription,
        previous=previous,
        pharmacy_id=str(pharmacy_id),
    )
    # Told from a job in system context (handlers.py): the pharmacy's own context does
    # not see the patient's chart, which says how to reach the patient.
    await events.emit(
        session,
        REJECTED_EVENT,
        {
            "prescription_id": str(prescription.id),
            "pharmacy_name": pharmacy_name,
            "reason": reason,
        },
        actor_id=principal.user_id,
        organization_id=pharmacy_id,
    )
    return await _pharmacy_answer(session, principal, prescription)
