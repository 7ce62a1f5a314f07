"""The baseline's clinical routes: the doctor directory, free slots, booking (mostly its
refusal, in the contended scenario), the patient search and a chart read.

Each sends the statements MedHub sends for the same request, with raw psycopg, and
answers with the same body. Two pieces of MedHub are used as they are, because they
are the work itself and not a layer around it: the slot computation
(`medhub.doctors.slots`, pure Python over what the queries return) and the column
crypto (`medhub.field_crypto.Keyring`: AES-GCM and the HMAC blind index, with the
run's keys from BASELINE_FIELD_ENCRYPTION_KEYS / BASELINE_FIELD_INDEX_KEY).

Booking: the baseline does what a refusal costs (the contended scenario is almost
all refusals) and, for the few bookings that get through (four per target and run),
the advisory locks, the insert (the exclusion constraints refuse an overlap, 409) and
the audit row, but not the two notification emails with their calendar files MedHub
renders and queues.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import uuid_utils.compat as uuid_compat
from psycopg import AsyncConnection
from psycopg.errors import ExclusionViolation
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.baseline_kit import (
    Unauthenticated,
    bearer_claims,
    error_response,
    json_response,
    pool_of,
)

# No py.typed in the project package.
from medhub.doctors import slots  # type: ignore[import-untyped]
from medhub.field_crypto import Keyring, normalise_phone  # type: ignore[import-untyped]

MIN_LEAD = timedelta(minutes=60)  # APPOINTMENT_MIN_LEAD_MINUTES, MedHub's default
MAX_LIMIT, DEFAULT_LIMIT = 100, 20
MAX_RANGE_DAYS = 31
PHONE_CONTEXT = "patients.phone"
AUTH_CONTEXT_SQL = (
    "SELECT session_ok, user_active, user_verified, user_approved, org_active, user_role,"
    " user_org FROM auth_context(%s, %s)"
)
INSERT_AUDIT_SQL = (
    "INSERT INTO activity_logs (id, organization_id, user_id, action, entity_type, entity_id,"
    " ip_address, user_agent, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
)
DOCTOR_COLUMNS = (
    "id", "full_name", "organization_id", "organization_name", "specialty", "qualifications",
    "years_of_experience", "bio", "languages", "consultation_fee", "currency", "offers_video",
    "rating_average", "rating_count", "timezone",
)  # fmt: skip
DOCTOR_SELECT = f"SELECT {', '.join(DOCTOR_COLUMNS)} FROM public_doctors"  # noqa: S608
DOCTOR_BY_ID_SQL = f"{DOCTOR_SELECT} WHERE id = %s"
RULES_SQL = (
    "SELECT doctor_id, weekday, start_minute, end_minute, slot_minutes"
    " FROM public_doctor_availability_rules WHERE doctor_id = ANY(%s)"
)
EXCEPTIONS_SQL = (
    "SELECT doctor_id, day, available, start_minute, end_minute, slot_minutes"
    " FROM public_doctor_availability_exceptions"
    " WHERE doctor_id = ANY(%s) AND day >= %s AND day <= %s"
)
BUSY_SQL = (
    "SELECT doctor_id, starts_at, ends_at FROM public_doctor_busy"
    " WHERE doctor_id = ANY(%s) AND starts_at < %s AND ends_at > %s"
)
DIRECTORY_SORTS = {
    "name": "full_name",
    "fee": "consultation_fee",
    "experience": "years_of_experience",
    "rating": "rating_average",
}
SUMMARY_COLUMNS = (
    "id", "organization_id", "mrn", "first_name", "last_name", "date_of_birth", "sex", "email",
    "phone", "user_id", "created_at", "deleted_at",
)  # fmt: skip
CHART_COLUMNS = (
    *SUMMARY_COLUMNS,
    "national_id", "insurance_number", "address", "emergency_contact", "blood_type",
    "allergies", "chronic_conditions", "updated_at",
)  # fmt: skip
ENCRYPTED_TEXT = frozenset({"phone", "national_id", "insurance_number"})
ENCRYPTED_JSON = frozenset({"address", "emergency_contact", "allergies", "chronic_conditions"})
CHART_BY_ID_SQL = (
    f"SELECT {', '.join(CHART_COLUMNS)} FROM patients"  # noqa: S608 - constants only
    " WHERE organization_id = %s AND deleted_at IS NULL AND id = %s"
)
STAFF_ROLES = frozenset({"admin", "doctor"})
SLOT_UNAVAILABLE = (
    "This time is not free: pick one of the doctor's free slots (GET /api/v1/doctors/{id}/slots)"
)
NOT_A_FREE_SLOT = (
    "not a free slot of this doctor (outside their hours, too soon, in the past, or taken)"
)
TAKE_TURNS_SQL = (
    "SELECT pg_advisory_xact_lock(hashtextextended(key, 0))"
    " FROM unnest(CAST(%s AS text[])) WITH ORDINALITY AS k(key, n) ORDER BY n"
)
INSERT_APPOINTMENT_SQL = (
    "INSERT INTO appointments (id, organization_id, patient_id, doctor_id, starts_at, ends_at,"
    " timezone, type, status, reason, fee, currency, payment_status, booked_by, video_room,"
    " reminder_24h_sent_at, reminder_1h_sent_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
    " 'requested', %s, %s, %s, %s, %s, NULL, %s, %s) RETURNING created_at, updated_at"
)


class Rejected(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _invalid(field: str, problem: str, message: str = "Invalid query") -> Rejected:
    return Rejected(
        error_response(400, "VALIDATION_ERROR", message, [{"field": field, "message": problem}])
    )


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    return Keyring.from_specs(
        os.environ["BASELINE_FIELD_ENCRYPTION_KEYS"], os.environ["BASELINE_FIELD_INDEX_KEY"]
    )


def _pagination(page: int, limit: int, total: int) -> dict[str, int]:
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "total_pages": -(-total // limit) if total else 0,
    }


def _paging(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", "1"))
        limit = int(request.query_params.get("limit", str(DEFAULT_LIMIT)))
    except ValueError as exc:
        raise _invalid("page", "must be an integer") from exc
    if not 1 <= page <= 1_000_000 or not 1 <= limit <= MAX_LIMIT:
        raise _invalid("limit", f"page from 1, limit 1 to {MAX_LIMIT}")
    return page, limit


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _doctor(row: tuple[Any, ...]) -> dict[str, Any]:
    doctor = dict(zip(DOCTOR_COLUMNS, row, strict=True))
    doctor["consultation_fee"] = _money(doctor["consultation_fee"])
    doctor["rating_average"] = _money(doctor["rating_average"])
    return doctor


# --- the directory --------------------------------------------------------------------


def _directory_filters(request: Request) -> tuple[str, list[Any]]:
    query = request.query_params
    where: list[str] = []
    params: list[Any] = []
    if specialty := query.get("specialty"):
        where.append("specialty = %s")
        params.append(specialty)
    if search := query.get("search"):
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("full_name ILIKE %s ESCAPE '\\'")
        params.append(f"%{escaped}%")
    if language := query.get("language"):
        where.append("languages @> ARRAY[%s]::varchar(2)[]")
        params.append(language.lower())
    if (video := query.get("video")) is not None:
        where.append("offers_video IS true" if video.lower() == "true" else "offers_video IS false")
    if (fee := query.get("max_fee")) is not None:
        try:
            params.append(Decimal(fee))
        except InvalidOperation as exc:
            raise _invalid("max_fee", "must be a number") from exc
        where.append("consultation_fee <= %s")
    return (" WHERE " + " AND ".join(where)) if where else "", params


async def list_doctors(request: Request) -> Response:
    """medhub.doctors.directory.list_doctors without `available_on`: the page, then a
    count unless the page itself tells the total."""
    try:
        page, limit = _paging(request)
        condition, params = _directory_filters(request)
    except Rejected as rejected:
        return rejected.response
    column = DIRECTORY_SORTS.get(request.query_params.get("sort", "name"), "full_name")
    direction = "DESC" if request.query_params.get("order") == "desc" else "ASC"
    offset = (page - 1) * limit
    sql = (
        f"{DOCTOR_SELECT}{condition} ORDER BY {column} {direction} NULLS LAST, id {direction}"
        " LIMIT %s OFFSET %s"
    )
    async with pool_of(request).connection() as conn:
        rows = await (await conn.execute(sql, [*params, limit, offset])).fetchall()
        if rows and len(rows) < limit:
            total = offset + len(rows)
        elif not rows and offset == 0:
            total = 0
        else:
            count_sql = f"SELECT count(*) FROM (SELECT id FROM public_doctors{condition}) AS page"  # noqa: S608
            counted = await (await conn.execute(count_sql, params)).fetchone()
            total = int(counted[0]) if counted else 0
    data = {
        "doctors": [_doctor(row) for row in rows],
        "pagination": _pagination(page, limit, total),
    }
    return json_response({"success": True, "data": data})


# --- free slots -----------------------------------------------------------------------


async def _schedules(
    conn: AsyncConnection[Any], doctor: dict[str, Any], first: date, last: date
) -> slots.Schedule:
    doctor_id = doctor["id"]
    rules = await (await conn.execute(RULES_SQL, ([doctor_id],))).fetchall()
    days = await (await conn.execute(EXCEPTIONS_SQL, ([doctor_id], first, last))).fetchall()
    return slots.Schedule(
        ZoneInfo(doctor["timezone"]),
        [slots.Rule(r[1], slots.Window(r[2], r[3], r[4])) for r in rules],
        {
            e[1]: slots.DayException(e[1], slots.Window(e[3], e[4], e[5]) if e[2] else None)
            for e in days
        },
    )


async def _busy(
    conn: AsyncConnection[Any], doctor_id: uuid.UUID, first: date, last: date
) -> list[tuple[datetime, datetime]]:
    since = datetime.combine(first - timedelta(days=1), time(), UTC)
    until = datetime.combine(last + timedelta(days=2), time(), UTC)
    rows = await (await conn.execute(BUSY_SQL, ([doctor_id], until, since))).fetchall()
    return [(row[1], row[2]) for row in rows]


def _day(request: Request, name: str) -> date:
    try:
        return date.fromisoformat(request.query_params[name])
    except (KeyError, ValueError) as exc:
        raise _invalid(name, "must be a date written YYYY-MM-DD") from exc


async def doctor_slots(request: Request) -> Response:
    try:
        doctor_id = uuid.UUID(request.path_params["doctor_id"])
        first, last = _day(request, "from"), _day(request, "to")
        if first > last or (last - first).days + 1 > MAX_RANGE_DAYS:
            raise _invalid("to", f"at most {MAX_RANGE_DAYS} days from 'from', inclusive")
    except ValueError:
        return error_response(400, "VALIDATION_ERROR", "Invalid doctor id")
    except Rejected as rejected:
        return rejected.response
    async with pool_of(request).connection() as conn:
        row = await (await conn.execute(DOCTOR_BY_ID_SQL, (doctor_id,))).fetchone()
        if row is None:
            return error_response(404, "NOT_FOUND", "Doctor not found")
        doctor = _doctor(row)
        schedule = await _schedules(conn, doctor, first, last)
        busy = await _busy(conn, doctor_id, first, last)
    not_before = datetime.now(UTC) + MIN_LEAD
    found = slots.iter_free_slots(schedule, first, last, not_before=not_before, busy=busy)
    data = {
        "doctor_id": doctor_id,
        "timezone": doctor["timezone"],
        "from": first,
        "to": last,
        "slots": [
            {"starts_at": s.starts_at, "ends_at": s.ends_at, "local_start": s.local_start}
            for s in found
        ],
    }
    return json_response({"success": True, "data": data})


# --- staff requests -------------------------------------------------------------------


async def _staff(conn: AsyncConnection[Any], request: Request) -> tuple[uuid.UUID, str, uuid.UUID]:
    """(user id, role, organization) of an approved admin or doctor with a live session;
    auth_context() also sets the RLS context of the transaction."""
    try:
        user_id, session_id = bearer_claims(request)
    except Unauthenticated as exc:
        raise Rejected(error_response(401, "AUTHENTICATION_ERROR", str(exc))) from exc
    row = await (await conn.execute(AUTH_CONTEXT_SQL, (session_id, user_id))).fetchone()
    if row is None or not (row[0] and row[1] and row[4]):
        raise Rejected(error_response(401, "AUTHENTICATION_ERROR", "This session has ended"))
    _, _, _, approved, _, role, organization_id = row
    if role not in STAFF_ROLES or not approved or organization_id is None:
        raise Rejected(error_response(403, "AUTHORIZATION_ERROR", "Not allowed"))
    return user_id, role, organization_id


async def _audit(
    conn: AsyncConnection[Any],
    request: Request,
    *,
    organization_id: uuid.UUID | None,
    user_id: uuid.UUID,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | None,
    metadata: dict[str, Any],
) -> None:
    await conn.execute(
        INSERT_AUDIT_SQL,
        (
            uuid_compat.uuid7(),
            organization_id,
            user_id,
            action,
            entity_type,
            entity_id,
            request.client.host if request.client else None,
            request.headers.get("user-agent"),
            json.dumps(metadata),
        ),
    )


def _decrypt(row: tuple[Any, ...], columns: tuple[str, ...]) -> dict[str, Any]:
    keys = keyring()
    chart = dict(zip(columns, row, strict=True))
    for name in columns:
        value = chart[name]
        if value is None:
            continue
        if name in ENCRYPTED_TEXT:
            chart[name] = keys.decrypt(bytes(value), f"patients.{name}")
        elif name in ENCRYPTED_JSON:
            chart[name] = json.loads(keys.decrypt(bytes(value), f"patients.{name}"))
    chart["linked"] = chart.pop("user_id") is not None
    return chart


def _summary(row: tuple[Any, ...]) -> dict[str, Any]:
    chart = _decrypt(row, SUMMARY_COLUMNS)
    return {
        name: chart[name] for name in (*SUMMARY_COLUMNS[:9], "linked", "created_at", "deleted_at")
    }


async def list_patients(request: Request) -> Response:
    """medhub.patients.service.list_patients: count, page by last name, audit row."""
    query = request.query_params
    try:
        page, limit = _paging(request)
        async with pool_of(request).connection() as conn, conn.transaction():
            user_id, _, organization_id = await _staff(conn, request)
            where = ["organization_id = %s", "deleted_at IS NULL"]
            params: list[Any] = [organization_id]
            used = []
            if search := (query.get("search") or "").strip():
                names = []
                for word in search.split():
                    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    names.append(
                        "(first_name ILIKE %s ESCAPE '\\' OR last_name ILIKE %s ESCAPE '\\')"
                    )
                    params += [f"%{escaped}%", f"%{escaped}%"]
                prefix = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                by_mrn = ["mrn ILIKE %s ESCAPE '\\'"]
                params.append(f"{prefix}%")
                if search.isdigit():
                    by_mrn.append("mrn = %s")
                    params.append("MRN-" + search.zfill(6))
                where.append(f"(({' AND '.join(names)}) OR {' OR '.join(by_mrn)})")
                used.append("search")
            if phone := query.get("phone"):
                where.append("phone_index = %s")
                params.append(keyring().blind_index(normalise_phone(phone), PHONE_CONTEXT))
                used.append("phone")
            condition = " AND ".join(where)
            counted = await (
                await conn.execute(
                    f"SELECT count(*) FROM (SELECT id FROM patients WHERE {condition}) AS found",  # noqa: S608
                    params,
                )
            ).fetchone()
            total = int(counted[0]) if counted else 0
            rows: list[tuple[Any, ...]] = []
            if total:
                rows = await (
                    await conn.execute(
                        f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM patients WHERE {condition}"  # noqa: S608
                        " ORDER BY last_name, first_name, id LIMIT %s OFFSET %s",
                        [*params, limit, (page - 1) * limit],
                    )
                ).fetchall()
            await _audit(
                conn,
                request,
                organization_id=organization_id,
                user_id=user_id,
                action="patient.list",
                entity_type="patient",
                entity_id=None,
                metadata={
                    "filters": sorted(used),
                    "include_deleted": False,
                    "page": page,
                    "returned": len(rows),
                },
            )
    except Rejected as rejected:
        return rejected.response
    data = {
        "patients": [_summary(row) for row in rows],
        "pagination": _pagination(page, limit, total),
    }
    return json_response({"success": True, "data": data})


async def read_chart(request: Request) -> Response:
    """medhub.patients.service.read_chart, as a doctor: the whole chart and its audit row
    (`?audit=off`: the same read without the audit row, for `audited-read`)."""
    audited = request.query_params.get("audit") != "off"
    try:
        patient_id = uuid.UUID(request.path_params["patient_id"])
    except ValueError:
        return error_response(400, "VALIDATION_ERROR", "Invalid patient id")
    try:
        async with pool_of(request).connection() as conn, conn.transaction():
            user_id, role, organization_id = await _staff(conn, request)
            row = await (
                await conn.execute(CHART_BY_ID_SQL, (organization_id, patient_id))
            ).fetchone()
            if row is None:
                return error_response(404, "NOT_FOUND", "Patient not found")
            if audited:
                await _audit(
                    conn,
                    request,
                    organization_id=organization_id,
                    user_id=user_id,
                    action="patient.read",
                    entity_type="patient",
                    entity_id=patient_id,
                    metadata={},
                )
    except Rejected as rejected:
        return rejected.response
    chart = _decrypt(row, CHART_COLUMNS)
    chart["user_id"] = row[CHART_COLUMNS.index("user_id")]
    if role != "doctor":  # clinical content: the organization's doctors only
        chart.pop("allergies")
        chart.pop("chronic_conditions")
    return json_response({"success": True, "data": chart})


# --- booking --------------------------------------------------------------------------


def _booking(body: Any) -> tuple[uuid.UUID, uuid.UUID, datetime, str, str | None]:
    if not isinstance(body, dict):
        raise _invalid("body", "expected a JSON object", "The appointment cannot be booked as sent")
    try:
        doctor_id = uuid.UUID(str(body["doctor_id"]))
        patient_id = uuid.UUID(str(body["patient_id"]))
        starts_at = datetime.fromisoformat(str(body["starts_at"]))
    except (KeyError, ValueError) as exc:
        raise _invalid(
            "body", "doctor_id, patient_id and starts_at", "Invalid appointment"
        ) from exc
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=UTC)
    kind = str(body.get("type", "in_person"))
    reason = body.get("reason")
    return (
        doctor_id,
        patient_id,
        starts_at.astimezone(UTC),
        kind,
        reason if isinstance(reason, str) else None,
    )


async def _free_slot_at(
    conn: AsyncConnection[Any], doctor_id: uuid.UUID, instant: datetime
) -> slots.Slot | None:
    """medhub.doctors.directory.free_slot_at: the free slot starting exactly then."""
    row = await (await conn.execute(DOCTOR_BY_ID_SQL, (doctor_id,))).fetchone()
    if row is None:
        return None
    doctor = _doctor(row)
    day = instant.astimezone(ZoneInfo(doctor["timezone"])).date()
    schedule = await _schedules(conn, doctor, day, day)
    busy = await _busy(conn, doctor_id, day, day)
    not_before = datetime.now(UTC) + MIN_LEAD
    for slot in slots.iter_free_slots(schedule, day, day, not_before=not_before, busy=busy):
        if slot.starts_at == instant:
            return slot
    return None


def _unavailable(message: str = SLOT_UNAVAILABLE, detail: str = NOT_A_FREE_SLOT) -> Rejected:
    return Rejected(
        error_response(
            409, "SLOT_UNAVAILABLE", message, [{"field": "starts_at", "message": detail}]
        )
    )


async def book(request: Request) -> Response:
    """POST /appointments by staff for a chart of their organization (the contended
    scenario); see the module docstring for what a successful booking leaves out."""
    try:
        doctor_id, patient_id, starts_at, kind, reason = _booking(
            orjson.loads(await request.body())
        )
        async with pool_of(request).connection() as conn, conn.transaction():
            user_id, role, organization_id = await _staff(conn, request)
            chart = await (
                await conn.execute(
                    "SELECT id, organization_id, user_id FROM patients"
                    " WHERE organization_id = %s AND deleted_at IS NULL AND id = %s",
                    (organization_id, patient_id),
                )
            ).fetchone()
            if chart is None:
                return error_response(404, "NOT_FOUND", "Patient not found")
            row = await (await conn.execute(DOCTOR_BY_ID_SQL, (doctor_id,))).fetchone()
            if row is None:
                return error_response(404, "NOT_FOUND", "Doctor not found")
            doctor = _doctor(row)
            if doctor["organization_id"] != organization_id:
                raise _invalid("doctor_id", "not a doctor of your organization")
            slot = await _free_slot_at(conn, doctor_id, starts_at)
            if slot is None:
                raise _unavailable()
            await conn.execute(
                TAKE_TURNS_SQL,
                ([f"appointments.chart:{patient_id}", f"appointments.doctor:{doctor_id}"],),
            )
            appointment_id = uuid_compat.uuid7()
            fee = Decimal(str(doctor["consultation_fee"]))
            now = datetime.now(UTC)
            soon = slot.starts_at - now
            try:
                async with conn.transaction():
                    stamps = await (
                        await conn.execute(
                            INSERT_APPOINTMENT_SQL,
                            (
                                appointment_id,
                                organization_id,
                                patient_id,
                                doctor_id,
                                slot.starts_at,
                                slot.ends_at,
                                doctor["timezone"],
                                kind,
                                reason,
                                fee,
                                doctor["currency"],
                                "unpaid" if fee > 0 else "not_required",
                                user_id,
                                now if soon <= timedelta(hours=24) else None,
                                now if soon <= timedelta(hours=1) else None,
                            ),
                        )
                    ).fetchone()
            except ExclusionViolation as exc:
                raise _unavailable(
                    "This slot was just taken: pick another one",
                    "overlaps another active appointment",
                ) from exc
            await _audit(
                conn,
                request,
                organization_id=organization_id,
                user_id=user_id,
                action="appointment.booked",
                entity_type="appointment",
                entity_id=appointment_id,
                metadata={
                    "doctor_id": str(doctor_id),
                    "patient_id": str(patient_id),
                    "starts_at": slot.starts_at.isoformat(),
                    "type": kind,
                    "by": role,
                },
            )
    except orjson.JSONDecodeError:
        return error_response(400, "VALIDATION_ERROR", "Send a JSON body")
    except Rejected as rejected:
        return rejected.response
    created_at, updated_at = stamps if stamps else (now, now)
    data = {
        "id": appointment_id,
        "organization_id": organization_id,
        "patient_id": patient_id,
        "doctor_id": doctor_id,
        "doctor_name": doctor["full_name"],
        "organization_name": doctor["organization_name"],
        "starts_at": slot.starts_at,
        "ends_at": slot.ends_at,
        "timezone": doctor["timezone"],
        "local_start": slot.local_start,
        "type": kind,
        "status": "requested",
        "reason": reason,
        "fee": float(fee),
        "currency": doctor["currency"],
        "booked_by": user_id,
        "created_at": created_at,
        "updated_at": updated_at,
    }
    return json_response({"success": True, "data": data, "message": "Appointment booked"}, 201)


ROUTES = [
    Route("/api/v1/doctors", list_doctors, methods=["GET"]),
    Route("/api/v1/doctors/{doctor_id}/slots", doctor_slots, methods=["GET"]),
    Route("/api/v1/appointments", book, methods=["POST"]),
    Route("/api/v1/patients", list_patients, methods=["GET"]),
    Route("/api/v1/patients/{patient_id}", read_chart, methods=["GET"]),
]
