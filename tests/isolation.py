"""Two of everything, for the isolation half of the access matrix (tests/test_access_isolation.py).

Side A and side B each get a supplier, a hospital and a pharmacy, staff of every role
those kinds employ (two per role on side A, one on side B), two customers and two
patients on side A (one each on side B), and one row of every entity the route table's
`{..._id}` parameters address, made through the API as a user would (factories only
where the API has no way: accounts, organizations, notifications, a completed visit).

Callers are named `role@kind.A1` (staff: role, organization kind, side, number) or
`role.A1` (people without an organization); `super_admin` is the platform's one.

`secrets[side]` holds every string that identifies the side (row, user, session and
organization ids, emails, the unique token in each person's and organization's name;
not the names of products and reviews, which the public catalog and directory show):
another tenant's response must contain none of them. The tokens start with "Zq",
which no UUID or hex digest contains, so a match is never a coincidence.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from medhub.models.identity import OrganizationKind, Role
from tests import commerce
from tests.appointments.helpers import berlin, booked, every_day, in_days
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory
from tests.notifications.helpers import send
from tests.reviews.helpers import appointment_with, reviewed

API = "/api/v1"
SIDES = ("A", "B")
# Side A has two accounts of every role (the second one is "another user of the same
# role"), side B one (the same role in another organization).
PER_SIDE = {"A": 2, "B": 1}
KINDS = (OrganizationKind.supplier, OrganizationKind.hospital, OrganizationKind.pharmacy)
# The roles each kind of organization employs, as far as the table's routes need them.
STAFF: dict[OrganizationKind, tuple[Role, ...]] = {
    OrganizationKind.supplier: (Role.admin, Role.sales, Role.distributor),
    OrganizationKind.hospital: (Role.admin, Role.doctor),
    OrganizationKind.pharmacy: (Role.admin, Role.pharmacist),
}
# People without an organization: "side A" is whom side A's rows belong to.
UNAFFILIATED = (Role.customer, Role.patient)
SUPER_ADMIN = "super_admin"
# The API keys made on each side, by label: (organization kind, the role a key acts as).
KEY_ROLES: dict[str, tuple[OrganizationKind, Role]] = {
    "hospital-admin": (OrganizationKind.hospital, Role.admin),
    "hospital-doctor": (OrganizationKind.hospital, Role.doctor),
    "supplier-sales": (OrganizationKind.supplier, Role.sales),
    "pharmacy-pharmacist": (OrganizationKind.pharmacy, Role.pharmacist),
}


# A prescription's one line (free text: no catalog product, no stock needed).
_ITEM: dict[str, Any] = {
    "medicine_name": "Amoxicillin",
    "strength": "500 mg",
    "form": "capsule",
    "frequency": {"times_per_day": 3, "text": "three times daily"},
    "duration_days": 7,
    "quantity": 21,
}


def staff_name(role: Role | str, kind: OrganizationKind | str, side: str, n: int = 1) -> str:
    return f"{Role(role).value}@{OrganizationKind(kind).value}.{side}{n}"


def person_name(role: Role | str, side: str, n: int = 1) -> str:
    return f"{Role(role).value}.{side}{n}"


def side_of(caller: str) -> str | None:
    """ "A" or "B" for a caller of a side, None for the super admin."""
    return None if caller == SUPER_ADMIN else caller[-2]


def role_of(caller: str) -> Role:
    return Role(caller.split("@", 1)[0].split(".", 1)[0])


def token() -> str:
    """A string found nowhere else: "Zq" (never in a UUID or a hex digest) and 10 hex digits."""
    return "Zq" + uuid.uuid4().hex[:10]


@dataclass
class IsolationWorld:
    accounts: dict[str, Account]
    # side → entity (the path parameter that names it, e.g. "order_id") → its id.
    rows: dict[str, dict[str, str]]
    # side → strings that give away the side's rows, users or organizations.
    secrets: dict[str, frozenset[str]]
    # caller → strings that name the caller and its organization (in its own answers).
    own: dict[str, frozenset[str]]
    # caller → ids of rows that are the caller's alone (address, orders, appointments...).
    personal: dict[str, frozenset[str]]
    # f"{label}.{side}" (label of KEY_ROLES) → the API key.
    keys: dict[str, str]
    # f"{side}.order" / f"{side}.appointment": the order's total and the appointment's
    # fee (what the mark-paid routes must be told).
    amounts: dict[str, str]


@dataclass
class _Side:
    """What one side's builder collects."""

    name: str
    accounts: dict[str, Account] = field(default_factory=dict)
    rows: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    own: dict[str, set[str]] = field(default_factory=dict)
    personal: dict[str, set[str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    amounts: dict[str, str] = field(default_factory=dict)
    # caller → their address; caller → their notification.
    addresses: dict[str, str] = field(default_factory=dict)
    notifications: dict[str, str] = field(default_factory=dict)

    def add_row(self, entity: str | None, row_id: Any, *owners: str) -> str:
        """Note a row of this side (as the id of `entity`, when given), the personal row
        of `owners`."""
        value = str(row_id)
        if entity is not None:
            assert entity not in self.rows, entity
            self.rows[entity] = value
        self.secrets.add(value)
        for owner in owners:
            self.personal.setdefault(owner, set()).add(value)
        return value


async def _account(
    client: httpx.AsyncClient,
    factory: Factory,
    side: _Side,
    caller: str,
    *,
    role: Role,
    organization: tuple[uuid.UUID, str] | None,
) -> Account:
    name_token = token()
    full_name = f"{role.value.title()} {name_token}"
    organization_id = organization[0] if organization else None
    if role is Role.doctor:
        account = await doctor_with_profile(
            client,
            factory,
            organization_id,
            full_name=full_name,
            availability=every_day(),
            license_number=f"LIC-{name_token}",
        )
    else:
        account = await factory.user(
            role.value, organization_id=organization_id, full_name=full_name
        )
    if role is Role.patient:
        # What booking needs to make the chart.
        data(
            await client.put(
                f"{API}/patients/profile",
                json={"date_of_birth": "1985-02-03"},
                headers=account.headers,
            )
        )
    side.accounts[caller] = account
    mine = {account.email, name_token, str(account.id)}
    if organization:
        mine.update({str(organization[0]), organization[1]})
    side.own[caller] = mine
    side.secrets.update(mine)
    side.personal[caller] = {account.email}
    side.add_row(None, await _current_session(client, account), caller)
    # Personal rows of every account, so that every "own" list has something to show.
    side.addresses[caller] = side.add_row(None, await commerce.address(client, account), caller)
    notification = await send(factory.app, account.id, title=f"Note {token()}")
    assert notification is not None
    side.notifications[caller] = side.add_row(None, notification.id, caller)
    return account


async def _build_side(client: httpx.AsyncClient, factory: Factory, name: str) -> _Side:
    side = _Side(name)
    count = PER_SIDE[name]
    organizations: dict[OrganizationKind, tuple[uuid.UUID, str]] = {}
    for kind in KINDS:
        org_token = token()
        organization = await factory.organization(kind, name=f"{kind.value.title()} {org_token}")
        organizations[kind] = (organization.id, org_token)
        side.secrets.update({str(organization.id), org_token})
    for kind, roles in STAFF.items():
        for role in roles:
            for n in range(1, count + 1):
                caller = staff_name(role, kind, name, n)
                await _account(
                    client, factory, side, caller, role=role, organization=organizations[kind]
                )
    for role in UNAFFILIATED:
        for n in range(1, count + 1):
            await _account(
                client, factory, side, person_name(role, name, n), role=role, organization=None
            )
    acc = side.accounts

    # --- the supplier: a product with a certification and a stock movement, a
    # withdrawn product, and a customer's order and inquiry ------------------------------
    supplier_admin = acc[staff_name(Role.admin, OrganizationKind.supplier, name)]
    product = await commerce.product(client, supplier_admin, name=f"Product {token()}")
    side.add_row("product_id", product["id"])
    certification = data(
        await client.post(
            f"{API}/products/{product['id']}/certifications",
            json={"type": "ISO", "issue_date": "2024-01-01", "expiry_date": "2035-01-01"},
            headers=supplier_admin.headers,
        ),
        201,
    )
    side.add_row("certification_id", certification["id"])
    data(
        await client.post(
            f"{API}/products/{product['id']}/stock-adjustments",
            json={"quantity": 5, "reason": "recount"},
            headers=supplier_admin.headers,
        ),
        201,
    )
    withdrawn = await commerce.product(client, supplier_admin, name=f"Withdrawn {token()}")
    data(await client.delete(f"{API}/products/{withdrawn['id']}", headers=supplier_admin.headers))
    side.add_row("withdrawn_product_id", withdrawn["id"])
    withdrawn_certification = data(
        await client.post(
            f"{API}/products/{withdrawn['id']}/certifications",
            json={"type": "FDA", "issue_date": "2024-01-01", "expiry_date": "2035-01-01"},
            headers=supplier_admin.headers,
        ),
        201,
    )
    side.add_row("withdrawn_certification_id", withdrawn_certification["id"])

    customer_name = person_name(Role.customer, name)
    customer = acc[customer_name]
    # The customer's rows are what the routes of one's own address and notifications
    # are tried on.
    side.rows["address_id"] = side.addresses[customer_name]
    side.rows["notification_id"] = side.notifications[customer_name]
    buyer = commerce.Buyer(customer, side.rows["address_id"])
    order = data(await commerce.place(client, buyer, [(product["id"], 2)]), 201)
    side.add_row("order_id", order["id"], customer_name)
    side.amounts["order"] = str(order["total_amount"])
    inquiry = data(
        await client.post(
            f"{API}/inquiries",
            json={
                "subject": f"Bulk {token()}",
                "message": "We need 5000 units.",
                "product_id": product["id"],
            },
            headers=customer.headers,
        ),
        201,
    )
    side.add_row("inquiry_id", inquiry["inquiry_id"], customer_name)
    # A second login session of the customer: the one the owner ends in the test.
    first_session = await _current_session(client, customer)
    await factory.login(customer)
    side.add_row("session_id", first_session, customer_name)
    side.add_row("current_session_id", await _current_session(client, customer), customer_name)

    # --- the hospital: appointments (which make the patients' charts), a visit the
    # patient reviewed, a consultation, a record and a prescription -------------------
    doctor_name = staff_name(Role.doctor, OrganizationKind.hospital, name)
    doctor = acc[doctor_name]
    patient_name = person_name(Role.patient, name)
    patient = acc[patient_name]
    day = in_days(10)
    appointment = await booked(client, patient, berlin(day, "06:00"), doctor, reason="Cough")
    side.add_row("appointment_id", appointment["id"], patient_name, doctor_name)
    side.amounts["appointment"] = str(appointment["fee"])
    chart_id = side.add_row("patient_id", appointment["patient_id"], patient_name)
    visit = await appointment_with(client, factory, patient, doctor, slot=2)
    side.personal[patient_name].add(visit)
    side.personal[doctor_name].add(visit)
    side.secrets.add(visit)
    review = await reviewed(client, patient, doctor, visit, comment=f"Kind {token()}")
    side.add_row("review_id", review["id"], patient_name)
    # Reported by the side's customer: the hospital's admins' moderation list has it.
    data(
        await client.post(
            f"{API}/reviews/{review['id']}/report",
            json={"reason": "Looks paid for"},
            headers=acc[customer_name].headers,
        ),
        201,
    )
    for n in range(2, count + 1):
        # The second patient, with a chart of its own at the same hospital (booked with
        # the second doctor).
        other_patient = person_name(Role.patient, name, n)
        other_doctor = staff_name(Role.doctor, OrganizationKind.hospital, name, n)
        theirs = await booked(
            client, acc[other_patient], berlin(day, "08:00"), acc[other_doctor], reason="Rash"
        )
        side.add_row("other_appointment_id", theirs["id"], other_patient, other_doctor)
        side.add_row("other_patient_id", theirs["patient_id"], other_patient)
    consultation = data(
        await client.post(
            f"{API}/consultations",
            json={"patient_id": chart_id, "type": "in_person", "chief_complaint": "Cough"},
            headers=doctor.headers,
        ),
        201,
    )
    side.add_row("consultation_id", consultation["id"], patient_name)
    record = data(
        await client.post(
            f"{API}/patients/{chart_id}/records",
            json={
                "kind": "allergy",
                "recorded_on": "2024-03-01",
                "title": f"Allergy {token()}",
                "content": "Penicillin",
            },
            headers=doctor.headers,
        ),
        201,
    )
    side.add_row("record_id", record["id"], patient_name)
    prescription = data(
        await client.post(
            f"{API}/doctors/prescriptions",
            json={
                "patient_id": chart_id,
                "diagnosis": "Acute sinusitis",
                "items": [_ITEM],
            },
            headers=doctor.headers,
        ),
        201,
    )
    side.add_row("prescription_id", prescription["id"], patient_name)
    # A second one, dispensed by the side's pharmacist: the pharmacy's history has it.
    pharmacist = acc[staff_name(Role.pharmacist, OrganizationKind.pharmacy, name)]
    dispensed = data(
        await client.post(
            f"{API}/doctors/prescriptions",
            json={"patient_id": chart_id, "diagnosis": "Otitis", "items": [_ITEM]},
            headers=doctor.headers,
        ),
        201,
    )
    side.add_row(None, dispensed["id"], patient_name)
    data(
        await client.post(
            f"{API}/pharmacy/scan",
            json={"qr_data": dispensed["verification_url"]},
            headers=pharmacist.headers,
        )
    )
    data(
        await client.post(f"{API}/pharmacy/validate/{dispensed['id']}", headers=pharmacist.headers)
    )
    line = {
        "item_id": dispensed["items"][0]["id"],
        "quantity": 21,
        "batch_number": "B-1",
        "expiry_date": "2099-01-01",
        "unit_price": "0.50",
    }
    data(
        await client.post(
            f"{API}/pharmacy/dispense/{dispensed['id']}",
            json={"items": [line]},
            headers=pharmacist.headers,
        )
    )
    side.rows["doctor_id"] = side.rows["user_id"] = str(doctor.id)

    # --- the pharmacy: a batch of the supplier's product in stock ----------------------
    data(
        await client.post(
            f"{API}/pharmacy/inventory/receive",
            json={
                "product_id": product["id"],
                "batch_number": f"LOT-{name}-1",
                "expiry_date": (day + timedelta(days=400)).isoformat(),
                "quantity": 30,
                "unit_cost": "2.40",
            },
            headers=pharmacist.headers,
        ),
        201,
    )
    item = data(
        await client.get(f"{API}/pharmacy/inventory/{product['id']}", headers=pharmacist.headers)
    )
    side.add_row("batch_id", item["batches"][0]["id"])

    # --- API keys: one per label, minted by the organization's admin --------------------
    for label, (kind, role) in KEY_ROLES.items():
        admin = acc[staff_name(Role.admin, kind, name)]
        created = data(
            await client.post(
                f"{API}/api-keys",
                json={"name": f"{label} {token()}", "role": role.value},
                headers=admin.headers,
            ),
            201,
        )
        side.keys[label] = created["key"]
        # The first (the hospital's admin key) is the one the key routes are tried on.
        side.add_row(None if "key_id" in side.rows else "key_id", created["id"])
    return side


async def _current_session(client: httpx.AsyncClient, account: Account) -> str:
    sessions = data(await client.get(f"{API}/auth/sessions", headers=account.headers))
    rows = sessions["sessions"] if isinstance(sessions, dict) else sessions
    return str(next(row["id"] for row in rows if row["current"]))


async def build(client: httpx.AsyncClient, factory: Factory) -> IsolationWorld:
    sides = {name: await _build_side(client, factory, name) for name in SIDES}
    operator = await factory.user("super_admin", full_name=f"Operator {token()}")
    accounts: dict[str, Account] = {SUPER_ADMIN: operator}
    own: dict[str, frozenset[str]] = {SUPER_ADMIN: frozenset({operator.email, str(operator.id)})}
    personal: dict[str, frozenset[str]] = {SUPER_ADMIN: frozenset()}
    keys: dict[str, str] = {}
    amounts: dict[str, str] = {}
    for name, side in sides.items():
        amounts.update({f"{name}.{what}": amount for what, amount in side.amounts.items()})
        accounts.update(side.accounts)
        own.update({caller: frozenset(strings) for caller, strings in side.own.items()})
        personal.update({caller: frozenset(ids) for caller, ids in side.personal.items()})
        keys.update({f"{label}.{name}": key for label, key in side.keys.items()})
    return IsolationWorld(
        accounts=accounts,
        rows={name: dict(side.rows) for name, side in sides.items()},
        secrets={name: frozenset(side.secrets) for name, side in sides.items()},
        own=own,
        personal=personal,
        keys=keys,
        amounts=amounts,
    )
