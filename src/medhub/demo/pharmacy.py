"""Seeding the pharmacy demo (issue 15), through the same services as the API.

The super admin provisions Harbour Pharmacy with its admin, who adds two pharmacists;
the pharmacists receive stock in batches (some close to expiry, one product below its
reorder point); the hospital's doctor writes prescriptions for patients of the
hospital, and the pharmacy scans, validates, dispenses, rejects, and the doctor
cancels, so that there is a prescription in every status. One prescription is left
`issued` for the visitor to take through the whole counter flow themselves.

Natural keys: the pharmacy's slug, emails, a batch's product and number. The
prescriptions are written once: a run that finds the pharmacy's prescriptions
already there writes none (their clinical text is encrypted, so it cannot be
matched).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.demo.clinical import Clinic
from medhub.demo.common import Cast, Credential, SeedRun, act_as, principal_of, product_ids
from medhub.demo.data import DEMO_DOCTOR, DEMO_PASSWORD, STORY_CHARTS
from medhub.kit.tenancy import set_system_context
from medhub.models.identity import Role
from medhub.models.prescriptions import Dispensation, Prescription, PrescriptionStatus
from medhub.organizations import members, tenants
from medhub.organizations.schemas import MemberCreate, TenantAdmin, TenantCreate
from medhub.pharmacy_stock import managing as stock
from medhub.pharmacy_stock.schemas import ReorderPointUpdate, StockReceive
from medhub.prescriptions import dispensing, issuing, lifecycle
from medhub.prescriptions.schemas import (
    DispenseLine,
    DispenseRequest,
    Frequency,
    ItemCreate,
    PrescriptionCreate,
)
from medhub.users import service as users

STOCKING = "Pharmacy"
PRESCRIBING = "Prescriptions"

PHARMACY_NAME = "Harbour Pharmacy"
PHARMACY_SLUG = "harbour-pharmacy"
PHARMACY_ADMIN = ("admin@harbour-pharmacy.demo", "Nora Lindqvist")
PHARMACISTS = (
    ("lena.fischer@harbour-pharmacy.demo", "Lena Fischer"),
    ("tom.braun@harbour-pharmacy.demo", "Tom Braun"),
)


@dataclass(frozen=True)
class DemoBatch:
    product: str  # a catalog product's name (demo/data.py PRODUCTS)
    batch_number: str
    expires_in_days: int
    quantity: int
    unit_cost: str


@dataclass(frozen=True)
class DemoPrescription:
    patient: str  # a story chart's key, at the demo doctor's organization
    product: str
    strength: str
    form: str
    times_per_day: int
    duration_days: int
    quantity: int
    diagnosis: str
    status: PrescriptionStatus
    refills: int = 0


BATCHES = (
    # Two batches of amoxicillin: the one closer to expiry goes first (FEFO).
    DemoBatch("Amoxicillin 500mg", "AMX-2611-A", 20, 30, "0.12"),
    DemoBatch("Amoxicillin 500mg", "AMX-2705-B", 400, 100, "0.11"),
    DemoBatch("Metformin 500mg", "MET-2707-A", 300, 200, "0.04"),
    DemoBatch("Atorvastatin 20mg", "ATV-2709-A", 420, 90, "0.09"),
    DemoBatch("Metoprolol 50mg", "MTP-2708-A", 380, 120, "0.06"),
    DemoBatch("Azithromycin 500mg", "AZI-2702-A", 250, 30, "0.85"),
    DemoBatch("Doxycycline 100mg", "DOX-2612-A", 25, 40, "0.20"),
    DemoBatch("Lisinopril 10mg", "LIS-2710-A", 450, 60, "0.05"),
    # Below its reorder point: the pharmacy is alerted and may reorder.
    DemoBatch("Amlodipine 5mg", "AML-2706-A", 200, 5, "0.05"),
)
REORDER_POINTS = {"Amlodipine 5mg": 20, "Amoxicillin 500mg": 40, "Metformin 500mg": 50}
# "Close to expiry" in the demo: within this many days, what a visitor asks the
# inventory for (`GET /pharmacy/inventory?expiring_within_days=30`).
NEAR_EXPIRY_DAYS = 30

S = PrescriptionStatus
PRESCRIPTIONS = (
    # Left for the visitor: scan it, validate it, dispense half, then the rest (FEFO).
    DemoPrescription(
        "emma", "Amoxicillin 500mg", "500 mg", "capsule", 3, 7, 21, "Acute sinusitis", S.issued
    ),
    DemoPrescription(
        "lukas", "Metformin 500mg", "500 mg", "tablet", 2, 30, 60, "Type 2 diabetes", S.scanned
    ),
    DemoPrescription(
        "aylin", "Atorvastatin 20mg", "20 mg", "tablet", 1, 30, 30, "Hyperlipidaemia", S.validated
    ),
    DemoPrescription(
        "peter",
        "Metoprolol 50mg",
        "50 mg",
        "tablet",
        2,
        30,
        60,
        "Stable angina",
        S.partially_dispensed,
        refills=1,
    ),
    DemoPrescription(
        "grace", "Azithromycin 500mg", "500 mg", "tablet", 1, 3, 3, "Bronchitis", S.dispensed
    ),
    DemoPrescription(
        "maria", "Doxycycline 100mg", "100 mg", "capsule", 2, 7, 14, "Rosacea", S.rejected
    ),
    DemoPrescription(
        "thomas", "Lisinopril 10mg", "10 mg", "tablet", 1, 30, 30, "Hypertension", S.cancelled
    ),
    DemoPrescription(
        "ivan", "Amlodipine 5mg", "5 mg", "tablet", 1, 30, 30, "Hypertension", S.expired
    ),
)


@dataclass
class PharmacyCast:
    organization_id: uuid.UUID
    admin: Principal
    pharmacists: list[Principal]


def pharmacy_credentials() -> list[Credential]:
    return [
        Credential(PHARMACY_ADMIN[0], DEMO_PASSWORD, "admin", PHARMACY_NAME),
        *(
            Credential(email, DEMO_PASSWORD, "pharmacist", PHARMACY_NAME)
            for email, _ in PHARMACISTS
        ),
    ]


async def seed_pharmacy(run: SeedRun, cast: Cast) -> PharmacyCast:
    """The pharmacy, its admin and pharmacists, and its stock."""
    operator = cast.principals["superadmin"]
    tally = run.report.tallies["pharmacies"]
    async with run.database.unit_of_work() as session:
        await set_system_context(session)
        organization = await tenants.find_by_slug(session, PHARMACY_SLUG)
        if organization is None:
            await act_as(session, operator)
            organization, admin_user = await tenants.provision_tenant(
                session,
                run.hasher,
                operator,
                TenantCreate(
                    name=PHARMACY_NAME,
                    kind="pharmacy",
                    slug=PHARMACY_SLUG,
                    admin=TenantAdmin(
                        email=PHARMACY_ADMIN[0],
                        password=DEMO_PASSWORD,
                        full_name=PHARMACY_ADMIN[1],
                    ),
                ),
            )
            tally.created += 1
        else:
            found = await users.find_by_email(session, PHARMACY_ADMIN[0])
            assert found is not None, "the demo pharmacy exists without its admin"
            admin_user = found
            tally.existing += 1
        admin = principal_of(admin_user)
        pharmacists: list[Principal] = []
        for email, full_name in PHARMACISTS:
            await set_system_context(session)
            user = await users.find_by_email(session, email)
            if user is None:
                await act_as(session, admin)
                user = await members.create_member(
                    session,
                    run.hasher,
                    admin,
                    MemberCreate(
                        email=email,
                        password=DEMO_PASSWORD,
                        full_name=full_name,
                        role=Role.pharmacist,
                    ),
                )
            pharmacists.append(principal_of(user))
    pharmacy = PharmacyCast(organization.id, admin, pharmacists)
    await _seed_stock(run, pharmacy)
    return pharmacy


async def _product_ids(run: SeedRun, names: set[str]) -> dict[str, uuid.UUID]:
    async with run.database.unit_of_work() as session:
        await set_system_context(session)
        return await product_ids(session, sorted(names))


async def _seed_stock(run: SeedRun, pharmacy: PharmacyCast) -> None:
    tally = run.report.tallies["stock batches"]
    products = await _product_ids(run, {batch.product for batch in BATCHES})
    keeper = pharmacy.pharmacists[0]
    today = datetime.now(UTC).date()
    for done, batch in enumerate(BATCHES, start=1):
        async with run.database.unit_of_work() as session:
            await act_as(session, keeper)
            if await _has_batch(session, products[batch.product], batch.batch_number):
                tally.existing += 1
            else:
                await stock.receive(
                    session,
                    keeper,
                    StockReceive(
                        product_id=products[batch.product],
                        batch_number=batch.batch_number,
                        expiry_date=today + timedelta(days=batch.expires_in_days),
                        quantity=batch.quantity,
                        unit_cost=Decimal(batch.unit_cost),
                        currency="EUR",
                    ),
                )
                tally.created += 1
        run.progress(STOCKING, done, len(BATCHES))
    async with run.database.unit_of_work() as session:
        await act_as(session, keeper)
        for name, point in REORDER_POINTS.items():
            await stock.set_reorder_point(
                session, keeper, products[name], ReorderPointUpdate(reorder_point=point)
            )


async def _has_batch(session: AsyncSession, product_id: uuid.UUID, batch_number: str) -> bool:
    found = await session.execute(
        text(
            "SELECT 1 FROM pharmacy_batches WHERE product_id = :product AND batch_number = :batch"
        ),
        {"product": product_id, "batch": batch_number},
    )
    return found.first() is not None


async def seed_prescriptions(run: SeedRun, clinic: Clinic, pharmacy: PharmacyCast) -> None:
    """One prescription per status, written by the demo doctor and taken through the
    pharmacy's counter as far as its status says."""
    tally = run.report.tallies["prescriptions"]
    doctor = clinic.doctors[DEMO_DOCTOR]
    async with run.database.unit_of_work() as session:
        await set_system_context(session)
        existing = (
            await session.execute(
                select(func.count())
                .select_from(Prescription)
                .where(Prescription.doctor_id == doctor.user_id)
            )
        ).scalar_one()
    if existing:
        tally.existing += int(existing)
        run.report.tallies["dispensations"].existing += await _dispensations_of(run, doctor)
        run.progress(PRESCRIBING, len(PRESCRIPTIONS), len(PRESCRIPTIONS))
        return
    products = await _product_ids(run, {demo.product for demo in PRESCRIPTIONS})
    charts = {chart.key: chart for chart in STORY_CHARTS}
    for done, demo in enumerate(PRESCRIPTIONS, start=1):
        assert charts[demo.patient].organization == _organization_key(doctor, clinic)
        numbered = await issuing.new_number(run.database)
        async with run.database.unit_of_work() as session:
            await act_as(session, doctor)
            prescription, _ = await issuing.write_prescription(
                session,
                doctor,
                run.settings,
                PrescriptionCreate(
                    patient_id=clinic.charts[demo.patient],
                    diagnosis=demo.diagnosis,
                    items=[
                        ItemCreate(
                            medicine_name=demo.product,
                            product_id=products[demo.product],
                            strength=demo.strength,
                            form=demo.form,
                            frequency=Frequency(times_per_day=demo.times_per_day),
                            duration_days=demo.duration_days,
                            quantity=demo.quantity,
                            refills=demo.refills,
                        )
                    ],
                ),
                numbered,
            )
            prescription_id = prescription.id
            token = prescription.qr_token
        await _counter(run, clinic, pharmacy, demo, prescription_id=prescription_id, token=token)
        tally.created += 1
        run.progress(PRESCRIBING, done, len(PRESCRIPTIONS))


async def _dispensations_of(run: SeedRun, doctor: Principal) -> int:
    async with run.database.unit_of_work() as session:
        await set_system_context(session)
        found = await session.execute(
            select(func.count())
            .select_from(Dispensation)
            .join(Prescription, Prescription.id == Dispensation.prescription_id)
            .where(Prescription.doctor_id == doctor.user_id)
        )
        return int(found.scalar_one())


def _organization_key(doctor: Principal, clinic: Clinic) -> str:
    return next(key for key, id_ in clinic.organizations.items() if id_ == doctor.organization_id)


async def _counter(
    run: SeedRun,
    clinic: Clinic,
    pharmacy: PharmacyCast,
    demo: DemoPrescription,
    *,
    prescription_id: uuid.UUID,
    token: str,
) -> None:
    """Take the prescription as far as `demo.status` says, as the people would."""
    pharmacist = pharmacy.pharmacists[0]
    settings = run.settings
    dispensations = run.report.tallies["dispensations"]

    if demo.status is S.cancelled:
        async with run.database.unit_of_work() as session:
            doctor = clinic.doctors[DEMO_DOCTOR]
            await act_as(session, doctor)
            await lifecycle.cancel(
                session, doctor, prescription_id, "Switched to another medicine", settings
            )
        return
    if demo.status is S.expired:
        # Written 31 days ago with the default 30-day validity: the expiry sweep closes it.
        async with run.database.unit_of_work() as session:
            await set_system_context(session)
            await session.execute(
                text(
                    "UPDATE prescriptions SET issued_at = issued_at - interval '31 days',"
                    " expires_at = expires_at - interval '31 days' WHERE id = :id"
                ),
                {"id": prescription_id},
            )
        await lifecycle.expire_due(run.database)
        return
    if demo.status is S.issued:
        return
    async with run.database.unit_of_work() as session:
        await act_as(session, pharmacist)
        await dispensing.scan(session, pharmacist, run.database, settings, token)
    if demo.status is S.scanned:
        return
    async with run.database.unit_of_work() as session:
        await act_as(session, pharmacist)
        if demo.status is S.rejected:
            await dispensing.reject(
                session,
                pharmacist,
                prescription_id,
                "Interaction with the patient's current isotretinoin treatment",
            )
            dispensations.created += 1
            return
        answer = await dispensing.validate(session, pharmacist, prescription_id)
    if demo.status is S.validated:
        return
    item_id = answer["prescription"]["items"][0]["id"]
    quantity = demo.quantity if demo.status is S.dispensed else demo.quantity // 2
    async with run.database.unit_of_work() as session:
        await act_as(session, pharmacist)
        await dispensing.dispense(
            session,
            pharmacist,
            settings,
            prescription_id,
            DispenseRequest(
                items=[DispenseLine(item_id=item_id, quantity=quantity, unit_price=None)]
            ),
        )
    dispensations.created += 1
