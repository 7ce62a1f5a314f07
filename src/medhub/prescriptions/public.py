"""Public prescription routes, outside /api/v1 and without authentication: the keys
that verify QR codes, so that anyone can check a prescription offline, and the online
check of one code (`/rx/verify` for programs, `/rx/<token>` the page a phone camera
opens: the QR code holds that URL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, StringConstraints

from medhub.kit.appstate import AppSettings
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, ok
from medhub.kit.ratelimit import RateLimit
from medhub.models.prescriptions import PrescriptionStatus
from medhub.prescriptions import verification
from medhub.prescriptions.service import signer_for
from medhub.prescriptions.verification import Verification

router = APIRouter(tags=["prescriptions"])

JWKS_PATH = "/.well-known/prescription-keys"
JWKS_MEDIA_TYPE = "application/jwk-set+json"
# Short enough that a rotation reaches verifiers within minutes; long enough that
# caches and CDNs absorb the traffic.
JWKS_CACHE_CONTROL = "public, max-age=300"


class PrescriptionPublicKey(BaseModel):
    """An Ed25519 public key as a JWK (RFC 8037)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class PrescriptionKeySet(BaseModel):
    """A JWK Set (RFC 7517): the current signing key first, then previous ones."""

    keys: list[PrescriptionPublicKey]


@router.get(
    JWKS_PATH,
    summary="The public keys that verify prescription QR codes (JWK Set)",
    description=(
        "A JWK Set (RFC 7517) of the Ed25519 keys (RFC 8037) that sign prescription QR "
        "tokens: the current key and the previous ones whose tokens are still accepted. "
        "A token names its key in the `kid` of its protected header. Not wrapped in the "
        "API envelope, so that standard JOSE libraries read it as it is."
    ),
    response_model=PrescriptionKeySet,
    responses={200: {"content": {JWKS_MEDIA_TYPE: {}}}},
)
async def prescription_keys(settings: AppSettings) -> JSONResponse:
    return JSONResponse(
        signer_for(settings).jwks(),
        media_type=JWKS_MEDIA_TYPE,
        headers={
            "Cache-Control": JWKS_CACHE_CONTROL,
            # Public keys: any web page may fetch them to verify a code in the browser.
            "Access-Control-Allow-Origin": "*",
        },
    )


# Online verification of one QR code

VERIFY_PATH = "/rx/verify"
PAGE_PATH = "/rx/{token}"
# Anonymous, outside /api/v1 and its limits: counted per client IP, both routes together.
_VERIFY_LIMIT = Depends(RateLimit(setting="RATE_LIMIT_RX_VERIFY", scope="rx_verify"))
# The answer depends on the prescription's state now (a cancellation shows at once), and
# the URL holds a bearer token: nothing keeps a copy, nothing indexes it.
PAGE_HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex, nofollow"}
# The page loads nothing and runs nothing: its inline styles are all it has. The page
# repeats the policy in a meta element (where `frame-ancestors` has no effect), so that
# it holds where a proxy replaces the header.
PAGE_CSP_META = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
PAGE_CSP = PAGE_CSP_META + "; frame-ancestors 'none'"

_pages = Environment(
    loader=PackageLoader("medhub", "templates/public"),
    autoescape=True,
    undefined=StrictUndefined,
)

# The status, in words a patient or a pharmacist reads at a glance.
STATUS_WORDS: dict[str, str] = {
    PrescriptionStatus.issued: "Issued, not yet presented at a pharmacy",
    PrescriptionStatus.scanned: "Presented at a pharmacy",
    PrescriptionStatus.validated: "Checked by a pharmacy",
    PrescriptionStatus.partially_dispensed: "Partly dispensed",
    PrescriptionStatus.dispensed: "Dispensed in full",
    PrescriptionStatus.rejected: "Rejected by a pharmacy",
    PrescriptionStatus.cancelled: "Cancelled by the prescriber",
    PrescriptionStatus.expired: "Expired",
}


class PrescriptionVerification(BaseModel):
    """Whether a QR code is genuine and its prescription in force, and what the code
    stands for; nothing clinical."""

    valid: bool
    status: PrescriptionStatus | None
    number: str | None
    organization: str | None
    expires_at: datetime | None


def plain_time(moment: datetime) -> str:
    """`3 December 2026, 18:04 UTC`: a date nobody misreads, whatever their locale."""
    utc = moment.astimezone(UTC)
    return f"{utc.day} {utc:%B %Y, %H:%M} UTC"


def _verdict(result: Verification) -> tuple[str, str]:
    """The page's heading and the sentence under it."""
    if not result.genuine:
        return (
            "This is not a valid prescription code",
            "MedHub did not issue this code, or it has been altered or damaged. Do not "
            "dispense from it: ask the patient or the prescriber for the original.",
        )
    if result.superseded:
        return (
            "This prescription code is not valid",
            "MedHub issued this code, but it is no longer the prescription's code: it was "
            "replaced or withdrawn. Ask the prescriber for the current one.",
        )
    if result.valid and result.status == PrescriptionStatus.dispensed:
        return (
            "This prescription is valid",
            "Issued through MedHub and genuine. It has been dispensed in full: nothing "
            "more can be dispensed from it.",
        )
    if result.valid:
        return (
            "This prescription is valid",
            "Issued through MedHub, genuine and in force.",
        )
    if result.status == PrescriptionStatus.cancelled:
        reason = "the prescriber cancelled it"
    elif result.status == PrescriptionStatus.rejected:
        reason = "a pharmacy rejected it"
    else:
        reason = "it has expired"
    return (
        "This prescription is not valid",
        f"Issued through MedHub and genuine, but {reason}. Nothing may be dispensed from it.",
    )


def render_page(result: Verification) -> str:
    heading, summary = _verdict(result)
    return _pages.get_template("prescription_verification.html").render(
        heading=heading,
        summary=summary,
        valid=result.valid,
        number=result.number,
        organization=result.organization,
        expires_at=result.expires_at,
        expires_at_text=plain_time(result.expires_at) if result.expires_at else None,
        status_text=STATUS_WORDS.get(result.status) if result.status else None,
        content_security_policy=PAGE_CSP_META,
    )


@router.get(
    VERIFY_PATH,
    summary="Verify a prescription QR code (public)",
    description=(
        "Whether a prescription QR code is genuine (signed by MedHub with a key it still "
        "lists, not altered) and its prescription in force, with what the code stands "
        "for: the prescription's number and status, the issuing organization and the "
        "expiry. Never the patient, the medicines or the diagnosis. `token` is the QR "
        "code's token or its whole verification URL. A forged, altered, malformed, "
        "expired or replaced code is `valid: false` (number, status and organization "
        "null when MedHub did not sign it); so is a cancelled, rejected or expired "
        "prescription, whose `status` says which. No authentication; limited per IP "
        "(RATE_LIMIT_RX_VERIFY)."
    ),
    response_model=Envelope[PrescriptionVerification],
    dependencies=[_VERIFY_LIMIT],
)
async def verify_prescription_code(
    token: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1),
        Query(description="The QR code's token, or the URL it holds (`.../rx/<token>`)"),
    ],
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    result = await verification.verify(session, settings, token)
    return ok(result.view())


@router.get(
    PAGE_PATH,
    summary="The page a prescription QR code opens (public, HTML)",
    description=(
        "What a phone camera shows after scanning a prescription QR code: whether it is "
        "valid, its number, the issuing organization, the expiry and the status, in "
        "plain words; nothing clinical. Always 200: a code that is not genuine gets the "
        "page saying so. Self-contained (no script, no external asset), not cached, not "
        "indexed. Limited per IP with /rx/verify (RATE_LIMIT_RX_VERIFY)."
    ),
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}},
    dependencies=[_VERIFY_LIMIT],
)
async def prescription_code_page(
    token: Annotated[str, Path(description="The QR code's token")],
    session: DbSession,
    settings: AppSettings,
) -> HTMLResponse:
    result = await verification.verify(session, settings, token)
    return HTMLResponse(
        render_page(result),
        headers={**PAGE_HEADERS, "Content-Security-Policy": PAGE_CSP},
    )
