"""The prescription scenarios (issue 15): a doctor writes a prescription, a pharmacist
scans its QR code, many pharmacies dispense the same few prescriptions at once, and a
pharmacy reads its history.

Data (once per run, whichever scenario comes first; the database says whether it is
there), on top of the clinical bench hospital (`bench/clinical.py`: 200 doctors, 20,000
charts), which it seeds first if no clinical scenario has:

- nine pharmacies (`bench-pharmacy-0` .. `-8`, kind `pharmacy`), eight pharmacists
  each (`bench-pharmacist-P-N@example.com`, copies of the account the clinical seed
  registered through the API, so the same password; they log in through MedHub);
- 5,000 prescriptions `issued` by the hospital's doctors (`rx-scan` scans them in
  turn), one item each, with their real QR tokens: signed with the run's
  PRESCRIPTION_SIGNING_KEY (`SetupContext.field_keys`, the key MedHub and the
  baseline were started with) by `medhub.prescriptions.tokens.PrescriptionSigner`,
  their `qr_hash` by `medhub.prescriptions.service.token_hash`;
- 5,000 prescriptions that pharmacy 0 dispensed (nine in ten) or rejected over the
  last 90 days: its access rows, 5,000 dispensations and their lines
  (`pharmacy-history`);
- 4 + 4 prescriptions `validated` by pharmacies 1-8 (`dispense-contended`, four for
  each target), one free-text item of 10 units each (no catalog product, so no stock:
  the prescription's lock and the conditional UPDATE of the item are the work).

Volume goes in with the superuser (COPY). Encrypted columns are sealed like MedHub's:
`medhub.field_crypto.Keyring` with the run's keys and the model's column contexts
(`prescriptions.diagnosis`, `prescription_items.medicine_name`, ...); each
reference number is random (`medhub.prescriptions.reference.new_reference`) and its
blind index is `issuing.reference_index`'s (`Keyring.blind_index(normalised,
"prescriptions.reference")`). Numbers are RX-<issue day>-<counter>: the scan
prescriptions 1-5,000, the history 5,001-10,000, the contended 10,001-10,008, and
each day's counter (`prescription_number_days`) continues after the highest seeded
on that day.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import uuid_utils.compat as uuid_compat
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.clinical import CLONE_USER_SQL, Clinic, _clinic, _token
from bench.scenarios import (
    SETUP_LOGIN_THREADS,
    RequestSpec,
    RequestVariant,
    Scenario,
    SetupContext,
    SetupError,
    _login,
    _registered_user,
)

# No py.typed in the project package; these are only called.
from medhub.field_crypto import Keyring  # type: ignore[import-untyped]
from medhub.prescriptions.reference import (  # type: ignore[import-untyped]
    format_reference,
    new_reference,
)
from medhub.prescriptions.service import token_hash  # type: ignore[import-untyped]
from medhub.prescriptions.tokens import PrescriptionSigner  # type: ignore[import-untyped]

PHARMACIES = 9  # 0: the history; 1-8: dispense-contended (1 and 2 also scan)
PHARMACISTS = 8  # per pharmacy
HISTORY_PHARMACY = 0
# Each target scans as a pharmacist of a pharmacy of its own, so each records its own
# first access to every prescription (an INSERT), then its later scans (an UPDATE).
SCAN_PHARMACY = {"medhub": 1, "baseline": 2}
SCANNED = 5_000
HISTORY = 5_000
HISTORY_DAYS = 90
REJECTED_EVERY = 10  # one history act in ten is a rejection
CONTENDED = 4  # prescriptions per target
CONTENDED_QUANTITY = 10
# The counters of the seeded prescription numbers.
SCAN_FIRST = 1
HISTORY_FIRST = SCAN_FIRST + SCANNED
CONTENDED_FIRST = HISTORY_FIRST + HISTORY
SEEDED = CONTENDED_FIRST + 2 * CONTENDED - 1
VALID_DAYS = 30  # PRESCRIPTION_VALID_DAYS, MedHub's default
# Charts (clinical chart ids, by MRN) each part writes for; `chart-read` reads the last
# 1,000 and the booking uses 200-263: these stay clear of both.
CREATE_CHARTS = range(2_000, 3_000)
SCAN_CHARTS_FROM = 3_000  # 5,000 charts
HISTORY_CHARTS_FROM = 8_000  # 5,000 charts
CONTENDED_CHARTS_FROM = 13_000
PRESCRIBER = 3  # the doctor of `rx-create`, by index (clinical uses 0-2)
PUBLIC_BASE_URL = "http://127.0.0.1:8000"  # MedHub's default: what the QR codes hold
MEDICINES = (
    ("Amoxicillin", "500 mg", "capsule"), ("Ibuprofen", "400 mg", "tablet"),
    ("Metformin", "850 mg", "tablet"), ("Ramipril", "5 mg", "tablet"),
    ("Salbutamol", "100 µg", "inhaler"), ("Omeprazole", "20 mg", "capsule"),
    ("Atorvastatin", "20 mg", "tablet"), ("Levothyroxine", "50 µg", "tablet"),
    ("Cetirizine", "10 mg", "tablet"), ("Paracetamol", "500 mg", "tablet"),
)  # fmt: skip
DIAGNOSES = (
    "Acute bronchitis", "Essential hypertension", "Type 2 diabetes mellitus",
    "Gastro-oesophageal reflux", "Seasonal allergic rhinitis", "Hypothyroidism",
    "Mixed hyperlipidaemia", "Mild persistent asthma",
)  # fmt: skip


def pharmacy_slug(index: int) -> str:
    return f"bench-pharmacy-{index}"


def pharmacist_email(pharmacy: int, index: int) -> str:
    return f"bench-pharmacist-{pharmacy}-{index}@example.com"


PRESCRIPTION_COLUMNS = (
    "id", "organization_id", "patient_id", "doctor_id", "patient_name", "prescriber_name",
    "organization_name", "number", "reference_number", "reference_index", "qr_token", "qr_hash",
    "diagnosis", "notes", "status", "issued_at", "expires_at", "scan_count", "dispensed_at",
    "rejected_at", "rejected_by", "rejected_reason", "created_at", "updated_at",
)  # fmt: skip
ITEM_COLUMNS = (
    "id", "prescription_id", "position", "medicine_name", "product_id", "strength", "form",
    "times_per_day", "every_hours", "frequency_text", "duration_days", "quantity", "refills",
    "instructions", "dispensed_quantity",
)  # fmt: skip
ACCESS_COLUMNS = (
    "prescription_id", "organization_id", "prescriber_organization_id", "first_via",
    "first_at", "last_at", "scan_count", "validated_at", "validated_by",
)  # fmt: skip
DISPENSATION_COLUMNS = (
    "id", "prescription_id", "organization_id", "pharmacy_name", "pharmacist_id", "outcome",
    "reason", "total_amount", "created_at",
)  # fmt: skip
LINE_COLUMNS = (
    "id", "dispensation_id", "prescription_item_id", "product_id", "quantity", "batch_number",
    "expiry_date", "unit_price",
)  # fmt: skip


def _copy_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN"


@dataclasses.dataclass(frozen=True)
class Pharmacies:
    ids: list[uuid.UUID]  # by index
    names: list[str]
    pharmacists: list[list[uuid.UUID]]  # by pharmacy, then index


@dataclasses.dataclass(frozen=True)
class RxData:
    clinic: Clinic
    pharmacies: Pharmacies
    scan_tokens: list[str]  # by counter
    # (prescription id, its one item's id), by target: the contended prescriptions.
    contended: dict[str, list[tuple[uuid.UUID, uuid.UUID]]]


@dataclasses.dataclass
class _Writer:
    """What one seeded prescription needs beyond its own fields."""

    keys: Keyring
    signer: PrescriptionSigner
    clinic: Clinic
    organization_name: str
    doctor_names: list[str]
    chart_names: dict[uuid.UUID, str]

    def seal(self, value: str | None, context: str) -> bytes | None:
        return None if value is None else bytes(self.keys.encrypt(value, context))

    def prescription(
        self,
        counter: int,
        chart: uuid.UUID,
        issued_at: datetime,
        **fields: Any,
    ) -> dict[str, Any]:
        prescription_id = uuid_compat.uuid7()
        number = f"RX-{issued_at:%Y%m%d}-{counter:04d}"
        expires_at = issued_at + timedelta(days=VALID_DAYS)
        token = self.signer.sign(prescription_id, number, expires_at, issued_at=issued_at)
        reference = new_reference()
        doctor = counter % len(self.clinic.doctor_ids)
        row: dict[str, Any] = {
            "id": prescription_id,
            "organization_id": self.clinic.organization_id,
            "patient_id": chart,
            "doctor_id": self.clinic.doctor_ids[doctor],
            "patient_name": self.chart_names[chart],
            "prescriber_name": self.doctor_names[doctor],
            "organization_name": self.organization_name,
            "number": number,
            "reference_number": self.seal(
                format_reference(reference), "prescriptions.reference_number"
            ),
            # issuing.reference_index, with the run's keys rather than MedHub's installed ring.
            "reference_index": bytes(self.keys.blind_index(reference, "prescriptions.reference")),
            "qr_token": self.seal(token, "prescriptions.qr_token"),
            "qr_hash": token_hash(token),
            "diagnosis": self.seal(DIAGNOSES[counter % len(DIAGNOSES)], "prescriptions.diagnosis"),
            "notes": None,
            "status": "issued",
            "issued_at": issued_at,
            "expires_at": expires_at,
            "scan_count": 0,
            "dispensed_at": None,
            "rejected_at": None,
            "rejected_by": None,
            "rejected_reason": None,
            "created_at": issued_at,
            "updated_at": issued_at,
        }
        return row | fields

    def item(
        self, prescription_id: uuid.UUID, counter: int, quantity: int, dispensed: int
    ) -> dict[str, Any]:
        name, strength, form = MEDICINES[counter % len(MEDICINES)]
        return {
            "id": uuid_compat.uuid7(),
            "prescription_id": prescription_id,
            "position": 1,
            "medicine_name": self.seal(name, "prescription_items.medicine_name"),
            "product_id": None,
            "strength": strength,
            "form": form,
            "times_per_day": 2,
            "every_hours": None,
            "frequency_text": "twice daily, after meals",
            "duration_days": quantity // 2,
            "quantity": quantity,
            "refills": 0,
            "instructions": self.seal(
                "Take with a glass of water", "prescription_items.instructions"
            ),
            "dispensed_quantity": dispensed,
        }


def _values(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[column] for column in columns)


def _keys(ctx: SetupContext) -> tuple[Keyring, PrescriptionSigner]:
    keys = ctx.field_keys
    if keys is None or not keys.prescription_signing_key:
        raise SetupError(
            "the prescription scenarios need the run's field keys and prescription signing "
            "key (SetupContext.field_keys)"
        )
    raw = keys.prescription_signing_key
    seed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    signer = PrescriptionSigner(Ed25519PrivateKey.from_private_bytes(seed))
    return Keyring.from_specs(keys.encryption_keys, keys.index_key), signer


def _seed(ctx: SetupContext) -> RxData:
    clinic = _clinic(ctx)
    keys, signer = _keys(ctx)
    # The account the clinical seed registered through MedHub's API: the pharmacists
    # are copies of it (same password hash).
    registered = _registered_user(ctx, "clinic")
    with psycopg.connect(ctx.admin_database_url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM organizations WHERE slug = %s", (pharmacy_slug(0),)
        ).fetchone()
        if found is None:
            _insert(conn, clinic, keys, signer, registered)
        return _read(conn, clinic, keys)


def _insert(
    conn: psycopg.Connection[Any],
    clinic: Clinic,
    keys: Keyring,
    signer: PrescriptionSigner,
    registered: str,
) -> None:
    now = datetime.now(UTC)
    charts = [
        *clinic.chart_ids[SCAN_CHARTS_FROM : SCAN_CHARTS_FROM + SCANNED],
        *clinic.chart_ids[HISTORY_CHARTS_FROM : HISTORY_CHARTS_FROM + HISTORY],
        *clinic.chart_ids[CONTENDED_CHARTS_FROM : CONTENDED_CHARTS_FROM + 2 * CONTENDED],
    ]
    with conn.transaction(), conn.cursor() as cursor:
        pharmacies = _insert_pharmacies(cursor, registered)
        names = dict(
            cursor.execute(
                "SELECT id, first_name || ' ' || last_name FROM patients WHERE id = ANY(%s)",
                (charts,),
            ).fetchall()
        )
        doctors = dict(
            cursor.execute(
                "SELECT id, full_name FROM users WHERE id = ANY(%s)", (clinic.doctor_ids,)
            ).fetchall()
        )
        hospital = cursor.execute(
            "SELECT name FROM organizations WHERE id = %s", (clinic.organization_id,)
        ).fetchone()
        writer = _Writer(
            keys=keys,
            signer=signer,
            clinic=clinic,
            organization_name=hospital[0] if hospital else "",
            doctor_names=[doctors[d] for d in clinic.doctor_ids],
            chart_names=names,
        )
        prescriptions: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        access: list[dict[str, Any]] = []
        acts: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        for part in (
            _scan_part(writer, charts[:SCANNED], now),
            _history_part(writer, charts[SCANNED : SCANNED + HISTORY], pharmacies, now),
            _contended_part(writer, charts[SCANNED + HISTORY :], pharmacies, now),
        ):
            for table, row in part:
                {
                    "prescriptions": prescriptions,
                    "items": items,
                    "access": access,
                    "acts": acts,
                    "lines": lines,
                }[table].append(row)
        for table, columns, rows in (
            ("prescriptions", PRESCRIPTION_COLUMNS, prescriptions),
            ("prescription_items", ITEM_COLUMNS, items),
            ("prescription_pharmacy_access", ACCESS_COLUMNS, access),
            ("dispensations", DISPENSATION_COLUMNS, acts),
            ("dispensation_items", LINE_COLUMNS, lines),
        ):
            with cursor.copy(_copy_sql(table, columns)) as copy:
                for row in rows:
                    copy.write_row(_values(row, columns))
        # Each day's counter continues after the numbers seeded on it (migration 0022).
        cursor.execute(NUMBER_DAYS_SQL)
    # Statistics now, so neither the planner nor the first measured round works blind.
    conn.execute(
        "VACUUM (ANALYZE) prescriptions, prescription_items, prescription_pharmacy_access,"
        " dispensations, dispensation_items, organizations, users"
    )


NUMBER_DAYS_SQL = (
    "INSERT INTO prescription_number_days (day, last)"
    " SELECT to_date(split_part(number, '-', 2), 'YYYYMMDD'),"
    " max(split_part(number, '-', 3)::int) FROM prescriptions GROUP BY 1"
    " ON CONFLICT (day) DO UPDATE SET last = greatest(prescription_number_days.last,"
    " excluded.last)"
)


def _insert_pharmacies(cursor: psycopg.Cursor[Any], registered: str) -> Pharmacies:
    ids, names, pharmacists = [], [], []
    for index in range(PHARMACIES):
        pharmacy_id = uuid.uuid4()
        name = f"Bench Pharmacy {index}"
        cursor.execute(
            "INSERT INTO organizations (id, name, slug, kind, status, settings)"
            " VALUES (%s, %s, %s, 'pharmacy', 'active', '{}')",
            (pharmacy_id, name, pharmacy_slug(index)),
        )
        staff = [uuid.uuid4() for _ in range(PHARMACISTS)]
        cursor.executemany(
            CLONE_USER_SQL,
            [
                (user_id, pharmacist_email(index, n), f"Pharmacist {index}-{n}", "pharmacist",
                 pharmacy_id, registered)
                for n, user_id in enumerate(staff)
            ],
        )  # fmt: skip
        ids.append(pharmacy_id)
        names.append(name)
        pharmacists.append(staff)
    return Pharmacies(ids=ids, names=names, pharmacists=pharmacists)


Rows = Iterator[tuple[str, dict[str, Any]]]


def _scan_part(writer: _Writer, charts: list[uuid.UUID], now: datetime) -> Rows:
    """Issued an hour ago, never scanned."""
    issued_at = now - timedelta(hours=1)
    for offset, chart in enumerate(charts):
        counter = SCAN_FIRST + offset
        prescription = writer.prescription(counter, chart, issued_at)
        yield "prescriptions", prescription
        yield "items", writer.item(prescription["id"], counter, 14, 0)


def _history_part(
    writer: _Writer, charts: list[uuid.UUID], pharmacies: Pharmacies, now: datetime
) -> Rows:
    """Pharmacy 0's acts over the last 90 days, newest first: dispensed in full, or
    (one in ten) rejected."""
    pharmacy = pharmacies.ids[HISTORY_PHARMACY]
    staff = pharmacies.pharmacists[HISTORY_PHARMACY]
    step = timedelta(days=HISTORY_DAYS) / HISTORY
    for offset, chart in enumerate(charts):
        counter = HISTORY_FIRST + offset
        acted_at = now - timedelta(minutes=5) - step * offset
        issued_at = acted_at - timedelta(days=2)
        rejected = offset % REJECTED_EVERY == REJECTED_EVERY - 1
        quantity = 10 + 2 * (offset % 10)
        reason = "Bench: the prescriber could not be reached to confirm" if rejected else None
        fields: dict[str, Any] = (
            {"status": "rejected", "rejected_at": acted_at, "rejected_by": pharmacy,
             "rejected_reason": reason}
            if rejected
            else {"status": "dispensed", "dispensed_at": acted_at}
        )  # fmt: skip
        fields |= {"scan_count": 1, "updated_at": acted_at}
        prescription = writer.prescription(counter, chart, issued_at, **fields)
        item = writer.item(prescription["id"], counter, quantity, 0 if rejected else quantity)
        pharmacist = staff[offset % len(staff)]
        price = Decimal(2 + (offset % 40) * 3) / 4
        act_id = uuid_compat.uuid7()
        yield "prescriptions", prescription
        yield "items", item
        yield (
            "access",
            {
                "prescription_id": prescription["id"],
                "organization_id": pharmacy,
                "prescriber_organization_id": writer.clinic.organization_id,
                "first_via": "qr",
                "first_at": acted_at - timedelta(minutes=3),
                "last_at": acted_at - timedelta(minutes=3),
                "scan_count": 1,
                "validated_at": None if rejected else acted_at - timedelta(minutes=2),
                "validated_by": None if rejected else pharmacist,
            },
        )
        yield (
            "acts",
            {
                "id": act_id,
                "prescription_id": prescription["id"],
                "organization_id": pharmacy,
                "pharmacy_name": pharmacies.names[HISTORY_PHARMACY],
                "pharmacist_id": pharmacist,
                "outcome": "rejected" if rejected else "dispensed",
                "reason": reason,
                "total_amount": Decimal(0)
                if rejected
                else (price * quantity).quantize(Decimal("0.01")),
                "created_at": acted_at,
            },
        )
        if not rejected:
            yield (
                "lines",
                {
                    "id": uuid_compat.uuid7(),
                    "dispensation_id": act_id,
                    "prescription_item_id": item["id"],
                    "product_id": None,
                    "quantity": quantity,
                    "batch_number": f"BX{offset % 97:04d}",
                    "expiry_date": date(acted_at.year + 2, 1, 31),
                    "unit_price": price.quantize(Decimal("0.01")),
                },
            )


def _contended_part(
    writer: _Writer, charts: list[uuid.UUID], pharmacies: Pharmacies, now: datetime
) -> Rows:
    """Validated by pharmacies 1-8: any of their pharmacists may dispense them."""
    issued_at = now - timedelta(hours=1)
    for offset, chart in enumerate(charts):
        counter = CONTENDED_FIRST + offset
        prescription = writer.prescription(counter, chart, issued_at, status="validated")
        yield "prescriptions", prescription
        yield "items", writer.item(prescription["id"], counter, CONTENDED_QUANTITY, 0)
        for pharmacy in range(1, PHARMACIES):
            yield (
                "access",
                {
                    "prescription_id": prescription["id"],
                    "organization_id": pharmacies.ids[pharmacy],
                    "prescriber_organization_id": writer.clinic.organization_id,
                    "first_via": "qr",
                    "first_at": issued_at,
                    "last_at": issued_at,
                    "scan_count": 1,
                    "validated_at": issued_at + timedelta(minutes=1),
                    "validated_by": pharmacies.pharmacists[pharmacy][0],
                },
            )


SEEDED_SQL = (
    "SELECT p.id, split_part(p.number, '-', 3)::int AS counter, p.qr_token, i.id"
    " FROM prescriptions p JOIN prescription_items i ON i.prescription_id = p.id"
    " WHERE p.organization_id = %s AND split_part(p.number, '-', 3)::int BETWEEN %s AND %s"
    " ORDER BY counter"
)


def _read(conn: psycopg.Connection[Any], clinic: Clinic, keys: Keyring) -> RxData:
    ids, names, pharmacists = [], [], []
    for index in range(PHARMACIES):
        row = conn.execute(
            "SELECT id, name FROM organizations WHERE slug = %s", (pharmacy_slug(index),)
        ).fetchone()
        if row is None:
            raise SetupError(f"no pharmacy {pharmacy_slug(index)!r} after seeding")
        ids.append(row[0])
        names.append(row[1])
        staff = conn.execute(
            "SELECT id FROM users WHERE organization_id = %s AND role = 'pharmacist'"
            " ORDER BY email",
            (row[0],),
        ).fetchall()
        pharmacists.append([r[0] for r in staff])
    scans = conn.execute(
        SEEDED_SQL, (clinic.organization_id, SCAN_FIRST, SCAN_FIRST + SCANNED - 1)
    ).fetchall()
    contended = conn.execute(
        SEEDED_SQL, (clinic.organization_id, CONTENDED_FIRST, SEEDED)
    ).fetchall()
    if len(scans) != SCANNED or len(contended) != 2 * CONTENDED:
        raise SetupError(
            f"expected {SCANNED:,} scan and {2 * CONTENDED} contended prescriptions; found "
            f"{len(scans):,} and {len(contended)}"
        )
    return RxData(
        clinic=clinic,
        pharmacies=Pharmacies(ids=ids, names=names, pharmacists=pharmacists),
        scan_tokens=[keys.decrypt(bytes(row[2]), "prescriptions.qr_token") for row in scans],
        contended={
            "medhub": [(row[0], row[3]) for row in contended[:CONTENDED]],
            "baseline": [(row[0], row[3]) for row in contended[CONTENDED:]],
        },
    )


def _rx(ctx: SetupContext) -> RxData:
    if "rx" not in ctx.state:
        ctx.state["rx"] = _seed(ctx)
    data: RxData = ctx.state["rx"]
    return data


# Jobs due now that MedHub's in-process worker has not finished (scheduled retries and
# periodic jobs later on are not waited for).
PENDING_JOBS_SQL = (
    "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
    " AND (scheduled_at IS NULL OR scheduled_at <= now())"
)
SETTLE_TIMEOUT_S = 900.0


def _settle(ctx: SetupContext) -> None:
    """Wait until MedHub's job worker has done the jobs queued so far. Every prescription
    `rx-create` writes (either target's) queues the patient's email with its QR code,
    which MedHub's worker renders and sends in MedHub's process: a backlog left by an
    earlier scenario would otherwise run during, and slow, this one's MedHub rounds."""
    started = time.monotonic()
    pending = 0
    with psycopg.connect(ctx.admin_database_url, autocommit=True) as conn:
        while time.monotonic() - started < SETTLE_TIMEOUT_S:
            row = conn.execute(PENDING_JOBS_SQL).fetchone()
            pending = int(row[0]) if row else 0
            if not pending:
                break
            time.sleep(0.5)
    waited = time.monotonic() - started
    if pending:
        print(f"bench: {pending} jobs still queued after {waited:.0f} s; going on", file=sys.stderr)
    elif waited >= 1:
        print(f"bench: waited {waited:.1f} s for MedHub's job worker to catch up", file=sys.stderr)


def _bearer(ctx: SetupContext, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(ctx, email)}"}


# --- setup hooks ----------------------------------------------------------------------


def _create_body(chart: uuid.UUID, index: int) -> bytes:
    name, strength, form = MEDICINES[index % len(MEDICINES)]
    body = {
        "patient_id": str(chart),
        "diagnosis": DIAGNOSES[index % len(DIAGNOSES)],
        "items": [
            {
                "medicine_name": name,
                "strength": strength,
                "form": form,
                "frequency": {"times_per_day": 2, "text": "twice daily, after meals"},
                "duration_days": 7,
                "quantity": 14,
                "instructions": "Take with a glass of water",
            }
        ],
    }
    return json.dumps(body).encode()


def setup_rx_create(ctx: SetupContext) -> RequestSpec:
    """One approved doctor of the hospital writes a one-item prescription for 1,000
    charts in turn (each request a new prescription)."""
    clinic = _rx(ctx).clinic
    headers = _bearer(ctx, clinic.doctor_emails[PRESCRIBER])
    variants = [
        RequestVariant(body=_create_body(clinic.chart_ids[index], index)) for index in CREATE_CHARTS
    ]
    _settle(ctx)
    return dataclasses.replace(
        ctx.request, headers={**ctx.request.headers, **headers}, variants=variants
    )


def setup_rx_scan(ctx: SetupContext) -> RequestSpec:
    """A pharmacist scans the 5,000 issued prescriptions' QR codes in turn (the
    verification URL the code holds), MedHub's of pharmacy 1, the baseline's of
    pharmacy 2."""
    data = _rx(ctx)
    headers = _bearer(ctx, pharmacist_email(SCAN_PHARMACY[ctx.target], 0))
    variants = [
        RequestVariant(body=json.dumps({"qr_data": f"{PUBLIC_BASE_URL}/rx/{token}"}).encode())
        for token in data.scan_tokens
    ]
    _settle(ctx)
    return dataclasses.replace(
        ctx.request, headers={**ctx.request.headers, **headers}, variants=variants
    )


def setup_dispense_contended(ctx: SetupContext) -> RequestSpec:
    """64 pharmacists of pharmacies 1-8 dispense, in turn, all 10 units of one of four
    prescriptions (the target's own four): the first request per prescription is 200,
    every later one 409."""
    data = _rx(ctx)
    emails = [pharmacist_email(p, n) for n in range(PHARMACISTS) for p in range(1, PHARMACIES)]
    tokens: dict[str, str] = ctx.state.setdefault("tokens", {})
    missing = [email for email in emails if email not in tokens]
    # Each login verifies an Argon2id hash: a few at once keep MedHub's hash threads busy.
    with ThreadPoolExecutor(max_workers=SETUP_LOGIN_THREADS) as pool:
        logins = pool.map(lambda email: _login(ctx.medhub_url, email), missing)
        tokens.update(zip(missing, logins, strict=True))
    expiry = datetime.now(UTC).date() + timedelta(days=730)
    variants = []
    for index, email in enumerate(emails):
        prescription_id, item_id = data.contended[ctx.target][index % CONTENDED]
        body = {
            "items": [
                {
                    "item_id": str(item_id),
                    "quantity": CONTENDED_QUANTITY,
                    "batch_number": f"BC{index:04d}",
                    "expiry_date": expiry.isoformat(),
                    "unit_price": "3.20",
                }
            ]
        }
        variants.append(
            RequestVariant(
                path=f"/api/v1/pharmacy/dispense/{prescription_id}",
                headers={"Authorization": f"Bearer {tokens[email]}"},
                body=json.dumps(body).encode(),
            )
        )
    _settle(ctx)
    return dataclasses.replace(ctx.request, variants=variants)


def setup_pharmacy_history(ctx: SetupContext) -> RequestSpec:
    _rx(ctx)
    headers = _bearer(ctx, pharmacist_email(HISTORY_PHARMACY, 0))
    _settle(ctx)
    return dataclasses.replace(ctx.request, headers=headers)


# rx-create last when they all run: each prescription it writes (either target's) leaves
# MedHub's worker an email with a QR code to render and send, which the next scenario's
# setup waits for (`_settle`).
PRESCRIPTION_SCENARIOS: dict[str, Scenario] = {
    "rx-scan": Scenario(
        path="/api/v1/pharmacy/scan",
        method="POST",
        headers={"Content-Type": "application/json"},
        description=(
            "A pharmacist scans a QR code (5,000 issued prescriptions in turn): the Ed25519 "
            "signature, grant_prescription_access() (the token's hash, the pharmacy's access "
            "row), the scan count, the audit row, then the pharmacy's view: the prescription "
            "(diagnosis decrypted), its items, dispensations and this pharmacy's access"
        ),
        setup=setup_rx_scan,
    ),
    "dispense-contended": Scenario(
        path="/api/v1/pharmacy/dispense/{id}",
        method="POST",
        headers={"Content-Type": "application/json"},
        accept_statuses=(409,),
        description=(
            "64 pharmacists of 8 pharmacies that validated the same four prescriptions "
            "dispense all of one (10 units of a free-text item, no stock) at once: the first "
            "request per prescription is 200 (dispensation, conditional item UPDATE, status, "
            "audit row, event), every later one 409 once it holds the prescription's row "
            "lock (req/s counts both; any other status is an error)"
        ),
        setup=setup_dispense_contended,
    ),
    "pharmacy-history": Scenario(
        path="/api/v1/pharmacy/history?limit=20",
        description=(
            "A pharmacist reads page 1 of their pharmacy's history (5,000 dispensations and "
            "rejections over 90 days): totals over all of them (count, dispensed, rejected, "
            "amount in the default currency), the 20 newest with their prescriptions, then "
            "their lines, and the read's audit row"
        ),
        setup=setup_pharmacy_history,
    ),
    "rx-create": Scenario(
        path="/api/v1/doctors/prescriptions",
        method="POST",
        headers={"Content-Type": "application/json"},
        expect_status=201,
        description=(
            "An approved doctor writes a one-item prescription (1,000 charts in turn): the "
            "day's number (its own autocommit statement), the chart, an Ed25519-signed QR "
            "token, a reference number and its blind index, the prescription and its item "
            "(4 columns encrypted), the audit row and the prescription.created event with "
            "its job, then the whole prescription read back (items, dispensations)"
        ),
        setup=setup_rx_create,
    ),
}
