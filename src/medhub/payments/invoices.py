"""Invoices: issued once per order when it is paid, as a PDF document attached to it.

`issue_invoice` is idempotent (an order has at most one invoice, `order_id` is
unique) and runs with the order row locked by its caller, so two payment paths
settling one order at the same moment cannot both number an invoice.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.config import Settings
from medhub.documents import service as documents
from medhub.kit.money import to_cents
from medhub.kit.references import ReferenceSeries, next_reference
from medhub.models.orders import Invoice, Order, Payment
from medhub.notifications import service as notifications
from medhub.orders import service as orders
from medhub.orders.schemas import OrderItemRead
from medhub.organizations import service as organizations
from medhub.payments.repository import InvoiceRepository

log = structlog.get_logger(__name__)

# INV-YYYY-NNNNNN, numbered by a sequence of migration 0005.
INVOICE_NUMBERS = ReferenceSeries(prefix="INV", sequence="invoice_number_seq")
DATE_FORMAT = "%d %B %Y"
PROVIDER_LABELS = {"manual": "Bank transfer", "stripe": "Card (Stripe)"}


@dataclass(frozen=True)
class InvoiceLine:
    name: str
    code: str
    quantity: int
    unit_price: Decimal
    subtotal: Decimal


@dataclass(frozen=True)
class InvoiceContent:
    invoice_number: str
    issued_at: datetime
    order_number: str
    ordered_at: datetime
    paid_at: datetime | None
    supplier_name: str
    bill_to: list[str]
    lines: list[InvoiceLine]
    total: Decimal
    currency: str
    payment_method: str
    payment_reference: str | None


# Letters and punctuation outside Latin-1 that do not decompose into a base letter.
_FOLDS = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Œ": "OE",
        "œ": "oe",
        "\u0131": "i",  # dotless i
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "€": "EUR",
    }
)


def _latin1_char(char: str) -> str:
    if ord(char) < 256:
        return char
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and all(ord(c) < 256 for c in base) else "?"


def _latin1(value: str) -> str:
    """The PDF core fonts cover Latin-1 only: keep what they can draw, fold the rest
    to its base letter (Ł → L, ő → o) or mark it, rather than fail to issue an invoice."""
    return "".join(_latin1_char(char) for char in value.translate(_FOLDS))


def _money(value: Decimal) -> str:
    return f"{to_cents(value):,.2f}"


def address_lines(snapshot: dict[str, Any]) -> list[str]:
    """The billing address copied onto the order when it was placed."""
    locality = " ".join(
        str(part)
        for part in (
            snapshot.get("city"),
            snapshot.get("state_province"),
            snapshot.get("postal_code"),
        )
        if part
    )
    parts = (
        snapshot.get("full_name"),
        snapshot.get("company"),
        snapshot.get("street_address"),
        locality,
        snapshot.get("country"),
    )
    return [str(part) for part in parts if part]


def render_pdf(content: InvoiceContent) -> bytes:
    """The invoice as PDF bytes. CPU-bound (tens of milliseconds): run it in a thread."""
    pdf = FPDF(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(_latin1(f"Invoice {content.invoice_number}"))
    pdf.set_author(_latin1(content.supplier_name))
    pdf.add_page()

    def line(text: str, *, size: int = 10, style: str = "", align: str = "L") -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.cell(0, 6, _latin1(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(content.supplier_name, size=16, style="B")
    line("INVOICE", size=14, style="B", align="R")
    pdf.ln(2)
    line(f"Invoice number: {content.invoice_number}")
    line(f"Issued: {content.issued_at.strftime(DATE_FORMAT)}")
    line(f"Order: {content.order_number} (placed {content.ordered_at.strftime(DATE_FORMAT)})")
    if content.paid_at is not None:
        line(f"Paid: {content.paid_at.strftime(DATE_FORMAT)}")
    payment = content.payment_method
    if content.payment_reference:
        payment += f", reference {content.payment_reference}"
    line(f"Payment: {payment}")
    pdf.ln(4)
    line("Bill to", style="B")
    for text in content.bill_to or ["(no billing address on the order)"]:
        line(text)
    pdf.ln(4)

    pdf.set_font("Helvetica", "", 9)
    with pdf.table(
        col_widths=(70, 35, 15, 30, 30),
        text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        first_row_as_headings=True,
    ) as table:
        header = table.row()
        for title in ("Product", "Code", "Qty", f"Unit price ({content.currency})", "Amount"):
            header.cell(title)
        for item in content.lines:
            row = table.row()
            row.cell(_latin1(item.name))
            row.cell(_latin1(item.code))
            row.cell(str(item.quantity))
            row.cell(_money(item.unit_price))
            row.cell(_money(item.subtotal))
    pdf.ln(4)
    line(f"Total: {_money(content.total)} {content.currency}", size=12, style="B", align="R")
    pdf.ln(6)
    line("Paid in full. Thank you for your order.", size=9)
    return bytes(pdf.output())


def _lines(items: Sequence[OrderItemRead]) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            name=item.product_name,
            code=item.manufacturer_code,
            quantity=item.quantity,
            unit_price=item.unit_price,
            subtotal=item.subtotal,
        )
        for item in items
    ]


async def issue_invoice(
    session: AsyncSession, order: Order, settings: Settings, *, payment: Payment
) -> Invoice:
    """The order's invoice, issued now if it has none: numbered, rendered, stored as
    the order's `invoice` document, and announced to the buyer."""
    repository = InvoiceRepository(session)
    existing = await repository.for_order(order.id)
    if existing is not None:
        return existing
    number = await next_reference(session, INVOICE_NUMBERS)
    detail = await orders.order_detail(session, order)
    # Issued by the supplier's staff or in system context: both may read the name.
    supplier_name = await organizations.name_of(session, order.supplier_id)
    if supplier_name is None:
        # Issuers are the supplier's staff or the system, who can both read it.
        log.warning("invoices.supplier_name_unreadable", order_id=str(order.id))
        supplier_name = "Supplier"
    issued_at = datetime.now(UTC)
    content = InvoiceContent(
        invoice_number=number,
        issued_at=issued_at,
        order_number=order.order_number,
        ordered_at=order.created_at,
        paid_at=order.paid_at,
        supplier_name=supplier_name,
        bill_to=address_lines(order.billing_address or {}),
        lines=_lines(detail.items),
        total=order.total_amount,
        currency=order.currency,
        payment_method=PROVIDER_LABELS.get(payment.provider, payment.provider),
        payment_reference=payment.provider_reference,
    )
    pdf = await asyncio.to_thread(render_pdf, content)
    document = await documents.store_document(
        session,
        entity_type="order",
        entity_id=order.id,
        document_type="invoice",
        file_name=f"{number}.pdf",
        content=pdf,
        uploaded_by=None,
        settings=settings,
    )
    invoice = Invoice(
        invoice_number=number,
        order_id=order.id,
        document_id=document.id,
        amount=order.total_amount,
        currency=order.currency,
        issued_at=issued_at,
    )
    await repository.add(invoice)
    audit.record(
        session,
        "invoice_issued",
        entity_type="order",
        entity_id=order.id,
        organization_id=order.supplier_id,
        metadata={
            "invoice_number": number,
            "order_number": order.order_number,
            "amount": str(order.total_amount),
            "currency": order.currency,
            "document_id": str(document.id),
        },
    )
    if order.user_id is not None:
        await notifications.notify(
            session,
            order.user_id,
            "order",
            f"Invoice {number} is available",
            f"The invoice for order {order.order_number} ({order.total_amount:.2f}"
            f" {order.currency}) is ready to download.",
            {
                "link": f"/orders/{order.id}",
                "order_id": str(order.id),
                "invoice_number": number,
                "document_id": str(document.id),
            },
        )
    return invoice
