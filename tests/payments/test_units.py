"""Pure parts of payments: exact minor units for Stripe, and the invoice PDF."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from medhub.payments.exceptions import ProviderRejected
from medhub.payments.invoices import InvoiceContent, InvoiceLine, address_lines, render_pdf
from medhub.payments.providers import to_minor_units
from tests.payments.conftest import pdf_text


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("251.00", "USD", 25100),
        ("0.29", "usd", 29),  # 0.29 * 100 is 28.999999999999996 as a float
        ("1234567.89", "EUR", 123456789),
        ("1500", "JPY", 1500),
        ("12.345", "KWD", 12345),
        ("0.00", "usd", 0),
    ],
)
def test_minor_units_are_exact(amount: str, currency: str, expected: int) -> None:
    assert to_minor_units(Decimal(amount), currency) == expected


def test_an_amount_finer_than_the_currency_is_refused() -> None:
    with pytest.raises(ProviderRejected):
        to_minor_units(Decimal("100.50"), "JPY")
    with pytest.raises(ProviderRejected):
        to_minor_units(Decimal("1.005"), "USD")


def _content(lines: list[InvoiceLine], supplier: str = "Acme Pharma") -> InvoiceContent:
    moment = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
    return InvoiceContent(
        invoice_number="INV-2026-000007",
        issued_at=moment,
        order_number="ORD-2026-000042",
        ordered_at=moment,
        paid_at=moment,
        supplier_name=supplier,
        bill_to=address_lines(
            {
                "street_address": "ul. Długa 5",
                "city": "Łódź",
                "postal_code": "90-001",
                "country": "Poland",
            }
        ),
        lines=lines,
        total=sum((line.subtotal for line in lines), Decimal("0.00")),
        currency="EUR",
        payment_method="Bank transfer",
        payment_reference="BANK-1",
    )


def test_invoice_pdf_lists_lines_and_total_and_survives_any_script() -> None:
    lines = [
        InvoiceLine("Cardiomax 50mg", "CM-50", 3, Decimal("125.50"), Decimal("376.50")),
        InvoiceLine(
            "Amoxicilline 500 mg \u2013 bo\u00eete",
            "AMX-500",
            10,
            Decimal("4.05"),
            Decimal("40.50"),
        ),
        InvoiceLine("阿莫西林 胶囊", "CN-1", 1, Decimal("1000.00"), Decimal("1000.00")),
    ]
    pdf = render_pdf(_content(lines, supplier="Zürich Pharma Łódź"))
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for expected in (
        "INV-2026-000007",
        "ORD-2026-000042",
        "Cardiomax 50mg",
        "376.50",
        "1,000.00",
        "1,417.00 EUR",
        "Zürich Pharma Lódz",  # Latin-1 kept, the rest folded to its base letter
        "Amoxicilline 500 mg - boîte",
        "Lódz 90-001",
        "BANK-1",
    ):
        assert expected in text, expected


def test_a_long_order_spans_pages() -> None:
    lines = [
        InvoiceLine(
            f"Product {n} " + "with a long descriptive name " * 4,
            f"C-{n}",
            1,
            Decimal("1.00"),
            Decimal("1.00"),
        )
        for n in range(80)
    ]
    pdf = render_pdf(_content(lines))
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) > 1
    assert "80.00 EUR" in pdf_text(pdf)
