"""Who may call each route: every route of `create_app()`, one line each. Deny by default.

The table is read from each route's dependency (`PrescriptionsWrite` → doctors...),
never guessed, and a test (tests/test_access_matrix.py) keeps it honest: every route of
the app has a row and every row is a route; anonymous callers get 401 from every
route that is not `PUBLIC`; a signed-in caller of any role not listed gets 403.
`medhub routes --matrix` prints it as Markdown (the README's "Access by route").

Columns:
- `roles`: `PUBLIC` (anonymous callers too, so everyone), or the roles that pass the
  route's dependency. Passing it is the floor: which rows a caller then reaches is the
  `scope`, and some dependencies ask more of an allowed role (a verified address, an
  approved doctor, an organization of a fitting kind), said in a comment.
- `scope`: which rows the allowed roles reach —
  `none` (no rows: documentation, health), `any` (all of them; the platform's),
  `own` (the caller's own: their account, orders, appointments, charts),
  `organization` (the caller's organization's; a super admin's: all),
  `supplier` (a supplier's rows: its staff, or the rows a buyer placed with it),
  `pharmacy-access` (a prescription a pharmacist presented by QR code or reference),
  `token` (whoever holds the link's token or a signature; no account involved),
  `document-access` (what the owning domain lets the caller see: `document_access`).
- `expect_denied`: what a role outside `roles` gets (403 unless a comment says why).

Rows are written `api(method, path under /api/v1, ...)`, or `_r(...)` with the whole path
for the routes outside /api/v1 (documentation, health, QR verification).
"""

from __future__ import annotations

from dataclasses import dataclass

from medhub.authz.permissions import ROLES
from medhub.models.identity import Role


@dataclass(frozen=True)
class RouteAccess:
    method: str
    path: str
    roles: frozenset[Role] | None  # None: PUBLIC
    scope: str
    expect_denied: int = 403

    @property
    def public(self) -> bool:
        return self.roles is None

    def allows(self, role: Role) -> bool:
        return self.roles is None or role in self.roles


PUBLIC: None = None
SIGNED_IN: frozenset[Role] = frozenset(ROLES)
SUPER_ADMIN = frozenset({Role.super_admin})
ADMINS = frozenset({Role.super_admin, Role.admin})
SUPPLIER_STAFF = frozenset({Role.super_admin, Role.admin, Role.sales})
ORG_ADMIN = frozenset({Role.admin})
DOCTOR = frozenset({Role.doctor})
PATIENT = frozenset({Role.patient})
PHARMACIST = frozenset({Role.pharmacist})
DOCTOR_PATIENT = frozenset({Role.doctor, Role.patient})
STAFF = frozenset({Role.admin, Role.doctor})
CARE = frozenset({Role.admin, Role.doctor, Role.patient})
PHARMACY = frozenset({Role.admin, Role.pharmacist})
BUYERS = frozenset({Role.admin, Role.sales, Role.customer, Role.distributor, Role.pharmacist})
DISTRIBUTOR = frozenset({Role.distributor})


def _r(
    method: str,
    path: str,
    roles: frozenset[Role] | None,
    scope: str,
    *,
    expect_denied: int = 403,
) -> RouteAccess:
    return RouteAccess(method, path, roles, scope, expect_denied)


V1 = "/api/v1"


def api(
    method: str,
    path: str,
    roles: frozenset[Role] | None,
    scope: str,
    *,
    expect_denied: int = 403,
) -> RouteAccess:
    """A row for a route under /api/v1 (`path` relative to it)."""
    return RouteAccess(method, V1 + path, roles, scope, expect_denied)


# fmt: off
ROUTES: tuple[RouteAccess, ...] = (
    # --- meta, documentation, operations ----------------------------------------------
    _r("GET",     "/openapi.json",                               PUBLIC,         "none"),
    _r("HEAD",    "/openapi.json",                               PUBLIC,         "none"),
    _r("GET",     "/docs",                                       PUBLIC,         "none"),
    _r("GET",     "/api-docs",                                   PUBLIC,         "none"),
    _r("GET",     "/api/docs",                                   PUBLIC,         "none"),
    _r("GET",     "/redoc",                                      PUBLIC,         "none"),
    api("GET",    "",                                            PUBLIC,         "none"),
    _r("GET",     "/health/live",                                PUBLIC,         "none"),
    _r("GET",     "/health/ready",                               PUBLIC,         "none"),
    # No role: METRICS_TOKEN as a bearer token, or open where METRICS_PUBLIC (or outside
    # production) says so (health.router.require_metrics_access).
    _r("GET",     "/metrics",                                    PUBLIC,         "token"),

    # --- auth: accounts and login sessions ---------------------------------------------
    api("POST",   "/auth/register",                              PUBLIC,         "own"),
    api("POST",   "/auth/login",                                 PUBLIC,         "own"),
    api("POST",   "/auth/refresh",                               PUBLIC,         "token"),
    api("POST",   "/auth/verify-email",                          PUBLIC,         "token"),
    api("POST",   "/auth/resend-verification",                   PUBLIC,         "own"),
    api("POST",   "/auth/forgot-password",                       PUBLIC,         "own"),
    api("POST",   "/auth/reset-password",                        PUBLIC,         "token"),
    # A person (UserPrincipal), never an API key, whatever the role.
    api("POST",   "/auth/logout",                                SIGNED_IN,      "own"),
    api("GET",    "/auth/sessions",                              SIGNED_IN,      "own"),
    api("DELETE", "/auth/sessions/{session_id}",                 SIGNED_IN,      "own"),
    api("DELETE", "/auth/sessions",                              SIGNED_IN,      "own"),
    api("POST",   "/auth/change-password",                       SIGNED_IN,      "own"),
    api("POST",   "/auth/otp/request",                           SIGNED_IN,      "own"),
    api("POST",   "/auth/otp/verify",                            SIGNED_IN,      "own"),

    # --- users: one's own profile and addresses (UserPrincipal) -------------------------
    api("GET",    "/users/me",                                   SIGNED_IN,      "own"),
    api("PUT",    "/users/me",                                   SIGNED_IN,      "own"),
    api("GET",    "/users/profile",                              SIGNED_IN,      "own"),
    api("PUT",    "/users/profile",                              SIGNED_IN,      "own"),
    api("GET",    "/users/stats",                                SIGNED_IN,      "own"),
    api("GET",    "/users/addresses",                            SIGNED_IN,      "own"),
    api("POST",   "/users/addresses",                            SIGNED_IN,      "own"),
    api("GET",    "/users/addresses/{address_id}",               SIGNED_IN,      "own"),
    api("PUT",    "/users/addresses/{address_id}",               SIGNED_IN,      "own"),
    api("DELETE", "/users/addresses/{address_id}",               SIGNED_IN,      "own"),

    # --- organizations: tenants (TENANTS_MANAGE) and members (USERS_MANAGE) -------------
    api("GET",    "/admin/tenants",                              SUPER_ADMIN,    "any"),
    api("POST",   "/admin/tenants",                              SUPER_ADMIN,    "any"),
    api("GET",    "/admin/tenants/{tenant_id}",                  SUPER_ADMIN,    "any"),
    api("PUT",    "/admin/tenants/{tenant_id}",                  SUPER_ADMIN,    "any"),
    api("DELETE", "/admin/tenants/{tenant_id}",                  SUPER_ADMIN,    "any"),
    api("GET",    "/admin/users",                                ADMINS,         "organization"),
    api("POST",   "/admin/users",                                ADMINS,         "organization"),
    api("GET",    "/admin/users/{user_id}",                      ADMINS,         "organization"),
    api("PUT",    "/admin/users/{user_id}",                      ADMINS,         "organization"),

    # --- audit: the activity log (ACTIVITY_LOGS_READ) -----------------------------------
    api("GET",    "/admin/activity-logs",                        ADMINS,         "organization"),

    # --- api keys (API_KEYS_MANAGE: an organization's admins, not super admins) --------
    api("POST",   "/api-keys",                                   ORG_ADMIN,      "organization"),
    api("GET",    "/api-keys",                                   ORG_ADMIN,      "organization"),
    api("GET",    "/api-keys/{key_id}",                          ORG_ADMIN,      "organization"),
    api("DELETE", "/api-keys/{key_id}",                          ORG_ADMIN,      "organization"),

    # --- events: the email queue (JOBS_MANAGE); a test event of one's own ---------------
    api("GET",    "/events/email-queue/status",                  SUPER_ADMIN,    "any"),
    api("GET",    "/events/email-queue",                         SUPER_ADMIN,    "any"),
    api("POST",   "/events/email-queue/clear-completed",         SUPER_ADMIN,    "any"),
    api("POST",   "/events/email-queue/{email_id}/retry",        SUPER_ADMIN,    "any"),
    api("POST",   "/events/test",                                SIGNED_IN,      "own"),

    # --- notifications: one's own (UserPrincipal) ---------------------------------------
    api("GET",    "/notifications/stream",                       SIGNED_IN,      "own"),
    api("GET",    "/notifications/preferences",                  SIGNED_IN,      "own"),
    api("PUT",    "/notifications/preferences",                  SIGNED_IN,      "own"),
    api("PUT",    "/notifications/read-all",                     SIGNED_IN,      "own"),
    api("GET",    "/notifications",                              SIGNED_IN,      "own"),
    api("PUT",    "/notifications/{notification_id}/read",       SIGNED_IN,      "own"),
    api("DELETE", "/notifications/{notification_id}",            SIGNED_IN,      "own"),

    # --- catalog: read by all (withdrawn products: the supplier's staff); written by
    # PRODUCTS_WRITE. Data-dependent: an admin writes only if their organization is a
    # supplier, its own products (catalog.access); a super admin names the supplier ----
    api("GET",    "/products",                                   PUBLIC,         "any"),
    api("GET",    "/products/{product_id}",                      PUBLIC,         "any"),
    api("POST",   "/products",                                   ADMINS,         "supplier"),
    api("PUT",    "/products/{product_id}",                      ADMINS,         "supplier"),
    api("DELETE", "/products/{product_id}",                      ADMINS,         "supplier"),
    api("GET",    "/products/{product_id}/certifications",       PUBLIC,         "any"),
    api("POST",   "/products/{product_id}/certifications",       ADMINS,         "supplier"),
    api("PUT",    "/products/{product_id}/certifications/{certification_id}", ADMINS, "supplier"),
    api("DELETE", "/products/{product_id}/certifications/{certification_id}", ADMINS, "supplier"),
    api("POST",   "/products/{product_id}/stock-adjustments",    ADMINS,         "supplier"),
    api("GET",    "/products/{product_id}/stock-movements",      ADMINS,         "supplier"),
    api("GET",    "/categories",                                 PUBLIC,         "any"),
    # The route lets PRODUCTS_WRITE through, the use case only super admins
    # (catalog.service._category_admin): an admin's call is validated first, then 403.
    api("POST",   "/categories",                                 SUPER_ADMIN,    "any"),
    api("PUT",    "/categories/{slug}",                          SUPER_ADMIN,    "any"),

    # --- inquiries: anyone submits (anonymous within a per-IP limit); anyone signed in
    # reads and answers their own; the supplier's staff handle theirs (data-dependent:
    # the inquiry's supplier's staff, inquiries.handling; else 403) -------------------
    api("POST",   "/inquiries",                                  PUBLIC,         "own"),
    api("GET",    "/inquiries",                                  SIGNED_IN,      "supplier"),
    api("GET",    "/inquiries/{inquiry_id}",                     SIGNED_IN,      "supplier"),
    api("PUT",    "/inquiries/{inquiry_id}/status",              SUPPLIER_STAFF, "supplier"),
    api("PUT",    "/inquiries/{inquiry_id}/assign",              SUPPLIER_STAFF, "supplier"),
    api("POST",   "/inquiries/{inquiry_id}/messages",            SIGNED_IN,      "supplier"),
    api("POST",   "/inquiries/{inquiry_id}/convert",             SUPPLIER_STAFF, "supplier"),

    # --- orders: ORDERS_CREATE places them (a person with a verified address); bulk CSV
    # is the distributors'; anyone signed in reads and cancels their own -------------
    api("POST",   "/orders",                                     BUYERS,         "own"),
    api("POST",   "/orders/bulk",                                DISTRIBUTOR,    "own"),
    api("GET",    "/orders",                                     SIGNED_IN,      "supplier"),
    api("GET",    "/orders/{order_id}",                          SIGNED_IN,      "supplier"),
    api("PUT",    "/orders/{order_id}/status",                   SUPPLIER_STAFF, "supplier"),
    api("PUT",    "/orders/{order_id}/cancel",                   SIGNED_IN,      "supplier"),

    # --- payments: the buyer pays their own order (verified, a person); the supplier's
    # admins record transfers and refunds (PAYMENTS_MANAGE, verified; data-dependent:
    # the order's supplier's staff only, payments.service._ensure_staff) -------------
    api("POST",   "/orders/{order_id}/payments",                 SIGNED_IN,      "own"),
    api("GET",    "/orders/{order_id}/payments",                 SIGNED_IN,      "supplier"),
    api("POST",   "/orders/{order_id}/payments/mark-paid",       ADMINS,         "supplier"),
    api("POST",   "/orders/{order_id}/payments/refund",          ADMINS,         "supplier"),
    api("GET",    "/orders/{order_id}/invoice",                  SIGNED_IN,      "supplier"),
    # Stripe's callbacks: no account, a signature.
    api("POST",   "/payments/webhooks/stripe",                   PUBLIC,         "token"),

    # --- documents of products and orders: the owning domain decides (public product
    # documents are public; the rest follow the product's or order's access) -------
    api("GET",    "/documents",                                  PUBLIC,         "document-access"),
    api("POST",   "/documents/upload",                           SIGNED_IN,      "document-access"),
    api("GET",    "/documents/{document_id}",                    PUBLIC,         "document-access"),
    api("GET",    "/documents/{document_id}/download",           PUBLIC,         "document-access"),
    api("DELETE", "/documents/{document_id}",                    SIGNED_IN,      "document-access"),

    # --- reports (REPORTS_READ) and the dashboard (DASHBOARD_READ). Data-dependent: an
    # admin's or sales' organization must be a supplier (reports.service.resolve_supplier),
    # else 403; a super admin names the supplier ----------------------------------------
    api("GET",    "/reports/sales",                              SUPPLIER_STAFF, "supplier"),
    api("GET",    "/reports/products/popular",                   SUPPLIER_STAFF, "supplier"),
    api("GET",    "/reports/inquiries",                          SUPPLIER_STAFF, "supplier"),
    api("GET",    "/dashboard/stats",                            ADMINS,         "supplier"),

    # --- records: clinical content (approved doctors of a hospital or clinic; the
    # patient reads their own linked charts'); the history is the patient's ----------
    api("GET",    "/patients/medical-history",                   PATIENT,        "own"),
    api("GET",    "/patients/{patient_id}/records",              DOCTOR_PATIENT, "organization"),
    api("POST",   "/patients/{patient_id}/records",              DOCTOR,         "organization"),
    api("GET",    "/patients/{patient_id}/records/{record_id}",  DOCTOR_PATIENT, "organization"),
    api("PUT",    "/patients/{patient_id}/records/{record_id}",  DOCTOR,         "organization"),
    api("DELETE", "/patients/{patient_id}/records/{record_id}",  DOCTOR,         "organization"),

    # --- prescriptions: doctors write and cancel (approved); the organization's doctors
    # read them, its admins list them without the clinical text (one prescription is
    # clinical: doctors only); the QR code is the prescribing organization's doctors'
    # and the patient's; patients read their own; pharmacists act on one they
    # presented; the history is the pharmacy's (its admins and pharmacists) ----------
    api("POST",   "/doctors/prescriptions",                      DOCTOR,         "organization"),
    api("GET",    "/doctors/prescriptions",                      STAFF,          "organization"),
    api("GET",    "/doctors/prescriptions/{prescription_id}",    DOCTOR,         "organization"),
    api("POST",   "/doctors/prescriptions/{prescription_id}/cancel", DOCTOR, "organization"),
    api("GET",    "/patients/prescriptions",                     PATIENT,        "own"),
    api("GET",    "/patients/prescriptions/{prescription_id}",   PATIENT,        "own"),
    api("GET",    "/qr-codes/{prescription_id}",                 DOCTOR_PATIENT, "organization"),
    api("POST",   "/qr-codes/email/{prescription_id}",           DOCTOR_PATIENT, "organization"),
    api("POST",   "/pharmacy/scan",                              PHARMACIST,     "pharmacy-access"),
    api("POST",   "/pharmacy/lookup",                            PHARMACIST,     "pharmacy-access"),
    api("POST",   "/pharmacy/validate/{prescription_id}",        PHARMACIST,     "pharmacy-access"),
    api("POST",   "/pharmacy/dispense/{prescription_id}",        PHARMACIST,     "pharmacy-access"),
    api("POST",   "/pharmacy/reject/{prescription_id}",          PHARMACIST,     "pharmacy-access"),
    api("GET",    "/pharmacy/history",                           PHARMACY,       "organization"),
    # Public: a prescription's QR code is verified by whoever holds it.
    _r("GET",     "/.well-known/prescription-keys",              PUBLIC,         "none"),
    _r("GET",     "/rx/verify",                                  PUBLIC,         "token"),
    _r("GET",     "/rx/{token}",                                 PUBLIC,         "token"),

    # --- patients: a patient's own profile, chart claim and access log (PATIENT_SELF);
    # charts of the organization (PATIENTS_*: its admins and approved doctors) ------
    api("GET",    "/patients/profile",                           PATIENT,        "own"),
    api("PUT",    "/patients/profile",                           PATIENT,        "own"),
    api("POST",   "/patients/claim",                             PATIENT,        "own"),
    api("GET",    "/patients/me/access-log",                     PATIENT,        "own"),
    api("GET",    "/patients",                                   STAFF,          "organization"),
    api("POST",   "/patients",                                   STAFF,          "organization"),
    api("GET",    "/patients/{patient_id}",                      STAFF,          "organization"),
    api("PUT",    "/patients/{patient_id}",                      STAFF,          "organization"),
    api("DELETE", "/patients/{patient_id}",                      ORG_ADMIN,      "organization"),
    api("POST",   "/patients/{patient_id}/restore",              ORG_ADMIN,      "organization"),
    # MedConnect's spelling: the doctor column only.
    api("GET",    "/doctors/patients",                           DOCTOR,         "organization"),
    api("POST",   "/doctors/patients",                           DOCTOR,         "organization"),
    api("GET",    "/doctors/patients/{patient_id}",              DOCTOR,         "organization"),
    api("PUT",    "/doctors/patients/{patient_id}",              DOCTOR,         "organization"),

    # --- consultations: clinical content, as records ------------------------------------
    api("GET",    "/consultations",                              DOCTOR_PATIENT, "organization"),
    api("POST",   "/consultations",                              DOCTOR,         "organization"),
    api("GET",    "/consultations/{consultation_id}",            DOCTOR_PATIENT, "organization"),
    api("PUT",    "/consultations/{consultation_id}",            DOCTOR,         "organization"),
    api("GET",    "/doctors/medical-visits",                     DOCTOR,         "organization"),

    # --- doctors: the directory, profiles and free slots are public; a doctor's own
    # profile and availability (DOCTOR_SELF_MANAGE); the organization's doctors'
    # availability (AVAILABILITY_MANAGE) -------------------------------------------
    api("GET",    "/doctors",                                    PUBLIC,         "any"),
    api("GET",    "/doctors/me/profile",                         DOCTOR,         "own"),
    api("PUT",    "/doctors/me/profile",                         DOCTOR,         "own"),
    api("GET",    "/doctors/me/availability",                    DOCTOR,         "own"),
    api("PUT",    "/doctors/me/availability",                    DOCTOR,         "own"),
    api("GET",    "/doctors/{doctor_id}",                        PUBLIC,         "any"),
    api("GET",    "/doctors/{doctor_id}/availability",           ORG_ADMIN,      "organization"),
    api("PUT",    "/doctors/{doctor_id}/availability",           ORG_ADMIN,      "organization"),
    api("GET",    "/doctors/{doctor_id}/slots",                  PUBLIC,         "any"),

    # --- appointments: patients (their own), approved doctors (theirs) and the
    # organization's admins ------------------------------------------------------
    api("GET",    "/appointments",                               CARE,           "own"),
    api("POST",   "/appointments",                               CARE,           "own"),
    api("GET",    "/appointments/{appointment_id}",              CARE,           "own"),
    api("PUT",    "/appointments/{appointment_id}",              CARE,           "own"),
    api("DELETE", "/appointments/{appointment_id}",              CARE,           "own"),

    # --- billing (paying for care): a patient pays for and disputes their own
    # consultations (BILLING_PAY, a verified address); an organization's admins record
    # the transfer (BILLING_RECORD) and read its ledger, and they or super admins
    # (platform-wide) resolve disputes; approved doctors read their own earnings --------
    api("POST",   "/appointments/{appointment_id}/pay",          PATIENT,        "own"),
    api("POST",   "/appointments/{appointment_id}/payments/mark-paid", ORG_ADMIN, "organization"),
    api("POST",   "/appointments/{appointment_id}/dispute",      PATIENT,        "own"),
    api("POST",   "/appointments/{appointment_id}/dispute/resolve", ADMINS,      "organization"),
    api("GET",    "/billing/ledger",                             ADMINS,         "organization"),
    api("GET",    "/doctors/me/earnings",                        DOCTOR,         "own"),

    # --- uploads: a chart's documents (its organization's admins and approved doctors,
    # or the patient); medical files (approved doctors); one's own (any person) --------
    api("POST",   "/upload/patient",                             CARE,           "organization"),
    api("POST",   "/upload/medical",                             DOCTOR,         "organization"),
    api("POST",   "/upload",                                     SIGNED_IN,      "own"),
    api("GET",    "/upload/{upload_id}",                         SIGNED_IN,      "document-access"),
    api("DELETE", "/upload/{upload_id}",                         SIGNED_IN,      "document-access"),

    # --- pharmacy stock (PHARMACY_STOCK_MANAGE): data-dependent for admins: only an
    # admin of an organization that keeps stock (one that employs pharmacists, not a
    # supplier: stock_keeper_organization) gets through. A reorder is an order too
    # (ORDERS_CREATE; a person with a verified address) ----------------------------
    api("GET",    "/pharmacy/inventory",                         PHARMACY,       "organization"),
    api("POST",   "/pharmacy/inventory/receive",                 PHARMACY,       "organization"),
    api("POST",   "/pharmacy/inventory/adjust",                  PHARMACY,       "organization"),
    api("POST",   "/pharmacy/inventory/reorder",                 PHARMACY,       "organization"),
    api("PUT",    "/pharmacy/inventory/batches/{batch_id}",      PHARMACY,       "organization"),
    api("GET",    "/pharmacy/inventory/{product_id}",            PHARMACY,       "organization"),
    api("PUT",    "/pharmacy/inventory/{product_id}",            PHARMACY,       "organization"),
    api("GET",    "/pharmacy/inventory/{product_id}/movements",  PHARMACY,       "organization"),

    # --- reviews: the public list (listed doctors); patients write and edit their own
    # (REVIEWS_WRITE), the reviewed doctor replies (REVIEWS_REPLY), anyone signed in
    # reports, an organization's admins (its doctors') and super admins moderate
    # (REVIEWS_MODERATE) -------------------------------------------------------------
    api("GET",    "/doctors/{doctor_id}/reviews",                PUBLIC,         "any"),
    api("POST",   "/doctors/{doctor_id}/reviews",                PATIENT,        "own"),
    api("GET",    "/reviews/reported",                           ADMINS,         "organization"),
    api("PUT",    "/reviews/{review_id}",                        PATIENT,        "own"),
    api("PUT",    "/reviews/{review_id}/reply",                  DOCTOR,         "own"),
    api("POST",   "/reviews/{review_id}/report",                 SIGNED_IN,      "any"),
    api("POST",   "/reviews/{review_id}/hide",                   ADMINS,         "organization"),
    api("POST",   "/reviews/{review_id}/unhide",                 ADMINS,         "organization"),
)
# fmt: on


def route_key(access: RouteAccess) -> tuple[str, str]:
    return (access.method, access.path)


def render_matrix() -> str:
    """The table as Markdown: routes by (anonymous, roles), ✓/✗, and the scope."""
    header = "| route | anonymous | " + " | ".join(r.value for r in ROLES) + " | scope |"
    rule = "|---" * (len(ROLES) + 3) + "|"
    rows = []
    for access in ROUTES:
        marks = " | ".join("✓" if access.allows(role) else "✗" for role in ROLES)
        anonymous = "✓" if access.public else "✗"
        route = f"`{access.method} {access.path}`"
        rows.append(f"| {route} | {anonymous} | {marks} | {access.scope} |")
    return "\n".join([header, rule, *rows])
