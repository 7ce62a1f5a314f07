"""The baseline's prescription routes: writing one (a doctor), scanning its QR code,
dispensing it (pharmacists) and a pharmacy's history.

Each sends the statements MedHub sends for the same request, with raw psycopg and only
the columns the answer needs, and answers with the same body. What it leaves out is
re-reading what the same transaction has just written (a new prescription's items and
its empty list of dispensations; the items a dispensing has just counted, and the
pharmacy's access row it has just checked): MedHub could take those from its own
writes as well. The column crypto is MedHub's `Keyring` (AES-GCM, the HMAC blind
index) with the run's keys (BASELINE_FIELD_ENCRYPTION_KEYS / BASELINE_FIELD_INDEX_KEY);
the QR tokens are signed and verified with PyJWT's EdDSA, as MedHub does, with the
run's PRESCRIPTION_SIGNING_KEY (BASELINE_PRESCRIPTION_SIGNING_KEY). Both write the
same audit rows, domain events and their jobs (which MedHub's worker then handles for
both: the prescription email with its QR code, the patient's notification).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import jwt
import orjson
import uuid_utils.compat as uuid_compat
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.baseline_clinical import keyring
from bench.baseline_kit import (
    Unauthenticated,
    bearer_claims,
    error_response,
    json_response,
    pool_of,
)

# No py.typed in the project package.
from medhub.config import Settings  # type: ignore[import-untyped]
from medhub.kit.money import to_cents  # type: ignore[import-untyped]
from medhub.prescriptions.reference import (  # type: ignore[import-untyped]
    format_reference,
    new_reference,
)

VALID_DAYS = int(
    os.environ.get(
        "PRESCRIPTION_VALID_DAYS", Settings.model_fields["PRESCRIPTION_VALID_DAYS"].default
    )
)
PUBLIC_BASE_URL = os.environ.get(
    "PUBLIC_BASE_URL", Settings.model_fields["PUBLIC_BASE_URL"].default
).rstrip("/")
MAX_LIMIT, DEFAULT_LIMIT = 100, 20
MAX_ITEMS = 20
AUTH_CONTEXT_SQL = (
    "SELECT session_ok, user_active, user_verified, user_approved, org_active, user_role,"
    " user_org FROM auth_context(%s, %s)"
)
INSERT_AUDIT_SQL = (
    "INSERT INTO activity_logs (id, organization_id, user_id, action, entity_type, entity_id,"
    " ip_address, user_agent, metadata) VALUES (%s, %s, %s, %s, 'prescription', %s, %s, %s,"
    " %s::jsonb)"
)
INSERT_EVENT_SQL = (
    "INSERT INTO domain_events (id, name, payload, actor_id, organization_id)"
    " VALUES (%s, %s, %s::jsonb, %s, %s)"
)
# procrastinate's own defer function, as its connector calls it: one job per handler.
DEFER_SQL = (
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('events', 'medhub.dispatch_event', 0,"
    " NULL, NULL, %s::jsonb, NULL)::procrastinate_job_to_defer_v1]))"
)
CREATED_HANDLER = "medhub.prescriptions.handlers.send_prescription_email"
DISPENSED_HANDLER = "medhub.prescriptions.handlers.tell_patient_dispensed"

# --- QR tokens (medhub/prescriptions/tokens.py: JWS, EdDSA, kid = RFC 7638 thumbprint) ---

ALGORITHM = "EdDSA"
TOKEN_TYPE = "medhub-rx"  # noqa: S105 - a claim value
MAX_TOKEN_LENGTH = 2048
REQUIRED_CLAIMS = ["typ", "sub", "num", "iat", "exp"]
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
VERIFICATION_PATH = "/rx/"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    kid: str


@lru_cache(maxsize=1)
def signer() -> Signer:
    raw = os.environ["BASELINE_PRESCRIPTION_SIGNING_KEY"]
    private = Ed25519PrivateKey.from_private_bytes(
        base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    )
    public = private.public_key()
    thumbprint = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(public.public_bytes_raw())},
        separators=(",", ":"),
        sort_keys=True,
    )
    return Signer(private, public, _b64url(hashlib.sha256(thumbprint.encode()).digest()))


class Rejected(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _bad_token(reason: str = "malformed") -> Rejected:
    return Rejected(
        error_response(
            400,
            "INVALID_PRESCRIPTION_TOKEN",
            "This is not a valid MedHub prescription QR code",
            [{"field": "qr_data", "message": reason}],
        )
    )


def _token_from_qr_data(text: Any) -> str:
    data = text.strip() if isinstance(text, str) else ""
    if len(data) > MAX_TOKEN_LENGTH + 512:
        raise _bad_token()
    if TOKEN_SHAPE.fullmatch(data):
        return data
    try:
        path = urlsplit(data).path
    except ValueError as exc:
        raise _bad_token() from exc
    _, found, token = path.rpartition(VERIFICATION_PATH)
    if found and TOKEN_SHAPE.fullmatch(token):
        return token
    raise _bad_token()


def _verify(token: str) -> uuid.UUID:
    """The prescription id of an authentic token (expired or not: a scan answers an
    expired one with `is_valid: false`)."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise _bad_token()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _bad_token() from exc
    if header.get("alg") != ALGORITHM:
        raise _bad_token("unsupported_algorithm")
    keys = signer()
    if header.get("kid") != keys.kid:
        raise _bad_token("unknown_key")
    try:
        payload = jwt.decode(
            token,
            keys.public,
            algorithms=[ALGORITHM],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": REQUIRED_CLAIMS,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise _bad_token("bad_signature") from exc
    except jwt.PyJWTError as exc:
        raise _bad_token() from exc
    subject, number, expires = payload["sub"], payload["num"], payload["exp"]
    if payload["typ"] != TOKEN_TYPE or not isinstance(number, str) or not number:
        raise _bad_token("bad_claims")
    if isinstance(expires, bool) or not isinstance(expires, int) or not isinstance(subject, str):
        raise _bad_token("bad_claims")
    try:
        return uuid.UUID(subject)
    except ValueError as exc:
        raise _bad_token("bad_claims") from exc


# --- shared pieces --------------------------------------------------------------------


def _invalid(field: str, problem: str, message: str = "Invalid request") -> Rejected:
    return Rejected(
        error_response(400, "VALIDATION_ERROR", message, [{"field": field, "message": problem}])
    )


def _conflict(message: str, code: str = "INVALID_STATE_TRANSITION") -> Rejected:
    return Rejected(error_response(409, code, message))


def _not_found(message: str = "Prescription not found") -> Rejected:
    return Rejected(error_response(404, "NOT_FOUND", message))


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID
    role: str
    organization_id: uuid.UUID


async def _caller(conn: AsyncConnection[Any], request: Request, roles: frozenset[str]) -> Caller:
    """An active user of one of `roles` with an organization and a live session;
    auth_context() also sets the transaction's RLS context (app.role included, which
    grant_prescription_access() reads)."""
    try:
        user_id, session_id = bearer_claims(request)
    except Unauthenticated as exc:
        raise Rejected(error_response(401, "AUTHENTICATION_ERROR", str(exc))) from exc
    row = await (await conn.execute(AUTH_CONTEXT_SQL, (session_id, user_id))).fetchone()
    if row is None or not (row[0] and row[1] and row[4]):
        raise Rejected(error_response(401, "AUTHENTICATION_ERROR", "This session has ended"))
    _, _, _, approved, _, role, organization_id = row
    if role not in roles or organization_id is None:
        raise Rejected(error_response(403, "AUTHORIZATION_ERROR", "Not allowed"))
    if role == "doctor" and not approved:
        raise Rejected(error_response(403, "AWAITING_APPROVAL", "Awaiting approval"))
    return Caller(user_id, role, organization_id)


async def _audit(
    conn: AsyncConnection[Any],
    request: Request,
    caller: Caller,
    *,
    action: str,
    prescription_id: uuid.UUID | None,
    metadata: dict[str, Any],
) -> None:
    await conn.execute(
        INSERT_AUDIT_SQL,
        (
            uuid_compat.uuid7(),
            caller.organization_id,
            caller.user_id,
            action,
            prescription_id,
            request.client.host if request.client else None,
            request.headers.get("user-agent"),
            json.dumps(metadata),
        ),
    )


async def _emit(
    conn: AsyncConnection[Any],
    name: str,
    handler: str,
    payload: dict[str, Any],
    caller: Caller,
) -> None:
    """medhub.events.service.emit: the event row and its handler's job."""
    event_id = uuid_compat.uuid7()
    await conn.execute(
        INSERT_EVENT_SQL,
        (event_id, name, json.dumps(payload), caller.user_id, caller.organization_id),
    )
    await conn.execute(DEFER_SQL, (json.dumps({"handler": handler, "event_id": str(event_id)}),))


# The platform's default currency (MedHub's DEFAULT_CURRENCY, unset in the bench).
CURRENCY = Settings.model_fields["DEFAULT_CURRENCY"].default
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


def _currency(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CURRENCY_CODE.fullmatch(value):
        raise _invalid(field, "three capital letters (ISO 4217)", "Invalid currency")
    return value


def _money(value: Decimal | None) -> float | None:
    # As MedHub's views render kit.money.Money: a JSON number with cents.
    return None if value is None else float(to_cents(value))


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise _invalid("body", "Send a JSON body") from exc
    if not isinstance(body, dict):
        raise _invalid("body", "expected a JSON object")
    return body


# --- views (medhub/prescriptions/service.py) ------------------------------------------

ITEM_COLUMNS = (
    "id", "medicine_name", "product_id", "strength", "form", "times_per_day", "every_hours",
    "frequency_text", "duration_days", "quantity", "refills", "instructions",
    "dispensed_quantity",
)  # fmt: skip
ITEMS_SQL = (
    f"SELECT {', '.join(ITEM_COLUMNS)} FROM prescription_items"  # noqa: S608 - constants
    " WHERE prescription_id = %s ORDER BY position"
)
# The pharmacy's view of a prescription: what it reads, decrypted where it is sealed.
PHARMACY_COLUMNS = (
    "id", "number", "patient_name", "prescriber_name", "organization_name", "diagnosis",
    "status", "issued_at", "expires_at", "qr_hash", "scan_count", "last_scanned_at",
)  # fmt: skip
# ... and the chart and prescriber organization its audit rows name.
PHARMACY_RETURNING = ", ".join((*PHARMACY_COLUMNS, "patient_id", "organization_id"))
NUMBER, STATUS, EXPIRES_AT = 1, 6, 8
PATIENT_ID, ORGANIZATION_ID = len(PHARMACY_COLUMNS), len(PHARMACY_COLUMNS) + 1
# A prescription's dispensations with their lines, oldest first (none: one row of NULLs
# is not returned, the join is from dispensations).
DISPENSATIONS_SQL = (
    "SELECT d.id, d.organization_id, d.pharmacy_name, d.outcome, d.reason, d.total_amount,"
    " d.created_at, l.prescription_item_id, l.product_id, l.quantity, l.batch_number,"
    " l.expiry_date, l.unit_price, d.currency"
    " FROM dispensations d LEFT JOIN dispensation_items l ON l.dispensation_id = d.id"
    " WHERE d.prescription_id = %s ORDER BY d.created_at, d.id, l.id"
)


def _item_view(row: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(ITEM_COLUMNS, row, strict=True))
    keys = keyring()
    allowed = item["quantity"] * (1 + item["refills"])
    instructions = item["instructions"]
    return {
        "id": item["id"],
        "medicine_name": keys.decrypt(
            bytes(item["medicine_name"]), "prescription_items.medicine_name"
        ),
        "product_id": item["product_id"],
        "strength": item["strength"],
        "dosage": item["strength"],
        "form": item["form"],
        "frequency": {
            "times_per_day": item["times_per_day"],
            "every_hours": item["every_hours"],
            "text": item["frequency_text"],
        },
        "duration_days": item["duration_days"],
        "quantity": item["quantity"],
        "refills": item["refills"],
        "allowed_quantity": allowed,
        "dispensed_quantity": item["dispensed_quantity"],
        "remaining_quantity": allowed - item["dispensed_quantity"],
        "instructions": None
        if instructions is None
        else keys.decrypt(bytes(instructions), "prescription_items.instructions"),
    }


def _line_view(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "prescription_item_id": row[0],
        "product_id": row[1],
        "quantity": row[2],
        "batch_number": row[3],
        "expiry_date": row[4],
        "unit_price": _money(row[5]),
    }


def _dispensations(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    acts: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        act = acts.get(row[0])
        if act is None:
            act = acts[row[0]] = {
                "id": row[0],
                "organization_id": row[1],
                "pharmacy_name": row[2],
                "outcome": row[3],
                "reason": row[4],
                "total_amount": _money(row[5]),
                "currency": row[13],
                "created_at": row[6],
                "items": [],
            }
        if row[7] is not None:
            act["items"].append(_line_view(row[7:]))
    return list(acts.values())


USED = frozenset({"partially_dispensed", "dispensed"})
CLOSED = frozenset({"cancelled", "rejected", "expired"})
DISPENSABLE = frozenset({"issued", "scanned", "validated", "partially_dispensed"})


def _pharmacy_answer(
    row: Sequence[Any],
    items: list[dict[str, Any]],
    dispensations: list[dict[str, Any]],
    *,
    validated: bool,
) -> dict[str, Any]:
    """dispensing._pharmacy_answer: the pharmacy's view, whether it is valid and why it
    cannot be dispensed."""
    p = dict(zip(PHARMACY_COLUMNS, row[: len(PHARMACY_COLUMNS)], strict=True))
    now = datetime.now(UTC)
    status, expires_at = p["status"], p["expires_at"]
    reason = None
    if status == "expired" or expires_at <= now:
        reason = f"This prescription expired on {expires_at:%Y-%m-%d}"
    elif status in ("cancelled", "rejected"):
        reason = f"This prescription was {status}"
    elif status == "dispensed" or not any(item["remaining_quantity"] for item in items):
        reason = "This prescription has been dispensed in full"
    diagnosis = p["diagnosis"]
    prescription = {
        "id": p["id"],
        "prescription_number": p["number"],
        "patient_name": p["patient_name"],
        "doctor_name": p["prescriber_name"],
        "organization_name": p["organization_name"],
        "diagnosis": None
        if diagnosis is None
        else keyring().decrypt(bytes(diagnosis), "prescriptions.diagnosis"),
        "status": status,
        "issued_at": p["issued_at"],
        "expires_at": expires_at,
        "items": items,
        "qr_code": {
            "qr_hash": p["qr_hash"],
            "is_used": status in USED,
            "scan_count": p["scan_count"],
            "last_scanned_at": p["last_scanned_at"],
            "expires_at": expires_at,
        },
        "validated_by_you": validated,
        "dispensations": dispensations,
    }
    return {
        "prescription": prescription,
        "is_valid": expires_at > now and status not in CLOSED,
        "can_dispense": reason is None,
        "reason": reason,
    }


# --- writing a prescription -----------------------------------------------------------

INSERT_PRESCRIPTION_SQL = (
    "INSERT INTO prescriptions (id, organization_id, patient_id, doctor_id, consultation_id,"
    " patient_name, prescriber_name, organization_name, number, reference_number,"
    " reference_index, qr_token, qr_hash, diagnosis, notes, status, issued_at, expires_at,"
    " scan_count) VALUES (%s, %s, %s, %s, NULL, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " 'issued', %s, %s, 0) RETURNING created_at, updated_at"
)
INSERT_ITEM_SQL = (
    "INSERT INTO prescription_items (id, prescription_id, position, medicine_name, product_id,"
    " strength, form, times_per_day, every_hours, frequency_text, duration_days, quantity,"
    " refills, instructions, dispensed_quantity)"
    " VALUES (%s, %s, %s, %s, NULL, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0)"
)
CHART_SQL = (
    "SELECT first_name, last_name FROM patients"
    " WHERE organization_id = %s AND deleted_at IS NULL AND id = %s"
)
# The day's next number, committed on its own before the prescription's transaction
# (repository.take_number: the day's row is locked for this statement only).
NUMBER_SQL = (
    "INSERT INTO prescription_number_days AS d (day, last) VALUES (%s, 1)"
    " ON CONFLICT (day) DO UPDATE SET last = d.last + 1 RETURNING d.last"
)
# The prescriber's and the organization's names: one round trip.
NAMES_SQL = (
    "SELECT (SELECT full_name FROM users WHERE id = %s),"
    " (SELECT name FROM organizations WHERE id = %s)"
)


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise _invalid(field, f"1 to {limit} characters", "The prescription cannot be written")
    return value.strip()


def _number(value: Any, field: str, low: int, high: int, *, required: bool = False) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(
            field, f"a whole number from {low} to {high}", "The prescription cannot be written"
        )
    return value


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The items as MedHub's ItemCreate takes them (free text; catalog products, which
    MedHub looks up, are not part of this scenario and refused here)."""
    raw = body.get("items")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ITEMS:
        raise _invalid("items", f"1 to {MAX_ITEMS} items", "The prescription cannot be written")
    items = []
    for index, entry in enumerate(raw):
        at = f"items[{index}]"
        if not isinstance(entry, dict) or entry.get("product_id") is not None:
            raise _invalid(at, "a free-text item", "The prescription cannot be written")
        frequency = entry.get("frequency")
        if not isinstance(frequency, dict):
            raise _invalid(f"{at}.frequency", "required", "The prescription cannot be written")
        times = _number(frequency.get("times_per_day"), f"{at}.frequency.times_per_day", 1, 24)
        every = _number(frequency.get("every_hours"), f"{at}.frequency.every_hours", 1, 168)
        words = _text(frequency.get("text"), f"{at}.frequency.text", 200)
        if (times is not None and every is not None) or (
            times is None and every is None and words is None
        ):
            raise _invalid(
                f"{at}.frequency",
                "times_per_day or every_hours, or text",
                "The prescription cannot be written",
            )
        items.append(
            {
                "medicine_name": _text(
                    entry.get("medicine_name"), f"{at}.medicine_name", 200, required=True
                ),
                "strength": _text(
                    entry.get("strength", entry.get("dosage")), f"{at}.strength", 100
                ),
                "form": _text(entry.get("form"), f"{at}.form", 20),
                "times_per_day": times,
                "every_hours": every,
                "frequency_text": words,
                "duration_days": _number(entry.get("duration_days"), f"{at}.duration_days", 1, 365),
                "quantity": _number(
                    entry.get("quantity"), f"{at}.quantity", 1, 10_000, required=True
                ),
                "refills": _number(entry.get("refills", 0), f"{at}.refills", 0, 12, required=True),
                "instructions": _text(entry.get("instructions"), f"{at}.instructions", 500),
            }
        )
    return items


async def create_prescription(request: Request) -> Response:
    """issuing.issue without Idempotency-Key: the chart, the number and names, the
    signed token and the reference, the prescription and its items, the event and its
    job, the audit row; the answer built from what was written."""
    try:
        body = await _body(request)
        try:
            patient_id = uuid.UUID(str(body["patient_id"]))
        except (KeyError, ValueError) as exc:
            raise _invalid(
                "patient_id", "a chart id", "The prescription cannot be written"
            ) from exc
        diagnosis = _text(body.get("diagnosis"), "diagnosis", 500)
        notes = _text(body.get("notes"), "notes", 2000)
        valid_days = _number(body.get("valid_days"), "valid_days", 1, 365) or VALID_DAYS
        items = _items(body)
        keys = keyring()
        async with pool_of(request).connection() as conn:
            issued_at = datetime.now(UTC)
            taken = await (await conn.execute(NUMBER_SQL, (issued_at.date(),))).fetchone()
            await conn.commit()
            counter = taken[0] if taken else 0
        async with pool_of(request).connection() as conn, conn.transaction():
            caller = await _caller(conn, request, frozenset({"doctor"}))
            chart = await (
                await conn.execute(CHART_SQL, (caller.organization_id, patient_id))
            ).fetchone()
            if chart is None:
                raise _not_found("Patient not found")
            names = await (
                await conn.execute(NAMES_SQL, (caller.user_id, caller.organization_id))
            ).fetchone()
            prescriber, organization_name = names if names else ("", "")
            expires_at = issued_at + timedelta(days=valid_days)
            number = f"RX-{issued_at:%Y%m%d}-{counter:04d}"
            prescription_id = uuid_compat.uuid7()
            keys_ = signer()
            token = jwt.encode(
                {
                    "typ": TOKEN_TYPE,
                    "sub": str(prescription_id),
                    "num": number,
                    "iat": int(issued_at.timestamp()),
                    "exp": int(expires_at.timestamp()),
                },
                keys_.private,
                algorithm=ALGORITHM,
                headers={"kid": keys_.kid, "typ": None},
            )
            qr_hash = hashlib.sha256(token.encode()).hexdigest()
            reference = new_reference()
            patient_name = f"{chart[0]} {chart[1]}"
            stamps = await (
                await conn.execute(
                    INSERT_PRESCRIPTION_SQL,
                    (
                        prescription_id,
                        caller.organization_id,
                        patient_id,
                        caller.user_id,
                        patient_name,
                        prescriber,
                        organization_name or "",
                        number,
                        keys.encrypt(format_reference(reference), "prescriptions.reference_number"),
                        keys.blind_index(reference, "prescriptions.reference"),
                        keys.encrypt(token, "prescriptions.qr_token"),
                        qr_hash,
                        None
                        if diagnosis is None
                        else keys.encrypt(diagnosis, "prescriptions.diagnosis"),
                        None if notes is None else keys.encrypt(notes, "prescriptions.notes"),
                        issued_at,
                        expires_at,
                    ),
                )
            ).fetchone()
            rows = []
            for position, item in enumerate(items, start=1):
                item_id = uuid_compat.uuid7()
                instructions = item["instructions"]
                rows.append(
                    (
                        item_id,
                        prescription_id,
                        position,
                        keys.encrypt(item["medicine_name"], "prescription_items.medicine_name"),
                        item["strength"],
                        item["form"],
                        item["times_per_day"],
                        item["every_hours"],
                        item["frequency_text"],
                        item["duration_days"],
                        item["quantity"],
                        item["refills"],
                        None
                        if instructions is None
                        else keys.encrypt(instructions, "prescription_items.instructions"),
                    )
                )
                item["id"] = item_id
            async with conn.cursor() as cursor:
                await cursor.executemany(INSERT_ITEM_SQL, rows)
            await _emit(
                conn,
                "prescription.created",
                CREATED_HANDLER,
                {"prescription_id": str(prescription_id)},
                caller,
            )
            await _audit(
                conn,
                request,
                caller,
                action="prescription.created",
                prescription_id=prescription_id,
                metadata={
                    "patient_id": str(patient_id),
                    "organization_id": str(caller.organization_id),
                    "number": number,
                    "items": len(items),
                    "expires_at": expires_at.isoformat(),
                },
            )
    except Rejected as rejected:
        return rejected.response
    created_at, updated_at = stamps if stamps else (issued_at, issued_at)
    data = {
        "id": prescription_id,
        "prescription_number": number,
        "reference_number": format_reference(reference),
        "status": "issued",
        "organization_id": caller.organization_id,
        "organization_name": organization_name,
        "patient_id": patient_id,
        "patient_name": patient_name,
        "doctor_id": caller.user_id,
        "doctor_name": prescriber,
        "consultation_id": None,
        "diagnosis": diagnosis,
        "notes": notes,
        "items": [
            {
                "id": item["id"],
                "medicine_name": item["medicine_name"],
                "product_id": None,
                "strength": item["strength"],
                "dosage": item["strength"],
                "form": item["form"],
                "frequency": {
                    "times_per_day": item["times_per_day"],
                    "every_hours": item["every_hours"],
                    "text": item["frequency_text"],
                },
                "duration_days": item["duration_days"],
                "quantity": item["quantity"],
                "refills": item["refills"],
                "allowed_quantity": item["quantity"] * (1 + item["refills"]),
                "dispensed_quantity": 0,
                "remaining_quantity": item["quantity"] * (1 + item["refills"]),
                "instructions": item["instructions"],
            }
            for item in items
        ],
        "issued_at": issued_at,
        "expires_at": expires_at,
        "qr_token": token,
        "verification_url": PUBLIC_BASE_URL + VERIFICATION_PATH + token,
        "qr_code": {
            "qr_hash": qr_hash,
            "is_used": False,
            "scan_count": 0,
            "last_scanned_at": None,
            "expires_at": expires_at,
        },
        "cancelled_at": None,
        "cancelled_reason": None,
        "rejected_at": None,
        "rejected_reason": None,
        "dispensed_at": None,
        "dispensations": [],
        "created_at": created_at,
        "updated_at": updated_at,
    }
    return json_response({"success": True, "data": data, "message": "Prescription created"}, 201)


# --- the pharmacy's side --------------------------------------------------------------

PHARMACIST = frozenset({"pharmacist"})
GRANT_SQL = "SELECT grant_prescription_access(%s, %s, NULL, 'qr')"
COUNT_SCAN_SQL = (
    "UPDATE prescriptions SET scan_count = scan_count + 1, last_scanned_at = now(),"  # noqa: S608
    " last_scanned_by = %s, updated_at = now(),"
    " status = CASE WHEN status = 'issued' AND expires_at > now() THEN 'scanned' ELSE status END"
    f" WHERE id = %s RETURNING {PHARMACY_RETURNING}"
)
VALIDATED_SQL = (
    "SELECT validated_at FROM prescription_pharmacy_access"
    " WHERE prescription_id = %s AND organization_id = %s"
)


async def scan(request: Request) -> Response:
    """dispensing.scan: the signature first (a forged code is a 400 before any query),
    then the access grant, the scan count, the pharmacy's view and the audit row."""
    try:
        body = await _body(request)
        token = _token_from_qr_data(body.get("qr_data"))
        prescription_id = _verify(token)
        qr_hash = hashlib.sha256(token.encode()).hexdigest()
        async with pool_of(request).connection() as conn, conn.transaction():
            caller = await _caller(conn, request, PHARMACIST)
            found = await (await conn.execute(GRANT_SQL, (prescription_id, qr_hash))).fetchone()
            if found is None or found[0] is None:
                raise _not_found()
            row = await (
                await conn.execute(COUNT_SCAN_SQL, (caller.organization_id, found[0]))
            ).fetchone()
            if row is None:
                raise _not_found()
            items = await (await conn.execute(ITEMS_SQL, (found[0],))).fetchall()
            acts = await (await conn.execute(DISPENSATIONS_SQL, (found[0],))).fetchall()
            access = await (
                await conn.execute(VALIDATED_SQL, (found[0], caller.organization_id))
            ).fetchone()
            await _audit(
                conn,
                request,
                caller,
                action="prescription.scanned",
                prescription_id=found[0],
                metadata={
                    "patient_id": str(row[PATIENT_ID]),
                    "organization_id": str(row[ORGANIZATION_ID]),
                    "number": row[1],
                    "via": "qr",
                },
            )
    except Rejected as rejected:
        return rejected.response
    answer = _pharmacy_answer(
        row,
        [_item_view(item) for item in items],
        _dispensations(acts),
        validated=access is not None and access[0] is not None,
    )
    return json_response(
        {"success": True, "data": answer, "message": "Prescription scanned successfully"}
    )


PRESCRIPTION_FOR_UPDATE_SQL = (
    f"SELECT {PHARMACY_RETURNING} FROM prescriptions"  # noqa: S608
    " WHERE id IN (SELECT prescription_id FROM prescription_pharmacy_access"
    " WHERE organization_id = %s) AND id = %s FOR UPDATE OF prescriptions"
)
ITEMS_FOR_UPDATE_SQL = ITEMS_SQL + " FOR UPDATE"
PHARMACY_NAME_SQL = "SELECT name FROM organizations WHERE id = %s"
INSERT_DISPENSATION_SQL = (
    "INSERT INTO dispensations (id, prescription_id, organization_id, pharmacy_name,"
    " pharmacist_id, outcome, total_amount, currency)"
    " VALUES (%s, %s, %s, %s, %s, 'dispensed', %s, %s)"
    " RETURNING created_at"
)
ADD_DISPENSED_SQL = (
    "UPDATE prescription_items SET dispensed_quantity = dispensed_quantity + %s"
    " WHERE id = %s AND dispensed_quantity + %s <= quantity * (1 + refills)"
    " RETURNING dispensed_quantity"
)
INSERT_LINE_SQL = (
    "INSERT INTO dispensation_items (id, dispensation_id, prescription_item_id, product_id,"
    " quantity, batch_number, expiry_date, unit_price) VALUES (%s, %s, %s, NULL, %s, %s, %s, %s)"
)
CLOSE_SQL = (
    "UPDATE prescriptions SET status = %s, dispensed_at = %s, updated_at = now() WHERE id = %s"
)
NOT_VALIDATED = (
    "Validate the prescription first (POST /api/v1/pharmacy/validate/{id}): your pharmacy"
    " has not validated it"
)


@dataclass(frozen=True)
class Line:
    item_id: uuid.UUID
    quantity: int
    batch_number: str | None
    expiry_date: date | None
    unit_price: Decimal | None


def _lines(body: dict[str, Any]) -> list[Line]:
    raw = body.get("items")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ITEMS:
        raise _invalid("items", f"1 to {MAX_ITEMS} lines", "Nothing to dispense")
    lines = []
    for index, entry in enumerate(raw):
        at = f"items[{index}]"
        if not isinstance(entry, dict):
            raise _invalid(at, "a line", "Nothing to dispense")
        try:
            item_id = uuid.UUID(str(entry["item_id"]))
            expiry = entry.get("expiry_date")
            price = entry.get("unit_price")
            line = Line(
                item_id=item_id,
                quantity=_number(entry.get("quantity"), f"{at}.quantity", 1, 10_000, required=True)
                or 0,
                batch_number=_text(entry.get("batch_number"), f"{at}.batch_number", 64),
                expiry_date=None if expiry is None else date.fromisoformat(str(expiry)),
                unit_price=None if price is None else Decimal(str(price)),
            )
        except (KeyError, ValueError, InvalidOperation) as exc:
            raise _invalid(
                at,
                "item_id, quantity, batch_number, expiry_date, unit_price",
                "Nothing to dispense",
            ) from exc
        price_ = line.unit_price
        if price_ is not None and (price_ < 0 or price_ != price_.quantize(Decimal("0.01"))):
            raise _invalid(f"{at}.unit_price", "at least 0, in cents", "Nothing to dispense")
        lines.append(line)
    return lines


async def _open_for_pharmacy(
    conn: AsyncConnection[Any], caller: Caller, prescription_id: uuid.UUID
) -> tuple[Any, ...]:
    """dispensing._open_for_pharmacy, and the access check of `dispense`: the
    prescription, locked, if this pharmacy was shown it (else 404), it is still open
    (else 409) and the pharmacy validated it (else 409)."""
    row = await (
        await conn.execute(PRESCRIPTION_FOR_UPDATE_SQL, (caller.organization_id, prescription_id))
    ).fetchone()
    if row is None:
        raise _not_found()
    status, expires_at = row[STATUS], row[EXPIRES_AT]
    if status == "expired" or expires_at <= datetime.now(UTC):
        raise _conflict(f"This prescription expired on {expires_at:%Y-%m-%d}")
    if status not in DISPENSABLE:
        raise _conflict(f"This prescription is {status}")
    access = await (
        await conn.execute(VALIDATED_SQL, (prescription_id, caller.organization_id))
    ).fetchone()
    if access is None or access[0] is None:
        raise _conflict(NOT_VALIDATED)
    return tuple(row)


def _check_lines(lines: list[Line], items: dict[uuid.UUID, dict[str, Any]], today: date) -> None:
    seen: set[uuid.UUID] = set()
    for index, line in enumerate(lines):
        if line.item_id not in items or line.item_id in seen:
            raise _invalid(
                f"items[{index}].item_id",
                "not an item of this prescription, or named twice",
                "Some lines do not match the prescription",
            )
        seen.add(line.item_id)
        item = items[line.item_id]
        left = item["quantity"] * (1 + item["refills"]) - item["dispensed_quantity"]
        if line.quantity > left:
            raise _conflict(
                f"Item {index + 1} has {left} left to dispense", "QUANTITY_EXCEEDS_REMAINING"
            )
        if item["product_id"] is not None:
            raise _invalid(f"items[{index}]", "catalog items (from stock) are not benchmarked")
        if line.expiry_date is not None and line.expiry_date <= today:
            raise _conflict(
                f"The batch of item {index + 1} expired on {line.expiry_date:%Y-%m-%d}:"
                " it cannot be dispensed"
            )


async def _count_dispensed(
    conn: AsyncConnection[Any], lines: list[Line], items: dict[uuid.UUID, dict[str, Any]]
) -> None:
    """Each item's conditional UPDATE (repository.add_dispensed): never past what it allows."""
    for line in lines:
        counted = await (
            await conn.execute(ADD_DISPENSED_SQL, (line.quantity, line.item_id, line.quantity))
        ).fetchone()
        if counted is None:
            raise _conflict("More than remains to be dispensed", "QUANTITY_EXCEEDS_REMAINING")
        items[line.item_id]["dispensed_quantity"] = counted[0]


def _dispensation_view(
    act_id: uuid.UUID,
    caller: Caller,
    *,
    pharmacy_name: str,
    total: Decimal,
    currency: str,
    created_at: datetime,
    lines: list[Line],
) -> dict[str, Any]:
    return {
        "id": act_id,
        "organization_id": caller.organization_id,
        "pharmacy_name": pharmacy_name,
        "outcome": "dispensed",
        "reason": None,
        "total_amount": _money(total),
        "currency": currency,
        "created_at": created_at,
        "items": [
            {
                "prescription_item_id": line.item_id,
                "product_id": None,
                "quantity": line.quantity,
                "batch_number": line.batch_number,
                "expiry_date": line.expiry_date,
                "unit_price": _money(line.unit_price),
            }
            for line in lines
        ],
    }


async def dispense(request: Request) -> Response:
    """dispensing.dispense for free-text items: the prescription locked (FOR UPDATE)
    through the pharmacy's access, closed or not validated: 409; else the items locked,
    the dispensation, each item's conditional UPDATE, the lines, the new status, the
    event and its job, the audit row, and the pharmacy's view."""
    try:
        prescription_id = uuid.UUID(request.path_params["prescription_id"])
    except ValueError:
        return error_response(400, "VALIDATION_ERROR", "Invalid prescription id")
    try:
        body = await _body(request)
        lines = _lines(body)
        currency = _currency(body.get("currency"), "currency") or CURRENCY
        async with pool_of(request).connection() as conn, conn.transaction():
            caller = await _caller(conn, request, PHARMACIST)
            row = await _open_for_pharmacy(conn, caller, prescription_id)
            found = await (await conn.execute(ITEMS_FOR_UPDATE_SQL, (prescription_id,))).fetchall()
            items = {item[0]: dict(zip(ITEM_COLUMNS, item, strict=True)) for item in found}
            now = datetime.now(UTC)
            _check_lines(lines, items, now.date())
            name = await (
                await conn.execute(PHARMACY_NAME_SQL, (caller.organization_id,))
            ).fetchone()
            pharmacy_name = name[0] if name else ""
            act_id = uuid_compat.uuid7()
            total = sum(
                (line.unit_price * line.quantity for line in lines if line.unit_price is not None),
                Decimal("0"),
            )
            stamp = await (
                await conn.execute(
                    INSERT_DISPENSATION_SQL,
                    (act_id, prescription_id, caller.organization_id, pharmacy_name,
                     caller.user_id, total, currency),
                )
            ).fetchone()  # fmt: skip
            await _count_dispensed(conn, lines, items)
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    INSERT_LINE_SQL,
                    [
                        (uuid_compat.uuid7(), act_id, line.item_id, line.quantity,
                         line.batch_number, line.expiry_date, line.unit_price)
                        for line in lines
                    ],
                )  # fmt: skip
            views = [_item_view(tuple(item.values())) for item in items.values()]
            complete = not any(view["remaining_quantity"] for view in views)
            status = "dispensed" if complete else "partially_dispensed"
            await conn.execute(CLOSE_SQL, (status, now if complete else None, prescription_id))
            names = {view["id"]: view["medicine_name"] for view in views}
            summary = ", ".join(f"{names[line.item_id]} x {line.quantity}" for line in lines)
            await _emit(
                conn,
                "prescription.dispensed",
                DISPENSED_HANDLER,
                {
                    "prescription_id": str(prescription_id),
                    "dispensation_id": str(act_id),
                    "pharmacy_name": pharmacy_name,
                    "complete": complete,
                    "summary": summary,
                },
                caller,
            )
            acts = await (await conn.execute(DISPENSATIONS_SQL, (prescription_id,))).fetchall()
            await _audit(
                conn,
                request,
                caller,
                action="prescription.dispensed",
                prescription_id=prescription_id,
                metadata={
                    "patient_id": str(row[PATIENT_ID]),
                    "organization_id": str(row[ORGANIZATION_ID]),
                    "number": row[NUMBER],
                    "previous": row[STATUS],
                    "dispensation_id": str(act_id),
                    "complete": complete,
                    "units": sum(line.quantity for line in lines),
                },
            )
    except Rejected as rejected:
        return rejected.response
    dispensation = _dispensation_view(
        act_id,
        caller,
        pharmacy_name=pharmacy_name,
        total=total,
        currency=currency,
        created_at=stamp[0] if stamp else now,
        lines=lines,
    )
    current = (*row[:STATUS], status, *row[STATUS + 1 :])
    answer = _pharmacy_answer(current, views, _dispensations(acts), validated=True)
    data = {"dispensation": dispensation, "prescription": answer["prescription"], "warnings": []}
    return json_response({"success": True, "data": data, "message": "Prescription dispensed"})


# --- the pharmacy's history -----------------------------------------------------------

HISTORY_READERS = frozenset({"pharmacist", "admin"})
TOTALS_SQL = (
    "SELECT count(*), count(*) FILTER (WHERE outcome = 'dispensed'),"
    " count(*) FILTER (WHERE outcome = 'rejected'),"
    " coalesce(sum(total_amount) FILTER (WHERE coalesce(currency, %s) = %s), 0)"
    " FROM dispensations WHERE {condition}"
)
HISTORY_SQL = (
    "SELECT d.id, d.prescription_id, p.number, p.patient_name, p.prescriber_name,"
    " p.organization_name, d.outcome, d.reason, d.pharmacist_id, d.total_amount, d.created_at,"
    " d.currency, p.patient_id"
    " FROM dispensations d JOIN prescriptions p ON p.id = d.prescription_id"
    " WHERE {condition} ORDER BY d.created_at DESC, d.id DESC LIMIT %s OFFSET %s"
)
LINES_SQL = (
    "SELECT dispensation_id, prescription_item_id, product_id, quantity, batch_number,"
    " expiry_date, unit_price FROM dispensation_items WHERE dispensation_id = ANY(%s)"
    " ORDER BY dispensation_id, id"
)


def _paging(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", "1"))
        limit = int(request.query_params.get("limit", str(DEFAULT_LIMIT)))
    except ValueError as exc:
        raise _invalid("page", "must be an integer", "Invalid query") from exc
    if not 1 <= page <= 1_000_000 or not 1 <= limit <= MAX_LIMIT:
        raise _invalid("limit", f"page from 1, limit 1 to {MAX_LIMIT}", "Invalid query")
    return page, limit


def _history_filters(
    request: Request, organization_id: uuid.UUID, prefix: str
) -> tuple[str, list[Any]]:
    """The pharmacy's acts, of one outcome and between two days (inclusive, UTC) when asked."""
    query = request.query_params
    where, params = [f"{prefix}organization_id = %s"], [organization_id]
    if status := query.get("status"):
        if status not in ("dispensed", "rejected"):
            raise _invalid("status", "dispensed or rejected", "Invalid query")
        where.append(f"{prefix}outcome = %s")
        params.append(status)
    for name, operator, days in (("from", ">=", 0), ("to", "<", 1)):
        if value := query.get(name):
            try:
                day = date.fromisoformat(value)
            except ValueError as exc:
                raise _invalid(name, "a date written YYYY-MM-DD", "Invalid query") from exc
            where.append(f"{prefix}created_at {operator} %s")
            params.append(datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=days))
    return " AND ".join(where), params


async def history(request: Request) -> Response:
    """history.pharmacy_history: totals over every matching act, the page with the
    prescriptions' names and numbers, then the page's lines."""
    try:
        page, limit = _paging(request)
        currency = _currency(request.query_params.get("currency"), "currency") or CURRENCY
        async with pool_of(request).connection() as conn, conn.transaction():
            caller = await _caller(conn, request, HISTORY_READERS)
            condition, params = _history_filters(request, caller.organization_id, "")
            totals = await (
                await conn.execute(
                    TOTALS_SQL.format(condition=condition), [CURRENCY, currency, *params]
                )
            ).fetchone()
            total = int(totals[0]) if totals else 0
            rows: list[Any] = []
            lines: dict[uuid.UUID, list[dict[str, Any]]] = {}
            if total:
                joined, joined_params = _history_filters(request, caller.organization_id, "d.")
                rows = await (
                    await conn.execute(
                        HISTORY_SQL.format(condition=joined),
                        [*joined_params, limit, (page - 1) * limit],
                    )
                ).fetchall()
                found = await (
                    await conn.execute(LINES_SQL, ([row[0] for row in rows],))
                ).fetchall()
                for line in found:
                    lines.setdefault(line[0], []).append(_line_view(line[1:]))
            # Every read audited, naming the charts on the page (history.pharmacy_history).
            await _audit(
                conn,
                request,
                caller,
                action="prescription.pharmacy_history",
                prescription_id=None,
                metadata={
                    "count": len(rows),
                    "patient_ids": sorted({str(row[12]) for row in rows}),
                    "filters": {
                        "status": request.query_params.get("status"),
                        "currency": currency,
                        "since": request.query_params.get("from"),
                        "until": request.query_params.get("to"),
                    },
                    "page": page,
                },
            )
    except Rejected as rejected:
        return rejected.response
    entries = [
        {
            "id": row[0],
            "prescription_id": row[1],
            "prescription_number": row[2],
            "patient_name": row[3],
            "doctor_name": row[4],
            "organization_name": row[5],
            "outcome": row[6],
            "reason": row[7],
            "pharmacist_id": row[8],
            "total_amount": _money(row[9]),
            "currency": row[11],
            "created_at": row[10],
            "items": lines.get(row[0], []),
        }
        for row in rows
    ]
    data = {
        "history": entries,
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": -(-total // limit) if total else 0,
        },
        "totals": {
            "count": total,
            "dispensed": int(totals[1]) if totals else 0,
            "rejected": int(totals[2]) if totals else 0,
            "amount": _money(totals[3]) if totals else 0.0,
            "currency": currency,
        },
    }
    return json_response({"success": True, "data": data})


ROUTES = [
    Route("/api/v1/doctors/prescriptions", create_prescription, methods=["POST"]),
    Route("/api/v1/pharmacy/scan", scan, methods=["POST"]),
    Route("/api/v1/pharmacy/dispense/{prescription_id}", dispense, methods=["POST"]),
    Route("/api/v1/pharmacy/history", history, methods=["GET"]),
]
