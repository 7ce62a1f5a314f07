"""GET /patients/medical-history (MedConnect): the patient's charts, allergies and
conditions, consultations and records across organizations, behind a one-time code
(X-OTP-Token, purpose medical_history) and a per-user rate limit; every read audited."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.assertions import assert_error
from tests.auth.helpers import MakeSettings, limited
from tests.consultations.helpers import AdminSql, audit_count, delete_chart, make_chart
from tests.doctors.helpers import data
from tests.factories import Account, Factory
from tests.records.helpers import (
    API,
    MEDICAL_HISTORY,
    TwoCharts,
    consultation,
    otp_token,
    patient_at_two_practices,
    record,
    with_otp,
)

PROFILE = f"{API}/patients/profile"


def patients_url(chart_id: object) -> str:
    return f"{API}/patients/{chart_id}"


async def history(
    client: httpx.AsyncClient, account: Account, token: str | None, **params: Any
) -> httpx.Response:
    headers = with_otp(account, token) if token is not None else account.headers
    return await client.get(MEDICAL_HISTORY, params=params, headers=headers)


async def filled_in(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    """Two organizations, each with the patient's chart, its doctor's consultation and
    record; the patient's profile allergies; and another patient's data beside them."""
    care = await patient_at_two_practices(client, factory)
    first, second = care.first, care.second
    for practice, chart, allergies, conditions in (
        (first, care.first_chart, ["Penicillin"], ["Asthma"]),
        (second, care.second_chart, [" penicillin", "Latex"], ["asthma", "Hypertension"]),
    ):
        data(
            await client.put(
                patients_url(chart.id),
                json={"allergies": allergies, "chronic_conditions": conditions},
                headers=practice.doctor.headers,
            )
        )
    data(
        await client.put(
            PROFILE, json={"allergies": ["Peanuts", "LATEX"]}, headers=care.patient.headers
        )
    )
    visit_one = await consultation(
        client,
        first.doctor,
        care.first_chart,
        scheduled_at="2026-02-10T09:00:00Z",
        diagnosis="Acute bronchitis",
        icd10_codes=["J20.9"],
        notes="Lungs clear on the left",
        follow_up_on="2026-03-01",
        follow_up_notes="Return if fever",
        vitals={"heart_rate": 72},
    )
    visit_two = await consultation(
        client, second.doctor, care.second_chart, scheduled_at="2026-04-20T14:30:00Z"
    )
    lab = await record(client, first.doctor, care.first_chart, content="Slightly raised")
    scan = await record(
        client,
        second.doctor,
        care.second_chart,
        kind="imaging",
        recorded_on="2026-04-21",
        title="Chest X-ray",
        content="No consolidation",
        consultation_id=visit_two["id"],
    )
    # Another patient of the first organization, with clinical data of their own.
    stranger = await factory.user("patient", full_name="Other Person")
    stranger_chart = await make_chart(factory.database, first.id, user_id=stranger.id)
    await consultation(client, first.doctor, stranger_chart, diagnosis="Stranger-diagnosis-zz")
    await record(client, first.doctor, stranger_chart, title="Stranger-record-zz")
    return {
        "care": care,
        "visit_one": visit_one,
        "visit_two": visit_two,
        "lab": lab,
        "scan": scan,
        "stranger": stranger,
    }


async def test_the_patient_reads_their_history_across_organizations(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    made = await filled_in(client, factory)
    care: TwoCharts = made["care"]
    token = await otp_token(client, app, care.patient)
    response = await history(client, care.patient, token)
    body = data(response)

    charts = {chart["patient_id"]: chart for chart in body["charts"]}
    assert set(charts) == {str(care.first_chart.id), str(care.second_chart.id)}
    first_chart = charts[str(care.first_chart.id)]
    assert first_chart["organization_id"] == str(care.first.id)
    assert first_chart["organization_name"] == care.first.name
    assert first_chart["mrn"] == care.first_chart.mrn
    assert first_chart["allergies"] == ["Penicillin"]
    assert charts[str(care.second_chart.id)]["organization_name"] == care.second.name
    assert charts[str(care.second_chart.id)]["chronic_conditions"] == ["asthma", "Hypertension"]
    # The profile's first, then each chart's, every one once whatever its case or spaces.
    assert body["allergies"][:2] == ["Peanuts", "LATEX"]
    assert len(body["allergies"]) == 3
    assert {a.casefold() for a in body["allergies"]} == {"peanuts", "latex", "penicillin"}
    assert {c.casefold() for c in body["chronic_conditions"]} == {"asthma", "hypertension"}
    assert len(body["chronic_conditions"]) == 2

    # Newest first, with who and where, and everything the doctor wrote.
    one, two = made["visit_one"], made["visit_two"]
    assert [c["id"] for c in body["consultations"]] == [two["id"], one["id"]]
    later, earlier = body["consultations"]
    assert (later["doctor_name"], later["organization_name"]) == (
        "Dr. Omar Reyes",
        care.second.name,
    )
    assert (earlier["doctor_name"], earlier["organization_name"]) == (
        "Dr. Hana Ito",
        care.first.name,
    )
    assert earlier["doctor_id"] == str(care.first.doctor.id)
    assert earlier["scheduled_at"] == "2026-02-10T09:00:00Z"
    assert earlier["status"] == "scheduled"
    assert earlier["chief_complaint"] == "Cough"
    assert earlier["diagnosis"] == "Acute bronchitis"
    assert earlier["icd10_codes"] == ["J20.9"]
    assert earlier["notes"] == "Lungs clear on the left"
    assert earlier["follow_up_on"] == "2026-03-01"
    assert earlier["follow_up_notes"] == "Return if fever"
    assert earlier["vitals"]["heart_rate"] == 72
    assert "join_url" not in earlier

    lab, scan = made["lab"], made["scan"]
    assert [r["id"] for r in body["records"]] == [scan["id"], lab["id"]]
    newest, oldest = body["records"]
    assert newest["kind"] == "imaging"
    assert newest["recorded_on"] == "2026-04-21"
    assert (newest["title"], newest["content"]) == ("Chest X-ray", "No consolidation")
    assert newest["consultation_id"] == two["id"]
    assert (newest["author_name"], newest["organization_name"]) == (
        "Dr. Omar Reyes",
        care.second.name,
    )
    assert (oldest["author_name"], oldest["organization_name"]) == ("Dr. Hana Ito", care.first.name)

    # Nothing of the other patient.
    assert "Stranger" not in response.text
    assert str(made["stranger"].id) not in response.text

    # One audit row, naming the charts read, holding no clinical content.
    rows = admin_sql(
        "SELECT user_id, organization_id, entity_type, metadata FROM activity_logs"
        " WHERE action = 'medical_history.read'"
    )
    assert len(rows) == 1
    user_id, organization_id, entity_type, metadata = rows[0]
    assert (user_id, organization_id, entity_type) == (care.patient.id, None, "medical_history")
    assert metadata["patient_ids"] == sorted([str(care.first_chart.id), str(care.second_chart.id)])
    assert metadata["consultations"] == 2
    assert metadata["records"] == 2
    for secret in ("bronchitis", "Lungs", "Penicillin", "X-ray", "Peanuts"):
        assert secret not in str(metadata)


async def test_from_and_to_bound_consultations_and_records(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    made = await filled_in(client, factory)
    care: TwoCharts = made["care"]
    token = await otp_token(client, app, care.patient)

    async def ids(**params: str) -> tuple[list[str], list[str]]:
        body = data(await history(client, care.patient, token, **params))
        # The current allergies and charts whatever the dates.
        assert len(body["charts"]) == 2
        assert len(body["allergies"]) == 3
        return [c["id"] for c in body["consultations"]], [r["id"] for r in body["records"]]

    one, two = made["visit_one"]["id"], made["visit_two"]["id"]
    lab, scan = made["lab"]["id"], made["scan"]["id"]
    assert await ids(**{"from": "2026-04-20"}) == ([two], [scan])
    assert await ids(to="2026-04-20") == ([two, one], [lab])
    assert await ids(**{"from": "2026-02-10", "to": "2026-02-10"}) == ([one], [])
    assert await ids(**{"from": "2030-01-01"}) == ([], [])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-1-1"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
    ],
)
async def test_bad_dates_are_refused_with_details(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, str], field: str
) -> None:
    patient = await factory.user("patient")
    response = await client.get(MEDICAL_HISTORY, params=params, headers=patient.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_a_patient_without_charts_has_an_empty_history(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    patient = await factory.user("patient")
    token = await otp_token(client, app, patient)
    assert data(await history(client, patient, token)) == {
        "charts": [],
        "allergies": [],
        "chronic_conditions": [],
        "consultations": [],
        "records": [],
    }


async def test_a_deleted_chart_leaves_the_history(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    made = await filled_in(client, factory)
    care: TwoCharts = made["care"]
    await delete_chart(factory.database, care.second_chart.id)
    token = await otp_token(client, app, care.patient)
    body = data(await history(client, care.patient, token))
    assert [chart["patient_id"] for chart in body["charts"]] == [str(care.first_chart.id)]
    assert [c["id"] for c in body["consultations"]] == [made["visit_one"]["id"]]
    assert [r["id"] for r in body["records"]] == [made["lab"]["id"]]
    assert "Hypertension" not in body["chronic_conditions"]


# The one-time code


async def test_without_a_code_the_answer_says_how_to_get_one(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    care = await patient_at_two_practices(client, factory)
    error = assert_error(await history(client, care.patient, None), 403, "OTP_REQUIRED")
    assert "/api/v1/auth/otp/request" in error["message"]
    assert "medical_history" in error["message"]
    assert "X-OTP-Token" in error["message"]
    assert error["details"] == [{"field": "X-OTP-Token", "message": "missing, invalid or expired"}]
    for junk in ("", "not-a-grant", "x" * 500):
        assert_error(await history(client, care.patient, junk), 403, "OTP_REQUIRED")
    assert audit_count(admin_sql, "medical_history.read") == 0


async def test_a_grant_serves_several_reads_until_it_expires(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory, admin_sql: AdminSql
) -> None:
    care = await patient_at_two_practices(client, factory)
    token = await otp_token(client, app, care.patient)
    for _ in range(2):
        data(await history(client, care.patient, token))
    assert audit_count(admin_sql, "medical_history.read") == 2
    admin_sql(
        "UPDATE one_time_tokens SET expires_at = now() - interval '1 second'"
        " WHERE user_id = %s AND purpose = 'otp_grant:medical_history'",
        [care.patient.id],
    )
    assert_error(await history(client, care.patient, token), 403, "OTP_REQUIRED")
    assert audit_count(admin_sql, "medical_history.read") == 2


async def test_a_grant_for_another_purpose_does_not_open_the_history(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    care = await patient_at_two_practices(client, factory)
    for purpose in ("payment", "sensitive_action"):
        token = await otp_token(client, app, care.patient, purpose)
        assert_error(await history(client, care.patient, token), 403, "OTP_REQUIRED")


async def test_another_patients_grant_does_not_open_the_history(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    care = await patient_at_two_practices(client, factory)
    other = await factory.user("patient")
    others_token = await otp_token(client, app, other)
    assert_error(await history(client, care.patient, others_token), 403, "OTP_REQUIRED")
    # It still opens its owner's (empty) history.
    assert data(await history(client, other, others_token))["charts"] == []


# Who may ask


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(MEDICAL_HISTORY), 401, "AUTHENTICATION_ERROR")
    response = await client.get(MEDICAL_HISTORY, headers={"X-OTP-Token": "whatever"})
    assert_error(response, 401, "AUTHENTICATION_ERROR")


async def test_only_patients_read_a_medical_history(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    care = await patient_at_two_practices(client, factory)
    pharmacy = await factory.organization("pharmacy")
    others = [
        care.first.doctor,
        care.first.admin,
        await factory.user("pharmacist", organization_id=pharmacy.id),
        await factory.user("super_admin"),
        await factory.user("customer"),
    ]
    for account in others:
        # Even with a grant of their own: the route is the patient's.
        token = await otp_token(client, app, account)
        response = await history(client, account, token)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


# Routing: the literal path is not a chart id


async def test_the_path_is_not_read_as_a_chart_id(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    care = await patient_at_two_practices(client, factory)
    # A doctor is refused by the history's rules, not by a chart id's validation.
    assert_error(
        await client.get(MEDICAL_HISTORY, headers=care.first.doctor.headers),
        403,
        "AUTHORIZATION_ERROR",
    )
    assert_error(await history(client, care.patient, None), 403, "OTP_REQUIRED")
    # Methods of /patients/{patient_id} are not served here.
    for method in ("PUT", "DELETE", "POST"):
        response = await client.request(method, MEDICAL_HISTORY, headers=care.first.doctor.headers)
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
        assert response.headers["allow"] == "GET"
    # And a chart still answers at its id.
    chart = data(
        await client.get(patients_url(care.first_chart.id), headers=care.first.doctor.headers)
    )
    assert chart["id"] == str(care.first_chart.id)


# Rate limit: MedConnect's 10 a minute per user


async def test_the_eleventh_read_in_a_minute_is_429(
    make_settings: MakeSettings, backend: str
) -> None:
    assert make_settings().RATE_LIMIT_MEDICAL_HISTORY == "10/minute"
    async with limited(make_settings, backend) as served:
        client, app = served.client, served.app
        factory = Factory(app, client)
        patient = await factory.user("patient")
        neighbour = await factory.user("patient")
        token = await otp_token(client, app, patient)
        for n in range(10):
            response = await history(client, patient, token)
            assert response.status_code == 200, response.text
            assert response.headers["x-ratelimit-limit"] == "10"
            assert response.headers["x-ratelimit-remaining"] == str(9 - n)
        refused = await history(client, patient, token)
        assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
        assert refused.headers["x-ratelimit-limit"] == "10"
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        assert time.time() - 1 <= int(refused.headers["x-ratelimit-reset"]) <= time.time() + 62
        # Per user: another patient from the same address has an allowance of their own.
        neighbours = await otp_token(client, app, neighbour)
        assert (await history(client, neighbour, neighbours)).status_code == 200
