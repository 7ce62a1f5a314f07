"""`POST /api/v1/pharmacy/scan`: a pharmacist scans a prescription's QR code (the
verification URL it encodes, or the bare token). The signature is checked before any
query; every scan is counted; a closed prescription still scans, showing why it cannot
be dispensed."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from medhub.config import Settings
from medhub.kit.db import Database
from medhub.prescriptions import lifecycle
from medhub.prescriptions.service import signer_for
from medhub.prescriptions.tokens import PrescriptionSigner, generate_signing_key
from tests.assertions import assert_error
from tests.consultations.helpers import Clinic
from tests.doctors.helpers import data
from tests.factories import Factory
from tests.prescriptions.helpers import (
    SCAN,
    UNKNOWN,
    AdminSql,
    Pharmacy,
    audit_actions,
    cancel_url,
    count_rows,
    dispense,
    item,
    line,
    make_pharmacy,
    prescribe,
    scan,
    scanned_and_validated,
)


def _state(admin_sql: AdminSql, prescription_id: str) -> tuple[str, int]:
    [(status, scans)] = admin_sql(
        "SELECT status, scan_count FROM prescriptions WHERE id = %s", [prescription_id]
    )
    return str(status), int(scans)


def _access_scans(admin_sql: AdminSql, prescription_id: str) -> dict[uuid.UUID, int]:
    rows = admin_sql(
        "SELECT organization_id, scan_count FROM prescription_pharmacy_access"
        " WHERE prescription_id = %s",
        [prescription_id],
    )
    return {row[0]: int(row[1]) for row in rows}


async def test_the_first_scan_shows_the_seed_shape_and_marks_it_scanned(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)

    scanned = await scan(client, pharmacy.pharmacist, written["qr_token"])

    assert scanned["is_valid"] is True
    assert scanned["can_dispense"] is True
    assert scanned["reason"] is None
    shown = scanned["prescription"]
    assert shown["id"] == written["id"]
    assert shown["prescription_number"] == written["prescription_number"]
    assert shown["patient_name"] == "Pat Doe"
    assert shown["doctor_name"] == written["doctor_name"]
    assert shown["doctor_name"]
    assert shown["diagnosis"] == "Acute sinusitis"
    assert shown["status"] == "scanned"
    assert shown["validated_by_you"] is False
    assert shown["dispensations"] == []
    [shown_item] = shown["items"]
    assert shown_item["medicine_name"] == "Amoxicillin"
    assert shown_item["dosage"] == "500 mg"
    assert (shown_item["quantity"], shown_item["remaining_quantity"]) == (21, 21)
    assert shown["qr_code"] == {
        "qr_hash": hashlib.sha256(written["qr_token"].encode()).hexdigest(),
        "is_used": False,
        "scan_count": 1,
        "last_scanned_at": shown["qr_code"]["last_scanned_at"],
        "expires_at": written["expires_at"],
    }
    assert shown["qr_code"]["last_scanned_at"] is not None
    # The pharmacy's view has no reference number, token, chart id or notes.
    assert not {"reference_number", "qr_token", "patient_id", "notes"} & shown.keys()
    assert _state(admin_sql, written["id"]) == ("scanned", 1)
    assert audit_actions(admin_sql, written["id"]).count("prescription.scanned") == 1


async def test_every_scan_is_counted_by_url_or_token_and_per_pharmacy(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    other = await make_pharmacy(factory, name="Corner Pharmacy")

    await scan(client, pharmacy.pharmacist, written["verification_url"])
    # What a scanner app reads may carry spaces or a query string around the URL.
    await scan(client, pharmacy.pharmacist, f"  {written['verification_url']}?src=camera ")
    last = await scan(client, other.pharmacist, written["qr_token"])

    assert last["prescription"]["qr_code"]["scan_count"] == 3
    assert last["prescription"]["status"] == "scanned"
    assert _state(admin_sql, written["id"]) == ("scanned", 3)
    assert _access_scans(admin_sql, written["id"]) == {pharmacy.id: 2, other.id: 1}
    assert audit_actions(admin_sql, written["id"]).count("prescription.scanned") == 3


def _tampered(token: str) -> list[str]:
    """The token altered in ways only a forger would: another payload under the same
    signature, a signature bit flipped, alg none, and HS256 keyed with the public key."""
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    other_payload = jwt.utils.base64url_encode(
        json.dumps({**claims, "exp": claims["exp"] + 86_400}).encode()
    ).decode()
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    unsigned = jwt.encode(claims, None, algorithm="none")
    return [
        f"{header}.{other_payload}.{signature}",
        f"{header}.{payload}.{flipped}",
        unsigned,
        f"{header}.{payload}",
    ]


def _forged(settings: Settings, prescription: dict[str, Any]) -> list[str]:
    """Tokens for the prescription signed by another key: under its own key id, and
    claiming ours."""
    stranger = generate_signing_key()
    expires = datetime.fromisoformat(prescription["expires_at"])
    own_kid = PrescriptionSigner(stranger).sign(
        uuid.UUID(prescription["id"]), prescription["prescription_number"], expires
    )
    claims = jwt.decode(own_kid, options={"verify_signature": False})
    our_kid = jwt.encode(
        claims,
        stranger,
        algorithm="EdDSA",
        headers={"kid": signer_for(settings).key_id, "typ": None},
    )
    return [own_kid, our_kid]


GARBAGE = [
    "hello",
    "https://medhub.example/rx/",
    "https://medhub.example/rx/not-a-token",
    "a.b.c",
    "rx:" + "A" * 300,
]


def _refusals(admin_sql: AdminSql) -> list[tuple[Any, ...]]:
    """The audit rows of refused scans, oldest first: (actor, organization, entity id,
    metadata)."""
    return admin_sql(
        "SELECT user_id, organization_id, entity_id, metadata FROM activity_logs"
        " WHERE action = 'prescription.scan_refused' AND entity_type = 'prescription'"
        " ORDER BY seq"
    )


def _assert_refusals_audited(
    admin_sql: AdminSql,
    pharmacy: Pharmacy,
    written: dict[str, Any],
    reasons: list[str],
    presented: list[str],
) -> None:
    """One row per refused scan, by the pharmacist for their pharmacy, saying why and
    nothing of what was presented or whose it is."""
    rows = _refusals(admin_sql)
    assert [row[3]["reason"] for row in rows] == reasons
    for actor, organization, entity_id, metadata in rows:
        assert (actor, organization, entity_id) == (pharmacy.pharmacist.id, pharmacy.id, None)
        assert set(metadata) == {"via", "reason"}, metadata
        assert metadata["via"] == "qr"
    text = json.dumps([row[3] for row in rows])
    for secret in (
        *presented,
        written["qr_token"],
        written["id"],
        written["prescription_number"],
        written["patient_id"],
        written["patient_name"],
        "sinusitis",
    ):
        assert secret not in text


async def test_forged_altered_or_garbage_codes_are_400_audited_and_grant_nothing(
    client: httpx.AsyncClient,
    clinic: Clinic,
    pharmacy: Pharmacy,
    settings: Settings,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    token = written["qr_token"]
    url_base = written["verification_url"].removesuffix(token)
    tampered = _tampered(token)
    forged = _forged(settings, written)
    refused = [*tampered, *forged, *GARBAGE]
    # The altered ones inside a verification URL too.
    refused += [url_base + bad for bad in tampered[:2]]

    for qr_data in refused:
        response = await client.post(
            SCAN, json={"qr_data": qr_data}, headers=pharmacy.pharmacist.headers
        )
        assert_error(response, 400, "INVALID_PRESCRIPTION_TOKEN")

    # Nothing reached: no scan counted, no access granted, no scan audited...
    assert _state(admin_sql, written["id"]) == ("issued", 0)
    assert count_rows(admin_sql, "prescription_pharmacy_access", written["id"]) == 0
    assert "prescription.scanned" not in audit_actions(admin_sql)
    # ...but every refusal is, with the check that stopped it (the client is told one
    # message for all of them).
    reasons = [
        "bad_signature",  # another payload under the same signature
        "bad_signature",  # a signature bit flipped
        "malformed",  # alg none: no signature at all, refused before its header is read
        "malformed",  # no signature part
        "unknown_key",  # another key, under its own key id
        "bad_signature",  # another key, claiming ours
        *["malformed"] * len(GARBAGE),
        "bad_signature",
        "bad_signature",
    ]
    _assert_refusals_audited(admin_sql, pharmacy, written, reasons, [*tampered, *forged])


async def test_an_authentic_code_of_no_stored_prescription_is_404(
    client: httpx.AsyncClient,
    clinic: Clinic,
    pharmacy: Pharmacy,
    settings: Settings,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    signer = signer_for(settings)
    later = datetime.now(UTC) + timedelta(days=5)
    # Signed by us, but for no prescription, or for this one but not its stored code.
    unknown = signer.sign(UNKNOWN, "RX-20260101-0001", later)
    reissued = signer.sign(uuid.UUID(written["id"]), written["prescription_number"], later)

    for token in (unknown, reissued):
        response = await client.post(
            SCAN, json={"qr_data": token}, headers=pharmacy.pharmacist.headers
        )
        assert_error(response, 404, "NOT_FOUND")

    assert _state(admin_sql, written["id"]) == ("issued", 0)
    assert count_rows(admin_sql, "prescription_pharmacy_access", written["id"]) == 0
    assert "prescription.scanned" not in audit_actions(admin_sql)
    # Audited apart from the request's transaction (the 404 rolls that back).
    reasons = ["no_matching_prescription"] * 2
    _assert_refusals_audited(admin_sql, pharmacy, written, reasons, [unknown, reissued])


async def test_an_authentic_expired_code_scans_as_not_valid(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    pharmacy: Pharmacy,
    settings: Settings,
    database: Database,
    admin_sql: AdminSql,
) -> None:
    """A prescription whose validity ended yesterday, with the code it carries.

    Nothing can issue one in the past, so one is issued and moved back in time: its
    `issued_at`/`expires_at` set 31 days and 1 day ago, and its QR token re-signed with
    our key for those same times (a token's expiry is part of what is signed), its hash
    stored as the prescription's. Scanned before and after the expiry task ran."""
    written = await prescribe(client, clinic, valid_days=30)
    issued = datetime.now(UTC) - timedelta(days=31)
    expired = datetime.now(UTC) - timedelta(days=1)
    token = signer_for(settings).sign(
        uuid.UUID(written["id"]), written["prescription_number"], expired, issued_at=issued
    )
    admin_sql(
        "UPDATE prescriptions SET issued_at = %s, expires_at = %s, qr_hash = %s WHERE id = %s",
        [issued, expired, hashlib.sha256(token.encode()).hexdigest(), written["id"]],
    )

    before_sweep = await scan(client, pharmacy.pharmacist, token)
    assert await lifecycle.expire_due(database) == 1
    after_sweep = await scan(client, pharmacy.pharmacist, token)

    for answer in (before_sweep, after_sweep):
        assert answer["is_valid"] is False
        assert answer["can_dispense"] is False
        assert "expired" in answer["reason"]
    assert before_sweep["prescription"]["status"] == "issued"
    assert after_sweep["prescription"]["status"] == "expired"
    assert after_sweep["prescription"]["qr_code"]["scan_count"] == 2
    assert _state(admin_sql, written["id"]) == ("expired", 2)


async def test_cancelled_and_dispensed_prescriptions_still_scan_but_cannot_be_dispensed(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy
) -> None:
    cancelled = await prescribe(client, clinic)
    data(
        await client.post(
            cancel_url(cancelled["id"]),
            json={"reason": "Wrong medicine"},
            headers=clinic.doctor.headers,
        )
    )
    dispensed = await prescribe(client, clinic, items=[item(quantity=4)])
    await scanned_and_validated(client, pharmacy.pharmacist, dispensed)
    data(
        await dispense(
            client, pharmacy.pharmacist, dispensed["id"], line(dispensed["items"][0]["id"], 4)
        )
    )

    shown_cancelled = await scan(client, pharmacy.pharmacist, cancelled["verification_url"])
    shown_dispensed = await scan(client, pharmacy.pharmacist, dispensed["qr_token"])

    assert shown_cancelled["prescription"]["status"] == "cancelled"
    assert (shown_cancelled["is_valid"], shown_cancelled["can_dispense"]) == (False, False)
    assert "cancelled" in shown_cancelled["reason"]
    assert shown_dispensed["prescription"]["status"] == "dispensed"
    assert shown_dispensed["can_dispense"] is False
    assert "in full" in shown_dispensed["reason"]
    assert shown_dispensed["prescription"]["qr_code"]["is_used"] is True
    assert shown_dispensed["prescription"]["qr_code"]["scan_count"] == 2
    assert shown_dispensed["prescription"]["items"][0]["remaining_quantity"] == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"qr_data": ""}, {"qr_data": 42}, {"qr_data": "x" * 5000}, {"qr_data": "t", "n": 1}],
)
async def test_a_malformed_body_is_400_with_details(
    client: httpx.AsyncClient, pharmacy: Pharmacy, body: dict[str, Any]
) -> None:
    response = await client.post(SCAN, json=body, headers=pharmacy.pharmacist.headers)

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"], error


async def test_only_pharmacists_scan(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    customer = await factory.user("customer")
    body = {"qr_data": written["qr_token"]}

    anonymous = await client.post(SCAN, json=body)
    assert_error(anonymous, 401, "AUTHENTICATION_ERROR")
    for account in (clinic.doctor, clinic.patient, clinic.admin, pharmacy.admin, customer):
        response = await client.post(SCAN, json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")

    assert _state(admin_sql, written["id"]) == ("issued", 0)
    assert count_rows(admin_sql, "prescription_pharmacy_access", written["id"]) == 0
    # Refused for who they are, not for what they presented: no scan to audit.
    assert _refusals(admin_sql) == []
