"""The permission table: which role may perform which action. Deny by default.

The MedPharm matrix is the floor (products read by all, written by admins; orders
created by every commercial role, seen in full by admin and sales; inquiries in
full by admin and sales; users managed by admins). Later domains add their rows
here, not `if role == ...` in routers. "Own only" rules (a customer sees their own
orders) are not actions: they are scoping in the domain's repository.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from medhub.authz.principal import Principal
from medhub.models.identity import Role


class Action(StrEnum):
    PRODUCTS_READ = "products.read"
    PRODUCTS_WRITE = "products.write"
    ORDERS_CREATE = "orders.create"
    ORDERS_READ_ALL = "orders.read_all"
    INQUIRIES_READ_ALL = "inquiries.read_all"
    USERS_MANAGE = "users.manage"
    TENANTS_MANAGE = "tenants.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    ACTIVITY_LOGS_READ = "activity_logs.read"
    JOBS_MANAGE = "jobs.manage"
    ORDERS_MANAGE = "orders.manage"
    ORDERS_BULK = "orders.bulk"
    PAYMENTS_MANAGE = "payments.manage"
    INQUIRIES_MANAGE = "inquiries.manage"
    REPORTS_READ = "reports.read"
    DASHBOARD_READ = "dashboard.read"
    # Clinical (issue 12). The directory, public profiles and free slots are public
    # (anonymous included), so they need no action.
    DOCTOR_SELF_MANAGE = "doctors.self_manage"
    AVAILABILITY_MANAGE = "doctors.availability_manage"
    # Charts' demographics (names, contact, ids, insurance) of one's organization.
    PATIENTS_READ = "patients.read"
    PATIENTS_WRITE = "patients.write"
    # Soft delete and restore of a chart.
    PATIENTS_DELETE = "patients.delete"
    # Clinical content of one's organization's charts: consultation notes, diagnoses,
    # records. Never org admins, never platform operators (they see no PHI).
    CLINICAL_READ = "clinical.read"
    CLINICAL_WRITE = "clinical.write"
    # Appointments: the patient books their own; staff book for a chart of their
    # organization. Reading is scoped (own, own doctor's, organization's).
    APPOINTMENTS_BOOK = "appointments.book"
    APPOINTMENTS_READ = "appointments.read"
    # Confirm, check in, start, complete, mark no-show (the organization's staff).
    APPOINTMENTS_MANAGE = "appointments.manage"
    # A patient's own: profile, charts' claim, medical history, access log.
    PATIENT_SELF = "patients.self"
    # Prescriptions: writing them (doctors); listing the organization's (its doctors,
    # and its admins without the clinical text).
    PRESCRIPTIONS_WRITE = "prescriptions.write"
    PRESCRIPTIONS_READ = "prescriptions.read"
    # A pharmacy: scanning, validating, dispensing and rejecting prescriptions
    # (pharmacists); its dispensing history and its stock (its admins and pharmacists).
    PRESCRIPTIONS_DISPENSE = "prescriptions.dispense"
    PHARMACY_HISTORY_READ = "pharmacy.history_read"
    PHARMACY_STOCK_MANAGE = "pharmacy.stock_manage"
    # Reviews of doctors (issue 16): a patient writes and edits their own, the reviewed
    # doctor replies, an organization's admins (its doctors') and super admins moderate.
    # Reporting one is for anyone signed in, and the public list for everyone.
    REVIEWS_WRITE = "reviews.write"
    REVIEWS_REPLY = "reviews.reply"
    REVIEWS_MODERATE = "reviews.moderate"
    # Paying for care (issue 16): a patient pays for and disputes their own
    # consultations; an organization's admins record transfers and read its ledger;
    # they and super admins resolve disputes; a doctor reads their own earnings.
    BILLING_PAY = "billing.pay"
    BILLING_RECORD = "billing.record"
    BILLING_LEDGER_READ = "billing.ledger_read"
    DISPUTES_RESOLVE = "billing.disputes_resolve"
    EARNINGS_READ = "billing.earnings_read"


Y, N = True, False

# Columns, in this order:
ROLES = (
    Role.super_admin,
    Role.admin,
    Role.sales,
    Role.customer,
    Role.distributor,
    Role.doctor,
    Role.pharmacist,
    Role.patient,
)

# fmt: off
MATRIX: dict[Action, tuple[bool, ...]] = {
    #                             super  admin  sales  cust   distr  doctor pharm  patient
    Action.PRODUCTS_READ:        (Y,     Y,     Y,     Y,     Y,     Y,     Y,     Y),
    Action.PRODUCTS_WRITE:       (Y,     Y,     N,     N,     N,     N,     N,     N),
    Action.ORDERS_CREATE:        (N,     Y,     Y,     Y,     Y,     N,     Y,     N),
    Action.ORDERS_READ_ALL:      (Y,     Y,     Y,     N,     N,     N,     N,     N),
    Action.INQUIRIES_READ_ALL:   (Y,     Y,     Y,     N,     N,     N,     N,     N),
    Action.USERS_MANAGE:         (Y,     Y,     N,     N,     N,     N,     N,     N),
    Action.TENANTS_MANAGE:       (Y,     N,     N,     N,     N,     N,     N,     N),
    Action.API_KEYS_MANAGE:      (N,     Y,     N,     N,     N,     N,     N,     N),
    Action.ACTIVITY_LOGS_READ:   (Y,     Y,     N,     N,     N,     N,     N,     N),
    Action.JOBS_MANAGE:          (Y,     N,     N,     N,     N,     N,     N,     N),
    Action.ORDERS_MANAGE:        (Y,     Y,     Y,     N,     N,     N,     N,     N),
    Action.ORDERS_BULK:          (N,     N,     N,     N,     Y,     N,     N,     N),
    Action.PAYMENTS_MANAGE:      (Y,     Y,     N,     N,     N,     N,     N,     N),
    Action.INQUIRIES_MANAGE:     (Y,     Y,     Y,     N,     N,     N,     N,     N),
    Action.REPORTS_READ:         (Y,     Y,     Y,     N,     N,     N,     N,     N),
    Action.DASHBOARD_READ:       (Y,     Y,     N,     N,     N,     N,     N,     N),
    # A doctor's own profile and availability (approved or not yet).
    Action.DOCTOR_SELF_MANAGE:   (N,     N,     N,     N,     N,     Y,     N,     N),
    # The availability of the doctors of one's own organization.
    Action.AVAILABILITY_MANAGE:  (N,     Y,     N,     N,     N,     N,     N,     N),
    Action.PATIENTS_READ:        (N,     Y,     N,     N,     N,     Y,     N,     N),
    Action.PATIENTS_WRITE:       (N,     Y,     N,     N,     N,     Y,     N,     N),
    Action.PATIENTS_DELETE:      (N,     Y,     N,     N,     N,     N,     N,     N),
    Action.CLINICAL_READ:        (N,     N,     N,     N,     N,     Y,     N,     N),
    Action.CLINICAL_WRITE:       (N,     N,     N,     N,     N,     Y,     N,     N),
    Action.APPOINTMENTS_BOOK:    (N,     Y,     N,     N,     N,     Y,     N,     Y),
    Action.APPOINTMENTS_READ:    (N,     Y,     N,     N,     N,     Y,     N,     Y),
    Action.APPOINTMENTS_MANAGE:  (N,     Y,     N,     N,     N,     Y,     N,     N),
    Action.PATIENT_SELF:         (N,     N,     N,     N,     N,     N,     N,     Y),
    Action.PRESCRIPTIONS_WRITE:  (N,     N,     N,     N,     N,     Y,     N,     N),
    Action.PRESCRIPTIONS_READ:   (N,     Y,     N,     N,     N,     Y,     N,     N),
    Action.PRESCRIPTIONS_DISPENSE: (N,   N,     N,     N,     N,     N,     Y,     N),
    Action.PHARMACY_HISTORY_READ: (N,    Y,     N,     N,     N,     N,     Y,     N),
    Action.PHARMACY_STOCK_MANAGE: (N,    Y,     N,     N,     N,     N,     Y,     N),
    Action.REVIEWS_WRITE:        (N,     N,     N,     N,     N,     N,     N,     Y),
    Action.REVIEWS_REPLY:        (N,     N,     N,     N,     N,     Y,     N,     N),
    Action.REVIEWS_MODERATE:     (Y,     Y,     N,     N,     N,     N,     N,     N),
    Action.BILLING_PAY:          (N,     N,     N,     N,     N,     N,     N,     Y),
    Action.BILLING_RECORD:       (N,     Y,     N,     N,     N,     N,     N,     N),
    Action.BILLING_LEDGER_READ:  (Y,     Y,     N,     N,     N,     N,     N,     N),
    Action.DISPUTES_RESOLVE:     (Y,     Y,     N,     N,     N,     N,     N,     N),
    Action.EARNINGS_READ:        (N,     N,     N,     N,     N,     Y,     N,     N),
}
# fmt: on

PERMISSIONS: dict[Role, frozenset[Action]] = {
    role: frozenset(action for action, row in MATRIX.items() if row[column])
    for column, role in enumerate(ROLES)
}


def can(role: str, action: Action) -> bool:
    try:
        return action in PERMISSIONS[Role(role)]
    except ValueError:
        return False


# Ownership predicates: who acts for whom. Each is defined here once; repositories
# turn the same rules into SQL conditions, and row-level security repeats them in
# PostgreSQL (the functions of the migrations), so a forgotten check still leaks nothing.

SUPPLIER_STAFF_ROLES: frozenset[Role] = frozenset({Role.admin, Role.sales})
"""The roles that act for their supplier: its orders, inquiries, withdrawn products and
reports (SQL: `app_is_supplier_staff()`). Distributors belong to the supplier for
their prices only."""


def acts_for_supplier(principal: Principal | None, supplier_id: uuid.UUID) -> bool:
    """Super admins, and the supplier's own admins and sales staff."""
    if principal is None:
        return False
    return principal.is_super_admin or (
        principal.organization_id == supplier_id and principal.role in SUPPLIER_STAFF_ROLES
    )


def render_table() -> str:
    """The table as markdown (for docs and release notes)."""
    header = "| action | " + " | ".join(r.value for r in ROLES) + " |"
    rule = "|---" * (len(ROLES) + 1) + "|"
    rows = [
        f"| {action.value} | " + " | ".join("✓" if v else "✗" for v in row) + " |"
        for action, row in MATRIX.items()
    ]
    return "\n".join([header, rule, *rows])
