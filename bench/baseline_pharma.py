"""The baseline's MedPharm routes: catalog browse and search, product detail, placing an order.

Each sends the statements MedHub sends for the same request (read from its
PostgreSQL statement log), in one transaction, with raw psycopg, and answers
with the same body. Where a raw implementation naturally needs fewer round
trips it takes them: the order's email row is inserted with its job id (MedHub
inserts, defers, then updates the row), and the order's timestamps come back
from its INSERT (MedHub re-selects them). What is left of the gap is MedHub's
layers: FastAPI, dependency injection, pydantic, the SQLAlchemy ORM.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import orjson
import uuid_utils.compat as uuid_compat
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import REPO_ROOT
from bench.baseline_kit import (
    Unauthenticated,
    bearer_claims,
    error_response,
    json_response,
    optional_bearer_claims,
    pool_of,
)

# MedHub's defaults (medhub.config): the bench changes none of them.
PUBLIC_PRICES = True  # CATALOG_PUBLIC_PRICES
PUBLIC_STOCK = True  # CATALOG_PUBLIC_STOCK
ORDER_MAX_ITEMS = 100
ORDER_PAYMENT_TIMEOUT = timedelta(minutes=72 * 60)
PAYMENT_PROVIDER = "manual"
FRONTEND_URL = os.environ.get("FRONTEND_URL", "http://localhost:3000").rstrip("/")
MAX_LIMIT, DEFAULT_LIMIT, MAX_PAGE = 100, 20, 1_000_000
CENT = Decimal("0.01")
# medhub.authz.permissions: who may place orders, who acts for a supplier.
ORDERING_ROLES = frozenset({"admin", "sales", "customer", "distributor", "pharmacist"})
SUPPLIER_STAFF_ROLES = frozenset({"admin", "sales"})
TRUE_WORDS = frozenset({"true", "1", "yes", "on", "t", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "f", "n"})

# The same templates MedHub renders, by the same Jinja settings (medhub.kit.email).
TEMPLATES = Environment(
    loader=FileSystemLoader(REPO_ROOT / "src" / "medhub" / "templates" / "email"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)

PRODUCT_COLUMNS = (
    "id",
    "supplier_id",
    "name",
    "category",
    "description",
    "dosage",
    "packaging",
    "indication",
    "manufacturer_code",
    "price",
    "distributor_price",
    "currency",
    "stock_quantity",
    "reserved_quantity",
    "min_order_quantity",
    "low_stock_threshold",
    "is_active",
    "created_at",
    "updated_at",
)
PRODUCT_SELECT = f"SELECT {', '.join(PRODUCT_COLUMNS)}"
# Called with the session's context: the role and organization decide prices and figures.
AUTH_CONTEXT_SQL = (
    "SELECT session_ok, user_active, org_active, user_verified, user_role, user_org"
    " FROM auth_context(%s, %s)"
)
# The search condition and rank of medhub.catalog.repository.ProductRepository.search.
SEARCH_CONDITION = (
    "(search_vector @@ websearch_to_tsquery('english', %(search)s)"
    " OR name ILIKE %(pattern)s ESCAPE '\\')"
)
SEARCH_RANK = (
    "ts_rank_cd(search_vector, websearch_to_tsquery('english', %(search)s))"
    " + similarity(name, %(search)s)"
)
SORT_COLUMNS = {"name": "name", "price": "price", "created_at": "created_at"}
PRODUCT_BY_ID_SQL = f"{PRODUCT_SELECT} FROM products WHERE id = %s"
PRODUCTS_BY_IDS_SQL = f"{PRODUCT_SELECT} FROM products WHERE id = ANY(%s)"
CERTIFICATIONS_SQL = (
    "SELECT id, product_id, certification_type, certificate_number, issue_date, expiry_date,"
    " certificate_url FROM product_certifications WHERE product_id = %s"
    " ORDER BY expiry_date, id"
)
DOCUMENTS_SQL = (
    "SELECT id, document_type, file_name, file_size, mime_type, created_at FROM documents"
    " WHERE entity_type = 'product' AND entity_id = %s ORDER BY created_at DESC, id DESC"
)

# Placing an order: medhub.orders.placing.create_order, statement by statement.
ADDRESS_COLUMNS = (
    "address_type",
    "street_address",
    "city",
    "state_province",
    "postal_code",
    "country",
)
ADDRESS_SQL = (
    "SELECT id, address_type, street_address, city, state_province, postal_code, country"
    " FROM addresses WHERE id = %s AND user_id = %s"
)
BUYER_NAME_SQL = "SELECT full_name FROM users WHERE id = %s"
NEXT_ORDER_NUMBER_SQL = "SELECT nextval('order_number_seq')"
INSERT_ORDER_SQL = (
    "INSERT INTO orders (id, order_number, user_id, buyer_organization_id, supplier_id,"
    " total_amount, currency, pricing_tier, status, payment_status, payment_provider,"
    " shipping_address_id, billing_address_id, shipping_address, billing_address, notes,"
    " expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', 'pending', %s, %s, %s,"
    " %s, %s, %s, %s) RETURNING created_at, updated_at"
)
INSERT_ITEM_SQL = (
    "INSERT INTO order_items (id, order_id, product_id, product_name, manufacturer_code,"
    " category, quantity, unit_price, subtotal) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
# The oversell guard (medhub.catalog.repository.StockRepository.change): the row changes
# only if enough is available; a concurrent order waits for the row lock and re-checks.
RESERVE_SQL = (
    "UPDATE products SET reserved_quantity = reserved_quantity + %(qty)s, updated_at = now()"
    " WHERE id = %(id)s AND is_active AND stock_quantity - reserved_quantity >= %(qty)s"
    " RETURNING stock_quantity, reserved_quantity"
)
INSERT_MOVEMENT_SQL = (
    "INSERT INTO stock_movements (id, product_id, kind, quantity, stock_after, reserved_after,"
    " reason, order_id, actor_id) VALUES (%s, %s, 'reservation', %s, %s, %s,"
    " 'Reserved for order', %s, %s)"
)
LOW_STOCK_SQL = (
    "UPDATE products SET low_stock_alerted ="
    " (stock_quantity - reserved_quantity < low_stock_threshold), updated_at = now()"
    " WHERE id = %s AND low_stock_alerted !="
    " (stock_quantity - reserved_quantity < low_stock_threshold) RETURNING low_stock_alerted"
)
RECIPIENT_SQL = (
    "SELECT email, full_name, is_active, pref_in_app, pref_email"
    " FROM notification_recipient(%s, 'order')"
)
NOTIFY_SQL = "SELECT seq FROM notification_insert(%s, %s, 'order', %s, %s, %s::jsonb)"
# procrastinate's own defer function, as its connector calls it.
DEFER_SQL = (
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(%s, %s, 0, NULL, NULL, %s::jsonb,"
    " NULL)::procrastinate_job_to_defer_v1]))"
)
INSERT_EMAIL_SQL = (
    "INSERT INTO email_messages (id, to_address, template, subject, text_body, html_body,"
    " attachments, user_id, status, attempts, job_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, '[]'::jsonb, %s, 'queued', 0, %s)"
)
# The trigger on activity_logs chains the row's hash under a lock on the chain tip,
# held until COMMIT: written last, like MedHub's before_commit hook.
INSERT_AUDIT_SQL = (
    "INSERT INTO activity_logs (id, organization_id, user_id, action, entity_type, entity_id,"
    " ip_address, user_agent, metadata) VALUES (%s, %s, %s, 'order_created', 'order', %s,"
    " %s, %s, %s::jsonb)"
)
ORDER_NULL_FIELDS = (
    "tracking_number",
    "carrier",
    "cancel_reason",
    "confirmed_at",
    "shipped_at",
    "delivered_at",
    "cancelled_at",
    "paid_at",
)


class Rejected(Exception):
    """The request cannot be served as sent; the answer to give instead."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _invalid(message: str, field: str, problem: str) -> Rejected:
    details = [{"field": field, "message": problem}]
    return Rejected(error_response(400, "VALIDATION_ERROR", message, details))


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Viewer:
    """Who the catalog shows itself to (medhub.catalog.access.Viewer)."""

    def __init__(self, role: str | None = None, organization_id: uuid.UUID | None = None):
        self.role = role
        self.organization_id = organization_id

    def is_staff_of(self, supplier_id: uuid.UUID) -> bool:
        return self.role == "super_admin" or (
            self.role in SUPPLIER_STAFF_ROLES and self.organization_id == supplier_id
        )

    def is_distributor_of(self, supplier_id: uuid.UUID) -> bool:
        return self.role == "distributor" and self.organization_id == supplier_id


def _product_view(row: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    supplier_id = row["supplier_id"]
    staff = viewer.is_staff_of(supplier_id)
    special = viewer.is_distributor_of(supplier_id) and row["distributor_price"]
    show_price = viewer.role is not None or PUBLIC_PRICES
    show_stock = viewer.role is not None or PUBLIC_STOCK
    available = row["stock_quantity"] - row["reserved_quantity"]
    price = row["distributor_price"] if special else row["price"]
    return {
        "id": row["id"],
        "supplier_id": supplier_id,
        "name": row["name"],
        "category": row["category"],
        "description": row["description"],
        "dosage": row["dosage"],
        "packaging": row["packaging"],
        "indication": row["indication"],
        "manufacturer_code": row["manufacturer_code"],
        "price": _money(price) if show_price else None,
        "list_price": _money(row["price"]) if show_price else None,
        "currency": row["currency"],
        "stock_quantity": row["stock_quantity"] if show_stock else None,
        "available_quantity": available if show_stock else None,
        "in_stock": available > 0 if show_stock else None,
        "min_order_quantity": row["min_order_quantity"],
        "is_active": row["is_active"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "reserved_quantity": row["reserved_quantity"] if staff else None,
        "distributor_price": _money(row["distributor_price"]) if staff or special else None,
        "low_stock_threshold": row["low_stock_threshold"] if staff else None,
    }


async def _viewer(conn: AsyncConnection[Any], request: Request) -> Viewer:
    """Anonymous, or the caller of a live session (auth_context also sets the RLS context)."""
    try:
        claims = optional_bearer_claims(request)
    except Unauthenticated as exc:
        raise Rejected(error_response(401, "AUTHENTICATION_ERROR", str(exc))) from exc
    if claims is None:
        return Viewer()
    row = await _auth_context(conn, claims)
    return Viewer(row[4], row[5])


async def _auth_context(
    conn: AsyncConnection[Any], claims: tuple[uuid.UUID, uuid.UUID]
) -> tuple[Any, ...]:
    user_id, session_id = claims
    cursor = await conn.execute(AUTH_CONTEXT_SQL, (session_id, user_id))
    row = await cursor.fetchone()
    if row is None or not (row[0] and row[1] and row[2]):
        raise Rejected(error_response(401, "AUTHENTICATION_ERROR", "This session has ended"))
    return tuple(row)


def _int_param(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise _invalid("Invalid query", name, "must be an integer") from exc
    if not 1 <= value <= high:
        raise _invalid("Invalid query", name, f"must be between 1 and {high}")
    return value


def _price_param(request: Request, name: str) -> Decimal | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise _invalid("Invalid query", name, "must be a number") from exc
    if not value.is_finite() or value < 0:
        raise _invalid("Invalid query", name, "must be a non-negative number")
    return value


def _bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise _invalid("Invalid query", name, "must be a boolean")


def _catalog_query(request: Request) -> tuple[str, str, dict[str, Any], int, int, bool]:
    """The page query of ProductRepository.search for these parameters and its count;
    (sql, count_sql, params, page, limit, whether the page counts with a window)."""
    query = request.query_params
    page = _int_param(request, "page", 1, MAX_PAGE)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    params: dict[str, Any] = {"limit": limit, "offset": (page - 1) * limit}
    where = ["is_active"]
    if category := query.get("category"):
        where.append("category = %(category)s")
        params["category"] = category.lower()
    if supplier := query.get("supplier_id"):
        try:
            params["supplier_id"] = uuid.UUID(supplier)
        except ValueError as exc:
            raise _invalid("Invalid query", "supplier_id", "must be a UUID") from exc
        where.append("supplier_id = %(supplier_id)s")
    in_stock = _bool_param(request, "in_stock")
    if in_stock is True:
        where.append("stock_quantity > reserved_quantity")
    elif in_stock is False:
        where.append("stock_quantity <= reserved_quantity")
    for name, condition in (("min_price", "price >= "), ("max_price", "price <= ")):
        if (value := _price_param(request, name)) is not None:
            where.append(f"{condition}%({name})s")
            params[name] = value
    search = query.get("search")
    if search is not None and not 1 <= len(search) <= 200:
        raise _invalid("Invalid query", "search", "between 1 and 200 characters")
    if search:
        where.append(SEARCH_CONDITION)
        params["search"] = search
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["pattern"] = f"%{escaped}%"
    sort = query.get("sort") or ("relevance" if search else "name")
    descending = query.get("order", "asc") == "desc"
    if sort == "relevance" and search:
        ordering = f"{SEARCH_RANK} DESC, name ASC, id ASC"
    else:
        column = SORT_COLUMNS.get(sort, "name")
        ordering = (
            f"{column} DESC NULLS LAST, id DESC"
            if descending
            else f"{column} ASC NULLS LAST, id ASC"
        )
    # Every fragment is a constant of this module; values are bound parameters. A text
    # search counts its few hundred matches with a window; a browse takes its page in
    # index order and counts separately, only when the page does not show the end (the
    # SQL a specialist writes: a window count would read and sort the whole category).
    condition = " AND ".join(where)
    window = ", count(*) OVER () AS total" if search else ""
    sql = (
        f"{PRODUCT_SELECT}{window} FROM products"
        f" WHERE {condition} ORDER BY {ordering}"
        " LIMIT %(limit)s OFFSET %(offset)s"
    )
    count_sql = f"SELECT count(*) FROM products WHERE {condition}"  # noqa: S608 - see above
    return sql, count_sql, params, page, limit, bool(search)


async def list_products(request: Request) -> Response:
    try:
        sql, count_sql, params, page, limit, windowed = _catalog_query(request)
        async with pool_of(request).connection() as conn:
            viewer = await _viewer(conn, request)
            cursor = await conn.execute(sql, params)
            rows = await cursor.fetchall()
            offset = params["offset"]
            if windowed and rows:
                total = rows[0][-1]
            elif not windowed and rows and len(rows) < limit:
                total = offset + len(rows)
            elif not rows and offset == 0:
                total = 0
            else:
                count = await (await conn.execute(count_sql, params)).fetchone()
                total = count[0] if count else 0
    except Rejected as rejected:
        return rejected.response
    items = [_product_view(dict(zip(PRODUCT_COLUMNS, row, strict=False)), viewer) for row in rows]
    pagination = {
        "page": page,
        "limit": limit,
        "total": total,
        "total_pages": -(-total // limit) if total else 0,
    }
    return json_response({"success": True, "data": {"products": items, "pagination": pagination}})


async def product_detail(request: Request) -> Response:
    try:
        product_id = uuid.UUID(request.path_params["product_id"])
    except ValueError:
        return error_response(400, "VALIDATION_ERROR", "Invalid product id")
    try:
        async with pool_of(request).connection() as conn:
            viewer = await _viewer(conn, request)
            row = await (await conn.execute(PRODUCT_BY_ID_SQL, (product_id,))).fetchone()
            product = dict(zip(PRODUCT_COLUMNS, row, strict=True)) if row else None
            if product is None or (
                not product["is_active"] and not viewer.is_staff_of(product["supplier_id"])
            ):
                return error_response(404, "NOT_FOUND", "Product not found")
            certifications = await (
                await conn.execute(CERTIFICATIONS_SQL, (product_id,))
            ).fetchall()
            documents = await (await conn.execute(DOCUMENTS_SQL, (product_id,))).fetchall()
    except Rejected as rejected:
        return rejected.response
    today = datetime.now(UTC).date()
    data = _product_view(product, viewer)
    data["certifications"] = [_certification(row, today) for row in certifications]
    data["documents"] = [
        {
            "id": doc_id,
            "document_type": doc_type,
            "file_name": file_name,
            "file_size": file_size,
            "mime_type": mime_type,
            "created_at": created_at,
            "download_url": f"/api/v1/documents/{doc_id}/download",
        }
        for doc_id, doc_type, file_name, file_size, mime_type, created_at in documents
    ]
    return json_response({"success": True, "data": data})


def _certification(row: tuple[Any, ...], today: date) -> dict[str, Any]:
    cert_id, product_id, cert_type, number, issued, expires, url = row
    return {
        "id": cert_id,
        "product_id": product_id,
        "type": cert_type,
        "certificate_number": number,
        "issue_date": issued,
        "expiry_date": expires,
        "certificate_url": url,
        "is_expired": expires < today,
    }


# --- placing an order ---------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRequest:
    lines: list[tuple[uuid.UUID, int]]  # (product id, quantity)
    shipping_address_id: uuid.UUID
    billing_address_id: uuid.UUID | None
    notes: str | None


def _order_request(body: Any) -> OrderRequest:
    """The body of POST /orders (medhub.orders.schemas.OrderCreate), or Rejected."""
    if not isinstance(body, dict):
        raise _invalid("Invalid order", "body", "expected a JSON object")
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= ORDER_MAX_ITEMS:
        raise _invalid("Invalid order", "items", f"1 to {ORDER_MAX_ITEMS} lines")
    lines: list[tuple[uuid.UUID, int]] = []
    for index, item in enumerate(items):
        try:
            product_id = uuid.UUID(str(item["product_id"]))
            quantity = item["quantity"]
        except (KeyError, TypeError, ValueError) as exc:
            raise _invalid("Invalid order", f"items[{index}]", "product_id and quantity") from exc
        if not isinstance(quantity, int) or not 1 <= quantity <= 1_000_000:
            raise _invalid("Invalid order", f"items[{index}].quantity", "1 to 1,000,000")
        if any(product_id == seen for seen, _ in lines):
            raise _invalid("Invalid order", f"items[{index}]", "same product twice")
        lines.append((product_id, quantity))
    notes = body.get("notes")
    try:
        shipping = uuid.UUID(str(body["shipping_address_id"]))
        billing = body.get("billing_address_id")
        return OrderRequest(
            lines=lines,
            shipping_address_id=shipping,
            billing_address_id=None if billing is None else uuid.UUID(str(billing)),
            notes=notes if isinstance(notes, str) else None,
        )
    except (KeyError, ValueError) as exc:
        raise _invalid("Invalid order", "shipping_address_id", "an address id") from exc


async def _address(
    conn: AsyncConnection[Any], address_id: uuid.UUID, user_id: uuid.UUID, field: str
) -> dict[str, Any]:
    row = await (await conn.execute(ADDRESS_SQL, (address_id, user_id))).fetchone()
    if row is None:
        raise _invalid("Unknown address", field, "not one of your addresses")
    return dict(zip(ADDRESS_COLUMNS, row[1:], strict=True))


def _address_lines(snapshot: dict[str, Any], full_name: str) -> list[str]:
    parts = (snapshot.get("city"), snapshot.get("state_province"), snapshot.get("postal_code"))
    city = " ".join(part for part in parts if part)
    return [full_name, snapshot["street_address"], city, snapshot["country"]]


async def _defer(conn: AsyncConnection[Any], queue: str, task: str, args: dict[str, str]) -> int:
    row = await (await conn.execute(DEFER_SQL, (queue, task, json.dumps(args)))).fetchone()
    if row is None:
        raise RuntimeError("procrastinate_defer_jobs_v1 returned no job id")
    return int(row[0])


@dataclass
class PricedOrder:
    items: list[dict[str, Any]]
    supplier_id: uuid.UUID
    currency: str
    pricing_tier: str
    total: Decimal


def _price(
    order: OrderRequest, products: dict[uuid.UUID, dict[str, Any]], viewer: Viewer
) -> PricedOrder:
    """Snapshot name and price per line, from the catalog rows (medhub.catalog.price_for)."""
    items: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    tiers: set[str] = set()
    total = Decimal("0.00")
    for index, (product_id, quantity) in enumerate(order.lines):
        product = products.get(product_id)
        field = f"items[{index}]"
        if product is None or not product["is_active"]:
            problems.append({"field": f"{field}.product_id", "message": "no such product"})
            continue
        if quantity < product["min_order_quantity"]:
            problems.append({"field": f"{field}.quantity", "message": "below the minimum"})
        special = product["distributor_price"]
        if viewer.is_distributor_of(product["supplier_id"]) and special is not None:
            unit_price, tier = special, "distributor"
        else:
            unit_price, tier = product["price"], "list"
        if unit_price is None:
            problems.append({"field": f"{field}.product_id", "message": "priced on request"})
            continue
        tiers.add(tier)
        subtotal = _cents(unit_price * quantity)
        total += subtotal
        items.append(
            {
                "id": uuid_compat.uuid7(),
                "product_id": product_id,
                "product_name": product["name"],
                "manufacturer_code": product["manufacturer_code"],
                "category": product["category"],
                "quantity": quantity,
                "unit_price": unit_price,
                "subtotal": subtotal,
            }
        )
    suppliers = {p["supplier_id"] for p in products.values()}
    currencies = {p["currency"] for p in products.values()}
    if len(suppliers) > 1 or len(currencies) > 1:
        problems.append({"field": "items", "message": "one supplier and one currency per order"})
    if problems:
        raise Rejected(error_response(400, "VALIDATION_ERROR", "Cannot place the order", problems))
    return PricedOrder(
        items=items,
        supplier_id=next(iter(suppliers)),
        currency=next(iter(currencies)),
        pricing_tier="distributor" if "distributor" in tiers else "list",
        total=_cents(total),
    )


async def _reserve(
    conn: AsyncConnection[Any],
    lines: list[tuple[uuid.UUID, int]],
    order_id: uuid.UUID,
    actor: uuid.UUID,
) -> None:
    """medhub.catalog.stock.reserve: the guarded UPDATE per line, the movement rows,
    the low-stock flag."""
    movements = []
    # One lock order for every transaction (by id bytes, as MedHub): no deadlocks.
    for product_id, quantity in sorted(lines, key=lambda line: line[0].bytes):
        cursor = await conn.execute(RESERVE_SQL, {"qty": quantity, "id": product_id})
        figures = await cursor.fetchone()
        if figures is None:
            raise Rejected(error_response(409, "INSUFFICIENT_STOCK", "Not enough stock"))
        movements.append((uuid_compat.uuid7(), product_id, quantity, *figures, order_id, actor))
    async with conn.cursor() as batch:
        await batch.executemany(INSERT_MOVEMENT_SQL, movements)
    for product_id, _ in lines:
        low = await (await conn.execute(LOW_STOCK_SQL, (product_id,))).fetchone()
        if low is not None and low[0]:
            await _defer(
                conn, "default", "medhub.catalog.alert_low_stock", {"product_id": str(product_id)}
            )


async def _place(
    conn: AsyncConnection[Any],
    request: Request,
    claims: tuple[uuid.UUID, uuid.UUID],
    sent: OrderRequest,
) -> dict[str, Any]:
    """medhub.orders.placing.create_order in one transaction; the order as OrderRead."""
    user_id = claims[0]
    _, _, _, verified, role, org_id = await _auth_context(conn, claims)
    if role not in ORDERING_ROLES:
        raise Rejected(error_response(403, "AUTHORIZATION_ERROR", "Your role may not order"))
    if not verified:
        raise Rejected(error_response(403, "AUTHORIZATION_ERROR", "Verify your email first"))
    shipping = await _address(conn, sent.shipping_address_id, user_id, "shipping_address_id")
    billing_id = sent.billing_address_id or sent.shipping_address_id
    billing = (
        await _address(conn, billing_id, user_id, "billing_address_id")
        if sent.billing_address_id is not None
        else shipping
    )
    cursor = await conn.execute(PRODUCTS_BY_IDS_SQL, ([pid for pid, _ in sent.lines],))
    rows = await cursor.fetchall()
    products = {row[0]: dict(zip(PRODUCT_COLUMNS, row, strict=True)) for row in rows}
    priced = _price(sent, products, Viewer(role, org_id))
    buyer = await (await conn.execute(BUYER_NAME_SQL, (user_id,))).fetchone()
    number = await (await conn.execute(NEXT_ORDER_NUMBER_SQL)).fetchone()
    if buyer is None or number is None:
        raise Rejected(error_response(404, "NOT_FOUND", "User not found"))
    placed_at = datetime.now(UTC)
    order_id = uuid_compat.uuid7()
    order: dict[str, Any] = {
        "id": order_id,
        "order_number": f"ORD-{placed_at.year:04d}-{int(number[0]):06d}",
        "user_id": user_id,
        "supplier_id": priced.supplier_id,
        "status": "pending",
        "payment_status": "pending",
        "payment_provider": PAYMENT_PROVIDER,
        "pricing_tier": priced.pricing_tier,
        "total_amount": priced.total,
        "currency": priced.currency,
        "shipping_address_id": sent.shipping_address_id,
        "billing_address_id": billing_id,
        "shipping_address": shipping,
        "billing_address": billing,
        "notes": sent.notes,
        "expires_at": placed_at + ORDER_PAYMENT_TIMEOUT,
    }
    cursor = await conn.execute(
        INSERT_ORDER_SQL,
        (
            order_id,
            order["order_number"],
            user_id,
            org_id,
            priced.supplier_id,
            priced.total,
            priced.currency,
            priced.pricing_tier,
            PAYMENT_PROVIDER,
            sent.shipping_address_id,
            billing_id,
            json.dumps(shipping),
            json.dumps(billing),
            sent.notes,
            order["expires_at"],
        ),
    )
    stamps = await cursor.fetchone()
    async with conn.cursor() as batch:
        await batch.executemany(
            INSERT_ITEM_SQL,
            [
                (
                    item["id"],
                    order_id,
                    item["product_id"],
                    item["product_name"],
                    item["manufacturer_code"],
                    item["category"],
                    item["quantity"],
                    item["unit_price"],
                    item["subtotal"],
                )
                for item in priced.items
            ],
        )
    await _reserve(conn, sent.lines, order_id, user_id)
    await _notify(conn, order, priced.items, buyer[0], placed_at)
    audit = {
        "order_number": order["order_number"],
        "total_amount": str(priced.total),
        "currency": priced.currency,
        "items": len(priced.items),
    }
    await conn.execute(
        INSERT_AUDIT_SQL,
        (
            uuid_compat.uuid7(),
            priced.supplier_id,
            user_id,
            order_id,
            request.client.host if request.client else None,
            request.headers.get("user-agent"),
            json.dumps(audit),
        ),
    )
    created_at, updated_at = stamps if stamps else (placed_at, placed_at)
    return (
        order
        | dict.fromkeys(ORDER_NULL_FIELDS)
        | {
            "total_amount": _money(priced.total),
            "created_at": created_at,
            "updated_at": updated_at,
            "items": [
                item
                | {"unit_price": _money(item["unit_price"]), "subtotal": _money(item["subtotal"])}
                for item in priced.items
            ],
        }
    )


async def create_order(request: Request) -> Response:
    try:
        claims = bearer_claims(request)
    except Unauthenticated as exc:
        return error_response(401, "AUTHENTICATION_ERROR", str(exc))
    try:
        sent = _order_request(orjson.loads(await request.body()))
        # Commits when the block ends; Rejected rolls back (no order, no reservation).
        async with pool_of(request).connection() as conn, conn.transaction():
            order = await _place(conn, request, claims, sent)
    except orjson.JSONDecodeError:
        return error_response(400, "VALIDATION_ERROR", "Send a JSON body")
    except Rejected as rejected:
        return rejected.response
    return json_response({"success": True, "data": order, "message": "Order placed"}, 201)


async def _notify(
    conn: AsyncConnection[Any],
    order: dict[str, Any],
    items: list[dict[str, Any]],
    buyer_name: str,
    placed_at: datetime,
) -> None:
    """notifications.notify(..., email=("order_confirmation", ...)): the in-app row and
    the confirmation email with its delivery job, by the buyer's channel preferences."""
    user_id, order_id = order["user_id"], order["id"]
    recipient = await (await conn.execute(RECIPIENT_SQL, (user_id,))).fetchone()
    if recipient is None:
        raise Rejected(error_response(404, "NOT_FOUND", "User not found"))
    email, full_name, is_active, in_app, email_on = recipient
    total, currency = order["total_amount"], order["currency"]
    if in_app is None or in_app:
        title = f"Order {order['order_number']} received"
        body = f"We received your order of {len(items)} product(s), total {total} {currency}."
        data = {"link": f"/orders/{order_id}", "order_id": str(order_id)}
        await conn.execute(
            NOTIFY_SQL, (uuid_compat.uuid7(), user_id, title, body, json.dumps(data))
        )
    # Orders email by default; SMS is off by default (and bench buyers have no phone).
    if not is_active or email_on is False:
        return
    context = {
        "app_name": "MedHub",
        "frontend_url": FRONTEND_URL,
        "full_name": full_name,
        "order_number": order["order_number"],
        "order_id": str(order_id),
        "placed_at": placed_at.strftime("%d %B %Y, %H:%M UTC"),
        "items": [
            {
                "name": item["product_name"],
                "quantity": item["quantity"],
                "unit_price": f"{item['unit_price']:.2f}",
                "subtotal": f"{item['subtotal']:.2f}",
            }
            for item in items
        ],
        "total": f"{total:.2f}",
        "currency": currency,
        "shipping_address": _address_lines(order["shipping_address"], buyer_name),
    }
    template = "order_confirmation"
    subject = TEMPLATES.get_template(f"{template}.subject.txt").render(context)
    text = TEMPLATES.get_template(f"{template}.txt").render(context)
    html = TEMPLATES.get_template(f"{template}.html").render(context)
    email_id = uuid_compat.uuid7()
    job_id = await _defer(conn, "email", "medhub.send_email", {"email_id": str(email_id)})
    await conn.execute(
        INSERT_EMAIL_SQL,
        (email_id, email, template, " ".join(subject.split()), text, html, user_id, job_id),
    )


ROUTES = [
    Route("/api/v1/products", list_products, methods=["GET"]),
    Route("/api/v1/products/{product_id}", product_detail, methods=["GET"]),
    Route("/api/v1/orders", create_order, methods=["POST"]),
]
