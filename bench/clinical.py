"""The clinical scenarios (issue 12): the doctor directory, free slots, contended
booking, the patient search and a chart read, on one care organization seeded fast.

Data (once per run, whichever scenario comes first; the database says whether it is
there): "Bench General Hospital" (a hospital, slug `bench-general`) with

- 200 listed, approved doctors (`bench-doctor-NNN@example.com`) in 10 specialties,
  speaking German plus one other language, fees 40-200 EUR, every other one with
  video, rated; weekly hours Monday to Friday 08:00-16:00 (30-minute slots), except
  the two below, who work every day 08:00-20:00 in 15-minute slots;
- doctor 0 (`slots`): 200 confirmed appointments over the two weeks the scenario
  asks for, every third slot from tomorrow on;
- doctor 1 (`appointment-book-contended`): no appointments; each target books four
  slots of its own, the day after tomorrow;
- 20,000 patient charts (made-up names, dates of birth, phones, national ids,
  allergies), with the next MRN counter at 20,000.

Volume goes in with the superuser (COPY), not through the API; but the encrypted
columns are encrypted as MedHub does it: the run's keys (`SetupContext.field_keys`,
the same MedHub was started with) in a `medhub.field_crypto.Keyring`, the contexts
of the model's columns, and the blind indexes of `medhub.patients.repository`. An
admin and the doctors log in through MedHub's API: their accounts are copies of one
registered through it (same password hash), like the order scenarios' buyers.
"""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bench.scenarios import (
    RequestSpec,
    RequestVariant,
    Scenario,
    SetupContext,
    SetupError,
    _login,
    _registered_user,
)

# No py.typed in the project package; these are only called.
from medhub.field_crypto import (  # type: ignore[import-untyped]
    Keyring,
    normalise_identifier,
    normalise_phone,
)
from medhub.patients.repository import (  # type: ignore[import-untyped]
    NATIONAL_ID_CONTEXT,
    PHONE_CONTEXT,
)

SLUG = "bench-general"
ORGANIZATION_NAME = "Bench General Hospital"
ZONE_NAME = "Europe/Berlin"
ZONE = ZoneInfo(ZONE_NAME)
DOCTORS = 200
PATIENTS = 20_000
SLOTS_DOCTOR = 0  # 200 booked over two weeks
BOOKING_DOCTOR = 1  # the contended slots
BOOKED = 200
SLOTS_DAYS = 14
CONTENDED_SLOTS = 4
# Charts the admin books for in `appointment-book-contended` (one per request in turn).
BOOKING_CHARTS = 64
# Charts `chart-read` reads, in turn.
READ_CHARTS = 1_000
SEED = 20_261_203
SPECIALTIES = (
    "Cardiology", "Dermatology", "General Practice", "Gynaecology", "Neurology",
    "Ophthalmology", "Orthopaedics", "Paediatrics", "Psychiatry", "Urology",
)  # fmt: skip
OTHER_LANGUAGES = ("en", "fr", "tr", "ar", "it", "pl", "es")
FIRST_NAMES = (
    "Anna", "Lena", "Mia", "Clara", "Johanna", "Sophie", "Nora", "Zeynep", "Fatima", "Olga",
    "Paul", "Felix", "Elias", "Jonas", "Lukas", "Moritz", "Hamid", "Mehmet", "Piotr", "Luca",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Yilmaz", "Kowalski",
    "Rossi", "Nguyen", "Popescu", "Jansen", "Horvat",
)  # fmt: skip
ALLERGIES = (["Penicillin"], ["Pollen"], ["Latex"], ["Peanuts", "Ibuprofen"])
# `patients-search`: a name prefix (matches about one chart in 30: one last name) and
# one exact phone (the blind index).
SEARCH_PREFIX = "Schnei"
SEARCH_PHONE_INDEX = 4_242
DIRECTORY_PATH = (
    "/api/v1/doctors?language=de&video=true&max_fee=150&sort=rating&order=desc&page=1&limit=20"
)


def _phone(index: int) -> str:
    return f"+49 30 {5_000_000 + index:07d}"


def _national_id(index: int) -> str:
    return f"T{index:08d}"


def _rows(count: int) -> Iterator[dict[str, Any]]:
    """The made-up people of the charts, the same on every run."""
    rng = random.Random(SEED)
    for index in range(count):
        yield {
            "first_name": rng.choice(FIRST_NAMES),
            "last_name": rng.choice(LAST_NAMES),
            "date_of_birth": date(
                1930 + rng.randrange(90), 1 + rng.randrange(12), 1 + rng.randrange(28)
            ),
            "sex": rng.choice(("female", "male")),
            "phone": _phone(index),
            "national_id": _national_id(index),
            "insurance_number": f"K{rng.randrange(10**9):09d}",
            "address": {
                "line1": f"Hauptstraße {1 + rng.randrange(200)}",
                "line2": None,
                "city": "Berlin",
                "postal_code": f"1{rng.randrange(10_000):04d}",
                "country": "Germany",
            },
            "allergies": rng.choice(ALLERGIES) if rng.random() < 0.3 else None,
            "blood_type": rng.choice(("A+", "O+", "B+", "AB+", "O-", None)),
        }


PATIENT_COLUMNS = (
    "id", "organization_id", "mrn", "first_name", "last_name", "date_of_birth", "sex",
    "email", "blood_type", "phone", "phone_index", "national_id", "national_id_index",
    "insurance_number", "address", "emergency_contact", "allergies", "chronic_conditions",
    "created_by",
)  # fmt: skip


def _patient_values(
    keys: Keyring, organization_id: uuid.UUID, index: int, person: dict[str, Any]
) -> tuple[Any, ...]:
    """One `patients` row, sealed like the model's EncryptedText/EncryptedJSON columns."""

    def text(value: str | None, column: str) -> bytes | None:
        return None if value is None else bytes(keys.encrypt(value, f"patients.{column}"))

    def as_json(value: Any, column: str) -> bytes | None:
        if value is None:
            return None
        return text(json.dumps(value, separators=(",", ":")), column)

    return (
        uuid.uuid4(),
        organization_id,
        f"MRN-{index + 1:06d}",
        person["first_name"],
        person["last_name"],
        person["date_of_birth"],
        person["sex"],
        None,
        person["blood_type"],
        text(person["phone"], "phone"),
        keys.blind_index(normalise_phone(person["phone"]), PHONE_CONTEXT),
        text(person["national_id"], "national_id"),
        keys.blind_index(normalise_identifier(person["national_id"]), NATIONAL_ID_CONTEXT),
        text(person["insurance_number"], "insurance_number"),
        as_json(person["address"], "address"),
        None,
        as_json(person["allergies"], "allergies"),
        None,
        None,
    )


CLONE_USER_SQL = (
    "INSERT INTO users (id, email, password_hash, full_name, role, organization_id,"
    " is_verified, is_active, is_approved)"
    " SELECT %s, %s, password_hash, %s, %s, %s, true, true, true FROM users WHERE email = %s"
)
PROFILE_SQL = (
    "INSERT INTO doctor_profiles (user_id, organization_id, specialty, license_number,"
    " qualifications, years_of_experience, bio, languages, consultation_fee, currency,"
    " offers_video, is_listed, rating_average, rating_count, timezone)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'EUR', %s, true, %s, %s, %s)"
)
RULE_SQL = (
    "INSERT INTO doctor_availability_rules (id, doctor_id, weekday, start_minute, end_minute,"
    " slot_minutes) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s)"
)
APPOINTMENT_SQL = (
    "INSERT INTO appointments (id, organization_id, patient_id, doctor_id, starts_at, ends_at,"
    " timezone, type, status, reason, fee, currency, payment_status, reminder_24h_sent_at,"
    " reminder_1h_sent_at) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s, 'in_person',"
    " 'confirmed', 'Bench: booked', %s, 'EUR', 'unpaid', now(), now())"
)


@dataclasses.dataclass(frozen=True)
class Clinic:
    organization_id: uuid.UUID
    admin_email: str
    doctor_ids: list[uuid.UUID]  # by index
    doctor_emails: list[str]
    chart_ids: list[uuid.UUID]  # by MRN order
    slots_first: date  # the first day `slots` asks for


def _doctor_email(index: int) -> str:
    return f"bench-doctor-{index:03d}@example.com"


def _every_day(doctor: int) -> bool:
    return doctor in {SLOTS_DOCTOR, BOOKING_DOCTOR}


def _local(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), ZONE).astimezone(UTC)


def _seed(ctx: SetupContext) -> Clinic:
    """The bench hospital, once per run (see the module docstring); what it holds."""
    keys = _keyring(ctx)
    registered = _registered_user(ctx, "clinic")
    with psycopg.connect(ctx.admin_database_url, autocommit=True) as conn:
        found = conn.execute("SELECT id FROM organizations WHERE slug = %s", (SLUG,)).fetchone()
        if found is None:
            _insert(conn, keys, registered)
        return _read(conn)


def _keyring(ctx: SetupContext) -> Keyring:
    if ctx.field_keys is None:
        raise SetupError("the clinical scenarios need the run's field keys (SetupContext)")
    return Keyring.from_specs(ctx.field_keys.encryption_keys, ctx.field_keys.index_key)


def _insert(conn: psycopg.Connection[Any], keys: Keyring, registered: str) -> None:
    rng = random.Random(SEED + 1)
    organization_id = uuid.uuid4()
    today = datetime.now(ZONE).date()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO organizations (id, name, slug, kind, status, settings)"
            " VALUES (%s, %s, %s, 'hospital', 'active', '{}')",
            (organization_id, ORGANIZATION_NAME, SLUG),
        )
        cursor.execute(
            CLONE_USER_SQL,
            (uuid.uuid4(), "bench-clinic-admin@example.com", "Bench Admin", "admin",
             organization_id, registered),
        )  # fmt: skip
        doctors = []
        for index in range(DOCTORS):
            doctor_id = uuid.uuid4()
            doctors.append(doctor_id)
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            cursor.execute(
                CLONE_USER_SQL,
                (doctor_id, _doctor_email(index), name, "doctor", organization_id, registered),
            )
            cursor.execute(
                PROFILE_SQL,
                (
                    doctor_id,
                    organization_id,
                    SPECIALTIES[index % len(SPECIALTIES)],
                    f"BENCH-{index:05d}",
                    ["MD"],
                    1 + rng.randrange(35),
                    "Bench doctor.",
                    ["de", OTHER_LANGUAGES[index % len(OTHER_LANGUAGES)]],
                    Decimal(40 + 5 * rng.randrange(33)),
                    index % 2 == 0,
                    Decimal(f"{3 + rng.random() * 2:.2f}"),
                    rng.randrange(1, 400),
                    ZONE_NAME,
                ),
            )
            if _every_day(index):
                rules = [(doctor_id, day, 8 * 60, 20 * 60, 15) for day in range(1, 8)]
            else:
                rules = [(doctor_id, day, 8 * 60, 16 * 60, 30) for day in range(1, 6)]
            cursor.executemany(RULE_SQL, rules)
        with cursor.copy(f"COPY patients ({', '.join(PATIENT_COLUMNS)}) FROM STDIN") as copy:
            for index, person in enumerate(_rows(PATIENTS)):
                copy.write_row(_patient_values(keys, organization_id, index, person))
        cursor.execute(
            "INSERT INTO patient_mrn_counters (organization_id, last_value) VALUES (%s, %s)",
            (organization_id, PATIENTS),
        )
        charts = [
            row[0]
            for row in cursor.execute(
                "SELECT id FROM patients WHERE organization_id = %s ORDER BY mrn LIMIT %s",
                (organization_id, BOOKED),
            )
        ]
        # Every third 15-minute slot of doctor 0 from tomorrow on: 200 of them.
        starts = [
            _local(today + timedelta(days=1 + day), 8 * 60 + 15 * slot)
            for day in range(SLOTS_DAYS)
            for slot in range(0, 48, 3)
        ][:BOOKED]
        cursor.executemany(
            APPOINTMENT_SQL,
            [
                (organization_id, chart, doctors[SLOTS_DOCTOR], start,
                 start + timedelta(minutes=15), ZONE_NAME, Decimal(100))
                for chart, start in zip(charts, starts, strict=True)
            ],
        )  # fmt: skip
    # Statistics now, so neither the planner nor the first measured round works blind.
    conn.execute("VACUUM (ANALYZE) patients, doctor_profiles, users, appointments")


def _read(conn: psycopg.Connection[Any]) -> Clinic:
    row = conn.execute("SELECT id FROM organizations WHERE slug = %s", (SLUG,)).fetchone()
    if row is None:
        raise SetupError(f"no organization {SLUG!r} after seeding")
    organization_id = row[0]
    doctors = conn.execute(
        "SELECT id, email FROM users WHERE organization_id = %s AND role = 'doctor' ORDER BY email",
        (organization_id,),
    ).fetchall()
    charts = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM patients WHERE organization_id = %s ORDER BY mrn", (organization_id,)
        )
    ]
    first = conn.execute(
        "SELECT min(starts_at) FROM appointments WHERE doctor_id = %s", (doctors[SLOTS_DOCTOR][0],)
    ).fetchone()
    if len(doctors) != DOCTORS or len(charts) != PATIENTS or first is None or first[0] is None:
        raise SetupError(
            f"expected {DOCTORS} doctors, {PATIENTS:,} charts and booked slots in {SLUG!r}; "
            f"found {len(doctors)} doctors and {len(charts):,} charts"
        )
    return Clinic(
        organization_id=organization_id,
        admin_email="bench-clinic-admin@example.com",
        doctor_ids=[d[0] for d in doctors],
        doctor_emails=[d[1] for d in doctors],
        chart_ids=charts,
        slots_first=first[0].astimezone(ZONE).date(),
    )


def _clinic(ctx: SetupContext) -> Clinic:
    if "clinic" not in ctx.state:
        ctx.state["clinic"] = _seed(ctx)
    clinic: Clinic = ctx.state["clinic"]
    return clinic


def _token(ctx: SetupContext, email: str) -> str:
    """One MedHub login per run and account; both targets get its token."""
    tokens: dict[str, str] = ctx.state.setdefault("tokens", {})
    if email not in tokens:
        tokens[email] = _login(ctx.medhub_url, email)
    return tokens[email]


def _bearer(ctx: SetupContext, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(ctx, email)}"}


# --- setup hooks ----------------------------------------------------------------------


def setup_doctor_directory(ctx: SetupContext) -> RequestSpec | None:
    _clinic(ctx)
    return None


def setup_slots(ctx: SetupContext) -> RequestSpec:
    clinic = _clinic(ctx)
    first = clinic.slots_first
    last = first + timedelta(days=SLOTS_DAYS - 1)
    path = (
        f"/api/v1/doctors/{clinic.doctor_ids[SLOTS_DOCTOR]}/slots"
        f"?from={first.isoformat()}&to={last.isoformat()}"
    )
    return dataclasses.replace(ctx.request, path=path)


def setup_patients_search(ctx: SetupContext) -> RequestSpec:
    """A doctor of the hospital, alternating a name search and an exact phone search."""
    clinic = _clinic(ctx)
    headers = _bearer(ctx, clinic.doctor_emails[2])
    phone = _phone(SEARCH_PHONE_INDEX).replace("+", "%2B").replace(" ", "%20")
    variants = [
        RequestVariant(path=f"/api/v1/patients?search={SEARCH_PREFIX}&limit=20"),
        RequestVariant(path=f"/api/v1/patients?phone={phone}&limit=20"),
    ]
    return dataclasses.replace(ctx.request, headers=headers, variants=variants)


def setup_chart_read(ctx: SetupContext) -> RequestSpec:
    """A doctor of the hospital reads 1,000 charts in turn (each read writes its audit row)."""
    clinic = _clinic(ctx)
    headers = _bearer(ctx, clinic.doctor_emails[2])
    variants = [
        RequestVariant(path=f"/api/v1/patients/{chart}")
        for chart in clinic.chart_ids[PATIENTS - READ_CHARTS :]
    ]
    return dataclasses.replace(ctx.request, headers=headers, variants=variants)


def setup_audited_read(ctx: SetupContext) -> RequestSpec:
    """`chart-read` for MedHub (every read writes its audit row); the baseline reads the
    same charts without writing one (`?audit=off`)."""
    spec = setup_chart_read(ctx)
    if ctx.target == "medhub":
        return spec
    unaudited = [dataclasses.replace(v, path=f"{v.path}?audit=off") for v in spec.variants]
    return dataclasses.replace(spec, variants=unaudited)


def setup_book_contended(ctx: SetupContext) -> RequestSpec:
    """The hospital's admin books, for 64 charts in turn, four slots of doctor 1 (each
    target its own four, the day after tomorrow at 10:00-11:00 for MedHub and 11:00-12:00
    for the baseline): the first request for each slot gets 201, every later one 409."""
    clinic = _clinic(ctx)
    headers = _bearer(ctx, clinic.admin_email)
    day = datetime.now(ZONE).date() + timedelta(days=2)
    hour = 10 if ctx.target == "medhub" else 11
    slots = [_local(day, hour * 60 + 15 * n) for n in range(CONTENDED_SLOTS)]
    charts = clinic.chart_ids[BOOKED : BOOKED + BOOKING_CHARTS]
    doctor = str(clinic.doctor_ids[BOOKING_DOCTOR])
    variants = [
        RequestVariant(
            body=json.dumps(
                {
                    "doctor_id": doctor,
                    "patient_id": str(chart),
                    "starts_at": slots[index % CONTENDED_SLOTS].isoformat().replace("+00:00", "Z"),
                    "type": "in_person",
                    "reason": "Bench: contended booking",
                }
            ).encode()
        )
        for index, chart in enumerate(charts)
    ]
    return dataclasses.replace(
        ctx.request, headers={**ctx.request.headers, **headers}, variants=variants
    )


CLINICAL_SCENARIOS: dict[str, Scenario] = {
    "doctor-directory": Scenario(
        path=DIRECTORY_PATH,
        description=(
            "Anonymous doctor directory over 200 doctors: German-speaking, video, fee at "
            "most 150, by rating descending, page 1 of 20 (about 70 match): the page from "
            "the public_doctors view, then its count"
        ),
        setup=setup_doctor_directory,
    ),
    "slots": Scenario(
        path="/api/v1/doctors/{id}/slots",
        description=(
            "Anonymous free slots of one doctor for two weeks (every day 08:00-20:00, "
            "15-minute slots, 200 of them booked): the public profile, rules, exceptions "
            "and busy periods, then the slot computation (the baseline runs MedHub's own "
            "medhub.doctors.slots on what it reads)"
        ),
        setup=setup_slots,
    ),
    "appointment-book-contended": Scenario(
        path="/api/v1/appointments",
        method="POST",
        headers={"Content-Type": "application/json"},
        expect_status=201,
        accept_statuses=(409,),
        description=(
            "The hospital admin books four slots of one doctor for 64 charts in turn, 64 "
            "clients at once: the first booking of each slot is 201, every other one 409 "
            "SLOT_UNAVAILABLE (req/s counts both; any other status, a 5xx above all, is an "
            "error). Each refusal: the chart, the doctor's public profile, the day's rules, "
            "exceptions and busy periods, the slot computation"
        ),
        setup=setup_book_contended,
    ),
    "patients-search": Scenario(
        path="/api/v1/patients",
        description=(
            f"A doctor searches 20,000 charts of the organization, in turn by a name part "
            f"({SEARCH_PREFIX!r}: trigram ILIKE on first and last name, or MRN prefix) and "
            "by exact phone (HMAC blind index): count, page of 20 by last name, phones "
            "decrypted, one audit row per search"
        ),
        setup=setup_patients_search,
    ),
    "chart-read": Scenario(
        path="/api/v1/patients/{id}",
        description=(
            "A doctor reads one chart (1,000 in turn): auth_context, the chart under RLS, "
            "every encrypted field decrypted, and its audit row (patient.read) in the "
            "same transaction"
        ),
        setup=setup_chart_read,
    ),
    "audited-read": Scenario(
        path="/api/v1/patients/{id}",
        description=(
            "chart-read against a baseline that reads the same charts without writing an "
            "audit row: what MedHub's audited read reaches of the best unaudited one"
        ),
        setup=setup_audited_read,
    ),
}
