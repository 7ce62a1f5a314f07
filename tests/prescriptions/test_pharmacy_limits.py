"""The seed's per-user limits of the pharmacy's routes: QR code scanning 20 a minute
(`RATE_LIMIT_PHARMACY_SCAN`), and one allowance of 15 a minute shared by lookup,
validation, dispensing and rejection (`RATE_LIMIT_PHARMACY_OPERATIONS`). Past it: 429
with `Retry-After` and the `X-RateLimit-*` headers, for that pharmacist only.

The world (prescriptions, pharmacies, scans that grant access) is built through the
test's app, where limits are off; the limited calls go to an app of the same database
with limits on (tests/auth/helpers.limited), as tests/prescriptions/test_prescribing.py
does for the create limit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx

from tests.assertions import assert_error
from tests.auth.helpers import MakeSettings, limited
from tests.consultations.helpers import Clinic
from tests.factories import Factory
from tests.prescriptions.helpers import (
    LOOKUP,
    SCAN,
    AdminSql,
    Pharmacy,
    audit_actions,
    dispense_url,
    dispensed_quantities,
    item,
    line,
    prescribe,
    reject_url,
    scan,
    validate_url,
)


def _assert_counted(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == str(remaining)


def _assert_refused(response: httpx.Response, limit: int, window_seconds: int = 60) -> None:
    assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(response.headers["retry-after"]) <= window_seconds + 1
    assert int(response.headers["x-ratelimit-reset"]) <= time.time() + window_seconds + 2


def _scan_count(admin_sql: AdminSql, prescription_id: str) -> int:
    [(count,)] = admin_sql("SELECT scan_count FROM prescriptions WHERE id = %s", [prescription_id])
    return int(count)


async def test_the_twenty_first_scan_in_a_minute_is_429_for_that_pharmacist_only(  # noqa: PLR0917
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    make_settings: MakeSettings,
    backend: str,
    admin_sql: AdminSql,
) -> None:
    assert make_settings().RATE_LIMIT_PHARMACY_SCAN == "20/minute"
    colleague = await factory.user("pharmacist", organization_id=pharmacy.id)
    written = await prescribe(client, clinic)
    async with limited(make_settings, backend) as served:
        for n in range(20):
            # By URL and by bare token alike: one allowance.
            qr_data = written["verification_url"] if n % 2 else written["qr_token"]
            response = await served.client.post(
                SCAN, json={"qr_data": qr_data}, headers=pharmacy.pharmacist.headers
            )
            _assert_counted(response, 20, 19 - n)
        refused = await served.client.post(
            SCAN, json={"qr_data": written["qr_token"]}, headers=pharmacy.pharmacist.headers
        )
        _assert_refused(refused, 20)
        # Per user: a colleague of the same pharmacy still scans; the refused pharmacist
        # still has the operations' allowance, which is another one (its headers show
        # the tightest limit passed, by now the pharmacist role's 30 a minute).
        theirs = await served.client.post(
            SCAN, json={"qr_data": written["qr_token"]}, headers=colleague.headers
        )
        _assert_counted(theirs, 20, 19)
        looked_up = await served.client.post(
            LOOKUP,
            json={"reference_number": written["reference_number"]},
            headers=pharmacy.pharmacist.headers,
        )
        assert looked_up.status_code == 200, looked_up.text

    # The refused scan was not counted, nor audited: 20 + the colleague's + the lookup.
    assert _scan_count(admin_sql, written["id"]) == 22
    assert audit_actions(admin_sql, written["id"]).count("prescription.scanned") == 22


async def test_lookup_validate_dispense_and_reject_share_fifteen_a_minute_per_pharmacist(  # noqa: PLR0917
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    pharmacy: Pharmacy,
    make_settings: MakeSettings,
    backend: str,
    admin_sql: AdminSql,
) -> None:
    assert make_settings().RATE_LIMIT_PHARMACY_OPERATIONS == "15/minute"
    colleague = await factory.user("pharmacist", organization_id=pharmacy.id)
    first = await prescribe(client, clinic, items=[item(quantity=30)])
    second = await prescribe(client, clinic)
    third = await prescribe(client, clinic)
    for written in (first, second, third):
        await scan(client, pharmacy.pharmacist, written["qr_token"])
    first_item = first["items"][0]["id"]
    headers = pharmacy.pharmacist.headers

    async with limited(make_settings, backend) as served:
        api = served.client

        def lookup_of(written: dict[str, object]) -> Callable[[], Awaitable[httpx.Response]]:
            return lambda: api.post(
                LOOKUP, json={"reference_number": written["reference_number"]}, headers=headers
            )

        def validate(prescription_id: object) -> Callable[[], Awaitable[httpx.Response]]:
            return lambda: api.post(validate_url(str(prescription_id)), headers=headers)

        def dispense_one() -> Awaitable[httpx.Response]:
            return api.post(
                dispense_url(first["id"]), json={"items": [line(first_item, 1)]}, headers=headers
            )

        def reject_third() -> Awaitable[httpx.Response]:
            return api.post(
                reject_url(third["id"]), json={"reason": "Not for this patient"}, headers=headers
            )

        calls: list[Callable[[], Awaitable[httpx.Response]]] = [
            lookup_of(first),
            lookup_of(second),
            validate(first["id"]),
            validate(second["id"]),
            *[dispense_one] * 6,
            reject_third,
            *[lookup_of(first)] * 4,
        ]
        assert len(calls) == 15
        for n, call in enumerate(calls):
            _assert_counted(await call(), 15, 14 - n)

        # The sixteenth, whichever of the four routes it is.
        refused = [
            await lookup_of(second)(),
            await validate(second["id"])(),
            await dispense_one(),
            await api.post(
                reject_url(second["id"]), json={"reason": "Not for this patient"}, headers=headers
            ),
        ]
        for response in refused:
            _assert_refused(response, 15)
        # Per user: a colleague of the same pharmacy has an allowance of their own.
        theirs = await api.post(
            dispense_url(first["id"]),
            json={"items": [line(first_item, 2)]},
            headers=colleague.headers,
        )
        _assert_counted(theirs, 15, 14)
        # Another role is refused for its role, without using or meeting any allowance.
        for _ in range(16):
            response = await api.post(validate_url(second["id"]), headers=pharmacy.admin.headers)
            assert_error(response, 403, "AUTHORIZATION_ERROR")

    # The refused requests did nothing: six units by the pharmacist, two by the colleague;
    # the second prescription is validated, not rejected.
    assert dispensed_quantities(admin_sql, first["id"]) == [8]
    [(status,)] = admin_sql("SELECT status FROM prescriptions WHERE id = %s", [second["id"]])
    assert status == "validated"
    assert audit_actions(admin_sql, second["id"]).count("prescription.rejected") == 0
    assert audit_actions(admin_sql, first["id"]).count("prescription.dispensed") == 7
