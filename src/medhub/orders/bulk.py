"""Bulk orders from CSV (`manufacturer_code,quantity`), for distributors: the whole
file becomes one order, or nothing does, with every problem reported by line."""

from __future__ import annotations

import csv
import io
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.catalog import service as catalog
from medhub.catalog.exceptions import InsufficientStock
from medhub.config import Settings
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.orders.placing import RequestedLine, create_order
from medhub.orders.schemas import OrderRead

HEADER = ("manufacturer_code", "quantity")
MAX_QUANTITY = 1_000_000


def parse_csv(content: bytes, max_lines: int) -> list[tuple[int, str, int | None, str | None]]:
    """(line number, code, quantity or None, problem or None) for each data line."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationFailed(
            "The file is not UTF-8 text",
            details=[ErrorDetail(field="file", message="expected a UTF-8 CSV file")],
        ) from error
    rows = list(csv.reader(io.StringIO(text)))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ValidationFailed(
            "The file is empty", details=[ErrorDetail(field="file", message="no lines")]
        )
    header = tuple(cell.strip().lower() for cell in rows[0])
    if header[:2] != HEADER:
        raise ValidationFailed(
            "The first line must be the header manufacturer_code,quantity",
            details=[ErrorDetail(field="line 1", message=f"got {','.join(header)!r}")],
        )
    data = rows[1:]
    if not data:
        raise ValidationFailed(
            "No order lines after the header",
            details=[ErrorDetail(field="file", message="no lines")],
        )
    if len(data) > max_lines:
        raise ValidationFailed(
            "Too many lines",
            details=[ErrorDetail(field="file", message=f"at most {max_lines} order lines")],
        )
    parsed: list[tuple[int, str, int | None, str | None]] = []
    for offset, row in enumerate(data, start=2):
        code = row[0].strip() if row else ""
        raw = row[1].strip() if len(row) > 1 else ""
        if any("\x00" in cell for cell in row):
            # Every line's code is looked up in PostgreSQL, which refuses NUL in text:
            # the line is reported, under its code without the NUL.
            parsed.append((offset, code.replace("\x00", ""), None, "contains a NUL character"))
            continue
        if len(row) > len(HEADER):
            parsed.append((offset, code, None, "expected 2 columns"))
            continue
        if not code:
            parsed.append((offset, code, None, "manufacturer_code is empty"))
            continue
        try:
            quantity = int(raw)
        except ValueError:
            parsed.append((offset, code, None, f"quantity {raw!r} is not a whole number"))
            continue
        if not 1 <= quantity <= MAX_QUANTITY:
            parsed.append((offset, code, None, f"quantity must be 1 to {MAX_QUANTITY}"))
            continue
        parsed.append((offset, code, quantity, None))
    return parsed


async def place_bulk_order(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    content: bytes,
    *,
    shipping_address_id: uuid.UUID,
    billing_address_id: uuid.UUID | None,
    notes: str | None,
) -> OrderRead:
    parsed = parse_csv(content, settings.BULK_ORDER_MAX_LINES)
    products = await catalog.products_by_codes(session, [code for _, code, _, _ in parsed if code])
    problems: list[ErrorDetail] = []
    lines: list[RequestedLine] = []
    first_line: dict[str, int] = {}
    for number, code, quantity, problem in parsed:
        field = f"line {number}"
        if problem is not None:
            problems.append(ErrorDetail(field=field, message=f"{code or '?'}: {problem}"))
            continue
        key = code.lower()
        if key in first_line:
            problems.append(
                ErrorDetail(
                    field=field, message=f"{code}: repeats line {first_line[key]}; merge them"
                )
            )
            continue
        first_line[key] = number
        product = products.get(key)
        if product is None or not product.is_active:
            problems.append(
                ErrorDetail(field=field, message=f"{code}: no such product in the catalog")
            )
            continue
        assert quantity is not None
        lines.append(RequestedLine(product.id, quantity, field))
    if problems:
        raise ValidationFailed("The file has errors; nothing was ordered", details=problems)
    try:
        return await create_order(
            session,
            principal,
            settings,
            lines,
            shipping_address_id=shipping_address_id,
            billing_address_id=billing_address_id,
            notes=notes,
        )
    except InsufficientStock as error:
        raise InsufficientStock(
            "Not enough stock for some lines; nothing was ordered", details=error.details
        ) from error
