"""What a prescription's life tells people: the patient gets the prescription email
(QR inline, reference number, items, expiry) and an in-app notification when it is
written, and hears when it is dispensed, cancelled or rejected; the prescriber hears
of a rejection.

The patient is reached through the account their chart is linked to (in-app, and
email as they chose for prescriptions), else at the chart's email address (email
only), else not at all. Everything joins the caller's transaction.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.config import Settings
from medhub.mail import service as mail
from medhub.models.notifications import NotificationCategory
from medhub.models.prescriptions import Prescription, PrescriptionItem
from medhub.notifications import service as notifications
from medhub.patients import service as patients
from medhub.prescriptions import qr

CATEGORY = NotificationCategory.prescription
DAY_FORMAT = "%d %B %Y"
UPDATE_TEMPLATE = "prescription_update"


def _frequency(item: PrescriptionItem) -> str:
    if item.frequency_text:
        return item.frequency_text
    if item.times_per_day:
        return "once daily" if item.times_per_day == 1 else f"{item.times_per_day} times daily"
    if item.every_hours:
        return f"every {item.every_hours} hours"
    return ""


def _link(prescription: Prescription) -> dict[str, Any]:
    return {
        "link": f"/prescriptions/{prescription.id}",
        "prescription_id": str(prescription.id),
        "number": prescription.number,
    }


async def _to_patient(
    session: AsyncSession,
    prescription: Prescription,
    *,
    title: str,
    body: str,
    template: str,
    context: dict[str, Any],
    attachments: list[dict[str, Any]] | None = None,
) -> None:
    chart = await patients.chart_by_id(session, prescription.patient_id)
    if chart is None:
        return
    if chart.user_id is not None:
        await notifications.notify(
            session,
            chart.user_id,
            CATEGORY,
            title,
            body,
            _link(prescription),
            email=(template, context),
            attachments=attachments,
        )
    elif chart.email:
        await mail.queue_email(
            session,
            template,
            chart.email,
            {"full_name": prescription.patient_name, **context},
            attachments=attachments,
        )


async def prescription_written(
    session: AsyncSession,
    settings: Settings,
    prescription: Prescription,
    items: Sequence[PrescriptionItem],
) -> None:
    """The prescription email, with its QR code inline (the verification URL the
    pharmacy scans) and the reference number to read out instead."""
    cid = f"rx-qr-{prescription.number}@medhub.local"
    url = qr.verification_url(settings.PUBLIC_BASE_URL, prescription.qr_token)
    image = {
        "content_type": "image/png",
        "data_b64": base64.b64encode(await qr.render_png(url)).decode(),
        "filename": f"{prescription.number}.png",
        "cid": cid,
    }
    context = {
        "patient_name": prescription.patient_name,
        "doctor_name": prescription.prescriber_name,
        "prescription_number": prescription.number,
        "prescription_id": str(prescription.id),
        "issued_at": prescription.issued_at.strftime(DAY_FORMAT),
        "valid_until": prescription.expires_at.strftime(DAY_FORMAT),
        "items": [
            {
                "medicine_name": item.medicine_name,
                "dosage": item.strength or "",
                "frequency": _frequency(item),
                "quantity": item.quantity,
                "instructions": item.instructions,
            }
            for item in items
        ],
        "reference_number": prescription.reference_number,
        "qr_cid": cid,
    }
    await _to_patient(
        session,
        prescription,
        title=f"New prescription {prescription.number} from {prescription.prescriber_name}",
        body=(
            f"Valid until {prescription.expires_at.strftime(DAY_FORMAT)}. Show its QR code or"
            f" give the reference number {prescription.reference_number} at your pharmacy."
        ),
        template="prescription",
        context=context,
        attachments=[image],
    )


async def status_changed(
    session: AsyncSession,
    prescription: Prescription,
    *,
    title: str,
    body: str,
) -> None:
    """The patient hears of a dispensing, a cancellation or a rejection."""
    context = {
        "title": title,
        "body": body,
        "prescription_number": prescription.number,
        "doctor_name": prescription.prescriber_name,
        "status_label": prescription.status.replace("_", " "),
        "prescription_id": str(prescription.id),
    }
    await _to_patient(
        session, prescription, title=title, body=body, template=UPDATE_TEMPLATE, context=context
    )


async def rejected_to_prescriber(
    session: AsyncSession, prescription: Prescription, pharmacy_name: str, reason: str
) -> None:
    await notifications.notify(
        session,
        prescription.doctor_id,
        CATEGORY,
        f"Prescription {prescription.number} rejected by {pharmacy_name}",
        f"Reason: {reason}",
        _link(prescription),
    )


def dispensed_summary(lines: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{name} x {quantity}" for name, quantity in lines)
