"""`medhub seed demo`: the demo is complete, usable (every account logs in), and
seeding again creates nothing. The clinical demo runs with only its own charts
(`charts_per_organization=0`; the CLI's smallest `--patients`), which keeps it quick."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from medhub.config import Settings
from medhub.demo.cli import MIN_CHARTS, seed_app
from medhub.demo.common import SeedReport
from medhub.demo.data import (
    APPOINTMENTS,
    CARE_ORGANIZATIONS,
    DEMO_DOCTOR,
    DEMO_PASSWORD,
    DEMO_PATIENT,
    DOCTORS,
    INQUIRIES,
    ORDERS,
    PRODUCTS,
    RECORDS,
    STORY_CHARTS,
    USERS,
    account_email,
    charts_of,
)
from medhub.demo.pharmacy import (
    BATCHES,
    NEAR_EXPIRY_DAYS,
    PHARMACISTS,
    PHARMACY_ADMIN,
    PHARMACY_NAME,
    PHARMACY_SLUG,
    PRESCRIPTIONS,
    REORDER_POINTS,
)
from medhub.demo.service import CATALOG, seed_demo
from medhub.kit.db import Database
from medhub.models.appointments import AppointmentStatus
from medhub.models.prescriptions import PrescriptionStatus

AdminSql = Callable[..., list[tuple[Any, ...]]]

CATEGORIES = {"cardiovascular", "antibiotics", "diabetes", "oncology"}
TABLES = (
    "users",
    "addresses",
    "products",
    "product_certifications",
    "stock_movements",
    "orders",
    "order_items",
    "inquiries",
    "inquiry_messages",
    "notifications",
    "email_messages",
    "activity_logs",
    "organizations",
    "doctor_profiles",
    "patients",
    "patient_profiles",
    "patient_invitations",
    "appointments",
    "consultations",
    "medical_records",
    "pharmacy_stock",
    "pharmacy_batches",
    "pharmacy_stock_movements",
    "prescriptions",
    "prescription_items",
    "prescription_pharmacy_access",
    "dispensations",
    "dispensation_items",
)
MEDPHARM_EMAILS = {u.email for u in USERS}


def row_counts(admin_sql: AdminSql) -> dict[str, int]:
    return {table: admin_sql(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


async def seed(app: FastAPI, database: Database, settings: Settings) -> SeedReport:
    return await seed_demo(
        database, settings, app.state.auth_runtime.hasher, charts_per_organization=0
    )


async def login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


def prescription_statuses(admin_sql: AdminSql) -> dict[str, int]:
    return dict(admin_sql("SELECT status, count(*) FROM prescriptions GROUP BY status"))


async def check_the_pharmacy_demo(
    report: SeedReport, client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    """The pharmacy with its staff, who log in with the printed credentials and find its
    stock (batches, some near expiry, one product low); a prescription in every status."""
    created = {name: tally.created for name, tally in report.tallies.items()}
    assert created["pharmacies"] == 1
    assert created["stock batches"] == len(BATCHES)
    assert created["prescriptions"] == len(PRESCRIPTIONS)
    at_the_counter = {
        PrescriptionStatus.partially_dispensed,
        PrescriptionStatus.dispensed,
        PrescriptionStatus.rejected,
    }
    assert created["dispensations"] == sum(p.status in at_the_counter for p in PRESCRIPTIONS)

    # A pharmacy organization with its admin and two pharmacists, verified.
    staff = admin_sql(
        "SELECT o.kind, o.status, u.email, u.role, u.is_verified FROM organizations o"
        " JOIN users u ON u.organization_id = o.id WHERE o.slug = %s",
        [PHARMACY_SLUG],
    )
    expected = {(PHARMACY_ADMIN[0], "admin"), *((email, "pharmacist") for email, _ in PHARMACISTS)}
    assert sorted(staff) == sorted(
        ("pharmacy", "active", email, role, True) for email, role in expected
    )
    # Printed with where they work, and each logs in with what was printed.
    printed = [c for c in report.credentials if c.where == PHARMACY_NAME]
    assert {(c.email, c.password, c.role) for c in printed} == {
        (email, DEMO_PASSWORD, role) for email, role in expected
    }
    for credential in printed:
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": credential.email, "password": credential.password},
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["user"]["role"] == credential.role

    # A pharmacist finds the stock: every batch, some within the demo's near-expiry
    # window (and none expired yet), and the product seeded below its reorder point.
    headers = await login(client, PHARMACISTS[0][0])

    async def inventory(**params: Any) -> list[dict[str, Any]]:
        response = await client.get(
            "/api/v1/pharmacy/inventory", params={"limit": 50, **params}, headers=headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]["inventory"]
        return items

    everything = await inventory()
    held = [batch for item in everything for batch in item["batches"]]
    assert sorted(b["batch_number"] for b in held) == sorted(b.batch_number for b in BATCHES)
    assert not any(b["expired"] for b in held)
    horizon = (datetime.now(UTC).date() + timedelta(days=NEAR_EXPIRY_DAYS)).isoformat()
    near = await inventory(expiring_within_days=NEAR_EXPIRY_DAYS)
    soon = [b for item in near for b in item["batches"] if b["expiry_date"] <= horizon]
    assert soon, "no batch near expiry"
    assert {b["batch_number"] for b in soon} == {
        b.batch_number for b in BATCHES if b.expires_in_days <= NEAR_EXPIRY_DAYS
    }
    assert len(near) < len(everything)
    low = {item["product_name"] for item in await inventory(low_stock="true")}
    received = Counter[str]()
    for batch in BATCHES:
        received[batch.product] += batch.quantity
    below = {name for name, point in REORDER_POINTS.items() if received[name] <= point}
    assert low == below == {"Amlodipine 5mg"}

    # A prescription in every status of the enum, as many as the demo lists.
    statuses = prescription_statuses(admin_sql)
    assert set(statuses) == {status.value for status in PrescriptionStatus}
    assert statuses == dict(Counter(p.status.value for p in PRESCRIPTIONS))


async def test_seed_creates_the_whole_demo_and_every_account_logs_in(
    app: FastAPI,
    database: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
) -> None:
    report = await seed(app, database, settings)

    assert report.supplier_slug == "medpharm"
    created = {name: tally.created for name, tally in report.tallies.items()}
    assert created["users"] == len(USERS)
    assert created["products"] == len(PRODUCTS)
    assert created["orders"] == len(ORDERS)
    assert created["inquiries"] == len(INQUIRIES)
    assert created["certifications"] == sum(len(p.certifications) for p in PRODUCTS)
    assert all(tally.existing == 0 for tally in report.tallies.values())

    # Users of every MedPharm role, verified, staff in the supplier; each logs in.
    rows = [
        row
        for row in admin_sql(
            "SELECT u.email, u.role, o.slug, u.is_verified FROM users u "
            "LEFT JOIN organizations o ON o.id = u.organization_id ORDER BY u.email"
        )
        if row[0] in MEDPHARM_EMAILS
    ]
    assert {row[1] for row in rows} == {"super_admin", "admin", "sales", "distributor", "customer"}
    by_email = {email: (role, slug, verified) for email, role, slug, verified in rows}
    assert by_email["admin@medpharm.demo"] == ("admin", "medpharm", True)
    assert by_email["sales2@medpharm.demo"] == ("sales", "medpharm", True)
    assert by_email["distributor@medpharm.demo"] == ("distributor", "medpharm", True)
    assert by_email["customer@hospital.demo"] == ("customer", None, True)
    assert by_email["superadmin@medhub.demo"] == ("super_admin", None, True)
    assert {
        (c.email, c.password, c.role) for c in report.credentials if c.email in MEDPHARM_EMAILS
    } == {(email, DEMO_PASSWORD, role) for email, (role, _, _) in by_email.items()}
    for credential in report.credentials:
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": credential.email, "password": credential.password},
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["user"]["role"] == credential.role

    # ≥ 200 active products in all four categories, owned by the supplier, sane figures.
    per_category: dict[str, int] = dict(
        admin_sql(
            "SELECT p.category, count(*) FROM products p JOIN organizations o "
            "ON o.id = p.supplier_id WHERE p.is_active AND o.slug = 'medpharm' GROUP BY 1"
        )
    )
    assert set(per_category) == CATEGORIES
    assert sum(per_category.values()) >= 200
    assert all(count >= 40 for count in per_category.values())
    [(lowest, highest, priced, special, empty)] = admin_sql(
        "SELECT min(stock_quantity), max(stock_quantity), count(price), "
        "count(distributor_price), count(*) FILTER (WHERE stock_quantity = 0) FROM products"
    )
    assert lowest >= 0
    assert highest <= 5000
    assert priced >= 200
    assert 40 <= special < priced
    assert empty > 0
    # Initial stock went through the stock service: one adjustment per stocked product.
    assert admin_sql(
        "SELECT count(*) FROM stock_movements "
        "WHERE kind = 'adjustment' AND reason = 'Initial stock'"
    ) == [(sum(1 for p in PRODUCTS if p.stock_quantity),)]

    # Certifications on about half of the products, some expiring within 60 days.
    [(certified, expiring, kinds)] = admin_sql(
        "SELECT count(DISTINCT product_id), "
        "count(*) FILTER (WHERE expiry_date < current_date + 60), "
        "count(DISTINCT certification_type) FROM product_certifications"
    )
    assert len(PRODUCTS) * 0.3 < certified < len(PRODUCTS) * 0.7
    assert expiring > 0
    assert kinds == 4

    # Orders in every stage; shipped ones carry a tracking number; stock followed them.
    orders = admin_sql(
        "SELECT o.notes, o.status, o.tracking_number, u.email FROM orders o "
        "JOIN users u ON u.id = o.user_id"
    )
    emails = {u.key: u.email for u in USERS}
    assert sorted((notes, status, email) for notes, status, _, email in orders) == sorted(
        (o.notes, o.status.value, emails[o.buyer]) for o in ORDERS
    )
    for _, status, tracking, _ in orders:
        assert (tracking is not None) == (status in {"shipped", "delivered"})
    assert admin_sql("SELECT count(*) FROM stock_movements WHERE kind = 'fulfilment'") == [
        (sum(len(o.lines) for o in ORDERS if o.status in {"processing", "shipped", "delivered"}),)
    ]
    assert admin_sql("SELECT count(*) FROM products WHERE reserved_quantity > stock_quantity") == [
        (0,)
    ]

    # Inquiries with their statuses and priorities; one became an order.
    inquiries = admin_sql(
        "SELECT subject, status, priority, assigned_to IS NOT NULL, order_id IS NOT NULL "
        "FROM inquiries"
    )
    assert sorted(inquiries) == sorted(
        (i.subject, i.status.value, i.priority.value, True, i.order is not None) for i in INQUIRIES
    )

    # The services' emails are queued for the worker, like any others.
    queued: dict[str, int] = dict(
        admin_sql(
            "SELECT template, count(*) FROM email_messages "
            "WHERE to_address = 'customer@hospital.demo' GROUP BY 1"
        )
    )
    assert queued.get("order_confirmation") == sum(1 for o in ORDERS if o.buyer == "customer")


async def test_the_clinical_and_pharmacy_demo_have_every_status_and_their_people_use_them(
    app: FastAPI,
    database: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    admin_sql: AdminSql,
) -> None:
    report = await seed(app, database, settings)
    created = {name: tally.created for name, tally in report.tallies.items()}
    story = {o.key: len(charts_of(o, 0)) for o in CARE_ORGANIZATIONS}
    assert created["care organizations"] == len(CARE_ORGANIZATIONS)
    assert created["doctors"] == len(DOCTORS)
    assert created["patient accounts"] == sum(c.account for c in STORY_CHARTS) == 5
    assert created["charts"] == sum(story.values())
    assert created["appointments"] == len(APPOINTMENTS)
    with_consultation = {AppointmentStatus.in_progress, AppointmentStatus.completed}
    assert created["consultations"] == sum(a.status in with_consultation for a in APPOINTMENTS)
    assert created["medical records"] == len(RECORDS)

    # A hospital and a clinic, each with its admin; doctors at each, one waiting alone.
    organizations = admin_sql(
        "SELECT o.slug, o.kind, count(u.id) FILTER (WHERE u.role = 'admin'),"
        " count(u.id) FILTER (WHERE u.role = 'doctor' AND u.is_approved)"
        " FROM organizations o JOIN users u ON u.organization_id = o.id"
        " WHERE o.kind IN ('hospital', 'clinic') GROUP BY o.slug, o.kind"
    )
    assert sorted(organizations) == [
        ("lakeside-family-clinic", "clinic", 1, 2),
        ("northside-general", "hospital", 1, 3),
    ]
    assert admin_sql(
        "SELECT u.email, u.is_approved, u.organization_id IS NULL, count(r.*)"
        " FROM users u JOIN doctor_profiles p ON p.user_id = u.id"
        " JOIN doctor_availability_rules r ON r.doctor_id = u.id WHERE NOT u.is_approved"
        " GROUP BY u.email, u.is_approved, u.organization_id"
    ) == [("mei.lin@practice.demo", False, True, 3)]
    [(zones, currencies, video)] = admin_sql(
        "SELECT array_agg(DISTINCT timezone), array_agg(DISTINCT currency),"
        " count(*) FILTER (WHERE offers_video) FROM doctor_profiles"
    )
    assert (zones, currencies) == (["Europe/Berlin"], ["EUR"])
    assert 0 < video < len(DOCTORS)
    # The public directory lists the five approved doctors, not the one waiting.
    directory = (await client.get("/api/v1/doctors?limit=50")).json()["data"]
    assert directory["pagination"]["total"] == 5
    assert "Mei Lin" not in {d["full_name"] for d in directory["doctors"]}

    # Charts: the story charts (and a chart a patient's booking made at the clinic),
    # five linked to verified patient accounts; sensitive fields encrypted.
    per_organization = dict(
        admin_sql(
            "SELECT o.slug, count(*) FROM patients p JOIN organizations o"
            " ON o.id = p.organization_id GROUP BY o.slug"
        )
    )
    assert per_organization == {
        "northside-general": story["northside"],
        "lakeside-family-clinic": story["lakeside"] + 1,
    }
    linked = admin_sql(
        "SELECT u.email, u.is_verified, count(p.id) FROM users u"
        " JOIN patients p ON p.user_id = u.id WHERE u.role = 'patient' GROUP BY 1, 2"
    )
    emma = account_email("Emma", "Schneider")
    assert sorted(linked) == sorted(
        (c.email, True, 2 if c.email == emma else 1) for c in STORY_CHARTS if c.account
    )
    [(phones, plain)] = admin_sql(
        "SELECT count(phone_index), count(*) FILTER (WHERE position("
        " convert_to('+49', 'UTF8') IN phone) > 0) FROM patients"
    )
    assert phones == sum(per_organization.values())
    assert plain == 0

    # Appointments in every status, a late cancellation among them; consultations with
    # diagnoses for the completed ones; records of several kinds.
    statuses = dict(admin_sql("SELECT status, count(*) FROM appointments GROUP BY status"))
    assert set(statuses) == {status.value for status in AppointmentStatus}
    assert admin_sql(
        "SELECT count(*) FILTER (WHERE cancelled_late), count(*) FILTER (WHERE NOT"
        " cancelled_late) FROM appointments WHERE status = 'cancelled'"
    ) == [(1, 2)]
    assert admin_sql(
        "SELECT a.status, c.status, count(*) FROM appointments a"
        " JOIN consultations c ON c.appointment_id = a.id GROUP BY 1, 2 ORDER BY 1"
    ) == [
        ("completed", "completed", statuses["completed"]),
        ("in_progress", "in_progress", statuses["in_progress"]),
    ]
    [(kinds, with_visit)] = admin_sql(
        "SELECT count(DISTINCT kind), count(consultation_id) FROM medical_records"
    )
    assert kinds == 7
    assert with_visit == sum(r.visit is not None for r in RECORDS)

    # The demo patient logs in and sees their appointments at both organizations.
    patient = next(c for c in STORY_CHARTS if c.key == DEMO_PATIENT)
    assert patient.email is not None
    headers = await login(client, patient.email)
    response = await client.get("/api/v1/appointments?limit=50", headers=headers)
    assert response.status_code == 200, response.text
    mine = response.json()["data"]["appointments"]
    assert sorted(a["reason"] for a in mine) == sorted(
        a.reason for a in APPOINTMENTS if a.chart == DEMO_PATIENT
    )
    assert {a["organization_name"] for a in mine} == {o.name for o in CARE_ORGANIZATIONS}

    # The demo doctor logs in and sees their own, and the completed consultations'
    # diagnoses with ICD-10 codes.
    doctor = next(d for d in DOCTORS if d.key == DEMO_DOCTOR)
    headers = await login(client, doctor.email)
    response = await client.get("/api/v1/appointments?limit=50", headers=headers)
    assert response.status_code == 200, response.text
    assert sorted(a["reason"] for a in response.json()["data"]["appointments"]) == sorted(
        a.reason for a in APPOINTMENTS if a.doctor == DEMO_DOCTOR
    )
    response = await client.get("/api/v1/consultations?status=completed", headers=headers)
    assert response.status_code == 200, response.text
    visits = response.json()["data"]["consultations"]
    assert visits
    assert all(v["diagnosis"] and v["icd10_codes"] and v["notes"] for v in visits)

    # Every printed clinical login works.
    for credential in report.credentials:
        if credential.email not in MEDPHARM_EMAILS:
            await login(client, credential.email)

    await check_the_pharmacy_demo(report, client, admin_sql)


async def test_seeding_again_creates_nothing(
    app: FastAPI, database: Database, settings: Settings, admin_sql: AdminSql
) -> None:
    first = await seed(app, database, settings)
    before = row_counts(admin_sql)
    statuses = prescription_statuses(admin_sql)
    second = await seed(app, database, settings)
    assert row_counts(admin_sql) == before
    # Neither the pharmacy's staff, stock and prescriptions nor their statuses change.
    assert all(before[table] > 0 for table in ("pharmacy_batches", "prescriptions")), before
    assert prescription_statuses(admin_sql) == statuses
    assert second.credentials == first.credentials
    for name, tally in second.tallies.items():
        assert (tally.created, tally.existing) == (0, first.tallies[name].created), name


async def test_an_interrupted_seed_is_completed_by_the_next_run(
    app: FastAPI, database: Database, settings: Settings, admin_sql: AdminSql
) -> None:
    class Interrupted(Exception):
        pass

    def stop_after_first_chunk(stage: str, done: int, total: int) -> None:
        if stage == CATALOG and done < total:
            raise Interrupted

    with pytest.raises(Interrupted):
        await seed_demo(
            database,
            settings,
            app.state.auth_runtime.hasher,
            on_progress=stop_after_first_chunk,
        )
    [(partial,)] = admin_sql("SELECT count(*) FROM products")
    assert 0 < partial < len(PRODUCTS)

    report = await seed(app, database, settings)
    assert report.tallies["users"].existing == len(USERS)
    assert report.tallies["products"].existing == partial
    assert report.tallies["products"].created == len(PRODUCTS) - partial
    assert admin_sql("SELECT count(*) FROM products") == [(len(PRODUCTS),)]
    assert admin_sql("SELECT count(*) FROM orders") == [(len(ORDERS),)]


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # prepare_database() exports the URLs it resolved; keep them out of later tests.
    monkeypatch.setenv("DATABASE_URL", str(settings.DATABASE_URL))
    monkeypatch.setenv("DATABASE_ADMIN_URL", str(settings.DATABASE_ADMIN_URL))
    # Wide enough that no table cell wraps (a narrow terminal wraps the Where column).
    return CliRunner(env={"COLUMNS": "200"})


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the tables rich printed, as lists of cell texts."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def test_cli_prints_credentials_and_counts_then_finds_everything(
    runner: CliRunner, settings: Settings, admin_sql: AdminSql
) -> None:
    logins = [[u.email, DEMO_PASSWORD, u.role.value] for u in USERS]
    patients = str(MIN_CHARTS)

    first = runner.invoke(seed_app, ["demo", "--patients", patients], obj=settings)
    assert first.exit_code == 0, first.output
    rows = table_rows(first.stdout)
    assert [row[:3] for row in rows[: len(USERS)]] == logins
    # The clinical logins follow, with where each acts.
    hospital, clinic = CARE_ORGANIZATIONS
    doctor = next(d for d in DOCTORS if d.key == DEMO_DOCTOR)
    patient = next(c for c in STORY_CHARTS if c.key == DEMO_PATIENT)
    assert rows[len(USERS) : len(USERS) + 4] == [
        [hospital.admin_email, DEMO_PASSWORD, "admin", hospital.name],
        [clinic.admin_email, DEMO_PASSWORD, "admin", clinic.name],
        [doctor.email, DEMO_PASSWORD, "doctor", hospital.name],
        [patient.email, DEMO_PASSWORD, "patient", "own charts at every organization"],
    ]
    assert ["products", str(len(PRODUCTS)), "0"] in rows
    assert ["orders", str(len(ORDERS)), "0"] in rows
    # --patients: each organization's charts, and the one a booking made at the clinic.
    assert ["charts", str(2 * MIN_CHARTS), "0"] in rows
    assert ["appointments", str(len(APPOINTMENTS)), "0"] in rows
    for label in ("Products", "Care orgs", "Charts", "Visits"):  # the progress bars
        assert label in first.stdout
    assert admin_sql("SELECT count(*) FROM products") == [(len(PRODUCTS),)]
    assert admin_sql("SELECT count(*) FROM patients") == [(2 * MIN_CHARTS + 1,)]

    again = runner.invoke(seed_app, ["demo", "--patients", patients], obj=settings)
    assert again.exit_code == 0, again.output
    rows = table_rows(again.stdout)
    assert [row[:3] for row in rows[: len(USERS)]] == logins
    assert ["products", "0", str(len(PRODUCTS))] in rows
    assert ["inquiries", "0", str(len(INQUIRIES))] in rows
    assert ["appointments", "0", str(len(APPOINTMENTS))] in rows
    assert admin_sql("SELECT count(*) FROM products") == [(len(PRODUCTS),)]


def test_cli_without_the_supplier_fails_clearly(
    runner: CliRunner, settings: Settings, admin_sql: AdminSql
) -> None:
    admin_sql("UPDATE organizations SET slug = 'renamed' WHERE slug = 'medpharm'")
    result = runner.invoke(seed_app, ["demo"], obj=settings)
    assert result.exit_code == 1
    assert "No supplier organization has the slug 'medpharm'" in result.output
    assert "Traceback" not in result.output
    assert admin_sql("SELECT count(*) FROM users") == [(0,)]


def test_help_lists_the_demo_command() -> None:
    result = CliRunner().invoke(seed_app, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output
