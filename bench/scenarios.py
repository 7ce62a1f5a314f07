"""What each benchmark scenario requests, and the registry the runner reads.

A scenario names one request that MedHub and the baseline (bench/baseline.py)
both answer. To add one, add a route to the baseline that does the same work
with raw psycopg, then an entry to SCENARIOS. When the request needs data or a
token first, give the scenario a `setup` hook: the runner calls it once per
target, after both services are up and before that target's first round.
A request that must differ from one call to the next (each order a different
product, from a different buyer) lists its variants: the load generator sends
them in turn.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import catalog_data

TARGETS = ("medhub", "baseline")
# Accounts the setup hooks register: one per scenario, so each scenario's state stands alone.
BENCH_PASSWORD = "Bench-Run-7q!Kp2x"  # noqa: S105 - passes MedHub's password policy
SETUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RequestVariant:
    """One of the requests a load generator takes turns with: its own headers (added
    to the spec's), body (instead of the spec's) and, when given, path (instead of the
    spec's: one chart of many, a search by name or by phone)."""

    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    path: str | None = None


@dataclass(frozen=True)
class RequestSpec:
    """The request a load generator repeats against a target.

    With `variants`, request number k is variant k mod len(variants) (round robin
    over the whole run, whatever the connection), e.g. each order for the next
    product; without, every request is the same.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect_status: int = 200
    variants: Sequence[RequestVariant] = ()
    # Other statuses that are answers, not errors: counted apart (`accepted`), e.g. the
    # 409 of a booking whose slot another client has just taken.
    accept_statuses: tuple[int, ...] = ()

    def resolved(self) -> list[tuple[dict[str, str], bytes | None]]:
        """(headers, body) of each distinct request, in the order they are sent."""
        if not self.variants:
            return [(dict(self.headers), self.body)]
        return [({**self.headers, **v.headers}, v.body) for v in self.variants]

    def first_path(self) -> str:
        """The path of the first request sent (the runner's check before the load)."""
        return (self.variants[0].path if self.variants else None) or self.path

    def answers(self, status: int | None) -> bool:
        return status == self.expect_status or status in self.accept_statuses


@dataclass(frozen=True)
class FieldKeys:
    """The keys of MedHub's encrypted columns for one run (FIELD_ENCRYPTION_KEYS and
    FIELD_INDEX_KEY), and the Ed25519 key that signs prescriptions' QR tokens
    (PRESCRIPTION_SIGNING_KEY): given to MedHub, to the baseline (which decrypts and
    searches the same columns, signs and verifies the same tokens) and to the setup
    hooks (which encrypt and sign what they seed)."""

    encryption_keys: str
    index_key: str
    # base64url of the 32-byte private key, as MedHub's setting writes it; empty: none
    # given (MedHub's development mode then generates one of its own).
    prescription_signing_key: str = ""

    @classmethod
    def generate(cls) -> FieldKeys:
        return cls(
            encryption_keys=f"1:{base64.urlsafe_b64encode(os.urandom(32)).decode()}",
            index_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            prescription_signing_key=base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        )


@dataclass(frozen=True)
class SetupContext:
    """What a setup hook may use to prepare a target."""

    target: str  # "medhub" or "baseline"
    base_url: str  # e.g. http://127.0.0.1:40123
    medhub_url: str  # MedHub's, whatever the target: seed through its API (register, log in)
    admin_database_url: str  # the embedded server's superuser: seed data with this
    app_database_url: str  # the application role both services query as
    data_dir: Path
    request: RequestSpec  # the scenario's default request
    # Shared by both targets' calls within one run, so a hook can seed the
    # (shared) database once and hand the second target what the first made.
    state: dict[str, Any]
    # What MedHub encrypts its columns and signs its prescriptions with this run.
    field_keys: FieldKeys | None = None


# Returns the request to repeat (e.g. the default plus an Authorization header),
# or None to keep the default.
SetupHook = Callable[[SetupContext], RequestSpec | None]


class SetupError(Exception):
    """A setup hook could not prepare its data; the message says what MedHub answered."""


@dataclass(frozen=True)
class Scenario:
    path: str
    description: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect_status: int = 200
    setup: SetupHook | None = None
    accept_statuses: tuple[int, ...] = ()

    def request(self) -> RequestSpec:
        return RequestSpec(
            method=self.method,
            path=self.path,
            headers=dict(self.headers),
            body=self.body,
            expect_status=self.expect_status,
            accept_statuses=self.accept_statuses,
        )


def _call(
    base_url: str,
    method: str,
    path: str,
    payload: dict[str, str],
    expect: int,
    *,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """One JSON request for a setup hook; its `data`, or SetupError with the answer."""
    # trust_env=False: no proxy from the environment may redirect a loopback request.
    with httpx.Client(base_url=base_url, timeout=SETUP_TIMEOUT_S, trust_env=False) as client:
        try:
            response = client.request(method, path, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise SetupError(f"{method} {base_url}{path} failed: {exc}") from exc
    if response.status_code != expect:
        raise SetupError(
            f"{method} {base_url}{path} answered {response.status_code}, expected {expect}: "
            f"{response.text[:500]}"
        )
    try:
        return response.json()["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SetupError(f"{method} {base_url}{path}: no `data` in {response.text[:500]}") from exc


def _login_payload(email: str) -> dict[str, str]:
    return {"email": email, "password": BENCH_PASSWORD}


def _registered_user(ctx: SetupContext, label: str) -> str:
    """Register `bench-<label>@example.com` through MedHub's API, once per run; its email."""
    if "email" not in ctx.state:
        address = f"bench-{label}@example.com"
        account = {
            "email": address,
            "password": BENCH_PASSWORD,
            "full_name": "Bench User",
            "role": "customer",
        }
        _call(ctx.medhub_url, "POST", "/api/v1/auth/register", account, 201)
        ctx.state["email"] = address
    return str(ctx.state["email"])


def setup_login(ctx: SetupContext) -> RequestSpec:
    """Both targets log the same MedHub-registered user in, with the same JSON body."""
    email = _registered_user(ctx, "login")
    return dataclasses.replace(
        ctx.request,
        headers={"Content-Type": "application/json"},
        body=json.dumps(_login_payload(email)).encode(),
    )


def _login(base_url: str, email: str) -> str:
    data = _call(base_url, "POST", "/api/v1/auth/login", _login_payload(email), 200)
    return str(data["access_token"])


def _session_token(ctx: SetupContext, label: str) -> str:
    """Register `bench-<label>@example.com` and log it in through MedHub, once per run.

    Both targets get this one access token (same secret, same session), so both
    check one live session."""
    email = _registered_user(ctx, label)
    if "token" not in ctx.state:
        ctx.state["token"] = _login(ctx.medhub_url, email)
    return str(ctx.state["token"])


def setup_me(ctx: SetupContext) -> RequestSpec:
    token = _session_token(ctx, "me")
    return dataclasses.replace(ctx.request, headers={"Authorization": f"Bearer {token}"})


# --- MedPharm: catalog and orders ------------------------------------------------------

SEEDED_CODES_SQL = (
    "SELECT id FROM products WHERE manufacturer_code LIKE %s ORDER BY manufacturer_code"
)
DEFAULT_SUPPLIER_SQL = "SELECT id FROM organizations WHERE slug = 'medpharm'"
COPY_PRODUCTS_SQL = f"COPY products ({', '.join(catalog_data.COLUMNS)}) FROM STDIN"
COPY_CERTIFICATIONS_SQL = (
    f"COPY product_certifications ({', '.join(catalog_data.CERTIFICATION_COLUMNS)}) FROM STDIN"
)
# Buyers for the order scenarios beyond the first (registered through the API): copies
# of its row, same password hash, verified. Inserted by the superuser (no RLS).
CLONE_BUYER_SQL = (
    "INSERT INTO users (id, email, password_hash, full_name, role, organization_id,"
    " is_verified, is_active, is_approved)"
    " SELECT %s, %s, password_hash, full_name, role, organization_id, true, true,"
    " is_approved FROM users WHERE email = %s"
)
VERIFY_USER_SQL = "UPDATE users SET is_verified = true WHERE email = %s"
# As many buyers as the default --connections: at any moment nearly every request in
# flight is a different buyer's. MedHub serialises one buyer's orders (notify() takes
# a per-user advisory lock until COMMIT), which one shared buyer would measure instead.
ORDER_BUYERS = 64
SETUP_LOGIN_THREADS = 4
BUYER_ADDRESS = {
    "address_type": "shipping",
    "street_address": "12 Harbour Road",
    "city": "Springfield",
    "state_province": "IL",
    "postal_code": "62701",
    "country": "US",
}


def _seed_catalog(ctx: SetupContext) -> list[uuid.UUID]:
    """The MedPharm catalog (bench/catalog_data.py), seeded once per run; every
    product's id, by index.

    Each scenario has its own `state` but all share the run's database, so whether
    to seed is the database's answer: an earlier scenario of the run may have."""
    if "product_ids" in ctx.state:
        return list(ctx.state["product_ids"])
    pattern = f"{catalog_data.CODE_PREFIX}%"
    with psycopg.connect(ctx.admin_database_url, autocommit=True) as conn:
        ids = [row[0] for row in conn.execute(SEEDED_CODES_SQL, (pattern,))]
        if not ids:
            supplier = conn.execute(DEFAULT_SUPPLIER_SQL).fetchone()
            if supplier is None:
                raise SetupError("no default supplier (organizations.slug = 'medpharm')")
            with conn.transaction(), conn.cursor() as cursor:
                with cursor.copy(COPY_PRODUCTS_SQL) as copy:
                    for product in catalog_data.products(supplier[0]):
                        copy.write_row(catalog_data.row_values(product))
                detail_id = cursor.execute(
                    "SELECT id FROM products WHERE manufacturer_code = %s",
                    (catalog_data.manufacturer_code(catalog_data.DETAIL_INDEX),),
                ).fetchone()
                if detail_id is None:
                    raise SetupError("the seeded catalog has no detail product")
                with cursor.copy(COPY_CERTIFICATIONS_SQL) as copy:
                    for certification in catalog_data.certifications(detail_id[0]):
                        copy.write_row(catalog_data.row_values(certification))
            # Statistics and the visibility map now, so neither the planner nor the
            # first measured round (MedHub's) works on a table it has never seen.
            conn.execute("VACUUM (ANALYZE) products, product_certifications")
            ids = [row[0] for row in conn.execute(SEEDED_CODES_SQL, (pattern,))]
    if len(ids) != catalog_data.PRODUCT_COUNT:
        raise SetupError(
            f"expected {catalog_data.PRODUCT_COUNT:,} seeded products, found {len(ids):,}"
        )
    ctx.state["product_ids"] = ids
    return ids


def setup_catalog_browse(ctx: SetupContext) -> RequestSpec | None:
    _seed_catalog(ctx)
    return None


def setup_catalog_browse_auth(ctx: SetupContext) -> RequestSpec:
    _seed_catalog(ctx)
    token = _session_token(ctx, "catalog")
    return dataclasses.replace(ctx.request, headers={"Authorization": f"Bearer {token}"})


def setup_product_detail(ctx: SetupContext) -> RequestSpec:
    product_id = _seed_catalog(ctx)[catalog_data.DETAIL_INDEX]
    return dataclasses.replace(ctx.request, path=f"/api/v1/products/{product_id}")


@dataclass(frozen=True)
class Buyer:
    token: str
    address_id: str


def _buyer(base_url: str, email: str) -> Buyer:
    """Log in and add a shipping address through MedHub, as a buyer would."""
    token = _login(base_url, email)
    headers = {"Authorization": f"Bearer {token}"}
    address = _call(
        base_url, "POST", "/api/v1/users/addresses", BUYER_ADDRESS, 201, headers=headers
    )
    return Buyer(token=token, address_id=str(address["id"]))


def _buyers(ctx: SetupContext, label: str) -> list[Buyer]:
    """ORDER_BUYERS verified customers with an address and a live session, once per run:
    the first registered through MedHub's API, the others copies of its row."""
    if "buyers" in ctx.state:
        return list(ctx.state["buyers"])
    first = _registered_user(ctx, label)
    emails = [first] + [f"bench-{label}-{n:02d}@example.com" for n in range(1, ORDER_BUYERS)]
    with psycopg.connect(ctx.admin_database_url) as conn, conn.cursor() as cursor:
        # Orders are for verified buyers only; the bench has no inbox to click the link in.
        cursor.execute(VERIFY_USER_SQL, (first,))
        cursor.executemany(CLONE_BUYER_SQL, [(uuid.uuid4(), e, first) for e in emails[1:]])
    # Each login verifies an Argon2id hash: a few at once keep MedHub's hash threads busy.
    with ThreadPoolExecutor(max_workers=SETUP_LOGIN_THREADS) as pool:
        buyers = list(pool.map(lambda email: _buyer(ctx.medhub_url, email), emails))
    ctx.state["buyers"] = buyers
    return buyers


def _order_variant(buyer: Buyer, product_id: uuid.UUID) -> RequestVariant:
    body = {
        "items": [{"product_id": str(product_id), "quantity": 1}],
        "shipping_address_id": buyer.address_id,
    }
    return RequestVariant(
        headers={"Authorization": f"Bearer {buyer.token}"}, body=json.dumps(body).encode()
    )


def setup_order_create(ctx: SetupContext) -> RequestSpec:
    """Request k: 1 unit of order product k mod 1,000, from buyer k mod 64."""
    products = _seed_catalog(ctx)[: catalog_data.ORDER_PRODUCTS]
    buyers = _buyers(ctx, "order")
    variants = [
        _order_variant(buyers[index % len(buyers)], product_id)
        for index, product_id in enumerate(products)
    ]
    return dataclasses.replace(ctx.request, variants=variants)


def setup_order_create_contended(ctx: SetupContext) -> RequestSpec:
    """Request k: 1 unit of the one contended product, from buyer k mod 64."""
    product_id = _seed_catalog(ctx)[0]
    buyers = _buyers(ctx, "order-contended")
    return dataclasses.replace(
        ctx.request, variants=[_order_variant(buyer, product_id) for buyer in buyers]
    )


SCENARIOS: dict[str, Scenario] = {
    "health": Scenario(
        path="/health/live",
        description="Liveness: routing, middleware and the JSON envelope, no database",
    ),
    "ready": Scenario(
        path="/health/ready",
        description="Readiness: one pooled query (SELECT version_num FROM alembic_version)",
    ),
    "login": Scenario(
        path="/api/v1/auth/login",
        method="POST",
        description=(
            "Log in one user, again and again: verify an Argon2id hash (in a thread pool of "
            "MedHub's PASSWORD_HASH_WORKERS size on both). "
            "MedHub also writes a session, a refresh token, an audit row (hash-chained) and "
            "updates the user; the baseline selects the user (system RLS context), verifies, "
            "inserts the session and signs the JWT"
        ),
        setup=setup_login,
    ),
    "me": Scenario(
        path="/api/v1/users/me",
        description=(
            "Own profile with a bearer token: verify the JWT, auth_context() (session live, "
            "user and organization active, RLS context), select the profile"
        ),
        setup=setup_me,
    ),
    "catalog-browse": Scenario(
        path=(
            f"/api/v1/products?category={catalog_data.BROWSE_CATEGORY}"
            "&sort=price&order=desc&page=3&limit=20"
        ),
        description=(
            "Anonymous catalog page 3 of one category (2,500 of 10,000 products) by price, "
            "descending: one query with a window count (sorts the whole category), 20 rows "
            "shaped with public prices and stock"
        ),
        setup=setup_catalog_browse,
    ),
    "catalog-browse-auth": Scenario(
        path=f"/api/v1/products?search={catalog_data.SEARCH_TERM}&in_stock=true&limit=20",
        description=(
            "Full-text search as a logged-in customer: verify the JWT, auth_context(), then "
            "one query matching ~235 of 10,000 products (tsvector @@ websearch_to_tsquery "
            "OR name ILIKE), in stock, ranked by ts_rank_cd + trigram similarity, "
            "with a window count"
        ),
        setup=setup_catalog_browse_auth,
    ),
    "product-detail": Scenario(
        path="/api/v1/products/{id}",
        description=(
            "Anonymous product detail: the product row, its 2 certifications (is_expired "
            "computed), its documents (none): three queries"
        ),
        setup=setup_product_detail,
    ),
    "order-create": Scenario(
        path="/api/v1/orders",
        method="POST",
        headers={"Content-Type": "application/json"},
        expect_status=201,
        description=(
            "Place an order of 1 unit, spread: round robin over 1,000 products and 64 "
            "verified buyers. One transaction: auth_context, address, product, buyer, "
            "nextval(order_number_seq), insert order + item, conditional reserve UPDATE, "
            "stock movement, low-stock check, notification (per-buyer advisory lock), "
            "rendered confirmation email + its job, audit row (hash-chained: one global "
            "lock until COMMIT)"
        ),
        setup=setup_order_create,
    ),
    "order-create-contended": Scenario(
        path="/api/v1/orders",
        method="POST",
        headers={"Content-Type": "application/json"},
        expect_status=201,
        description=(
            "The same order, always the same product (64 buyers): every reservation "
            "waits for the one product row's lock, held until COMMIT"
        ),
        setup=setup_order_create_contended,
    ),
}
