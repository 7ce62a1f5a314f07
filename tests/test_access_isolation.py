"""The isolation half of the access matrix (issue 13): rows in two tenants, callers of
every role on both sides, and what each caller reaches, driven by authz/routes.py.

tests/test_access_matrix.py proves who passes a route's door (anonymous 401, a wrong
role 403, CSRF). This module proves which rows an allowed caller then reaches, on the
world of tests/isolation.py (two suppliers, hospitals and pharmacies; every role twice
on side A, once on side B; one row of every entity, owned by side A's first account):

- Rows by id: for every table row with an id in its path and scope `own`,
  `organization` or `supplier`, the callers the row allows who are not the row's owners
  (the same role in organization B; for rows of one person, the second user of that
  role in A, and everyone else) get 404 (DESIGN.md: never 403 for another tenant's or
  someone else's row); then the owner (or, for reads, each of the owners) gets 2xx.
  Unsafe methods are sent with a valid body, so that a 400 cannot stand in for the
  ownership check, and only by one owner (the first call may change the row's state).
- Lists: every GET without an id, called as side B's account of each allowed role,
  shows none of side A's ids, emails or names; for routes of one's own rows, the second
  user of the role in A does not see the first one's rows either.
- API keys: the roles keys carry, on a sample of lists and rows: B's key sees none of
  A's rows (404 by id), A's key sees them.
- Every response is checked for leaks: no id, email or name token of the other side.

A route cannot escape: a test asserts every table row of those kinds is covered or
listed in an exclusion with its reason. Behaviour that breaks the rules above is a
finding: recorded in FINDINGS (route, caller, observed status), its case marked
xfail(strict=True, raises=Finding), so the suite stays green while it is visible and
goes red once it is fixed (the mark must then go) or if anything else breaks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from medhub.authz.dependencies import SAFE_METHODS
from medhub.authz.permissions import ROLES
from medhub.authz.routes import ROUTES, RouteAccess, route_key
from medhub.models.identity import OrganizationKind, Role
from tests.appointments.helpers import every_day, in_days
from tests.auth.helpers import mailed_code
from tests.conftest import world_fixture
from tests.factories import Account, Factory
from tests.isolation import (
    KEY_ROLES,
    PER_SIDE,
    STAFF,
    SUPER_ADMIN,
    UNAFFILIATED,
    IsolationWorld,
    build,
    person_name,
    role_of,
    side_of,
    staff_name,
)

V1 = "/api/v1"
PARAMETER = re.compile(r"\{(\w+)\}")
SUPPLIER = OrganizationKind.supplier
HOSPITAL = OrganizationKind.hospital
PHARMACY = OrganizationKind.pharmacy
Key = tuple[str, str]  # (method, path), as route_key gives it


@world_fixture
async def isolation_world(client: httpx.AsyncClient, factory: Factory) -> IsolationWorld:
    return await build(client, factory)


def route_id(access: RouteAccess) -> str:
    return f"{access.method} {access.path}"


def parameters(path: str) -> list[str]:
    return PARAMETER.findall(path)


# ------------------------------------------------------------------------- callers

# Every account of the world, by the roles the table knows.
SLOTS = [(side, n) for side, count in PER_SIDE.items() for n in range(1, count + 1)]
HOME: dict[Role, OrganizationKind] = {
    role: kind for kind, roles in reversed(STAFF.items()) for role in roles
}
HOME[Role.admin] = HOSPITAL


def accounts_of(role: Role) -> list[str]:
    """Every caller of `role` in the world (staff of every kind that employs it)."""
    if role is Role.super_admin:
        return [SUPER_ADMIN]
    if role in UNAFFILIATED:
        return [person_name(role, side, n) for side, n in SLOTS]
    return [
        staff_name(role, kind, side, n)
        for kind, roles in STAFF.items()
        if role in roles
        for side, n in SLOTS
    ]


def in_kind(role: Role, kind: OrganizationKind | None) -> list[str]:
    """The callers of `role` for rows of an organization of `kind`: its staff of both
    sides, the people of both sides, or (a role that kind does not employ) the role's
    first account on each side, a stranger to the row wherever it works."""
    if role is Role.super_admin:
        return [SUPER_ADMIN]
    if kind is None:
        return accounts_of(role)
    if role in UNAFFILIATED:
        return [person_name(role, side, n) for side, n in SLOTS]
    if role in STAFF[kind]:
        return [staff_name(role, kind, side, n) for side, n in SLOTS]
    return [staff_name(role, HOME[role], side) for side in PER_SIDE]


# ---------------------------------------------------------------- rows by id: the spec


@dataclass(frozen=True)
class Family:
    """Routes that address one of side A's rows, and who reaches it.

    `kind`: whose staff act on the row (None: a person's own row, tried by every
    account). `owners`: the callers that reach the row, in the order their calls are
    preferred (unsafe methods are sent by the first owner the route allows). Everyone
    else the route allows is a stranger: 404. `extra`: strangers from organizations of
    another kind (a hospital's row tried by a supplier's admin).
    """

    name: str
    pattern: str
    kind: OrganizationKind | None
    owners: tuple[str, ...]
    extra: tuple[str, ...] = ()

    def matches(self, path: str) -> bool:
        return re.match(self.pattern, path) is not None


def _a(role: Role, kind: OrganizationKind, n: int = 1) -> str:
    return staff_name(role, kind, "A", n)


OTHER_KIND_ADMINS = (_a(Role.admin, SUPPLIER), _a(Role.admin, PHARMACY))
CUSTOMER_A1 = person_name(Role.customer, "A")
PATIENT_A1 = person_name(Role.patient, "A")
DOCTOR_A1, DOCTOR_A2 = _a(Role.doctor, HOSPITAL), _a(Role.doctor, HOSPITAL, 2)
H_ADMIN_A1, H_ADMIN_A2 = _a(Role.admin, HOSPITAL), _a(Role.admin, HOSPITAL, 2)
S_ADMIN_A1, S_ADMIN_A2 = _a(Role.admin, SUPPLIER), _a(Role.admin, SUPPLIER, 2)
SALES_A1, SALES_A2 = _a(Role.sales, SUPPLIER), _a(Role.sales, SUPPLIER, 2)
P_ADMIN_A1, P_ADMIN_A2 = _a(Role.admin, PHARMACY), _a(Role.admin, PHARMACY, 2)
PHARMACIST_A1, PHARMACIST_A2 = _a(Role.pharmacist, PHARMACY), _a(Role.pharmacist, PHARMACY, 2)

# First match wins: records before charts.
FAMILIES: tuple[Family, ...] = (
    # One person's rows (customer A1's address, notification, other login session).
    Family(
        "personal",
        rf"^{V1}/(users/addresses|auth/sessions|notifications)/\{{",
        None,
        (CUSTOMER_A1,),
    ),
    # Hospital A's doctor as a member of the organization.
    Family(
        "members",
        rf"^{V1}/admin/users/\{{",
        HOSPITAL,
        (H_ADMIN_A1, H_ADMIN_A2, SUPER_ADMIN),
        OTHER_KIND_ADMINS,
    ),
    Family(
        "api keys", rf"^{V1}/api-keys/\{{", HOSPITAL, (H_ADMIN_A1, H_ADMIN_A2), OTHER_KIND_ADMINS
    ),
    Family("products", rf"^{V1}/products/\{{", SUPPLIER, (S_ADMIN_A1, S_ADMIN_A2, SUPER_ADMIN)),
    # Customer A1's inquiry to supplier A and order from it.
    Family(
        "inquiries",
        rf"^{V1}/inquiries/\{{",
        SUPPLIER,
        (SALES_A1, CUSTOMER_A1, S_ADMIN_A1, SALES_A2, S_ADMIN_A2, SUPER_ADMIN),
    ),
    Family(
        "orders",
        rf"^{V1}/orders/\{{",
        SUPPLIER,
        (CUSTOMER_A1, SALES_A1, S_ADMIN_A1, SALES_A2, S_ADMIN_A2, SUPER_ADMIN),
    ),
    # Patient A1's chart at hospital A, and what is written in it.
    Family(
        "records",
        rf"^{V1}/patients/\{{patient_id\}}/records",
        HOSPITAL,
        (DOCTOR_A1, DOCTOR_A2, PATIENT_A1),
    ),
    Family(
        "charts",
        rf"^{V1}/(patients|doctors/patients)/\{{patient_id\}}",
        HOSPITAL,
        (H_ADMIN_A1, DOCTOR_A1, H_ADMIN_A2, DOCTOR_A2),
        OTHER_KIND_ADMINS,
    ),
    Family(
        "consultations",
        rf"^{V1}/consultations/\{{",
        HOSPITAL,
        (DOCTOR_A1, DOCTOR_A2, PATIENT_A1),
    ),
    Family(
        "prescriptions (staff)",
        rf"^{V1}/doctors/prescriptions/\{{",
        HOSPITAL,
        (DOCTOR_A1, H_ADMIN_A1, DOCTOR_A2, H_ADMIN_A2),
    ),
    # The patient's own view.
    Family(
        "prescriptions (own)",
        rf"^{V1}/patients/prescriptions/\{{",
        HOSPITAL,
        (PATIENT_A1,),
    ),
    # The QR code: the patient's, and the prescribing organization's doctors' (issue 15:
    # "the prescribing doctor's organization and the patient").
    Family(
        "qr codes",
        rf"^{V1}/(qr-codes|qr-codes/email)/\{{",
        HOSPITAL,
        (PATIENT_A1, DOCTOR_A1, DOCTOR_A2),
    ),
    Family(
        "availability",
        rf"^{V1}/doctors/\{{doctor_id\}}/availability",
        HOSPITAL,
        (H_ADMIN_A1, H_ADMIN_A2),
    ),
    # Patient A1's appointment with doctor A1 (the doctor's colleague is a stranger).
    Family(
        "appointments",
        rf"^{V1}/appointments/\{{",
        HOSPITAL,
        (DOCTOR_A1, PATIENT_A1, H_ADMIN_A1, H_ADMIN_A2),
    ),
    # Pharmacy A's stock of supplier A's product (pharmacy B keeps none of it).
    Family(
        "pharmacy stock",
        rf"^{V1}/pharmacy/inventory/",
        PHARMACY,
        (PHARMACIST_A1, P_ADMIN_A1, PHARMACIST_A2, P_ADMIN_A2),
    ),
    # Patient A1's review of doctor A1.
    Family(
        "reviews",
        rf"^{V1}/reviews/\{{",
        HOSPITAL,
        (PATIENT_A1, DOCTOR_A1, H_ADMIN_A1, H_ADMIN_A2, SUPER_ADMIN),
    ),
)

# Rows the generic approach cannot apply to, with the reason. Every other row with an
# id in its path and scope own/organization/supplier is covered (test below).
EXCLUDED: dict[Key, str] = {
    # The doctor is a public directory entry (GET /doctors/{id} is PUBLIC); whether a
    # patient may review them is eligibility (a completed visit), not ownership of a
    # row: tests/reviews/test_writing.py covers it.
    ("POST", f"{V1}/doctors/{{doctor_id}}/reviews"): "public doctor; eligibility, not a row",
    # Resolving needs an open dispute: a paid visit, completed, then disputed. The
    # billing domain (being built) does not get that far through the API yet (a dispute
    # of a paid, completed visit answers 409 "no held payment"), and without a dispute
    # the owner's answer is 404 ("no open dispute"): the same as a stranger's, so the
    # case would prove nothing. Cover it once a dispute can be opened.
    ("POST", f"{V1}/appointments/{{appointment_id}}/dispute/resolve"): "no dispute to resolve",
}

ISOLATION_SCOPES = frozenset({"own", "organization", "supplier"})

# The first owner the route allows sends its unsafe call, unless named here.
PRIMARY: dict[Key, str] = {
    # The patient cancels their own appointment (the doctor confirms it, by PUT).
    ("DELETE", f"{V1}/appointments/{{appointment_id}}"): PATIENT_A1,
}

Body = dict[str, Any] | Callable[[IsolationWorld], dict[str, Any]]

# Valid bodies for the unsafe methods (a route without one here takes no body).
BODIES: dict[Key, Body] = {
    ("PUT", f"{V1}/users/addresses/{{address_id}}"): {"city": "Cambridge"},
    ("PUT", f"{V1}/admin/users/{{user_id}}"): {"phone": "+1-555-0123"},
    ("PUT", f"{V1}/products/{{product_id}}"): {"description": "Now in blister packs"},
    ("POST", f"{V1}/products/{{product_id}}/certifications"): {
        "type": "EMA",
        "issue_date": "2024-02-01",
        "expiry_date": "2036-01-01",
    },
    ("PUT", f"{V1}/products/{{product_id}}/certifications/{{certification_id}}"): {
        "certificate_number": "CERT-2"
    },
    ("POST", f"{V1}/products/{{product_id}}/stock-adjustments"): {
        "quantity": 3,
        "reason": "found in the back",
    },
    ("PUT", f"{V1}/inquiries/{{inquiry_id}}/status"): {"status": "in_progress"},
    ("PUT", f"{V1}/inquiries/{{inquiry_id}}/assign"): lambda world: {
        "assigned_to": str(world.accounts[SALES_A1].id)
    },
    ("POST", f"{V1}/inquiries/{{inquiry_id}}/messages"): {"body": "Any news?"},
    ("POST", f"{V1}/inquiries/{{inquiry_id}}/convert"): lambda world: {
        "order_id": world.rows["A"]["order_id"]
    },
    ("PUT", f"{V1}/orders/{{order_id}}/status"): {"status": "confirmed"},
    ("PUT", f"{V1}/orders/{{order_id}}/cancel"): {"reason": "No longer needed"},
    ("POST", f"{V1}/orders/{{order_id}}/payments/mark-paid"): lambda world: {
        "reference": "TRANSFER-1",
        "amount": world.amounts["A.order"],
    },
    ("POST", f"{V1}/orders/{{order_id}}/payments/refund"): {"reason": "Damaged in transit"},
    ("POST", f"{V1}/patients/{{patient_id}}/records"): {
        "kind": "note",
        "recorded_on": "2024-04-01",
        "title": "Follow-up",
    },
    ("PUT", f"{V1}/patients/{{patient_id}}/records/{{record_id}}"): {"title": "Updated"},
    ("POST", f"{V1}/doctors/prescriptions/{{prescription_id}}/cancel"): {"reason": "Wrong dose"},
    ("PUT", f"{V1}/patients/{{patient_id}}"): {"phone": "+49 30 1234567"},
    ("PUT", f"{V1}/doctors/patients/{{patient_id}}"): {"phone": "+49 30 1234567"},
    ("PUT", f"{V1}/consultations/{{consultation_id}}"): {"notes": "Better today"},
    ("PUT", f"{V1}/doctors/{{doctor_id}}/availability"): every_day("08:00", "18:00"),
    ("PUT", f"{V1}/appointments/{{appointment_id}}"): {"status": "confirmed"},
    ("POST", f"{V1}/appointments/{{appointment_id}}/payments/mark-paid"): lambda world: {
        "reference": "TRANSFER-2",
        "amount": world.amounts["A.appointment"],
    },
    ("POST", f"{V1}/appointments/{{appointment_id}}/dispute"): {"reason": "The doctor was late"},
    ("DELETE", f"{V1}/appointments/{{appointment_id}}"): {"reason": "Travelling"},
    ("PUT", f"{V1}/pharmacy/inventory/batches/{{batch_id}}"): lambda world: {
        "expiry_date": in_days(500).isoformat(),
        "reason": "Relabelled by the supplier",
    },
    ("PUT", f"{V1}/pharmacy/inventory/{{product_id}}"): {"reorder_point": 10},
    ("PUT", f"{V1}/reviews/{{review_id}}"): {"comment": "Even better on second thought"},
    ("PUT", f"{V1}/reviews/{{review_id}}/reply"): {"reply": "Thank you"},
    ("POST", f"{V1}/reviews/{{review_id}}/hide"): {"reason": "Off topic"},
}


@dataclass(frozen=True)
class Step:
    """A call made before the case, by `caller`, that must succeed (the state the owner's
    call needs: a paid order, a hidden review, a deleted chart)."""

    method: str
    path: str
    caller: str
    body: Body | None = None


MARK_PAID = Step(
    "POST",
    f"{V1}/orders/{{order_id}}/payments/mark-paid",
    S_ADMIN_A1,
    BODIES[("POST", f"{V1}/orders/{{order_id}}/payments/mark-paid")],
)
PREPARE: dict[Key, tuple[Step, ...]] = {
    # Only a paid order has an invoice (issuing one stores its PDF: not in the world).
    ("GET", f"{V1}/orders/{{order_id}}/invoice"): (MARK_PAID,),
    ("POST", f"{V1}/orders/{{order_id}}/payments/refund"): (MARK_PAID,),
    ("POST", f"{V1}/reviews/{{review_id}}/unhide"): (
        Step("POST", f"{V1}/reviews/{{review_id}}/hide", H_ADMIN_A1, {"reason": "Off topic"}),
    ),
    ("POST", f"{V1}/patients/{{patient_id}}/restore"): (
        Step("DELETE", f"{V1}/patients/{{patient_id}}", H_ADMIN_A1),
    ),
}

# The owner's call answers this documented non-2xx for a reason of state, not access
# (by case label): what matters is that it is not 401, 403 or 404.
STATE: dict[str, tuple[int, str]] = {
    f"DELETE {V1}/products/{{product_id}} [withdrawn]": (409, "already withdrawn"),
    # Only a completed consultation with a held payment is disputed; the appointment
    # is a requested one.
    f"POST {V1}/appointments/{{appointment_id}}/dispute": (409, "not completed and paid"),
}

# Roles the table allows on the route that its use case refuses whatever the row (so
# they are neither owners nor strangers): the answer is this status for every caller of
# the role, which gives nothing away. The table could say so (see the report).
ROLE_REFUSED: dict[Key, tuple[frozenset[Role], int, str]] = {
    # prescriptions.service.read_prescription: "A prescription's content is for its
    # doctors and its patient; the organization's admins see the list".
    ("GET", f"{V1}/doctors/prescriptions/{{prescription_id}}"): (
        frozenset({Role.admin}),
        403,
        "admins read the list, never the content",
    ),
}

# Strangers that get another status than 404, by design, with the reason.
STRANGER_STATUS: dict[tuple[str, str], tuple[int, str]] = {
    # The product is in the public catalog (GET /products/{id} is PUBLIC): its existence
    # is no secret, and catalog.lookup says "may see it (else 404), may change it (else
    # 403)". A withdrawn product, which only its supplier sees, is 404 (the "withdrawn"
    # cases).
    ("products", staff_name(Role.admin, SUPPLIER, "B")): (403, "public catalog row"),
    # The path names a catalog product (public), and the row this PUT writes is the
    # caller's own pharmacy's (pharmacy_stock.managing.set_reorder_point creates it,
    # "may be set before the first delivery"): pharmacy B sets its own reorder point,
    # and the leak check shows it sees nothing of pharmacy A's stock.
    **{
        (f"PUT {V1}/pharmacy/inventory/{{product_id}}", staff_name(role, PHARMACY, "B")): (
            200,
            "the caller's own stock row of a public product",
        )
        for role in STAFF[PHARMACY]
    },
}


@dataclass(frozen=True)
class Case:
    access: RouteAccess
    family: Family
    # Entity ids to use instead of the world's default for a path parameter.
    ids: tuple[tuple[str, str], ...] = ()
    variant: str = ""

    @property
    def key(self) -> Key:
        return route_key(self.access)

    @property
    def label(self) -> str:
        suffix = f" [{self.variant}]" if self.variant else ""
        return f"{self.access.method} {self.access.path}{suffix}"

    def all_callers(self) -> list[str]:
        found: list[str] = []
        for role in ROLES:
            if self.access.allows(role):
                found += in_kind(role, self.family.kind)
        found += [c for c in self.family.extra if self.access.allows(role_of(c))]
        return list(dict.fromkeys(found))

    def refused(self) -> list[str]:
        """Callers of a role the use case refuses outright (ROLE_REFUSED)."""
        roles = ROLE_REFUSED.get(self.key, (frozenset(),))[0]
        return [c for c in self.all_callers() if role_of(c) in roles]

    def callers(self) -> list[str]:
        refused = self.refused()
        return [c for c in self.all_callers() if c not in refused]

    def owners(self) -> list[str]:
        callers = self.callers()
        owners = [c for c in self.family.owners if c in callers]
        if self.access.method in SAFE_METHODS:
            return owners
        primary = PRIMARY.get(self.key, owners[0] if owners else None)
        return [primary] if primary else []

    def strangers(self) -> list[str]:
        return [c for c in self.callers() if c not in self.family.owners]

    def stranger_status(self, caller: str) -> int:
        if self.variant:
            return 404
        special = STRANGER_STATUS.get((self.label, caller))
        special = special or STRANGER_STATUS.get((self.family.name, caller))
        return special[0] if special else 404


def family_of(access: RouteAccess) -> Family | None:
    found = [family for family in FAMILIES if family.matches(access.path)]
    return found[0] if found else None


def isolation_rows() -> list[RouteAccess]:
    """Table rows with an id in the path whose scope makes the row someone's."""
    return [
        access for access in ROUTES if parameters(access.path) and access.scope in ISOLATION_SCOPES
    ]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for access in isolation_rows():
        if route_key(access) in EXCLUDED:
            continue
        family = family_of(access)
        if family is None:
            # Reported by test_every_row_of_someone_is_covered_or_excluded.
            continue
        cases.append(Case(access, family))
        if family.name == "products":
            # The same routes on a withdrawn product, which only its supplier sees.
            ids = (
                ("product_id", "withdrawn_product_id"),
                ("certification_id", "withdrawn_certification_id"),
            )
            cases.append(Case(access, family, ids, "withdrawn"))
    return cases


# ------------------------------------------------------------------------- findings


class Finding(Exception):
    """Raised for the known findings of a case (see FINDINGS): its xfail expects it."""


# (case label, caller) → the status observed where the rules say otherwise ("leak" for
# a body that names the other side). Found by this module; the application is not
# changed here: see the report on issue 13.
FINDINGS: dict[tuple[str, str], int | str] = {}


def _marks(label: str) -> list[pytest.MarkDecorator]:
    known = [(caller, seen) for (where, caller), seen in FINDINGS.items() if where == label]
    if not known:
        return []
    reason = "; ".join(f"{caller} gets {seen}" for caller, seen in known)
    return [pytest.mark.xfail(strict=True, raises=Finding, reason=f"finding: {reason}")]


CASES = _cases()


# ---------------------------------------------------------------------- calling


def concrete(path: str, ids: dict[str, str]) -> str:
    return PARAMETER.sub(lambda match: ids[match.group(1)], path)


def body_of(key: Key, world: IsolationWorld) -> Any:
    body = BODIES.get(key)
    return body(world) if callable(body) else body


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    account: Account | None,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**(account.headers if account else {}), **(headers or {})}
    if body is None:
        return await client.request(method, path, headers=sent)
    return await client.request(method, path, json=body, headers=sent)


def leaks(response: httpx.Response, forbidden: Iterable[str]) -> list[str]:
    text = response.text
    return sorted(secret for secret in forbidden if secret in text)


def other_side(side: str | None) -> str | None:
    return {"A": "B", "B": "A"}.get(side or "")


@dataclass
class Report:
    """What went wrong in one case: known findings apart from the rest."""

    label: str
    problems: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def add(self, caller: str, seen: int | str, message: str) -> None:
        known = FINDINGS.get((self.label, caller))
        (self.findings if known == seen else self.problems).append(f"{caller}: {message}")

    def conclude(self) -> None:
        assert self.problems == [], f"{self.label}:\n" + "\n".join(self.problems)
        if self.findings:
            raise Finding(f"{self.label}:\n" + "\n".join(self.findings))


# ----------------------------------------------------------------------- the tests


def test_every_row_of_someone_is_covered_or_excluded() -> None:
    """No route escapes: every table row with an id and an owner-ish scope is tried, or
    excluded with a reason; every exclusion and special case names a real row."""
    rows = {route_key(access) for access in isolation_rows()}
    covered = {case.key for case in CASES}
    missing = sorted(rows - covered - set(EXCLUDED))
    assert missing == [], f"rows no family covers (add one, or exclude with a reason): {missing}"
    assert rows == covered | set(EXCLUDED)
    assert not covered & set(EXCLUDED)
    keys = {route_key(access) for access in ROUTES}
    for named in (BODIES, PREPARE, PRIMARY, ROLE_REFUSED):
        assert set(named) <= rows, sorted(set(named) - rows)
    labels = {case.label for case in CASES}
    assert set(STATE) <= labels, sorted(set(STATE) - labels)
    families = {family.name for family in FAMILIES}
    assert {where for where, _ in STRANGER_STATUS} <= labels | families
    for case in CASES:
        assert case.owners(), f"{case.label}: no owner among the callers it allows"
        assert case.strangers(), f"{case.label}: no stranger to try"
    assert set(EXCLUDED) <= keys
    assert {label for label, _ in FINDINGS} <= labels | LIST_LABELS | KEY_LABELS


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, id=case.label, marks=_marks(case.label)) for case in CASES],
)
async def test_another_tenants_row_is_not_found(
    client: httpx.AsyncClient, isolation_world: IsolationWorld, case: Case
) -> None:
    world = isolation_world
    ids = dict(world.rows["A"])
    for parameter, entity in case.ids:
        ids[parameter] = world.rows["A"][entity]
    path = concrete(case.access.path, ids)
    for step in PREPARE.get(case.key, ()):
        done = await call(
            client,
            step.method,
            concrete(step.path, ids),
            world.accounts[step.caller],
            body=step.body(world) if callable(step.body) else step.body,
        )
        assert done.status_code < 300, f"{case.label}: preparing {step}: {done.text}"
    body = body_of(case.key, world)
    in_path = {ids[name] for name in parameters(case.access.path)}
    everything = world.secrets["A"] | world.secrets["B"]
    report = Report(case.label)

    for caller in case.strangers():
        response = await call(client, case.access.method, path, world.accounts[caller], body=body)
        expected = case.stranger_status(caller)
        if response.status_code != expected:
            report.add(
                caller,
                response.status_code,
                f"{response.status_code} (expected {expected}) {response.text[:200]}",
            )
        # An error names no row, user or organization, of either side (but the ids the
        # caller sent, and the caller itself, are no news to the caller).
        leaked = leaks(response, everything - in_path - world.own[caller])
        if leaked:
            report.add(caller, "leak", f"body names {leaked}")

    refused_status = ROLE_REFUSED.get(case.key, (frozenset(), 0))[1]
    for caller in case.refused():
        response = await call(client, case.access.method, path, world.accounts[caller], body=body)
        if response.status_code != refused_status:
            report.add(
                caller,
                response.status_code,
                f"{response.status_code} (expected {refused_status} for the role)",
            )
        leaked = leaks(response, everything - in_path - world.own[caller])
        if leaked:
            report.add(caller, "leak", f"body names {leaked}")

    for caller in case.owners():
        response = await call(client, case.access.method, path, world.accounts[caller], body=body)
        state = STATE.get(case.label)
        if state is not None and response.status_code == state[0]:
            pass
        elif response.status_code in {401, 403, 404} or response.status_code >= 300:
            report.add(
                caller,
                response.status_code,
                f"owner got {response.status_code} {response.text[:200]}",
            )
        theirs = other_side(side_of(caller))
        forbidden = world.secrets[theirs] if theirs else frozenset()
        leaked = leaks(response, forbidden)
        if leaked:
            report.add(caller, "leak", f"owner's answer names the other side: {leaked}")
    report.conclude()


# ------------------------------------------------------------------------ lists


# GET routes without an id that the leak check does not call, with the reason.
LIST_EXCLUDED: dict[Key, str] = {
    ("GET", "/openapi.json"): "scope none: documentation, no rows",
    ("HEAD", "/openapi.json"): "scope none: documentation, no rows",
    ("GET", "/docs"): "scope none: documentation, no rows",
    ("GET", "/api-docs"): "scope none: documentation, no rows",
    ("GET", "/api/docs"): "scope none: documentation, no rows",
    ("GET", "/redoc"): "scope none: documentation, no rows",
    ("GET", V1): "scope none: the index of routes",
    ("GET", "/health/live"): "scope none: health",
    ("GET", "/health/ready"): "scope none: health",
    ("GET", "/metrics"): "counters by route template, no rows",
    ("GET", "/.well-known/prescription-keys"): "the platform's public keys, no rows",
    ("GET", "/rx/verify"): "scope token: whoever holds a prescription's QR token",
    # Public, catalog-like: side A's public data is legitimately shown to everyone.
    ("GET", f"{V1}/products"): "public catalog: every supplier's active products",
    ("GET", f"{V1}/categories"): "public: the platform's categories",
    ("GET", f"{V1}/doctors"): "public directory: every listed doctor with their organization",
    ("GET", f"{V1}/documents"): "public product documents (the world holds no files)",
    # The platform's operator sees every tenant (scope any): nothing to isolate.
    ("GET", f"{V1}/admin/tenants"): "super admins only, scope any",
    ("GET", f"{V1}/events/email-queue"): "super admins only, scope any",
    ("GET", f"{V1}/events/email-queue/status"): "super admins only, scope any",
    # Server-sent events: the answer never ends; the notifications it streams are those
    # of GET /notifications, which is checked.
    ("GET", f"{V1}/notifications/stream"): "an endless event stream",
}


def list_kind(path: str) -> OrganizationKind | None:
    """Whose staff a list route is for (None: every account's own, or any organization)."""
    if re.match(rf"^{V1}/(inquiries|orders|reports|dashboard)", path):
        return SUPPLIER
    if re.match(rf"^{V1}/pharmacy", path):
        return PHARMACY
    if re.match(rf"^{V1}/(patients|doctors|consultations|appointments|reviews)", path):
        return HOSPITAL
    return None


def list_rows() -> list[RouteAccess]:
    return [access for access in ROUTES if access.method in SAFE_METHODS and "{" not in access.path]


@dataclass(frozen=True)
class ListCall:
    caller: str
    # The caller whose rows `caller` must not see: side A's (by side), or for routes of
    # one's own rows the first account of the same role (by personal rows).
    against: str


def list_calls(access: RouteAccess) -> list[ListCall]:
    kind = list_kind(access.path)
    calls: list[ListCall] = []
    for role in ROLES:
        if role is Role.super_admin or not access.allows(role):
            continue
        mine = [c for c in in_kind(role, kind) if side_of(c) == "B"]
        calls += [ListCall(caller, "A") for caller in mine]
        if access.scope == "own":
            for first in [c for c in in_kind(role, kind) if c.endswith(".A1")]:
                second = first[:-1] + "2"
                calls.append(ListCall(second, first))
    return calls


# Lists whose answers name no row of the caller's side (each other list must show side
# B's callers something of side B, or its leak check would prove little).
LIST_SHOWS_NOTHING: dict[Key, str] = {
    ("GET", f"{V1}/users/stats"): "counts only",
    ("GET", f"{V1}/notifications/preferences"): "categories and channels only",
    ("GET", f"{V1}/billing/ledger"): "no payment captured in the world (billing: being built)",
    ("GET", f"{V1}/doctors/me/earnings"): "no payment captured in the world (billing: being built)",
}

LISTS = [access for access in list_rows() if route_key(access) not in LIST_EXCLUDED]

# Headers a list route needs beyond the caller's credentials.
MEDICAL_HISTORY = ("GET", f"{V1}/patients/medical-history")


async def otp_header(app: FastAPI, client: httpx.AsyncClient, account: Account) -> dict[str, str]:
    """The one-time grant the medical history asks for, through the emailed code."""
    purpose = {"purpose": "medical_history"}
    requested = await client.post(f"{V1}/auth/otp/request", json=purpose, headers=account.headers)
    assert requested.status_code == 200, requested.text
    code = await mailed_code(app, account.email, "otp")
    verified = await client.post(
        f"{V1}/auth/otp/verify", json={**purpose, "code": code}, headers=account.headers
    )
    assert verified.status_code == 200, verified.text
    return {"X-OTP-Token": verified.json()["data"]["otp_token"]}


def test_every_list_route_is_checked_or_excluded() -> None:
    keys = {route_key(access) for access in list_rows()}
    assert set(LIST_EXCLUDED) <= keys, sorted(set(LIST_EXCLUDED) - keys)
    assert set(LIST_SHOWS_NOTHING) <= {route_key(access) for access in LISTS}
    for access in LISTS:
        assert list_calls(access), f"{route_id(access)}: nobody to call it"


LIST_LABELS = {route_id(access) for access in LISTS}


@pytest.mark.parametrize(
    "access",
    [pytest.param(a, id=route_id(a), marks=_marks(route_id(a))) for a in LISTS],
)
async def test_lists_show_no_other_tenants_rows(
    app: FastAPI,
    client: httpx.AsyncClient,
    isolation_world: IsolationWorld,
    access: RouteAccess,
) -> None:
    world = isolation_world
    report = Report(route_id(access))
    shown = False
    for planned in list_calls(access):
        account = world.accounts[planned.caller]
        headers = (
            await otp_header(app, client, account) if route_key(access) == MEDICAL_HISTORY else {}
        )
        response = await call(client, access.method, access.path, account, headers=headers)
        if response.status_code != 200:
            report.add(
                planned.caller,
                response.status_code,
                f"{response.status_code} {response.text[:200]}",
            )
        if planned.against in world.secrets:
            forbidden = world.secrets[planned.against]
        else:
            forbidden = world.personal[planned.against]
        leaked = leaks(response, forbidden - world.own[planned.caller])
        if leaked:
            report.add(planned.caller, "leak", f"names {planned.against}'s {leaked}")
        if side_of(planned.caller) == "B" and leaks(response, world.secrets["B"]):
            shown = True
    if not shown and route_key(access) not in LIST_SHOWS_NOTHING:
        # Not vacuous: side B's callers are shown side B's rows (where the world has some).
        report.add("side B", "empty", "no answer shows anything of side B")
    report.conclude()


# ---------------------------------------------------------------------- API keys


@dataclass(frozen=True)
class KeySample:
    """A route tried with each side's API key of `label`: `entity` is the row of side A
    the answer must name (a list) or address (a path with ids)."""

    label: str
    path: str
    entity: str

    @property
    def name(self) -> str:
        return f"{self.label} key: GET {self.path}"


# Lists and rows of each kind of organization that keys can call. Not sampled: routes
# the table allows to a key's role but that want a person (UserPrincipal, or a doctor's
# "own": "This action needs a user account, not an API key", for keys of either side
# alike, so nothing to isolate): /admin/users, /api-keys, /consultations, the records,
# /doctors/prescriptions and /appointments for a doctor's key.
KEY_SAMPLES = (
    KeySample("hospital-admin", f"{V1}/patients", "patient_id"),
    KeySample("hospital-admin", f"{V1}/patients/{{patient_id}}", "patient_id"),
    KeySample("hospital-admin", f"{V1}/appointments", "appointment_id"),
    KeySample("hospital-admin", f"{V1}/appointments/{{appointment_id}}", "appointment_id"),
    KeySample("hospital-admin", f"{V1}/doctors/prescriptions", "prescription_id"),
    KeySample("hospital-doctor", f"{V1}/patients", "patient_id"),
    KeySample("hospital-doctor", f"{V1}/doctors/patients/{{patient_id}}", "patient_id"),
    KeySample("supplier-sales", f"{V1}/orders", "order_id"),
    KeySample("supplier-sales", f"{V1}/orders/{{order_id}}", "order_id"),
    KeySample("supplier-sales", f"{V1}/inquiries", "inquiry_id"),
    KeySample("supplier-sales", f"{V1}/inquiries/{{inquiry_id}}", "inquiry_id"),
    KeySample("pharmacy-pharmacist", f"{V1}/pharmacy/inventory", "batch_id"),
    KeySample("pharmacy-pharmacist", f"{V1}/pharmacy/inventory/{{product_id}}", "batch_id"),
    KeySample(
        "pharmacy-pharmacist", f"{V1}/pharmacy/inventory/{{product_id}}/movements", "product_id"
    ),
)


KEY_LABELS = {sample.name for sample in KEY_SAMPLES}


def test_key_samples_are_routes_the_keys_role_may_call() -> None:
    rows = {route_key(access): access for access in ROUTES}
    for sample in KEY_SAMPLES:
        access = rows[("GET", sample.path)]
        _, role = KEY_ROLES[sample.label]
        assert access.allows(role), sample.name


def key_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "sample", [pytest.param(s, id=s.name, marks=_marks(s.name)) for s in KEY_SAMPLES]
)
async def test_api_keys_reach_their_organizations_rows_only(
    client: httpx.AsyncClient, isolation_world: IsolationWorld, sample: KeySample
) -> None:
    world = isolation_world
    path = concrete(sample.path, world.rows["A"])
    wanted = world.rows["A"][sample.entity]
    by_id = "{" in sample.path
    report = Report(sample.name)

    own = await client.get(path, headers=key_headers(world.keys[f"{sample.label}.A"]))
    if own.status_code != 200 or wanted not in own.text:
        report.add(
            f"A's {sample.label} key",
            own.status_code,
            f"{own.status_code}, lacks {wanted}: {own.text[:200]}",
        )
    if leaks(own, world.secrets["B"]):
        report.add(f"A's {sample.label} key", "leak", f"names B's {leaks(own, world.secrets['B'])}")

    theirs = await client.get(path, headers=key_headers(world.keys[f"{sample.label}.B"]))
    expected = 404 if by_id else 200
    if theirs.status_code != expected:
        report.add(
            f"B's {sample.label} key",
            theirs.status_code,
            f"{theirs.status_code} (expected {expected}) {theirs.text[:200]}",
        )
    in_path = {world.rows["A"][name] for name in parameters(sample.path)}
    leaked = leaks(theirs, world.secrets["A"] - in_path)
    if leaked:
        report.add(f"B's {sample.label} key", "leak", f"names A's {leaked}")
    if not by_id and world.rows["B"][sample.entity] not in theirs.text:
        # Not vacuous: B's key does see B's row.
        report.add(f"B's {sample.label} key", theirs.status_code, f"lacks B's own {sample.entity}")
    report.conclude()
