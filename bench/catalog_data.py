"""The MedPharm catalog the catalog and order scenarios run on: 10,000 products, made
up but shaped like a wholesaler's (40 molecules in the four seeded categories, several
strengths, forms and makers each), the same rows on every run (a seeded generator).

Rows, not SQL: `bench/scenarios.py` COPYs them into `products` through the
embedded server's superuser. Which product plays which part:

- the first `ORDER_PRODUCTS` (1,000, spread over all 40 molecules) have
  `ORDER_STOCK` units on hand, priced, ordered 1 at a time: the order scenarios
  can run for hours without running out, and a reservation never crosses a
  low-stock threshold (0);
- `DETAIL_INDEX` gets the two certifications of `product-detail`;
- `SEARCH_TERM` is one molecule's name: 250 products carry it, about 225 of them
  in stock, so a search ranks a few hundred rows.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

PRODUCT_COUNT = 10_000
ORDER_PRODUCTS = 1_000
ORDER_STOCK = 100_000_000  # products.stock_quantity is an integer: far below its limit
DETAIL_INDEX = ORDER_PRODUCTS  # not an order product: its row is never updated during a run
SEARCH_TERM = "amlodipine"
BROWSE_CATEGORY = "cardiovascular"
CODE_PREFIX = "MPB-"
SEED = 20_261_121

# (molecule, category, pharmacological class, indication, strengths)
# fmt: off
MOLECULES: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("Amlodipine", "cardiovascular", "Calcium channel blocker",
     "Hypertension and chronic stable angina", ("2.5 mg", "5 mg", "10 mg")),
    ("Atorvastatin", "cardiovascular", "HMG-CoA reductase inhibitor",
     "Primary hypercholesterolaemia and prevention of cardiovascular events",
     ("10 mg", "20 mg", "40 mg", "80 mg")),
    ("Bisoprolol", "cardiovascular", "Selective beta-1 blocker",
     "Hypertension, stable chronic heart failure", ("1.25 mg", "2.5 mg", "5 mg", "10 mg")),
    ("Lisinopril", "cardiovascular", "ACE inhibitor",
     "Hypertension, heart failure, after myocardial infarction", ("5 mg", "10 mg", "20 mg")),
    ("Losartan", "cardiovascular", "Angiotensin II receptor antagonist",
     "Hypertension and diabetic nephropathy", ("25 mg", "50 mg", "100 mg")),
    ("Clopidogrel", "cardiovascular", "P2Y12 platelet inhibitor",
     "Prevention of atherothrombotic events", ("75 mg", "300 mg")),
    ("Rosuvastatin", "cardiovascular", "HMG-CoA reductase inhibitor",
     "Dyslipidaemia and prevention of cardiovascular events", ("5 mg", "10 mg", "20 mg")),
    ("Metoprolol", "cardiovascular", "Beta blocker",
     "Hypertension, angina pectoris, arrhythmias", ("25 mg", "50 mg", "100 mg")),
    ("Ramipril", "cardiovascular", "ACE inhibitor",
     "Hypertension and cardiovascular prevention", ("1.25 mg", "2.5 mg", "5 mg", "10 mg")),
    ("Warfarin", "cardiovascular", "Vitamin K antagonist",
     "Prophylaxis and treatment of venous thrombosis", ("1 mg", "3 mg", "5 mg")),
    ("Amoxicillin", "antibiotics", "Aminopenicillin",
     "Respiratory, ear and urinary tract infections", ("250 mg", "500 mg", "1 g")),
    ("Azithromycin", "antibiotics", "Macrolide antibacterial",
     "Community-acquired pneumonia, sinusitis, skin infections", ("250 mg", "500 mg")),
    ("Ciprofloxacin", "antibiotics", "Fluoroquinolone",
     "Complicated urinary tract infections and gastroenteritis", ("250 mg", "500 mg", "750 mg")),
    ("Doxycycline", "antibiotics", "Tetracycline antibacterial",
     "Acne, Lyme disease, malaria prophylaxis", ("100 mg", "200 mg")),
    ("Cefalexin", "antibiotics", "First-generation cephalosporin",
     "Skin, bone and urinary tract infections", ("250 mg", "500 mg")),
    ("Clarithromycin", "antibiotics", "Macrolide antibacterial",
     "Helicobacter pylori eradication, respiratory infections", ("250 mg", "500 mg")),
    ("Levofloxacin", "antibiotics", "Fluoroquinolone",
     "Pneumonia, prostatitis, inhalation anthrax", ("250 mg", "500 mg", "750 mg")),
    ("Metronidazole", "antibiotics", "Nitroimidazole antibacterial",
     "Anaerobic and protozoal infections", ("200 mg", "400 mg", "500 mg")),
    ("Ceftriaxone", "antibiotics", "Third-generation cephalosporin",
     "Meningitis, gonorrhoea, severe bacterial infections", ("250 mg", "1 g", "2 g")),
    ("Clindamycin", "antibiotics", "Lincosamide antibacterial",
     "Serious anaerobic and staphylococcal infections", ("150 mg", "300 mg")),
    ("Metformin", "diabetes", "Biguanide",
     "Type 2 diabetes mellitus", ("500 mg", "850 mg", "1000 mg")),
    ("Gliclazide", "diabetes", "Sulfonylurea",
     "Type 2 diabetes when diet alone is insufficient", ("30 mg", "60 mg", "80 mg")),
    ("Sitagliptin", "diabetes", "DPP-4 inhibitor",
     "Glycaemic control in type 2 diabetes", ("25 mg", "50 mg", "100 mg")),
    ("Empagliflozin", "diabetes", "SGLT2 inhibitor",
     "Type 2 diabetes, heart failure, chronic kidney disease", ("10 mg", "25 mg")),
    ("Dapagliflozin", "diabetes", "SGLT2 inhibitor",
     "Type 2 diabetes and heart failure with reduced ejection fraction", ("5 mg", "10 mg")),
    ("Insulin glargine", "diabetes", "Long-acting insulin analogue",
     "Basal insulin for type 1 and type 2 diabetes", ("100 units/ml", "300 units/ml")),
    ("Insulin aspart", "diabetes", "Rapid-acting insulin analogue",
     "Mealtime glucose control in diabetes mellitus", ("100 units/ml",)),
    ("Pioglitazone", "diabetes", "Thiazolidinedione",
     "Type 2 diabetes with insulin resistance", ("15 mg", "30 mg", "45 mg")),
    ("Glimepiride", "diabetes", "Sulfonylurea",
     "Type 2 diabetes mellitus", ("1 mg", "2 mg", "4 mg")),
    ("Liraglutide", "diabetes", "GLP-1 receptor agonist",
     "Type 2 diabetes and weight management", ("6 mg/ml",)),
    ("Imatinib", "oncology", "Tyrosine kinase inhibitor",
     "Chronic myeloid leukaemia and gastrointestinal stromal tumours", ("100 mg", "400 mg")),
    ("Tamoxifen", "oncology", "Selective oestrogen receptor modulator",
     "Hormone receptor positive breast cancer", ("10 mg", "20 mg")),
    ("Letrozole", "oncology", "Aromatase inhibitor",
     "Adjuvant treatment of early breast cancer", ("2.5 mg",)),
    ("Capecitabine", "oncology", "Fluoropyrimidine antimetabolite",
     "Colorectal, gastric and breast cancer", ("150 mg", "500 mg")),
    ("Anastrozole", "oncology", "Aromatase inhibitor",
     "Postmenopausal hormone receptor positive breast cancer", ("1 mg",)),
    ("Methotrexate", "oncology", "Folate antagonist",
     "Leukaemia, lymphoma, severe psoriasis and rheumatoid arthritis",
     ("2.5 mg", "10 mg", "25 mg/ml")),
    ("Bicalutamide", "oncology", "Non-steroidal anti-androgen",
     "Advanced prostate cancer", ("50 mg", "150 mg")),
    ("Temozolomide", "oncology", "Alkylating agent",
     "Glioblastoma multiforme and anaplastic astrocytoma", ("5 mg", "20 mg", "100 mg", "250 mg")),
    ("Erlotinib", "oncology", "EGFR tyrosine kinase inhibitor",
     "Non-small cell lung cancer and pancreatic cancer", ("25 mg", "100 mg", "150 mg")),
    ("Ondansetron", "oncology", "5-HT3 receptor antagonist",
     "Chemotherapy-induced nausea and vomiting", ("4 mg", "8 mg")),
)
# fmt: on

# (form, packaging unit, pack sizes)
FORMS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("Tablets", "tablets", (28, 30, 56, 100)),
    ("Film-coated tablets", "tablets", (14, 28, 30, 90)),
    ("Capsules", "capsules", (16, 28, 30, 60)),
    ("Prolonged-release tablets", "tablets", (30, 60)),
    ("Solution for injection", "vials", (1, 5, 10)),
    ("Oral suspension", "bottles", (1,)),
)
MAKERS = (
    "MedPharm",
    "Generix",
    "Apotheca Labs",
    "Norvell",
    "Kestrel Pharma",
    "Solano",
    "Biorex",
    "Pharmacore",
    "Vitalis",
    "Meridian Generics",
)
PRICE_ON_REQUEST_SHARE = 0.02
OUT_OF_STOCK_SHARE = 0.10
CREATED_FROM = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ProductRow:
    """One `products` row, in the column order of `COLUMNS`."""

    id: uuid.UUID
    supplier_id: uuid.UUID
    category: str
    name: str
    description: str
    dosage: str
    packaging: str
    indication: str
    manufacturer_code: str
    price: Decimal | None
    distributor_price: Decimal | None
    currency: str
    stock_quantity: int
    min_order_quantity: int
    low_stock_threshold: int
    created_at: datetime
    updated_at: datetime


# search_vector is a generated column and reserved_quantity, is_active and
# low_stock_alerted take their defaults (0, true, false).
COLUMNS = (
    "id",
    "supplier_id",
    "category",
    "name",
    "description",
    "dosage",
    "packaging",
    "indication",
    "manufacturer_code",
    "price",
    "distributor_price",
    "currency",
    "stock_quantity",
    "min_order_quantity",
    "low_stock_threshold",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class CertificationRow:
    id: uuid.UUID
    product_id: uuid.UUID
    certification_type: str
    certificate_number: str
    issue_date: date
    expiry_date: date
    certificate_url: str


CERTIFICATION_COLUMNS = (
    "id",
    "product_id",
    "certification_type",
    "certificate_number",
    "issue_date",
    "expiry_date",
    "certificate_url",
)


def manufacturer_code(index: int) -> str:
    return f"{CODE_PREFIX}{index:05d}"


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def products(supplier_id: uuid.UUID) -> Iterator[ProductRow]:
    rng = random.Random(SEED)
    for index in range(PRODUCT_COUNT):
        # Interleaved, so any run of 40 consecutive products covers every molecule
        # (and the 1,000 order products every category).
        molecule, category, klass, indication, strengths = MOLECULES[index % len(MOLECULES)]
        form, unit, sizes = FORMS[rng.randrange(len(FORMS))]
        strength = rng.choice(strengths)
        maker = rng.choice(MAKERS)
        size = rng.choice(sizes)
        packaging = f"Box of {size} {unit}" if size > 1 else f"One {unit.rstrip('s')}"
        ordered = index < ORDER_PRODUCTS
        price: Decimal | None = Decimal(rng.randrange(150, 90_000)) / 100
        if not ordered and rng.random() < PRICE_ON_REQUEST_SHARE:
            price = None
        distributor_price = (
            (price * Decimal("0.85")).quantize(Decimal("0.01"))
            if price is not None and rng.random() < 0.3
            else None
        )
        if ordered:
            stock = ORDER_STOCK
        elif rng.random() < OUT_OF_STOCK_SHARE:
            stock = 0
        else:
            stock = rng.randrange(1, 5_000)
        created = CREATED_FROM + timedelta(minutes=index * 7)
        yield ProductRow(
            id=_uuid(rng),
            supplier_id=supplier_id,
            category=category,
            name=f"{molecule} {strength} {form} ({maker})",
            description=(
                f"{molecule} {strength} {form.lower()} by {maker}. {klass}. "
                f"Supplied as {packaging.lower()}; store below 25 °C. Lot series {index % 97:02d}."
            ),
            dosage=strength,
            packaging=packaging,
            indication=indication,
            manufacturer_code=manufacturer_code(index),
            price=price,
            distributor_price=distributor_price,
            currency="USD",
            stock_quantity=stock,
            min_order_quantity=1 if ordered else rng.choice((1, 1, 1, 5, 10)),
            low_stock_threshold=0 if ordered else rng.choice((0, 10, 50)),
            created_at=created,
            updated_at=created,
        )


def row_values(row: ProductRow | CertificationRow) -> tuple[object, ...]:
    return astuple(row)


def certifications(product_id: uuid.UUID) -> list[CertificationRow]:
    """The detail product's two certificates: one current, one expired (so the
    response's computed `is_expired` takes both values)."""
    rng = random.Random(SEED + 1)
    return [
        CertificationRow(
            id=_uuid(rng),
            product_id=product_id,
            certification_type="WHO-GMP",
            certificate_number="WHO-GMP-2021-04417",
            issue_date=date(2021, 6, 1),
            expiry_date=date(2024, 6, 1),
            certificate_url="https://certificates.example.com/who-gmp-2021-04417.pdf",
        ),
        CertificationRow(
            id=_uuid(rng),
            product_id=product_id,
            certification_type="FDA",
            certificate_number="FDA-ANDA-208811",
            issue_date=date(2024, 3, 1),
            expiry_date=date(2034, 3, 1),
            certificate_url="https://certificates.example.com/fda-anda-208811.pdf",
        ),
    ]
