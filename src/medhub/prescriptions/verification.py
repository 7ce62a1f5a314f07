"""Public verification of a prescription QR code: `GET /rx/verify` and the page a phone
camera opens at `/rx/<token>` (issue 15).

Anyone holding the code may ask, without an account: there is no caller, so no tenant
context, and the prescription is read through migration 0019's
`prescription_public_status()`, which answers only for the id the verified token names
together with that token's hash. The answer is what the code itself stands for (the
prescription's number, the issuing organization, its expiry and status) and whether the
prescription is in force; never the patient, what was prescribed, or why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.config import Settings
from medhub.models.prescriptions import DISPENSABLE_STATUSES, PrescriptionStatus
from medhub.prescriptions.exceptions import InvalidPrescriptionToken
from medhub.prescriptions.repository import PrescriptionRepository
from medhub.prescriptions.service import now, signer_for, token_hash
from medhub.prescriptions.tokens import token_from_qr_data

log = structlog.get_logger(__name__)

# A genuine code of a prescription in one of these states no longer authorises anything
# (as the pharmacy's scan judges `is_valid`); a fully dispensed one is still in force,
# with nothing left to hand out.
_NOT_IN_FORCE = frozenset(
    {PrescriptionStatus.cancelled, PrescriptionStatus.rejected, PrescriptionStatus.expired}
)


@dataclass(frozen=True, slots=True)
class Verification:
    """What a verifier learns. Everything but `valid` is None for a code MedHub did not
    sign; a genuine code that is no longer its prescription's (reissued, or the
    prescription is gone) keeps the number and expiry it was signed with, no status."""

    valid: bool
    status: str | None
    number: str | None
    organization: str | None
    expires_at: datetime | None

    @property
    def genuine(self) -> bool:
        return self.number is not None

    @property
    def superseded(self) -> bool:
        """Signed by MedHub, but no longer the code of any prescription."""
        return self.genuine and self.status is None

    def view(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "status": self.status,
            "number": self.number,
            "organization": self.organization,
            "expires_at": self.expires_at,
        }


NOT_GENUINE = Verification(
    valid=False, status=None, number=None, organization=None, expires_at=None
)


def current_status(status: str, expires_at: datetime, at: datetime) -> str:
    """The status as the expiry sweep will leave it: an open prescription past its
    expiry reads `expired` even before the sweep has run."""
    if expires_at <= at and status in DISPENSABLE_STATUSES:
        return PrescriptionStatus.expired.value
    return status


async def verify(session: AsyncSession, settings: Settings, qr_data: str) -> Verification:
    """Verify what a QR code holds (the bare token or its `<origin>/rx/<token>` URL).

    A forged, altered or malformed code is answered before any query. An authentic one,
    expired or not, is looked up by its id and hash, so that a code that was reissued
    (or whose prescription is gone) is refused although its signature is sound.
    """
    try:
        token = token_from_qr_data(qr_data)
        claims = signer_for(settings).verify(token, allow_expired=True)
    except InvalidPrescriptionToken as exc:
        # Why, for whoever investigates forged codes; the answer says only "not valid".
        log.info("prescription.verify_refused", reason=exc.reason)
        return NOT_GENUINE
    found = await PrescriptionRepository(session).public_status(
        claims.prescription_id, token_hash(token)
    )
    if found is None:
        log.info("prescription.verify_superseded", prescription_id=str(claims.prescription_id))
        return Verification(
            valid=False,
            status=None,
            number=claims.number,
            organization=None,
            expires_at=claims.expires_at,
        )
    stored_status, number, organization, expires_at = found
    at = now()
    status = current_status(stored_status, expires_at, at)
    return Verification(
        valid=not claims.expired and expires_at > at and status not in _NOT_IN_FORCE,
        status=status,
        number=number,
        organization=organization,
        expires_at=expires_at,
    )
