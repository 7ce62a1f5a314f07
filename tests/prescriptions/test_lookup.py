"""`POST /api/v1/pharmacy/lookup`: a pharmacist types a prescription's reference
number. Any spelling of it is accepted; a typo is caught by the check character before
any query; a well-formed reference that matches nothing is a 404 that is audited and
counted, and a pharmacist who misses too often is stopped (no guessing references)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from medhub.prescriptions.reference import ALPHABET, format_reference, new_reference
from tests.assertions import assert_error
from tests.auth.helpers import MakeSettings, limited
from tests.consultations.helpers import Clinic
from tests.factories import Factory
from tests.prescriptions.helpers import (
    LOOKUP,
    AdminSql,
    Pharmacy,
    audit_actions,
    count_rows,
    lookup,
    prescribe,
)


def _spellings(reference: str) -> list[str]:
    compact = reference.replace("-", "")
    return [
        reference,
        reference.lower(),
        compact,
        compact.lower(),
        " ".join(reference.split("-")),
        f"  {reference.lower()}  ",
    ]


def _typo(reference: str, position: int) -> str:
    """The reference with one character replaced by another of the alphabet."""
    index = [i for i, character in enumerate(reference) if character != "-"][position]
    replacement = next(c for c in ALPHABET if c != reference[index])
    return reference[:index] + replacement + reference[index + 1 :]


def _misses(admin_sql: AdminSql) -> int:
    [(count,)] = admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'prescription.lookup_missed'"
    )
    return int(count)


async def test_a_reference_is_found_in_any_spelling(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    reference = written["reference_number"]
    assert reference == format_reference(reference)

    answers = [await lookup(client, pharmacy.pharmacist, typed) for typed in _spellings(reference)]

    first = answers[0]
    assert first["prescription"]["id"] == written["id"]
    assert first["prescription"]["status"] == "scanned"
    assert first["prescription"]["patient_name"] == "Pat Doe"
    assert (first["is_valid"], first["can_dispense"]) == (True, True)
    assert answers[-1]["prescription"]["qr_code"]["scan_count"] == len(answers)
    [(via, scans)] = admin_sql(
        "SELECT first_via, scan_count FROM prescription_pharmacy_access"
        " WHERE prescription_id = %s AND organization_id = %s",
        [written["id"], pharmacy.id],
    )
    assert (via, scans) == ("reference", len(answers))
    assert audit_actions(admin_sql, written["id"]).count("prescription.scanned") == len(answers)
    assert _misses(admin_sql) == 0


async def test_a_typo_is_400_before_any_query(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    reference = written["reference_number"]
    typed_wrong = [_typo(reference, position) for position in (0, 5, 11)]
    # Two neighbours swapped, the prescription number instead, the wrong length.
    swapped = reference[1] + reference[0] + reference[2:]
    if swapped != reference:
        typed_wrong.append(swapped)
    typed_wrong += [written["prescription_number"], reference[:-2], reference + "7", "U" * 12]

    for typed in typed_wrong:
        response = await client.post(
            LOOKUP, json={"reference_number": typed}, headers=pharmacy.pharmacist.headers
        )
        assert_error(response, 400, "INVALID_REFERENCE_NUMBER", "reference_number")

    assert count_rows(admin_sql, "prescription_pharmacy_access", written["id"]) == 0
    assert _misses(admin_sql) == 0
    [(status,)] = admin_sql("SELECT status FROM prescriptions WHERE id = %s", [written["id"]])
    assert status == "issued"


async def test_an_unknown_reference_is_404_and_audited_although_the_request_failed(
    client: httpx.AsyncClient, clinic: Clinic, pharmacy: Pharmacy, admin_sql: AdminSql
) -> None:
    written = await prescribe(client, clinic)
    unknown = new_reference()
    assert unknown != written["reference_number"].replace("-", "")

    response = await client.post(
        LOOKUP, json={"reference_number": unknown}, headers=pharmacy.pharmacist.headers
    )

    assert_error(response, 404, "NOT_FOUND")
    [(actor, organization, metadata)] = admin_sql(
        "SELECT user_id, organization_id, metadata FROM activity_logs"
        " WHERE action = 'prescription.lookup_missed'"
    )
    assert (actor, organization) == (pharmacy.pharmacist.id, pharmacy.id)
    assert metadata["reference_suffix"] == unknown[-4:]
    assert count_rows(admin_sql, "prescription_pharmacy_access", written["id"]) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"reference_number": ""}, {"reference_number": 7}, {"reference_number": "x" * 65}],
)
async def test_a_malformed_body_is_400_with_details(
    client: httpx.AsyncClient, pharmacy: Pharmacy, body: dict[str, Any]
) -> None:
    response = await client.post(LOOKUP, json=body, headers=pharmacy.pharmacist.headers)

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"], error


async def test_only_pharmacists_look_references_up(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    admin_sql: AdminSql,
) -> None:
    written = await prescribe(client, clinic)
    customer = await factory.user("customer")
    body = {"reference_number": written["reference_number"]}

    assert_error(await client.post(LOOKUP, json=body), 401, "AUTHENTICATION_ERROR")
    for account in (clinic.doctor, clinic.patient, clinic.admin, pharmacy.admin, customer):
        response = await client.post(LOOKUP, json=body, headers=account.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")

    assert count_rows(admin_sql, "prescription_pharmacy_access", written["id"]) == 0


async def test_misses_are_limited_per_pharmacist_and_hits_do_not_count(  # noqa: PLR0917
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    make_settings: MakeSettings,
    backend: str,
    admin_sql: AdminSql,
) -> None:
    # The world is built through the test's app (logins are limited too); the lookups go
    # to an app of the same database with rate limits on.
    colleague = await factory.user("pharmacist", organization_id=pharmacy.id)
    written = await prescribe(client, clinic)
    reference = written["reference_number"]
    async with limited(make_settings, backend, RATE_LIMIT_REFERENCE_MISSES="3/hour") as served:
        client = served.client
        # Hits, however many, use none of the allowance of misses.
        for _ in range(4):
            await lookup(client, pharmacy.pharmacist, reference)
        for _ in range(3):
            missed = await client.post(
                LOOKUP,
                json={"reference_number": new_reference()},
                headers=pharmacy.pharmacist.headers,
            )
            assert_error(missed, 404, "NOT_FOUND")
        # Typos are answered before the allowance is looked at, and do not use it.
        bad = await client.post(
            LOOKUP,
            json={"reference_number": _typo(reference, 3)},
            headers=pharmacy.pharmacist.headers,
        )
        assert_error(bad, 400, "INVALID_REFERENCE_NUMBER")
        stopped = await client.post(
            LOOKUP, json={"reference_number": reference}, headers=pharmacy.pharmacist.headers
        )
        stopped_miss = await client.post(
            LOOKUP, json={"reference_number": new_reference()}, headers=pharmacy.pharmacist.headers
        )
        # Per pharmacist: a colleague at the same pharmacy still looks it up.
        theirs = await lookup(client, colleague, reference)

    for response in (stopped, stopped_miss):
        assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
        assert 1 <= int(response.headers["retry-after"]) <= 3601
    assert theirs["prescription"]["id"] == written["id"]
    # Three misses audited; the refused requests looked nothing up.
    assert _misses(admin_sql) == 3
    [(scans,)] = admin_sql("SELECT scan_count FROM prescriptions WHERE id = %s", [written["id"]])
    assert scans == 5
