"""`GET /patients`: the organization's charts, found by name or MRN, by exact phone and
national id (through blind indexes), by date of birth; paged and sorted like every
list; one audit row per list read."""

from __future__ import annotations

import httpx
import pytest

from tests.assertions import assert_error
from tests.patients.conftest import Tenant
from tests.patients.helpers import PATIENTS, AdminSql, create_chart, data


async def names(client: httpx.AsyncClient, tenant: Tenant, **params: str | int) -> list[str]:
    listed = data(await client.get(PATIENTS, params=params, headers=tenant.doctor.headers))
    return [f"{p['first_name']} {p['last_name']}" for p in listed["patients"]]


@pytest.fixture
async def registry(client: httpx.AsyncClient, hospital: Tenant) -> list[dict[str, object]]:
    headers = hospital.admin.headers
    return [
        await create_chart(
            client,
            headers,
            first_name="Ann",
            last_name="Lee",
            date_of_birth="1980-04-02",
            phone="+49 30 1234567",
            national_id="AB-123 45",
        ),
        await create_chart(
            client,
            headers,
            first_name="Anna",
            last_name="Berg",
            date_of_birth="1975-01-09",
            phone="+49 30 7654321",
        ),
        await create_chart(
            client, headers, first_name="Carl", last_name="Leeds", date_of_birth="1980-04-02"
        ),
        await create_chart(
            client, headers, first_name="Dora", last_name="Sure%_Shot", date_of_birth="2001-07-30"
        ),
    ]


async def test_search_by_any_part_of_a_name_or_by_mrn(
    client: httpx.AsyncClient, hospital: Tenant, registry: list[dict[str, object]]
) -> None:
    assert await names(client, hospital, search="ann") == ["Anna Berg", "Ann Lee"]
    assert await names(client, hospital, search="LEE") == ["Ann Lee", "Carl Leeds"]
    assert await names(client, hospital, search="ee") == ["Ann Lee", "Carl Leeds"]
    # Every word must match a first or a last name.
    assert await names(client, hospital, search="ann lee") == ["Ann Lee"]
    assert await names(client, hospital, search="carl berg") == []
    # Wildcards are literal.
    assert await names(client, hospital, search="%_") == ["Dora Sure%_Shot"]
    assert await names(client, hospital, search="_") == ["Dora Sure%_Shot"]
    # MRN: its prefix, or its number.
    assert await names(client, hospital, search="MRN-000003") == ["Carl Leeds"]
    assert await names(client, hospital, search="mrn-00000") == [
        "Anna Berg",
        "Ann Lee",
        "Carl Leeds",
        "Dora Sure%_Shot",
    ]
    assert await names(client, hospital, search="2") == ["Anna Berg"]


async def test_exact_phone_and_national_id_however_written(
    client: httpx.AsyncClient, hospital: Tenant, registry: list[dict[str, object]]
) -> None:
    assert await names(client, hospital, phone="+49 (30) 123-4567") == ["Ann Lee"]
    assert await names(client, hospital, phone="+4930123456") == []  # exact, not a prefix
    assert await names(client, hospital, national_id="ab12345") == ["Ann Lee"]
    assert await names(client, hospital, national_id="AB1234") == []


async def test_date_of_birth_and_filters_combine(
    client: httpx.AsyncClient, hospital: Tenant, registry: list[dict[str, object]]
) -> None:
    assert await names(client, hospital, date_of_birth="1980-04-02") == ["Ann Lee", "Carl Leeds"]
    assert await names(client, hospital, date_of_birth="1980-04-02", search="carl") == [
        "Carl Leeds"
    ]
    assert await names(client, hospital, date_of_birth="1980-04-02", phone="+49 30 7654321") == []


async def test_sorting_and_paging(
    client: httpx.AsyncClient, hospital: Tenant, registry: list[dict[str, object]]
) -> None:
    assert await names(client, hospital, sort="first_name", order="desc") == [
        "Dora Sure%_Shot",
        "Carl Leeds",
        "Anna Berg",
        "Ann Lee",
    ]
    assert await names(client, hospital, sort="mrn") == [
        "Ann Lee",
        "Anna Berg",
        "Carl Leeds",
        "Dora Sure%_Shot",
    ]
    assert (await names(client, hospital, sort="date_of_birth"))[0] == "Anna Berg"
    assert (await names(client, hospital, sort="created_at", order="desc"))[0] == "Dora Sure%_Shot"

    page = data(
        await client.get(PATIENTS, params={"limit": 3, "page": 2}, headers=hospital.doctor.headers)
    )
    assert [p["first_name"] for p in page["patients"]] == ["Dora"]
    assert page["pagination"] == {"page": 2, "limit": 3, "total": 4, "total_pages": 2}
    item = page["patients"][0]
    # A list item is a summary: no ids, insurance or clinical content.
    assert set(item) == {
        "id",
        "organization_id",
        "mrn",
        "first_name",
        "last_name",
        "date_of_birth",
        "sex",
        "email",
        "phone",
        "linked",
        "created_at",
        "deleted_at",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "national_id"}, "sort"),
        ({"order": "up"}, "order"),
        ({"limit": 101}, "limit"),
        ({"page": 0}, "page"),
        ({"date_of_birth": "yesterday"}, "date_of_birth"),
        ({"phone": "call me"}, "phone"),
        ({"national_id": "--"}, "national_id"),
        ({"search": "   "}, "search"),
        ({"search": "x" * 101}, "search"),
        ({"include_deleted": "perhaps"}, "include_deleted"),
    ],
)
async def test_bad_filters_are_named(
    client: httpx.AsyncClient, hospital: Tenant, params: dict[str, str | int], field: str
) -> None:
    response = await client.get(PATIENTS, params=params, headers=hospital.admin.headers)
    assert_error(response, 400, "VALIDATION_ERROR", fields={field})


async def test_one_audit_row_per_list_read_naming_filters_not_values(
    client: httpx.AsyncClient,
    hospital: Tenant,
    registry: list[dict[str, object]],
    admin_sql: AdminSql,
) -> None:
    await names(client, hospital, search="ann", phone="+49 30 1234567")

    rows = admin_sql(
        "SELECT organization_id, user_id, entity_type, entity_id, metadata FROM activity_logs"
        " WHERE action = 'patient.list'"
    )
    assert len(rows) == 1
    organization_id, user_id, entity_type, entity_id, metadata = rows[0]
    assert (organization_id, user_id, entity_type, entity_id) == (
        hospital.id,
        hospital.doctor.id,
        "patient",
        None,
    )
    assert metadata == {
        "filters": ["phone", "search"],
        "include_deleted": False,
        "page": 1,
        "returned": 1,
    }
    assert "ann" not in repr(metadata).lower()
    assert "1234567" not in repr(metadata)
