"""What `medhub seed demo` creates: people, a product catalog, orders and inquiries
(MedPharm), and the clinical demo: a hospital and a clinic, their doctors, patients,
appointments, consultations and medical records.

Everything here is fixed data or derived from it by hashing, never drawn at random:
every run (and every machine) computes the same products with the same prices,
stock and certificates, so the natural keys (emails, manufacturer codes, order
notes, inquiry subjects; slugs, chart names and dates of birth, appointment reasons,
record titles) find what an earlier run created. Only the clinical demo's times are
relative: appointments are placed around the moment of the run that creates them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from medhub.models.appointments import AppointmentStatus, AppointmentType
from medhub.models.catalog import CertificationType
from medhub.models.consultations import RecordKind
from medhub.models.identity import OrganizationKind, Role
from medhub.models.inquiries import InquiryPriority, InquiryStatus
from medhub.models.orders import OrderStatus

# Published with the demo on purpose: the command prints it, the README may quote it.
DEMO_PASSWORD = "Demo-Pass-2026!"  # noqa: S105 - demo credentials, shown to the operator

CENT = Decimal("0.01")


def roll(*parts: str) -> int:
    """A stable pseudo-random number for `parts` (the same on every run and machine)."""
    digest = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# People


@dataclass(frozen=True)
class DemoAddress:
    address_type: Literal["shipping", "billing"]
    street_address: str
    city: str
    state_province: str | None
    postal_code: str
    country: str


@dataclass(frozen=True)
class DemoUser:
    key: str
    email: str
    role: Role
    full_name: str
    # Staff and distributors belong to the supplier; buyers and super admins to none.
    in_supplier: bool
    company_name: str | None = None
    addresses: tuple[DemoAddress, ...] = ()


USERS: tuple[DemoUser, ...] = (
    DemoUser("superadmin", "superadmin@medhub.demo", Role.super_admin, "Olivia Grant", False),
    DemoUser("admin", "admin@medpharm.demo", Role.admin, "Margaret Chen", True),
    DemoUser("sales1", "sales1@medpharm.demo", Role.sales, "Daniel Ortiz", True),
    DemoUser("sales2", "sales2@medpharm.demo", Role.sales, "Priya Nair", True),
    DemoUser(
        "distributor",
        "distributor@medpharm.demo",
        Role.distributor,
        "Lukas Weber",
        True,
        company_name="Weber Medical Distribution GmbH",
        addresses=(
            DemoAddress(
                "shipping", "Industriestrasse 14, Hall 3", "Hamburg", None, "20539", "Germany"
            ),
            DemoAddress("billing", "Spaldingstrasse 64", "Hamburg", None, "20097", "Germany"),
        ),
    ),
    DemoUser(
        "customer",
        "customer@hospital.demo",
        Role.customer,
        "Sarah Collins",
        False,
        company_name="St. Mary's General Hospital",
        addresses=(
            DemoAddress(
                "shipping",
                "1200 Harbor Avenue, Pharmacy Receiving Dock B",
                "Boston",
                "MA",
                "02118",
                "United States",
            ),
        ),
    ),
)


# Catalog

ORAL = "Store below 25 °C in the original package to protect from moisture."
POWDER = "Store below 25 °C. Reconstitute immediately before use; single use only."
COLD = (
    "Store refrigerated at 2-8 °C. Do not freeze. Keep in the outer carton to protect from light."
)
CYTOTOXIC = (
    "Cytotoxic: handle and dispose of according to local guidelines. "
    "Store below 25 °C, protected from light."
)


@dataclass(frozen=True)
class Drug:
    """One medicine in one form; each strength becomes a product."""

    category: str
    generic: str
    strengths: tuple[str, ...]
    form: str
    packaging: str
    indication: str
    drug_class: str
    base_price: Decimal  # list price of one pack of the lowest strength
    storage: str = ORAL
    suffix: str = ""  # distinguishes forms of one medicine in the name ("pen", "vial")
    # Hospital-only biologics are quoted, not listed: buyers send an inquiry.
    on_request: bool = False


def _drugs(category: str, *rows: tuple[Any, ...]) -> list[Drug]:
    # Rows are Drug's fields after the category, positionally: a table reads best here.
    return [Drug(category, *row) for row in rows]


D = Decimal

# fmt: off
DRUGS: list[Drug] = [
    *_drugs(
        "cardiovascular",
        ("Metoprolol", ("25mg", "50mg", "100mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Hypertension, angina pectoris, secondary prevention after myocardial infarction",
         "Cardioselective beta-1 adrenergic blocker", D("6.40")),
        ("Amlodipine", ("2.5mg", "5mg", "10mg"), "tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Hypertension and chronic stable or vasospastic angina",
         "Dihydropyridine calcium-channel blocker", D("4.90")),
        ("Atorvastatin", ("10mg", "20mg", "40mg", "80mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Primary hypercholesterolaemia, mixed dyslipidaemia, prevention of cardiovascular events",
         "HMG-CoA reductase inhibitor (statin)", D("7.20")),
        ("Rosuvastatin", ("5mg", "10mg", "20mg", "40mg"), "film-coated tablet",
         "Carton of 28 tablets (4 blisters of 7)",
         "Hypercholesterolaemia and prevention of major cardiovascular events",
         "HMG-CoA reductase inhibitor (statin)", D("9.80")),
        ("Simvastatin", ("20mg", "40mg"), "film-coated tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Hypercholesterolaemia and coronary heart disease risk reduction",
         "HMG-CoA reductase inhibitor (statin)", D("3.60")),
        ("Lisinopril", ("5mg", "10mg", "20mg"), "tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Hypertension, symptomatic heart failure, acute myocardial infarction",
         "Angiotensin-converting enzyme (ACE) inhibitor", D("4.10")),
        ("Ramipril", ("2.5mg", "5mg", "10mg"), "hard capsule",
         "Carton of 28 capsules (2 blisters of 14)",
         "Hypertension, cardiovascular prevention, heart failure after myocardial infarction",
         "Angiotensin-converting enzyme (ACE) inhibitor", D("4.70")),
        ("Enalapril", ("5mg", "10mg", "20mg"), "tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Hypertension and symptomatic heart failure",
         "Angiotensin-converting enzyme (ACE) inhibitor", D("3.90")),
        ("Losartan", ("25mg", "50mg", "100mg"), "film-coated tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Hypertension, renal protection in type 2 diabetes, chronic heart failure",
         "Angiotensin II receptor blocker (ARB)", D("5.30")),
        ("Valsartan", ("80mg", "160mg"), "film-coated tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Hypertension, heart failure, left ventricular dysfunction after myocardial infarction",
         "Angiotensin II receptor blocker (ARB)", D("6.90")),
        ("Bisoprolol", ("2.5mg", "5mg", "10mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Hypertension, stable chronic heart failure, angina pectoris",
         "Cardioselective beta-1 adrenergic blocker", D("4.50")),
        ("Carvedilol", ("6.25mg", "12.5mg", "25mg"), "tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Chronic heart failure, hypertension, chronic stable angina",
         "Non-selective beta blocker with alpha-1 blocking activity", D("5.10")),
        ("Furosemide", ("20mg", "40mg"), "tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Oedema of cardiac, hepatic or renal origin; hypertension",
         "Loop diuretic", D("2.80")),
        ("Hydrochlorothiazide", ("12.5mg", "25mg"), "tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Hypertension and oedema", "Thiazide diuretic", D("2.40")),
        ("Spironolactone", ("25mg", "50mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Heart failure, resistant hypertension, primary hyperaldosteronism",
         "Aldosterone antagonist (potassium-sparing diuretic)", D("4.20")),
        ("Clopidogrel", ("75mg",), "film-coated tablet",
         "Carton of 28 tablets (4 blisters of 7)",
         "Prevention of atherothrombotic events after MI, stroke or in acute coronary syndrome",
         "P2Y12 platelet aggregation inhibitor", D("8.60")),
        ("Warfarin", ("1mg", "5mg"), "tablet", "Bottle of 100 tablets",
         "Prophylaxis and treatment of venous thromboembolism; stroke prevention in AF",
         "Vitamin K antagonist anticoagulant", D("6.10")),
        ("Apixaban", ("2.5mg", "5mg"), "film-coated tablet",
         "Carton of 60 tablets (6 blisters of 10)",
         "Stroke prevention in non-valvular atrial fibrillation; treatment of DVT and PE",
         "Direct factor Xa inhibitor", D("62.00")),
        ("Rivaroxaban", ("10mg", "20mg"), "film-coated tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Stroke prevention in atrial fibrillation; treatment and prevention of DVT and PE",
         "Direct factor Xa inhibitor", D("58.50")),
        ("Digoxin", ("62.5mcg", "125mcg", "250mcg"), "tablet", "Bottle of 100 tablets",
         "Chronic heart failure and supraventricular arrhythmias (atrial fibrillation)",
         "Cardiac glycoside", D("7.80")),
        ("Diltiazem", ("120mg", "180mg"), "prolonged-release capsule",
         "Carton of 28 capsules (2 blisters of 14)",
         "Angina pectoris and mild to moderate hypertension",
         "Benzothiazepine calcium-channel blocker", D("9.40"), ORAL, " ER"),
        ("Isosorbide mononitrate", ("30mg", "60mg"), "prolonged-release tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Prophylaxis of angina pectoris", "Organic nitrate vasodilator", D("5.60"), ORAL,
         " ER"),
        ("Glyceryl trinitrate", ("400mcg",), "sublingual spray",
         "Spray bottle of 200 metered doses",
         "Treatment and prophylaxis of acute angina attacks", "Organic nitrate vasodilator",
         D("8.90"), ORAL, " spray"),
        ("Amiodarone", ("100mg", "200mg"), "tablet", "Carton of 28 tablets (2 blisters of 14)",
         "Severe ventricular and supraventricular tachyarrhythmias",
         "Class III antiarrhythmic", D("11.20")),
        ("Ezetimibe", ("10mg",), "tablet", "Carton of 28 tablets (2 blisters of 14)",
         "Primary hypercholesterolaemia, with or without a statin",
         "Cholesterol absorption inhibitor", D("12.40")),
        ("Heparin sodium", ("5,000 IU/ml",), "solution for injection",
         "Carton of 10 ampoules of 1 ml",
         "Prophylaxis and treatment of venous thromboembolism",
         "Unfractionated heparin anticoagulant", D("24.50"), COLD, " injection"),
    ),
    *_drugs(
        "antibiotics",
        ("Amoxicillin", ("250mg", "500mg"), "hard capsule",
         "Carton of 21 capsules (3 blisters of 7)",
         "Respiratory, ENT, urinary tract and skin infections caused by susceptible bacteria",
         "Aminopenicillin beta-lactam antibiotic", D("3.20")),
        ("Amoxicillin", ("250mg/5ml",), "powder for oral suspension", "Bottle for 100 ml",
         "Bacterial infections in children: otitis media, pharyngitis, pneumonia",
         "Aminopenicillin beta-lactam antibiotic", D("4.10"), ORAL, " oral suspension"),
        ("Amoxicillin/Clavulanate", ("500mg/125mg", "875mg/125mg"), "film-coated tablet",
         "Carton of 14 tablets (2 blisters of 7)",
         "Sinusitis, otitis media, lower respiratory tract, skin and urinary tract infections",
         "Penicillin with beta-lactamase inhibitor", D("7.90")),
        ("Azithromycin", ("250mg", "500mg"), "film-coated tablet",
         "Carton of 6 tablets (1 blister)",
         "Respiratory tract, skin and uncomplicated genital chlamydial infections",
         "Macrolide antibiotic", D("6.80")),
        ("Azithromycin", ("500mg",), "powder for solution for infusion", "Carton of 10 vials",
         "Community-acquired pneumonia and pelvic inflammatory disease requiring IV therapy",
         "Macrolide antibiotic", D("84.00"), POWDER, " IV vial"),
        ("Clarithromycin", ("250mg", "500mg"), "film-coated tablet",
         "Carton of 14 tablets (2 blisters of 7)",
         "Respiratory tract and skin infections; Helicobacter pylori eradication",
         "Macrolide antibiotic", D("8.40")),
        ("Doxycycline", ("100mg",), "hard capsule", "Carton of 14 capsules (2 blisters of 7)",
         "Respiratory and genital infections, acne, malaria prophylaxis",
         "Tetracycline antibiotic", D("5.70")),
        ("Minocycline", ("100mg",), "hard capsule", "Carton of 28 capsules (4 blisters of 7)",
         "Acne vulgaris and susceptible respiratory infections",
         "Tetracycline antibiotic", D("14.30")),
        ("Ciprofloxacin", ("250mg", "500mg", "750mg"), "film-coated tablet",
         "Carton of 10 tablets (1 blister)",
         "Complicated urinary tract, bone and joint, gastrointestinal infections",
         "Fluoroquinolone antibiotic", D("5.20")),
        ("Levofloxacin", ("250mg", "500mg", "750mg"), "film-coated tablet",
         "Carton of 10 tablets (1 blister)",
         "Community-acquired pneumonia, complicated urinary tract infections, prostatitis",
         "Fluoroquinolone antibiotic", D("7.60")),
        ("Moxifloxacin", ("400mg",), "film-coated tablet", "Carton of 5 tablets (1 blister)",
         "Acute bacterial sinusitis, community-acquired pneumonia",
         "Fluoroquinolone antibiotic", D("11.90")),
        ("Cefalexin", ("250mg", "500mg"), "hard capsule",
         "Carton of 28 capsules (2 blisters of 14)",
         "Respiratory, skin, bone and urinary tract infections",
         "First-generation cephalosporin", D("5.40")),
        ("Cefuroxime", ("250mg", "500mg"), "film-coated tablet",
         "Carton of 14 tablets (2 blisters of 7)",
         "Respiratory, ENT, urinary tract infections and early Lyme disease",
         "Second-generation cephalosporin", D("9.10")),
        ("Ceftriaxone", ("1g", "2g"), "powder for solution for injection", "Carton of 10 vials",
         "Severe infections: meningitis, pneumonia, sepsis, gonorrhoea, surgical prophylaxis",
         "Third-generation cephalosporin", D("38.00"), POWDER, " vial"),
        ("Cefazolin", ("1g",), "powder for solution for injection", "Carton of 10 vials",
         "Surgical prophylaxis and skin, bone and joint infections",
         "First-generation cephalosporin", D("29.50"), POWDER, " vial"),
        ("Cefepime", ("1g", "2g"), "powder for solution for injection", "Carton of 10 vials",
         "Nosocomial pneumonia, febrile neutropenia, complicated intra-abdominal infections",
         "Fourth-generation cephalosporin", D("72.00"), POWDER, " vial"),
        ("Meropenem", ("500mg", "1g"), "powder for solution for injection",
         "Carton of 10 vials",
         "Severe hospital infections, including those caused by multidrug-resistant organisms",
         "Carbapenem antibiotic", D("96.00"), POWDER, " vial"),
        ("Ertapenem", ("1g",), "powder for concentrate for solution for infusion",
         "Carton of 10 vials",
         "Complicated intra-abdominal, skin and acute pelvic infections",
         "Carbapenem antibiotic", D("310.00"), POWDER, " vial"),
        ("Piperacillin/Tazobactam", ("4g/0.5g",), "powder for solution for infusion",
         "Carton of 10 vials",
         "Nosocomial pneumonia, complicated intra-abdominal and skin infections, neutropenic fever",
         "Ureidopenicillin with beta-lactamase inhibitor", D("118.00"), POWDER, " vial"),
        ("Vancomycin", ("500mg", "1g"), "powder for solution for infusion", "Carton of 10 vials",
         "Serious Gram-positive infections including MRSA; C. difficile colitis (oral use)",
         "Glycopeptide antibiotic", D("64.00"), POWDER, " vial"),
        ("Gentamicin", ("80mg/2ml",), "solution for injection", "Carton of 10 ampoules",
         "Serious Gram-negative infections, endocarditis (with a beta-lactam)",
         "Aminoglycoside antibiotic", D("17.80"), ORAL, " injection"),
        ("Ampicillin", ("500mg",), "powder for solution for injection", "Carton of 10 vials",
         "Meningitis, endocarditis, septicaemia and listeriosis",
         "Aminopenicillin beta-lactam antibiotic", D("21.40"), POWDER, " vial"),
        ("Metronidazole", ("250mg", "500mg"), "film-coated tablet",
         "Carton of 21 tablets (3 blisters of 7)",
         "Anaerobic and protozoal infections, bacterial vaginosis, H. pylori eradication",
         "Nitroimidazole antibacterial and antiprotozoal", D("3.80")),
        ("Metronidazole", ("500mg/100ml",), "solution for infusion",
         "Carton of 20 infusion bags of 100 ml",
         "Severe anaerobic infections and surgical prophylaxis",
         "Nitroimidazole antibacterial and antiprotozoal", D("46.00"), ORAL, " infusion"),
        ("Nitrofurantoin", ("50mg", "100mg"), "hard capsule",
         "Carton of 30 capsules (3 blisters of 10)",
         "Acute uncomplicated lower urinary tract infections and prophylaxis",
         "Nitrofuran urinary antibacterial", D("6.30")),
        ("Trimethoprim/Sulfamethoxazole", ("80mg/400mg", "160mg/800mg"), "tablet",
         "Carton of 20 tablets (2 blisters of 10)",
         "Urinary tract infections, Pneumocystis pneumonia treatment and prophylaxis",
         "Folate antagonist combination antibacterial", D("4.60")),
        ("Clindamycin", ("150mg", "300mg"), "hard capsule",
         "Carton of 16 capsules (2 blisters of 8)",
         "Serious anaerobic, bone, joint and skin infections; penicillin-allergic patients",
         "Lincosamide antibiotic", D("9.70")),
        ("Linezolid", ("600mg",), "film-coated tablet", "Carton of 10 tablets (1 blister)",
         "Nosocomial and community-acquired pneumonia, complicated skin infections (MRSA, VRE)",
         "Oxazolidinone antibiotic", D("145.00")),
        ("Phenoxymethylpenicillin", ("250mg", "500mg"), "film-coated tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Streptococcal pharyngitis, rheumatic fever prophylaxis, mild skin infections",
         "Natural penicillin", D("3.10")),
        ("Erythromycin", ("250mg", "500mg"), "gastro-resistant tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Respiratory, skin and soft-tissue infections in penicillin-allergic patients",
         "Macrolide antibiotic", D("6.20")),
        ("Fosfomycin", ("3g",), "granules for oral solution", "Carton of 1 sachet",
         "Acute uncomplicated cystitis in women", "Phosphonic acid antibiotic", D("9.90"),
         ORAL, " sachet"),
        ("Rifampicin", ("150mg", "300mg"), "hard capsule", "Bottle of 100 capsules",
         "Tuberculosis (in combination), leprosy, meningococcal carrier eradication",
         "Rifamycin antibiotic", D("18.60")),
    ),
    *_drugs(
        "diabetes",
        ("Metformin", ("500mg", "850mg", "1000mg"), "film-coated tablet",
         "Carton of 60 tablets (4 blisters of 15)",
         "Type 2 diabetes mellitus, first-line therapy", "Biguanide", D("3.40")),
        ("Metformin", ("500mg", "750mg"), "prolonged-release tablet",
         "Carton of 60 tablets (4 blisters of 15)",
         "Type 2 diabetes mellitus with gastrointestinal intolerance to immediate release",
         "Biguanide", D("5.60"), ORAL, " ER"),
        ("Gliclazide", ("30mg", "60mg"), "modified-release tablet",
         "Carton of 56 tablets (4 blisters of 14)",
         "Type 2 diabetes when diet and exercise are insufficient", "Sulfonylurea",
         D("4.80"), ORAL, " MR"),
        ("Glimepiride", ("1mg", "2mg", "4mg"), "tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Type 2 diabetes mellitus, alone or with metformin or insulin", "Sulfonylurea",
         D("4.30")),
        ("Glipizide", ("5mg", "10mg"), "tablet", "Carton of 28 tablets (2 blisters of 14)",
         "Type 2 diabetes mellitus", "Sulfonylurea", D("3.70")),
        ("Sitagliptin", ("25mg", "50mg", "100mg"), "film-coated tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Type 2 diabetes mellitus, as monotherapy or in combination",
         "Dipeptidyl peptidase-4 (DPP-4) inhibitor", D("38.00")),
        ("Sitagliptin/Metformin", ("50mg/850mg", "50mg/1000mg"), "film-coated tablet",
         "Carton of 56 tablets (4 blisters of 14)",
         "Type 2 diabetes inadequately controlled on metformin alone",
         "DPP-4 inhibitor and biguanide combination", D("44.00")),
        ("Linagliptin", ("5mg",), "film-coated tablet", "Carton of 30 tablets (3 blisters of 10)",
         "Type 2 diabetes mellitus, including patients with renal impairment",
         "Dipeptidyl peptidase-4 (DPP-4) inhibitor", D("41.50")),
        ("Saxagliptin", ("2.5mg", "5mg"), "film-coated tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Type 2 diabetes mellitus", "Dipeptidyl peptidase-4 (DPP-4) inhibitor", D("36.20")),
        ("Vildagliptin", ("50mg",), "tablet", "Carton of 56 tablets (4 blisters of 14)",
         "Type 2 diabetes mellitus", "Dipeptidyl peptidase-4 (DPP-4) inhibitor", D("33.80")),
        ("Empagliflozin", ("10mg", "25mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Type 2 diabetes; chronic heart failure; chronic kidney disease",
         "Sodium-glucose co-transporter 2 (SGLT2) inhibitor", D("52.00")),
        ("Dapagliflozin", ("5mg", "10mg"), "film-coated tablet",
         "Carton of 28 tablets (4 blisters of 7)",
         "Type 2 diabetes; heart failure; chronic kidney disease",
         "Sodium-glucose co-transporter 2 (SGLT2) inhibitor", D("49.50")),
        ("Dapagliflozin/Metformin", ("5mg/1000mg",), "film-coated tablet",
         "Carton of 56 tablets (4 blisters of 14)",
         "Type 2 diabetes inadequately controlled on metformin alone",
         "SGLT2 inhibitor and biguanide combination", D("54.00")),
        ("Empagliflozin/Linagliptin", ("10mg/5mg", "25mg/5mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Type 2 diabetes mellitus, dual oral therapy",
         "SGLT2 and DPP-4 inhibitor combination", D("78.00")),
        ("Canagliflozin", ("100mg", "300mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Type 2 diabetes mellitus; diabetic kidney disease",
         "Sodium-glucose co-transporter 2 (SGLT2) inhibitor", D("47.00")),
        ("Pioglitazone", ("15mg", "30mg", "45mg"), "tablet",
         "Carton of 28 tablets (2 blisters of 14)",
         "Type 2 diabetes mellitus, particularly with insulin resistance",
         "Thiazolidinedione (PPAR-gamma agonist)", D("8.90")),
        ("Acarbose", ("50mg", "100mg"), "tablet", "Carton of 90 tablets (6 blisters of 15)",
         "Type 2 diabetes mellitus, postprandial glucose control",
         "Alpha-glucosidase inhibitor", D("12.60")),
        ("Repaglinide", ("0.5mg", "1mg", "2mg"), "tablet",
         "Carton of 90 tablets (6 blisters of 15)",
         "Type 2 diabetes mellitus, mealtime glucose control", "Meglitinide", D("10.40")),
        ("Nateglinide", ("120mg",), "film-coated tablet",
         "Carton of 84 tablets (7 blisters of 12)",
         "Type 2 diabetes mellitus in combination with metformin", "Meglitinide", D("19.80")),
        ("Insulin glargine", ("100 units/ml",), "solution for injection in a prefilled pen",
         "Carton of 5 prefilled pens of 3 ml", "Diabetes mellitus requiring basal insulin",
         "Long-acting insulin analogue", D("68.00"), COLD, " pen"),
        ("Insulin glargine", ("100 units/ml",), "solution for injection",
         "Carton of 1 vial of 10 ml",
         "Diabetes mellitus requiring basal insulin", "Long-acting insulin analogue",
         D("54.00"), COLD, " vial"),
        ("Insulin aspart", ("100 units/ml",), "solution for injection in a prefilled pen",
         "Carton of 5 prefilled pens of 3 ml", "Diabetes mellitus, mealtime insulin",
         "Rapid-acting insulin analogue", D("61.00"), COLD, " pen"),
        ("Insulin aspart", ("100 units/ml",), "solution for injection",
         "Carton of 1 vial of 10 ml",
         "Diabetes mellitus, mealtime insulin and insulin pumps",
         "Rapid-acting insulin analogue", D("49.00"), COLD, " vial"),
        ("Insulin lispro", ("100 units/ml",), "solution for injection in a prefilled pen",
         "Carton of 5 prefilled pens of 3 ml", "Diabetes mellitus, mealtime insulin",
         "Rapid-acting insulin analogue", D("59.00"), COLD, " pen"),
        ("Insulin detemir", ("100 units/ml",), "solution for injection in a prefilled pen",
         "Carton of 5 prefilled pens of 3 ml", "Diabetes mellitus requiring basal insulin",
         "Long-acting insulin analogue", D("72.00"), COLD, " pen"),
        ("Insulin degludec", ("100 units/ml", "200 units/ml"),
         "solution for injection in a prefilled pen", "Carton of 5 prefilled pens of 3 ml",
         "Diabetes mellitus requiring basal insulin, flexible dosing time",
         "Ultra-long-acting insulin analogue", D("89.00"), COLD, " pen"),
        ("Isophane human insulin (NPH)", ("100 IU/ml",), "suspension for injection",
         "Carton of 1 vial of 10 ml", "Diabetes mellitus requiring intermediate-acting insulin",
         "Intermediate-acting human insulin", D("24.00"), COLD, " vial"),
        ("Soluble human insulin", ("100 IU/ml",), "solution for injection",
         "Carton of 1 vial of 10 ml", "Diabetes mellitus; diabetic ketoacidosis (IV infusion)",
         "Short-acting human insulin", D("22.50"), COLD, " vial"),
        ("Liraglutide", ("6mg/ml",), "solution for injection in a prefilled pen",
         "Carton of 2 prefilled pens of 3 ml",
         "Type 2 diabetes mellitus; cardiovascular risk reduction",
         "GLP-1 receptor agonist", D("142.00"), COLD, " pen"),
        ("Semaglutide", ("0.25mg/0.5mg", "1mg"), "solution for injection in a prefilled pen",
         "Carton of 1 prefilled pen with 4 needles",
         "Type 2 diabetes mellitus; cardiovascular risk reduction",
         "GLP-1 receptor agonist", D("198.00"), COLD, " pen"),
        ("Dulaglutide", ("0.75mg", "1.5mg"), "solution for injection in a prefilled pen",
         "Carton of 4 single-dose pens", "Type 2 diabetes mellitus, once-weekly therapy",
         "GLP-1 receptor agonist", D("176.00"), COLD, " pen"),
        ("Glucagon", ("1mg",), "powder and solvent for solution for injection",
         "Kit with 1 vial and 1 prefilled syringe of solvent",
         "Severe hypoglycaemia in patients with diabetes", "Pancreatic hormone",
         D("34.00"), POWDER, " emergency kit"),
    ),
    *_drugs(
        "oncology",
        ("Tamoxifen", ("10mg", "20mg"), "tablet", "Carton of 30 tablets (3 blisters of 10)",
         "Hormone-receptor-positive breast cancer, adjuvant and metastatic",
         "Selective oestrogen receptor modulator (SERM)", D("9.80")),
        ("Anastrozole", ("1mg",), "film-coated tablet", "Carton of 28 tablets (2 blisters of 14)",
         "Hormone-receptor-positive breast cancer in postmenopausal women",
         "Non-steroidal aromatase inhibitor", D("14.50")),
        ("Letrozole", ("2.5mg",), "film-coated tablet", "Carton of 30 tablets (3 blisters of 10)",
         "Hormone-receptor-positive breast cancer in postmenopausal women",
         "Non-steroidal aromatase inhibitor", D("15.20")),
        ("Exemestane", ("25mg",), "coated tablet", "Carton of 30 tablets (3 blisters of 10)",
         "Advanced and early breast cancer after tamoxifen", "Steroidal aromatase inactivator",
         D("28.40")),
        ("Bicalutamide", ("50mg", "150mg"), "film-coated tablet",
         "Carton of 28 tablets (2 blisters of 14)", "Advanced prostate cancer",
         "Non-steroidal anti-androgen", D("19.60")),
        ("Abiraterone acetate", ("250mg", "500mg"), "tablet", "Bottle of 120 tablets",
         "Metastatic castration-resistant and hormone-sensitive prostate cancer",
         "CYP17 inhibitor (androgen biosynthesis inhibitor)", D("420.00")),
        ("Enzalutamide", ("40mg",), "soft capsule", "Carton of 112 capsules",
         "Castration-resistant and hormone-sensitive prostate cancer",
         "Androgen receptor inhibitor", D("1180.00")),
        ("Imatinib", ("100mg", "400mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "Philadelphia-chromosome-positive CML and ALL; GIST",
         "BCR-ABL tyrosine kinase inhibitor", D("310.00"), CYTOTOXIC),
        ("Erlotinib", ("100mg", "150mg"), "film-coated tablet",
         "Carton of 30 tablets (3 blisters of 10)",
         "EGFR-mutated non-small cell lung cancer; metastatic pancreatic cancer",
         "EGFR tyrosine kinase inhibitor", D("690.00"), CYTOTOXIC),
        ("Capecitabine", ("150mg", "500mg"), "film-coated tablet",
         "Carton of 120 tablets (12 blisters of 10)",
         "Colorectal, breast and gastric cancer", "Fluoropyrimidine antimetabolite",
         D("86.00"), CYTOTOXIC),
        ("Temozolomide", ("20mg", "100mg", "250mg"), "hard capsule", "Bottle of 5 capsules",
         "Glioblastoma multiforme and anaplastic astrocytoma", "Alkylating agent",
         D("58.00"), CYTOTOXIC),
        ("Lenalidomide", ("10mg", "25mg"), "hard capsule",
         "Carton of 21 capsules (3 blisters of 7)",
         "Multiple myeloma, myelodysplastic syndromes, mantle cell lymphoma",
         "Immunomodulatory agent (thalidomide analogue)", D("1450.00"), CYTOTOXIC),
        ("Methotrexate", ("2.5mg",), "tablet", "Bottle of 100 tablets",
         "Acute lymphoblastic leukaemia maintenance, choriocarcinoma; rheumatoid arthritis",
         "Folic acid antagonist antimetabolite", D("12.30"), CYTOTOXIC),
        ("Methotrexate", ("50mg/2ml",), "solution for injection", "Carton of 5 vials",
         "Leukaemias, lymphomas, osteosarcoma and solid tumours",
         "Folic acid antagonist antimetabolite", D("38.00"), CYTOTOXIC, " injection"),
        ("Hydroxycarbamide", ("500mg",), "hard capsule", "Bottle of 100 capsules",
         "Chronic myeloid leukaemia, polycythaemia vera, essential thrombocythaemia",
         "Ribonucleotide reductase inhibitor", D("32.00"), CYTOTOXIC),
        ("Cyclophosphamide", ("50mg",), "coated tablet", "Bottle of 100 tablets",
         "Lymphomas, leukaemias, breast and ovarian cancer", "Nitrogen mustard alkylating agent",
         D("64.00"), CYTOTOXIC),
        ("Cyclophosphamide", ("500mg", "1g"), "powder for solution for injection",
         "Carton of 1 vial", "Lymphomas, leukaemias, breast and ovarian cancer; conditioning",
         "Nitrogen mustard alkylating agent", D("26.00"), CYTOTOXIC, " vial"),
        ("Cisplatin", ("50mg/50ml",), "concentrate for solution for infusion",
         "Carton of 1 vial", "Testicular, ovarian, bladder, lung, head and neck cancer",
         "Platinum-based alkylating agent", D("22.00"), CYTOTOXIC, " vial"),
        ("Carboplatin", ("150mg/15ml", "450mg/45ml"), "concentrate for solution for infusion",
         "Carton of 1 vial", "Ovarian and small-cell lung cancer",
         "Platinum-based alkylating agent", D("34.00"), CYTOTOXIC, " vial"),
        ("Oxaliplatin", ("50mg/10ml", "100mg/20ml"), "concentrate for solution for infusion",
         "Carton of 1 vial", "Adjuvant and metastatic colorectal cancer (with fluoropyrimidines)",
         "Platinum-based alkylating agent", D("48.00"), CYTOTOXIC, " vial"),
        ("Paclitaxel", ("100mg/16.7ml", "300mg/50ml"), "concentrate for solution for infusion",
         "Carton of 1 vial", "Breast, ovarian and non-small cell lung cancer; Kaposi's sarcoma",
         "Taxane microtubule stabiliser", D("56.00"), CYTOTOXIC, " vial"),
        ("Docetaxel", ("20mg/1ml", "80mg/4ml"), "concentrate for solution for infusion",
         "Carton of 1 vial", "Breast, prostate, gastric, head and neck and lung cancer",
         "Taxane microtubule stabiliser", D("61.00"), CYTOTOXIC, " vial"),
        ("Gemcitabine", ("200mg", "1g"), "powder for solution for infusion", "Carton of 1 vial",
         "Pancreatic, bladder, breast, ovarian and non-small cell lung cancer",
         "Nucleoside analogue antimetabolite", D("29.00"), CYTOTOXIC, " vial"),
        ("Fluorouracil", ("500mg/10ml",), "solution for injection", "Carton of 10 vials",
         "Colorectal, breast, gastric and pancreatic cancer",
         "Fluoropyrimidine antimetabolite", D("42.00"), CYTOTOXIC, " vial"),
        ("Doxorubicin", ("10mg/5ml", "50mg/25ml"), "concentrate for solution for infusion",
         "Carton of 1 vial", "Breast cancer, lymphomas, sarcomas, acute leukaemias",
         "Anthracycline cytotoxic antibiotic", D("27.00"), CYTOTOXIC, " vial"),
        ("Etoposide", ("100mg/5ml",), "concentrate for solution for infusion", "Carton of 1 vial",
         "Small-cell lung cancer, testicular cancer, lymphomas",
         "Topoisomerase II inhibitor", D("18.50"), CYTOTOXIC, " vial"),
        ("Vincristine", ("1mg/ml", "2mg/2ml"), "solution for injection", "Carton of 1 vial",
         "Acute leukaemias, Hodgkin and non-Hodgkin lymphoma, paediatric solid tumours",
         "Vinca alkaloid", D("23.00"), COLD, " vial"),
        ("Irinotecan", ("40mg/2ml", "100mg/5ml"), "concentrate for solution for infusion",
         "Carton of 1 vial", "Metastatic colorectal cancer", "Topoisomerase I inhibitor",
         D("39.00"), CYTOTOXIC, " vial"),
        ("Zoledronic acid", ("4mg/5ml",), "concentrate for solution for infusion",
         "Carton of 1 vial", "Prevention of skeletal events in bone metastases; hypercalcaemia",
         "Bisphosphonate", D("44.00"), ORAL, " vial"),
        ("Leuprorelin", ("3.75mg", "11.25mg"), "prolonged-release suspension for injection",
         "Kit with 1 prefilled dual-chamber syringe",
         "Advanced hormone-dependent prostate cancer; premenopausal breast cancer",
         "Gonadotropin-releasing hormone (GnRH) agonist", D("185.00"), ORAL, " depot"),
        ("Ondansetron", ("4mg", "8mg"), "orodispersible film",
         "Carton of 10 films (individually sealed)",
         "Prevention of chemotherapy- and radiotherapy-induced nausea and vomiting",
         "5-HT3 receptor antagonist antiemetic", D("16.80")),
        ("Dexamethasone", ("4mg", "8mg"), "tablet", "Carton of 30 tablets (3 blisters of 10)",
         "Antiemetic prophylaxis with chemotherapy; cerebral oedema; multiple myeloma",
         "Corticosteroid", D("6.90")),
        ("Filgrastim", ("30 MU/0.5ml", "48 MU/0.5ml"),
         "solution for injection in a prefilled syringe",
         "Carton of 5 prefilled syringes",
         "Chemotherapy-induced neutropenia; stem cell mobilisation",
         "Granulocyte colony-stimulating factor (G-CSF)", D("245.00"), COLD, " syringe"),
        ("Trastuzumab", ("150mg",), "powder for concentrate for solution for infusion",
         "Carton of 1 vial", "HER2-positive early and metastatic breast cancer; gastric cancer",
         "Anti-HER2 monoclonal antibody", D("0"), COLD, " vial", True),
        ("Rituximab", ("100mg/10ml", "500mg/50ml"), "concentrate for solution for infusion",
         "Carton of 1 vial", "Non-Hodgkin lymphoma, chronic lymphocytic leukaemia",
         "Anti-CD20 monoclonal antibody", D("0"), COLD, " vial", True),
        ("Bevacizumab", ("100mg/4ml", "400mg/16ml"), "concentrate for solution for infusion",
         "Carton of 1 vial", "Metastatic colorectal, lung, ovarian and cervical cancer",
         "Anti-VEGF monoclonal antibody", D("0"), COLD, " vial", True),
        ("Pembrolizumab", ("100mg/4ml",), "concentrate for solution for infusion",
         "Carton of 1 vial", "Melanoma, non-small cell lung cancer and other solid tumours",
         "Anti-PD-1 monoclonal antibody", D("0"), COLD, " vial", True),
    ),
]
# fmt: on

CATEGORY_CODES = {
    "cardiovascular": "CV",
    "antibiotics": "AB",
    "diabetes": "DM",
    "oncology": "ON",
}


@dataclass(frozen=True)
class DemoCertification:
    certification_type: CertificationType
    certificate_number: str
    issued_days_ago: int
    # Relative to the day of seeding; some fall within the 60-day expiry window.
    expires_in_days: int


@dataclass(frozen=True)
class DemoProduct:
    manufacturer_code: str
    name: str
    category: str
    description: str
    dosage: str
    packaging: str
    indication: str
    price: Decimal | None
    distributor_price: Decimal | None
    stock_quantity: int
    min_order_quantity: int
    low_stock_threshold: int
    certifications: tuple[DemoCertification, ...] = field(default=())


def manufacturer_code(category: str, name: str) -> str:
    slug = re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-")
    return f"MP-{CATEGORY_CODES[category]}-{slug}"


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _certifications(code: str) -> tuple[DemoCertification, ...]:
    if roll(code, "certified") % 2:
        return ()
    types = list(CertificationType)
    first = roll(code, "type") % len(types)
    count = 2 if roll(code, "count") % 3 == 0 else 1
    result = []
    for n in range(count):
        kind = types[(first + n) % len(types)]
        soon = roll(code, kind.value, "soon") % 100 < 20
        result.append(
            DemoCertification(
                certification_type=kind,
                certificate_number=f"{kind.value}-{roll(code, kind.value) % 10**8:08d}",
                issued_days_ago=200 + roll(code, kind.value, "issued") % 700,
                expires_in_days=(
                    5 + roll(code, kind.value, "days") % 55
                    if soon
                    else 120 + roll(code, kind.value, "days") % 975
                ),
            )
        )
    return tuple(result)


def _product(drug: Drug, index: int, strength: str, featured: frozenset[str]) -> DemoProduct:
    name = f"{drug.generic} {strength}{drug.suffix}"
    code = manufacturer_code(drug.category, name)
    price: Decimal | None = None
    distributor_price: Decimal | None = None
    if not drug.on_request:
        # Higher strengths cost more; a few percent either way so prices look negotiated.
        jitter = Decimal(93 + roll(code, "price") % 15) / 100
        price = _money(drug.base_price * (1 + Decimal("0.35") * index) * jitter)
        if roll(code, "distributor") % 100 < 45:
            discount = Decimal(80 + roll(code, "discount") % 11) / 100
            distributor_price = _money(price * discount)
    threshold = (50, 100, 150, 200, 250)[roll(code, "threshold") % 5]
    bucket = roll(code, "stock") % 100
    if name in featured:
        # The demo orders buy these: they must be in stock on a fresh database.
        stock = 2000 + roll(code, "units") % 3001
    elif bucket < 6:
        stock = 0
    elif bucket < 16:
        stock = 1 + roll(code, "units") % (threshold - 1)
    else:
        stock = 300 + roll(code, "units") % 4701
    minimum = 1 if drug.on_request else (1, 1, 5, 10, 10, 20)[roll(code, "moq") % 6]
    description = (
        f"{drug.generic} {strength} {drug.form}. {drug.drug_class}. "
        f"Indicated for: {drug.indication[0].lower()}{drug.indication[1:]}. {drug.storage}"
    )
    if drug.on_request:
        description += " Hospital supply only; priced on request — send an inquiry for a quote."
    return DemoProduct(
        manufacturer_code=code,
        name=name,
        category=drug.category,
        description=description,
        dosage=f"{strength} {drug.form}",
        packaging=drug.packaging,
        indication=drug.indication,
        price=price,
        distributor_price=distributor_price,
        stock_quantity=stock,
        min_order_quantity=minimum,
        low_stock_threshold=threshold,
        certifications=_certifications(code),
    )


# Orders


@dataclass(frozen=True)
class DemoOrderLine:
    product: str  # product name
    quantity: int  # raised to the product's minimum order quantity if below it


@dataclass(frozen=True)
class DemoOrder:
    # The order's notes: its natural key, with the buyer.
    notes: str
    buyer: str  # DemoUser.key
    lines: tuple[DemoOrderLine, ...]
    status: OrderStatus
    tracking_number: str | None = None
    carrier: str | None = None


L = DemoOrderLine

ORDERS: tuple[DemoOrder, ...] = (
    DemoOrder(
        "Monthly cardiology ward restock (demo order 1)",
        "customer",
        (L("Metoprolol 50mg", 40), L("Atorvastatin 40mg", 60), L("Apixaban 5mg", 20)),
        OrderStatus.delivered,
        "1Z999AA10123456784",
        "UPS",
    ),
    DemoOrder(
        "Antibiotic stock for the surgical wards (demo order 2)",
        "customer",
        (L("Ceftriaxone 1g vial", 30), L("Cefazolin 1g vial", 25), L("Metronidazole 500mg", 40)),
        OrderStatus.shipped,
        "1Z999AA10123456791",
        "UPS",
    ),
    DemoOrder(
        "Diabetes clinic insulin order (demo order 3)",
        "customer",
        (L("Insulin glargine 100 units/ml pen", 24), L("Insulin aspart 100 units/ml pen", 24)),
        OrderStatus.confirmed,
    ),
    DemoOrder(
        "Oncology day unit supportive care (demo order 4)",
        "customer",
        (L("Ondansetron 8mg", 30), L("Dexamethasone 4mg", 30)),
        OrderStatus.pending,
    ),
    DemoOrder(
        "Quarterly distributor replenishment: statins (demo order 5)",
        "distributor",
        (
            L("Atorvastatin 20mg", 400),
            L("Rosuvastatin 10mg", 300),
            L("Simvastatin 40mg", 300),
        ),
        OrderStatus.delivered,
        "DHL-4817203396",
        "DHL",
    ),
    DemoOrder(
        "Distributor order: oral antidiabetics (demo order 6)",
        "distributor",
        (L("Metformin 1000mg", 600), L("Sitagliptin 100mg", 150), L("Empagliflozin 10mg", 150)),
        OrderStatus.processing,
    ),
    DemoOrder(
        "Distributor order: outpatient antibiotics (demo order 7)",
        "distributor",
        (L("Amoxicillin 500mg", 500), L("Azithromycin 500mg", 200)),
        OrderStatus.shipped,
        "DHL-4817209912",
        "DHL",
    ),
    DemoOrder(
        "Duplicate of a phoned-in order, to be cancelled (demo order 8)",
        "distributor",
        (L("Losartan 50mg", 200),),
        OrderStatus.cancelled,
    ),
)


# Inquiries


@dataclass(frozen=True)
class DemoInquiry:
    subject: str  # with the requester's email, the natural key
    message: str
    # A DemoUser key, "guest" (anonymous web form) or "phone" (logged by sales for a caller).
    requester: str
    priority: InquiryPriority
    status: InquiryStatus
    product: str | None = None
    name: str | None = None  # guests and callers say who they are
    email: str | None = None
    company: str | None = None
    response: str | None = None  # the staff answer, emailed to the requester
    order: str | None = None  # the notes of the DemoOrder it turned into


INQUIRIES: tuple[DemoInquiry, ...] = (
    DemoInquiry(
        "Quote for Trastuzumab 150mg, 40 vials per quarter",
        "Our oncology day unit is moving to a quarterly supply contract. Please quote "
        "40 vials of Trastuzumab 150mg per quarter, with your cold-chain delivery terms.",
        "customer",
        InquiryPriority.high,
        InquiryStatus.in_progress,
        product="Trastuzumab 150mg vial",
        response="Thank you — our hospital pricing team is preparing a quarterly quote; "
        "you will have it within two business days. Cold-chain delivery is included.",
    ),
    DemoInquiry(
        "Insulin pens for the diabetes clinic",
        "Can you confirm lead times for glargine and aspart pens in boxes of 5? "
        "We would order two dozen of each.",
        "customer",
        InquiryPriority.normal,
        InquiryStatus.resolved,
        product="Insulin glargine 100 units/ml pen",
        response="Both are in stock and ship within 24 hours in temperature-controlled "
        "packaging. We have converted your request into an order.",
        order="Diabetes clinic insulin order (demo order 3)",
    ),
    DemoInquiry(
        "Volume pricing for statins",
        "We distribute to 120 pharmacies in northern Germany. What tiered pricing can you "
        "offer above 1,000 packs per month of atorvastatin and rosuvastatin?",
        "distributor",
        InquiryPriority.normal,
        InquiryStatus.closed,
        product="Atorvastatin 20mg",
        response="Your distributor prices now include the volume tier; the quarterly order "
        "has been delivered. Closing this inquiry — reply any time for a new quote.",
    ),
    DemoInquiry(
        "Certificate of analysis for Meropenem 1g batches",
        "Our QA department needs the certificates of analysis and the WHO-GMP certificate "
        "for the Meropenem 1g batches delivered this year.",
        "distributor",
        InquiryPriority.high,
        InquiryStatus.pending,
        product="Meropenem 1g vial",
    ),
    DemoInquiry(
        "Rituximab availability for a new haematology unit",
        "We are opening a haematology unit in March and would like to discuss supply of "
        "Rituximab 500mg/50ml and the documentation you provide.",
        "guest",
        InquiryPriority.normal,
        InquiryStatus.pending,
        product="Rituximab 500mg/50ml vial",
        name="Dr. Elena Rossi",
        email="procurement@northgate-clinic.demo",
        company="Northgate Clinic",
    ),
    DemoInquiry(
        "Becoming a MedPharm customer",
        "We are a network of four community pharmacies. How do we open an account, and do "
        "you deliver to Ireland?",
        "guest",
        InquiryPriority.low,
        InquiryStatus.in_progress,
        name="Aoife Byrne",
        email="aoife.byrne@harbourpharmacy.demo",
        company="Harbour Pharmacy Group",
        response="Welcome! You can register online as a customer; we deliver to Ireland "
        "within 3 business days. A sales representative will call you this week.",
    ),
    DemoInquiry(
        "URGENT: Vancomycin shortage at St. Luke's ICU",
        "Called in by the ICU pharmacist: they need 50 vials of Vancomycin 1g by tomorrow "
        "morning because of a supplier failure.",
        "phone",
        InquiryPriority.urgent,
        InquiryStatus.resolved,
        product="Vancomycin 1g vial",
        name="James Whitfield",
        email="icu.pharmacy@stlukes.demo",
        company="St. Luke's Hospital",
    ),
)


def _featured() -> frozenset[str]:
    return frozenset(line.product for order in ORDERS for line in order.lines)


def build_products() -> list[DemoProduct]:
    featured = _featured()
    return [
        _product(drug, index, strength, featured)
        for drug in DRUGS
        for index, strength in enumerate(drug.strengths)
    ]


PRODUCTS: list[DemoProduct] = build_products()


# Clinical demo (issue 12): a hospital and a clinic with their admins and doctors, an
# independent doctor awaiting approval, patient charts (some linked to patient
# accounts), appointments in every status, consultations and medical records.

CLINICAL_TIMEZONE = "Europe/Berlin"
# Charts per organization by default (`medhub seed demo --patients N`): the charts the
# appointments and records below are about, then made-up ones up to this number.
CHARTS_PER_ORGANIZATION = 20


@dataclass(frozen=True)
class DemoCareOrganization:
    key: str
    name: str
    slug: str  # the natural key
    kind: OrganizationKind
    admin_email: str
    admin_name: str
    city: str
    postal_codes: tuple[str, ...]
    phone_prefix: str


CARE_ORGANIZATIONS: tuple[DemoCareOrganization, ...] = (
    DemoCareOrganization(
        "northside",
        "Northside General Hospital",
        "northside-general",
        OrganizationKind.hospital,
        "admin@northside.demo",
        "Helen Brandt",
        "Berlin",
        ("13347", "13353", "13355", "10115", "10435"),
        "+49 30 555",
    ),
    DemoCareOrganization(
        "lakeside",
        "Lakeside Family Clinic",
        "lakeside-family-clinic",
        OrganizationKind.clinic,
        "admin@lakeside.demo",
        "Tomás Rivera",
        "Hamburg",
        ("22085", "22087", "22081", "22303", "22305"),
        "+49 40 555",
    ),
)


@dataclass(frozen=True)
class DemoHours:
    """Weekly working hours: the same clock times on each of `weekdays` (ISO, 1 = Monday)."""

    weekdays: tuple[int, ...]
    start: str
    end: str
    slot_minutes: int


@dataclass(frozen=True)
class DemoDoctor:
    key: str
    email: str  # the natural key
    full_name: str
    organization: str | None  # a DemoCareOrganization key; None: signed up alone
    specialty: str
    license_number: str
    qualifications: tuple[str, ...]
    years_of_experience: int
    bio: str
    languages: tuple[str, ...]
    fee: Decimal  # EUR
    offers_video: bool
    hours: tuple[DemoHours, ...]
    phone: str | None = None


WEEKDAYS = (1, 2, 3, 4, 5)

DOCTORS: tuple[DemoDoctor, ...] = (
    DemoDoctor(
        "keller",
        "anna.keller@northside.demo",
        "Anna Keller",
        "northside",
        "Cardiology",
        "BE-AEK-2009-41175",
        (
            "MD, Charité Universitätsmedizin Berlin",
            "Specialist in internal medicine and cardiology",
        ),
        15,
        "Heads the heart failure clinic; echocardiography, Holter and stress testing. "
        "Video consultations for follow-ups.",
        ("de", "en"),
        Decimal("120.00"),
        True,
        (DemoHours(WEEKDAYS, "08:00", "16:00", 30),),
        "+49 30 5550 2101",
    ),
    DemoDoctor(
        "richter",
        "jonas.richter@northside.demo",
        "Jonas Richter",
        "northside",
        "Orthopaedics",
        "BE-AEK-2015-52804",
        ("MD, University of Leipzig", "Specialist in orthopaedics and trauma surgery"),
        9,
        "Sports injuries, knees and shoulders; arthroscopic surgery.",
        ("de", "en", "pl"),
        Decimal("95.00"),
        False,
        (
            DemoHours((1, 3, 4), "09:00", "17:00", 20),
            DemoHours((5,), "08:00", "12:00", 20),
        ),
        "+49 30 5550 2102",
    ),
    DemoDoctor(
        "haddad",
        "leila.haddad@northside.demo",
        "Leila Haddad",
        "northside",
        "Dermatology",
        "BE-AEK-2012-47390",
        ("MD, Université de Montréal", "Specialist in dermatology and venereology"),
        12,
        "Eczema, psoriasis, acne and skin cancer screening; photo follow-ups by video.",
        ("en", "fr", "ar", "de"),
        Decimal("85.00"),
        True,
        (
            DemoHours((2, 4), "10:00", "18:00", 15),
            DemoHours((6,), "09:00", "12:00", 15),
        ),
        "+49 30 5550 2103",
    ),
    DemoDoctor(
        "marino",
        "sofia.marino@lakeside.demo",
        "Sofia Marino",
        "lakeside",
        "General Practice",
        "HH-AEK-2013-33018",
        ("MD, Sapienza University of Rome", "Specialist in general practice"),
        11,
        "Family doctor for adults; chronic disease care, check-ups and weekend surgery "
        "hours. Video consultations for repeat prescriptions and results.",
        ("it", "de", "en"),
        Decimal("60.00"),
        True,
        (
            DemoHours(WEEKDAYS, "08:00", "18:00", 15),
            DemoHours((6, 7), "09:00", "13:00", 15),
        ),
        "+49 40 5550 3101",
    ),
    DemoDoctor(
        "okafor",
        "daniel.okafor@lakeside.demo",
        "Daniel Okafor",
        "lakeside",
        "Paediatrics",
        "HH-AEK-2016-36642",
        ("MD, University of Hamburg", "Specialist in paediatrics and adolescent medicine"),
        8,
        "Children from birth to 18: check-ups, vaccinations, asthma and allergies.",
        ("en", "de", "yo"),
        Decimal("70.00"),
        False,
        (DemoHours(WEEKDAYS, "08:30", "14:30", 20),),
        "+49 40 5550 3102",
    ),
    DemoDoctor(
        "lin",
        "mei.lin@practice.demo",
        "Mei Lin",
        None,
        "Psychiatry",
        "BY-AEK-2014-60211",
        (
            "MD, Ludwig Maximilian University of Munich",
            "Specialist in psychiatry and psychotherapy",
        ),
        10,
        "Anxiety, depression and sleep disorders; consultations by video only.",
        ("en", "zh", "de"),
        Decimal("110.00"),
        True,
        (DemoHours((1, 2, 4), "14:00", "19:00", 50),),
    ),
)
# The doctor the demo logs in as (printed with the credentials).
DEMO_DOCTOR = "keller"


@dataclass(frozen=True)
class DemoChart:
    """One patient's chart at one organization; the natural key is the organization,
    the names and the date of birth."""

    key: str
    organization: str
    first_name: str
    last_name: str
    date_of_birth: date
    sex: Literal["female", "male"]
    phone: str
    national_id: str
    insurance_number: str
    street: str
    postal_code: str
    city: str
    email: str | None
    blood_type: str | None
    allergies: tuple[str, ...]
    chronic_conditions: tuple[str, ...]
    emergency_contact: tuple[str, str, str] | None  # name, relationship, phone
    # A verified `patient` account with the chart's email, linked when the chart is made.
    account: bool = False


STREETS = (
    "Müllerstraße",
    "Seestraße",
    "Schönhauser Allee",
    "Torstraße",
    "Hauptstraße",
    "Lindenweg",
    "Am Stadtpark",
    "Bahnhofstraße",
    "Gartenstraße",
    "Uferweg",
)
FEMALE_NAMES = (
    "Lena", "Mia", "Clara", "Johanna", "Katharina", "Ines", "Nora", "Zeynep", "Fatima",
    "Olga", "Chiara", "Isabel", "Marta", "Elif", "Laura", "Paula", "Greta", "Amira",
    "Rosa", "Julia",
)  # fmt: skip
MALE_NAMES = (
    "Felix", "Paul", "Elias", "Moritz", "Hamid", "Mehmet", "Piotr", "Luca", "David",
    "Samuel", "Tobias", "Finn", "Karim", "Matteo", "Henrik", "Jan", "Stefan", "Ali",
    "Oskar", "Viktor",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schäfer", "Koch", "Bauer", "Neumann", "Schwarz", "Zimmermann", "Krüger",
    "Hartmann", "Lange", "Werner", "Krause", "Lehmann", "Köhler", "Yilmaz", "Kowalski",
    "Rossi", "Nguyen", "Popescu", "Jansen", "Horvat", "Lindqvist", "Costa", "Şahin",
)  # fmt: skip
BLOOD_TYPES = ("A+", "A+", "O+", "O+", "B+", "AB+", "A-", "O-", "B-", None)
RELATIONSHIPS = ("spouse", "partner", "parent", "sibling", "child")
FILLER_ALLERGIES = (("Pollen",), ("House dust mite",), ("Ibuprofen",), ("Peanuts",))
FILLER_CONDITIONS = (("Hypothyroidism",), ("Migraine",), ("Osteoarthritis",), ("Asthma",))


def ascii_name(name: str) -> str:
    """'Şahin' → 'sahin', 'Müller' → 'muller': for made-up email addresses."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore")
    return re.sub(r"[^a-z]", "", plain.decode().lower())


def _phone(prefix: str, *parts: str) -> str:
    return f"{prefix}{roll('phone', *parts) % 10_000:04d} {roll('ext', *parts) % 100:02d}"


def _chart(
    key: str,
    organization: DemoCareOrganization,
    *,
    first_name: str,
    last_name: str,
    born: date,
    sex: Literal["female", "male"],
    email: str | None = None,
    allergies: tuple[str, ...] = (),
    conditions: tuple[str, ...] = (),
    account: bool = False,
    guardian: str | None = None,
) -> DemoChart:
    """A chart with its identifiers, address and contacts derived from the key."""
    seed = roll("chart", key)
    relative_first = (FEMALE_NAMES if seed % 3 else MALE_NAMES)[(seed >> 8) % 20]
    contact = (
        (guardian, "parent", _phone(organization.phone_prefix, key, "guardian"))
        if guardian
        else (
            f"{relative_first} {last_name}",
            RELATIONSHIPS[(seed >> 16) % len(RELATIONSHIPS)],
            _phone(organization.phone_prefix, key, "contact"),
        )
    )
    return DemoChart(
        key=key,
        organization=organization.key,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=born,
        sex=sex,
        phone=_phone(organization.phone_prefix, key),
        national_id=f"{'LMNPRTVWXY'[seed % 10]}{(seed >> 4) % 10**8:08d}",
        insurance_number=f"{chr(65 + (seed >> 12) % 26)}{(seed >> 20) % 10**9:09d}",
        street=f"{STREETS[(seed >> 24) % len(STREETS)]} {1 + (seed >> 28) % 120}",
        postal_code=organization.postal_codes[(seed >> 32) % len(organization.postal_codes)],
        city=organization.city,
        email=email,
        blood_type=BLOOD_TYPES[(seed >> 36) % len(BLOOD_TYPES)],
        allergies=allergies,
        chronic_conditions=conditions,
        emergency_contact=contact if (seed >> 40) % 4 else None,
        account=account,
    )


def account_email(first_name: str, last_name: str) -> str:
    return f"{ascii_name(first_name)}.{ascii_name(last_name)}@patients.demo"


def _story_charts() -> tuple[DemoChart, ...]:
    """The charts the appointments and records are about (five with patient accounts)."""
    north, lake = CARE_ORGANIZATIONS

    def patient(
        key: str,
        org: DemoCareOrganization,
        name: str,
        born: date,
        sex: Literal["female", "male"],
        **extra: Any,
    ) -> DemoChart:
        first, last = name.split()
        if extra.get("account"):
            extra["email"] = account_email(first, last)
        return _chart(key, org, first_name=first, last_name=last, born=born, sex=sex, **extra)

    return (
        patient("emma", north, "Emma Schneider", date(1988, 4, 12), "female",
                allergies=("Penicillin",), conditions=("Mild asthma",), account=True),
        patient("lukas", north, "Lukas Hoffmann", date(1975, 9, 30), "male",
                conditions=("Hypertension", "Type 2 diabetes"), account=True),
        patient("aylin", north, "Aylin Demir", date(1994, 1, 22), "female",
                allergies=("Latex",), account=True),
        patient("peter", north, "Peter Vogel", date(1952, 6, 3), "male",
                allergies=("Aspirin",), conditions=("Atrial fibrillation", "Hypercholesterolaemia"),
                email="peter.vogel@mail.demo"),
        patient("maria", north, "Maria Santos", date(1981, 11, 15), "female"),
        patient("thomas", north, "Thomas Klein", date(1969, 3, 8), "male"),
        patient("grace", north, "Grace Okonkwo", date(1990, 7, 19), "female",
                conditions=("Atopic eczema",), email="grace.okonkwo@mail.demo"),
        patient("ivan", north, "Ivan Petrov", date(1985, 12, 1), "male"),
        patient("claire", north, "Claire Dubois", date(1972, 5, 27), "female"),
        patient("yusuf", north, "Yusuf Arslan", date(1999, 8, 14), "male"),
        patient("helga", north, "Helga Braun", date(1948, 2, 9), "female",
                allergies=("Sulfonamides",), conditions=("Chronic heart failure", "Hypertension")),
        patient("sophie", lake, "Sophie Wagner", date(1992, 10, 5), "female",
                allergies=("Pollen",), account=True),
        patient("jonas", lake, "Jonas Becker", date(1983, 2, 17), "male", account=True),
        patient("mila", lake, "Mila Novak", date(2017, 6, 21), "female",
                guardian="Petra Novak"),
        patient("ben", lake, "Ben Schulz", date(2020, 3, 11), "male", guardian="Anja Schulz"),
        patient("hannah", lake, "Hannah Meyer", date(1965, 12, 30), "female",
                conditions=("Type 2 diabetes", "Hypothyroidism"), email="hannah.meyer@mail.demo"),
        patient("omar", lake, "Omar Farouk", date(1978, 4, 4), "male"),
        patient("leon", lake, "Leon Wolf", date(2015, 9, 9), "male",
                allergies=("House dust mite",), conditions=("Asthma",), guardian="Sarah Wolf"),
    )  # fmt: skip


STORY_CHARTS: tuple[DemoChart, ...] = _story_charts()


def filler_charts(organization: DemoCareOrganization, count: int) -> list[DemoChart]:
    """`count` made-up charts of the organization (the same ones on every run)."""
    charts: list[DemoChart] = []
    taken = {(c.first_name, c.last_name, c.date_of_birth) for c in STORY_CHARTS}
    index = 0
    while len(charts) < count:
        key = f"{organization.key}-{index:03d}"
        index += 1
        seed = roll("filler", key)
        sex: Literal["female", "male"] = "female" if seed % 2 else "male"
        first = (FEMALE_NAMES if sex == "female" else MALE_NAMES)[(seed >> 8) % 20]
        last = LAST_NAMES[(seed >> 16) % len(LAST_NAMES)]
        born = date(1940 + (seed >> 24) % 80, 1 + (seed >> 32) % 12, 1 + (seed >> 40) % 28)
        if (first, last, born) in taken:
            continue
        taken.add((first, last, born))
        email = f"{ascii_name(first)}.{ascii_name(last)}@mail.demo" if seed % 3 == 0 else None
        charts.append(
            _chart(
                key,
                organization,
                first_name=first,
                last_name=last,
                born=born,
                sex=sex,
                email=email,
                allergies=FILLER_ALLERGIES[(seed >> 44) % 4] if seed % 5 == 0 else (),
                conditions=FILLER_CONDITIONS[(seed >> 48) % 4] if seed % 4 == 0 else (),
            )
        )
    return charts


def charts_of(organization: DemoCareOrganization, per_organization: int) -> list[DemoChart]:
    """The organization's story charts, then made-up ones up to `per_organization`."""
    story = [c for c in STORY_CHARTS if c.organization == organization.key]
    return story + filler_charts(organization, max(0, per_organization - len(story)))


# The patient the demo logs in as (printed with the credentials).
DEMO_PATIENT = "emma"


@dataclass(frozen=True)
class DemoVisit:
    """What the doctor writes into the consultation of a completed appointment."""

    chief_complaint: str
    diagnosis: str
    icd10_codes: tuple[str, ...]
    notes: str
    vitals: dict[str, Any]
    follow_up_days: int | None = None
    follow_up_notes: str | None = None


@dataclass(frozen=True)
class DemoAppointment:
    """One appointment and how it got to its status. The natural key is the doctor and
    the reason.

    - requested, confirmed, cancelled: booked like in the app (a free slot at least
      `days` ahead; a late cancellation takes the soonest slot, inside the cut-off),
      by the patient's account (`by_patient`) or by the organization's admin;
    - checked_in and in_progress: today, starting a few minutes from now / a few
      minutes ago;
    - completed and no_show: `days` ago at `hour` (the doctor's zone).
    The last two kinds lie inside the booking lead time or in the past, where booking
    refuses them: they are recorded as history (see `service._record_history`) and
    then moved through the lifecycle like any other."""

    reason: str
    doctor: str
    chart: str
    status: AppointmentStatus
    type: AppointmentType = AppointmentType.in_person
    days: int = 0
    hour: int = 10
    by_patient: bool = False
    late: bool = False
    cancel_reason: str | None = None
    visit: DemoVisit | None = None


S = AppointmentStatus
VIDEO = AppointmentType.video

APPOINTMENTS: tuple[DemoAppointment, ...] = (
    # Northside General Hospital
    DemoAppointment(
        "Palpitations, especially at night",
        "keller",
        "emma",
        S.completed,
        VIDEO,
        days=12,
        hour=10,
        by_patient=True,
        visit=DemoVisit(
            "Palpitations for three weeks, worse when lying down; no syncope, no chest pain.",
            "Benign palpitations with isolated ventricular extrasystoles; structurally "
            "normal heart on recent echocardiogram",
            ("R00.2", "I49.3"),
            "Holter (24 h): sinus rhythm, 1.2% isolated VES, no runs. Reduce caffeine, "
            "sleep hygiene. Reassured. Review after 30 days by video.",
            {"heart_rate": 78, "systolic": 122, "diastolic": 78, "spo2": 98},
            30,
            "Video follow-up: symptom diary, repeat Holter only if symptoms worsen.",
        ),
    ),
    DemoAppointment(
        "Follow-up after Holter monitoring",
        "keller",
        "emma",
        S.confirmed,
        VIDEO,
        days=10,
        by_patient=True,
    ),
    DemoAppointment(
        "Knee pain after running", "richter", "lukas", S.requested, days=4, by_patient=True
    ),
    DemoAppointment(
        "Lower back pain for two weeks",
        "richter",
        "lukas",
        S.completed,
        days=20,
        hour=11,
        visit=DemoVisit(
            "Lower back pain after lifting, no radiation, no numbness.",
            "Acute mechanical low back pain",
            ("M54.5",),
            "No red flags. Straight leg raise negative. Ibuprofen 400 mg up to three times "
            "daily for 5 days, physiotherapy referral, stay active.",
            {"heart_rate": 72, "systolic": 138, "diastolic": 86},
            21,
            "Review if not improving with physiotherapy.",
        ),
    ),
    DemoAppointment(
        "Mole check",
        "haddad",
        "aylin",
        S.cancelled,
        days=6,
        by_patient=True,
        cancel_reason="I am travelling that week; I will book again.",
    ),
    DemoAppointment("Chest tightness when climbing stairs", "keller", "peter", S.in_progress),
    DemoAppointment("Recurring rash on both hands", "haddad", "maria", S.checked_in),
    DemoAppointment("Shoulder pain after a fall", "richter", "thomas", S.confirmed, days=3),
    DemoAppointment(
        "Eczema flare on arms and neck",
        "haddad",
        "grace",
        S.completed,
        VIDEO,
        days=3,
        hour=11,
        visit=DemoVisit(
            "Itchy, weeping patches on both forearms and the neck for ten days.",
            "Atopic dermatitis, acute flare",
            ("L20.9",),
            "Mometasone 0.1% cream once daily for 7 days, then twice weekly; emollients "
            "liberally. Photos sent by the patient reviewed.",
            {"temperature_c": 36.7},
            14,
            "Send photos after 14 days.",
        ),
    ),
    DemoAppointment("Sports injury assessment", "richter", "ivan", S.no_show, days=5, hour=9),
    DemoAppointment(
        "Echocardiogram review",
        "keller",
        "claire",
        S.cancelled,
        days=7,
        cancel_reason="Dr. Keller is at a congress that day; we will call you to rebook.",
    ),
    DemoAppointment("Acne treatment consultation", "haddad", "yusuf", S.requested, VIDEO, days=5),
    DemoAppointment(
        "Heart failure check-up",
        "keller",
        "helga",
        S.completed,
        days=30,
        hour=9,
        visit=DemoVisit(
            "Routine review; more breathless on stairs than last quarter, ankles swollen "
            "in the evening.",
            "Chronic heart failure with reduced ejection fraction, NYHA II",
            ("I50.9", "I10"),
            "Weight up 2 kg. Furosemide increased to 40 mg in the morning; continue "
            "sacubitril/valsartan and bisoprolol. Daily weights, call if more than 2 kg "
            "in 3 days.",
            {
                "heart_rate": 68,
                "systolic": 128,
                "diastolic": 74,
                "spo2": 95,
                "weight_kg": 71.5,
                "height_cm": 163,
            },
            90,
            "Quarterly review with NT-proBNP.",
        ),
    ),
    # Lakeside Family Clinic
    DemoAppointment(
        "Persistent cough",
        "marino",
        "sophie",
        S.completed,
        VIDEO,
        days=9,
        hour=16,
        by_patient=True,
        visit=DemoVisit(
            "Dry cough for ten days after a cold, no fever now, no shortness of breath.",
            "Acute bronchitis",
            ("J20.9",),
            "Lungs clear on the patient's description and video; no antibiotics. Honey, "
            "fluids, rest. Come in if fever returns or breathlessness develops.",
            {"temperature_c": 37.1, "respiratory_rate": 16},
            None,
        ),
    ),
    DemoAppointment(
        "Cough follow-up",
        "marino",
        "sophie",
        S.cancelled,
        by_patient=True,
        late=True,
        cancel_reason="Feeling much better; cannot make it tomorrow.",
    ),
    DemoAppointment("Annual health check", "marino", "jonas", S.no_show, days=6, hour=8),
    DemoAppointment(
        "Ear pain and fever",
        "okafor",
        "mila",
        S.completed,
        days=2,
        hour=9,
        visit=DemoVisit(
            "Right ear pain since yesterday, fever 38.9 °C at night.",
            "Acute otitis media, right",
            ("H66.9",),
            "Bulging red right eardrum. Ibuprofen syrup by weight; watchful waiting for "
            "48 hours, amoxicillin if not better (no known allergies).",
            {"temperature_c": 38.4, "heart_rate": 112, "weight_kg": 22.0},
            3,
            "Parents to call if no improvement within 48 hours.",
        ),
    ),
    DemoAppointment("MMR booster vaccination", "okafor", "ben", S.confirmed, days=8),
    DemoAppointment("Repeat prescription review", "marino", "hannah", S.requested, VIDEO, days=2),
    DemoAppointment("Sore throat and fever", "marino", "omar", S.in_progress),
    DemoAppointment("Wheezing at night", "okafor", "leon", S.checked_in),
    # A hospital patient books at the clinic too: their chart there is made on booking.
    DemoAppointment(
        "New patient: recurring migraines", "marino", "emma", S.requested, days=3, by_patient=True
    ),
)


@dataclass(frozen=True)
class DemoRecord:
    """A dated entry of a chart's history; the natural key is the chart, kind and title."""

    chart: str
    organization: str
    author: str  # a DemoDoctor key
    kind: RecordKind
    days_ago: int
    title: str
    content: str | None = None
    data: dict[str, Any] | None = None
    visit: str | None = None  # the reason of the appointment whose consultation it came from


R = RecordKind

RECORDS: tuple[DemoRecord, ...] = (
    DemoRecord("emma", "northside", "keller", R.allergy, 3200, "Penicillin allergy",
               "Urticaria and lip swelling after amoxicillin (2017).",
               {"substance": "penicillin", "reaction": "urticaria", "severity": "moderate"}),
    DemoRecord("emma", "northside", "keller", R.lab_result, 13, "Holter ECG (24 h)",
               "Sinus rhythm throughout; isolated ventricular extrasystoles (1.2%).",
               {"mean_heart_rate_bpm": 74, "max_heart_rate_bpm": 131, "pauses": 0},
               "Palpitations, especially at night"),
    DemoRecord("emma", "northside", "keller", R.diagnosis, 12, "Benign palpitations",
               "Isolated VES, no structural heart disease.", {"icd10": "R00.2"},
               "Palpitations, especially at night"),
    DemoRecord("helga", "northside", "keller", R.imaging, 31, "Transthoracic echocardiogram",
               "Dilated left ventricle, LVEF 38%, moderate mitral regurgitation.",
               {"lvef_percent": 38}),
    DemoRecord("helga", "northside", "keller", R.lab_result, 31, "NT-proBNP",
               "Raised, higher than at the last review.",
               {"value": 850, "unit": "pg/mL", "reference": "< 125"}),
    DemoRecord("helga", "northside", "keller", R.immunization, 120, "Influenza vaccine",
               None, {"vaccine": "influenza (quadrivalent)", "lot": "FLU-24-0912"}),
    DemoRecord("lukas", "northside", "richter", R.imaging, 20, "Lumbar spine X-ray",
               "Mild degenerative changes L4/L5; no fracture.", None,
               "Lower back pain for two weeks"),
    DemoRecord("lukas", "northside", "richter", R.lab_result, 60, "HbA1c",
               "Diabetes control acceptable.", {"value": 7.1, "unit": "%"}),
    DemoRecord("grace", "northside", "haddad", R.diagnosis, 3, "Atopic dermatitis flare",
               None, {"icd10": "L20.9"}, "Eczema flare on arms and neck"),
    DemoRecord("peter", "northside", "keller", R.procedure, 400, "Electrical cardioversion",
               "Successful cardioversion of atrial fibrillation to sinus rhythm (150 J).",
               None),
    DemoRecord("peter", "northside", "keller", R.note, 40, "Anticoagulation",
               "On apixaban 5 mg twice daily; aspirin allergy noted, no antiplatelets."),
    DemoRecord("sophie", "lakeside", "marino", R.diagnosis, 9, "Acute bronchitis", None,
               {"icd10": "J20.9"}, "Persistent cough"),
    DemoRecord("sophie", "lakeside", "marino", R.lab_result, 8, "C-reactive protein",
               "Mildly raised, consistent with a viral infection.",
               {"value": 12, "unit": "mg/L", "reference": "< 5"}),
    DemoRecord("mila", "lakeside", "okafor", R.immunization, 1500, "MMR, dose 1", None,
               {"vaccine": "MMR", "dose": 1, "lot": "MMR-2218"}),
    DemoRecord("mila", "lakeside", "okafor", R.diagnosis, 2, "Acute otitis media, right",
               None, {"icd10": "H66.9"}, "Ear pain and fever"),
    DemoRecord("ben", "lakeside", "okafor", R.immunization, 900, "DTaP-IPV-Hib-HepB, dose 3",
               None, {"vaccine": "hexavalent", "dose": 3, "lot": "HEX-2291"}),
    DemoRecord("hannah", "lakeside", "marino", R.lab_result, 30, "TSH",
               "Within range on levothyroxine 75 µg.",
               {"value": 2.1, "unit": "mIU/L", "reference": "0.4-4.0"}),
    DemoRecord("leon", "lakeside", "okafor", R.allergy, 700, "House dust mite allergy",
               "Positive skin prick test.", {"substance": "Dermatophagoides pteronyssinus"}),
    DemoRecord("jonas", "lakeside", "marino", R.note, 6, "Missed appointment",
               "Did not attend the annual health check; reminder letter sent."),
)  # fmt: skip
