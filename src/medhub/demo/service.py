"""Seeding the MedPharm demo: people, catalog, orders and inquiries, through the same
services as the API (so stock movements, audit rows, notifications and emails exist
exactly as if people had clicked through the flows).

Idempotent by natural keys: users by email, addresses by type and street, products
by manufacturer code, certificates by number, orders by buyer and notes, inquiries by
email and subject. A second run finds everything and creates nothing.

Each step runs in its own short unit of work (the catalog in chunks of
`PRODUCT_CHUNK`), acting as the person who would do it in the app: the tenant
context is set for that user first, so row-level security applies as in a request.
An interrupted run leaves whole steps behind, and the next run completes the rest.

The clinical demo is `demo/clinical.py`, the pharmacy demo `demo/pharmacy.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.catalog import certifications
from medhub.catalog import service as catalog
from medhub.catalog.schemas import CertificationCreate, ProductCreate
from medhub.config import Settings
from medhub.demo import clinical, pharmacy
from medhub.demo.common import (
    Cast,
    Credential,
    Progress,
    SeedReport,
    SeedRun,
    Tally,
    act_as,
    principal_of,
    product_ids,
)
from medhub.demo.data import (
    CHARTS_PER_ORGANIZATION,
    DEMO_PASSWORD,
    INQUIRIES,
    ORDERS,
    PRODUCTS,
    USERS,
    DemoInquiry,
    DemoOrder,
    DemoProduct,
    DemoUser,
)
from medhub.inquiries import handling as inquiry_handling
from medhub.inquiries import submitting as inquiry_submitting
from medhub.inquiries.schemas import Conversion, InquiryCreate, MessageCreate, StatusUpdate
from medhub.kit.db import Database
from medhub.kit.errors import NotFound
from medhub.kit.security import PasswordHasher
from medhub.kit.tenancy import set_system_context
from medhub.models.catalog import ProductCertification
from medhub.models.identity import Address, OrganizationKind, User
from medhub.models.inquiries import Inquiry, InquiryStatus
from medhub.models.orders import Order, OrderStatus
from medhub.orders import lifecycle, placing
from medhub.orders.schemas import OrderStatusUpdate
from medhub.organizations import service as organizations
from medhub.users import service as users
from medhub.users.schemas import AddressCreate

PRODUCT_CHUNK = 50

# The stages reported to `on_progress`, in order.
PEOPLE = "Users"
CATALOG = "Products"
ORDERING = "Orders"
ASKING = "Inquiries"

# The staff member who moves orders along and answers inquiries no one was assigned.
ORDER_HANDLER = "sales1"
CATALOG_MANAGER = "admin"

ORDER_PATH = (
    OrderStatus.pending,
    OrderStatus.confirmed,
    OrderStatus.processing,
    OrderStatus.shipped,
    OrderStatus.delivered,
)
INQUIRY_PATH = (
    InquiryStatus.pending,
    InquiryStatus.in_progress,
    InquiryStatus.resolved,
    InquiryStatus.closed,
)


class SupplierMissing(NotFound):
    code = "SUPPLIER_NOT_FOUND"
    default_message = "The default supplier organization does not exist"


async def seed_demo(
    database: Database,
    settings: Settings,
    hasher: PasswordHasher,
    *,
    today: date | None = None,
    on_progress: Progress | None = None,
    charts_per_organization: int = CHARTS_PER_ORGANIZATION,
) -> SeedReport:
    """Create whatever of the demo is missing; report what was created and what was there.

    `charts_per_organization`: how many patient charts each care organization gets (the
    ones the demo's appointments are about are always there; made-up ones fill up to
    this number)."""
    run = SeedRun(
        database,
        settings,
        SeedReport(
            credentials=[
                *map(_credential, USERS),
                *clinical.clinical_credentials(),
                *pharmacy.pharmacy_credentials(),
            ]
        ),
        on_progress,
        hasher,
    )
    cast = await _seed_people(run, hasher)
    await _seed_catalog(run, cast, today or datetime.now(UTC).date())
    orders = await _seed_orders(run, cast)
    await _seed_inquiries(run, cast, orders)
    care = await clinical.seed_care_organizations(run, cast)
    await clinical.seed_doctors(run, care)
    await clinical.seed_charts(run, care, charts_per_organization)
    await clinical.seed_appointments(run, care)
    await clinical.seed_records(run, care)
    harbour = await pharmacy.seed_pharmacy(run, cast)
    await pharmacy.seed_prescriptions(run, care, harbour)
    return run.report


def _credential(user: DemoUser) -> Credential:
    where = "MedPharm" if user.in_supplier else (user.company_name or "the whole platform")
    return Credential(user.email, DEMO_PASSWORD, user.role.value, where)


# People


async def _seed_people(run: SeedRun, hasher: PasswordHasher) -> Cast:
    report = run.report
    tally = report.tallies["users"]
    async with run.database.unit_of_work() as session:
        await set_system_context(session)
        slug = run.settings.DEFAULT_SUPPLIER_SLUG
        supplier = await organizations.by_slug(session, slug)
        if supplier is None or supplier.kind != OrganizationKind.supplier:
            raise SupplierMissing(
                f"No supplier organization has the slug {slug!r}: "
                "migrate the database first (`medhub db upgrade`)"
            )
        report.supplier_name, report.supplier_slug = supplier.name, supplier.slug
        cast = Cast(supplier_id=supplier.id)
        accounts: list[tuple[DemoUser, User]] = []
        for done, demo in enumerate(USERS, start=1):
            user = await users.find_by_email(session, demo.email)
            if user is None:
                user = await _create_user(session, hasher, demo, supplier.id)
                tally.created += 1
            else:
                tally.existing += 1
            cast.principals[demo.key] = principal_of(user)
            accounts.append((demo, user))
            run.progress(PEOPLE, done, len(USERS))
        for demo, user in accounts:
            await _seed_addresses(session, cast, demo, user, report.tallies["addresses"])
    return cast


async def _create_user(
    session: AsyncSession, hasher: PasswordHasher, demo: DemoUser, supplier_id: uuid.UUID
) -> User:
    user = await users.create_user(
        session,
        hasher,
        email=demo.email,
        password=DEMO_PASSWORD,
        full_name=demo.full_name,
        role=demo.role.value,
        organization_id=supplier_id if demo.in_supplier else None,
        company_name=demo.company_name,
        is_verified=True,
        is_approved=True,
    )
    audit.record(
        session,
        "user_created",
        organization_id=user.organization_id,
        entity_type="user",
        entity_id=user.id,
        metadata={"role": user.role, "via": "seed demo"},
    )
    return user


async def _seed_addresses(
    session: AsyncSession, cast: Cast, demo: DemoUser, user: User, tally: Tally
) -> None:
    if not demo.addresses:
        return
    principal = cast.principals[demo.key]
    # Addresses are the owner's rows (RLS): create them as the owner would.
    await act_as(session, principal)
    rows = (await session.scalars(select(Address).where(Address.user_id == user.id))).all()
    present = {(a.address_type, a.street_address): a.id for a in rows}
    for wanted in demo.addresses:
        address_id = present.get((wanted.address_type, wanted.street_address))
        if address_id is None:
            address = await users.create_address(
                session,
                principal,
                AddressCreate(
                    address_type=wanted.address_type,
                    street_address=wanted.street_address,
                    city=wanted.city,
                    state_province=wanted.state_province,
                    postal_code=wanted.postal_code,
                    country=wanted.country,
                    is_default=True,
                ),
            )
            address_id = address.id
            tally.created += 1
        else:
            tally.existing += 1
        book = cast.shipping if wanted.address_type == "shipping" else cast.billing
        book[demo.key] = address_id


# Catalog


async def _seed_catalog(run: SeedRun, cast: Cast, today: date) -> None:
    admin = cast.principals[CATALOG_MANAGER]
    total = len(PRODUCTS)
    for start in range(0, total, PRODUCT_CHUNK):
        chunk = PRODUCTS[start : start + PRODUCT_CHUNK]
        async with run.database.unit_of_work() as session:
            await act_as(session, admin)
            await _seed_products(run, session, admin, chunk, today)
        run.progress(CATALOG, start + len(chunk), total)


async def _seed_products(
    run: SeedRun,
    session: AsyncSession,
    admin: Principal,
    chunk: Sequence[DemoProduct],
    today: date,
) -> None:
    tallies = run.report.tallies
    products, certificates = tallies["products"], tallies["certifications"]
    found = await catalog.products_by_codes(session, [p.manufacturer_code for p in chunk])
    ids: dict[str, uuid.UUID] = {}
    for demo in chunk:
        existing = found.get(demo.manufacturer_code.lower())
        if existing is not None:
            ids[demo.manufacturer_code] = existing.id
            products.existing += 1
            continue
        created = await catalog.create_product(session, admin, run.settings, _product_create(demo))
        ids[demo.manufacturer_code] = created.id
        products.created += 1
    have = await _certificate_numbers(session, list(ids.values()))
    for demo in chunk:
        product_id = ids[demo.manufacturer_code]
        for cert in demo.certifications:
            if (product_id, cert.certificate_number) in have:
                certificates.existing += 1
                continue
            await certifications.add_certification(
                session,
                admin,
                product_id,
                CertificationCreate(
                    type=cert.certification_type,
                    certificate_number=cert.certificate_number,
                    issue_date=today - timedelta(days=cert.issued_days_ago),
                    expiry_date=today + timedelta(days=cert.expires_in_days),
                    certificate_url=(
                        f"https://certificates.medpharm.demo/{cert.certificate_number}.pdf"
                    ),
                ),
            )
            certificates.created += 1


def _product_create(demo: DemoProduct) -> ProductCreate:
    return ProductCreate(
        name=demo.name,
        category=demo.category,
        description=demo.description,
        dosage=demo.dosage,
        packaging=demo.packaging,
        indication=demo.indication,
        manufacturer_code=demo.manufacturer_code,
        price=demo.price,
        distributor_price=demo.distributor_price,
        stock_quantity=demo.stock_quantity,
        min_order_quantity=demo.min_order_quantity,
        low_stock_threshold=demo.low_stock_threshold,
    )


async def _certificate_numbers(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> set[tuple[uuid.UUID, str | None]]:
    rows = await session.execute(
        select(ProductCertification.product_id, ProductCertification.certificate_number).where(
            ProductCertification.product_id.in_(product_ids)
        )
    )
    return {(product_id, number) for product_id, number in rows.all()}


# Orders


async def _seed_orders(run: SeedRun, cast: Cast) -> dict[str, uuid.UUID]:
    """Place the demo orders and move them along; returns their ids by notes."""
    tally = run.report.tallies["orders"]
    ids: dict[str, uuid.UUID] = {}
    for done, demo in enumerate(ORDERS, start=1):
        buyer = cast.principals[demo.buyer]
        async with run.database.unit_of_work() as session:
            await act_as(session, buyer)
            existing = await session.scalar(
                select(Order.id)
                .where(Order.user_id == buyer.user_id, Order.notes == demo.notes)
                .limit(1)
            )
            if existing is not None:
                ids[demo.notes] = existing
                tally.existing += 1
            else:
                ids[demo.notes] = await _place(session, run.settings, cast, demo)
                tally.created += 1
        run.progress(ORDERING, done, len(ORDERS))
    return ids


async def _place(
    session: AsyncSession, settings: Settings, cast: Cast, demo: DemoOrder
) -> uuid.UUID:
    buyer = cast.principals[demo.buyer]
    ids = await product_ids(session, [line.product for line in demo.lines])
    minimums = {p.name: p.min_order_quantity for p in PRODUCTS}
    order = await placing.create_order(
        session,
        buyer,
        settings,
        [
            placing.RequestedLine(
                ids[line.product],
                max(line.quantity, minimums[line.product]),
                f"items[{index}]",
            )
            for index, line in enumerate(demo.lines)
        ],
        shipping_address_id=cast.shipping[demo.buyer],
        billing_address_id=cast.billing.get(demo.buyer),
        notes=demo.notes,
    )
    staff = cast.principals[ORDER_HANDLER]
    await act_as(session, staff)
    for status in _order_steps(demo.status):
        shipped = status == OrderStatus.shipped
        update = OrderStatusUpdate.model_validate(
            {
                "status": status.value,
                "tracking_number": demo.tracking_number if shipped else None,
                "carrier": demo.carrier if shipped else None,
                "note": "Duplicate of an order placed by phone"
                if status == OrderStatus.cancelled
                else None,
            }
        )
        await lifecycle.change_status(session, staff, order.id, update)
    return order.id


def _order_steps(target: OrderStatus) -> list[OrderStatus]:
    """The staff's moves from pending to `target`."""
    if target == OrderStatus.cancelled:
        return [OrderStatus.cancelled]
    return list(ORDER_PATH[1 : ORDER_PATH.index(target) + 1])


# Inquiries


async def _seed_inquiries(run: SeedRun, cast: Cast, orders: dict[str, uuid.UUID]) -> None:
    tally = run.report.tallies["inquiries"]
    emails = {u.key: u.email for u in USERS}
    for done, demo in enumerate(INQUIRIES, start=1):
        email = demo.email or emails[demo.requester]
        async with run.database.unit_of_work() as session:
            # Inquiries are scoped by their service, not by RLS; the system context
            # finds one whoever asked it.
            await set_system_context(session)
            existing = await session.scalar(
                select(Inquiry.id)
                .where(Inquiry.email == email, Inquiry.subject == demo.subject)
                .limit(1)
            )
            if existing is not None:
                tally.existing += 1
            else:
                await _ask(session, run.settings, cast, orders, demo)
                tally.created += 1
        run.progress(ASKING, done, len(INQUIRIES))


def _requester(cast: Cast, demo: DemoInquiry) -> Principal | None:
    if demo.requester == "guest":
        return None
    if demo.requester == "phone":
        # Staff log a caller's request themselves; only they may mark it urgent.
        return cast.principals[ORDER_HANDLER]
    return cast.principals[demo.requester]


async def _ask(
    session: AsyncSession,
    settings: Settings,
    cast: Cast,
    orders: dict[str, uuid.UUID],
    demo: DemoInquiry,
) -> None:
    requester = _requester(cast, demo)
    product_id = None
    if demo.product is not None:
        product_id = (await product_ids(session, [demo.product]))[demo.product]
    await act_as(session, requester)
    inquiry = await inquiry_submitting.submit_inquiry(
        session,
        requester,
        InquiryCreate(
            name=demo.name,
            email=demo.email,
            company=demo.company,
            subject=demo.subject,
            message=demo.message,
            product_id=product_id,
            priority=demo.priority,
        ),
        default_supplier_slug=settings.DEFAULT_SUPPLIER_SLUG,
    )
    staff = cast.by_user_id(inquiry.assigned_to) or cast.principals[ORDER_HANDLER]
    await act_as(session, staff)
    if demo.response is not None:
        # An answer moves a pending inquiry to in progress by itself.
        await inquiry_handling.add_message(
            session, staff, inquiry.id, MessageCreate(body=demo.response)
        )
    if demo.order is not None:
        # Conversion resolves the inquiry.
        await inquiry_handling.convert_inquiry(
            session, staff, inquiry.id, Conversion(order_id=orders[demo.order])
        )
    current = INQUIRY_PATH.index(InquiryStatus(inquiry.status))
    for status in INQUIRY_PATH[current + 1 : INQUIRY_PATH.index(demo.status) + 1]:
        await inquiry_handling.update_status(
            session, staff, inquiry.id, StatusUpdate(status=status)
        )
