"""DATABASE_READ_URL: the catalog's read routes query the replica; writes stay on the primary.

The "replica" here is a second database cloned from the same template, so what each
side holds can differ: a product only the replica has proves where a read went.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import psycopg
import pytest
from sqlalchemy import text

from medhub.app import create_app
from medhub.config import Settings
from tests.conftest import DatabaseSupply, DatabaseUrls, clone_database, running
from tests.factories import Factory

MEDPHARM = uuid.UUID("00000000-0000-7000-8000-000000000001")


@pytest.fixture
def replica(
    admin_server_url: str, template_database: str, database_supply: DatabaseSupply
) -> Iterator[DatabaseUrls]:
    urls = clone_database(admin_server_url, template_database)
    try:
        yield urls
    finally:
        # Dropped with the supply's next batch, in the background: a DROP DATABASE waits
        # for a checkpoint of the whole cluster, which under a full run's load can take
        # longer than a test may.
        database_supply.retire_template(urls.name)


@pytest.fixture
async def replicated(
    make_settings: Callable[..., Settings], replica: DatabaseUrls
) -> AsyncIterator[tuple[httpx.AsyncClient, Factory]]:
    application = create_app(make_settings(DATABASE_READ_URL=replica.app), configure_logs=False)
    async with running(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, Factory(application, http)


def _insert_product_on(replica: DatabaseUrls, name: str) -> uuid.UUID:
    product_id = uuid.uuid4()
    with psycopg.connect(replica.admin, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO products (id, supplier_id, category, name, description, dosage,"
            " packaging, indication, manufacturer_code, price, stock_quantity)"
            " VALUES (%s, %s, 'cardiovascular', %s, 'Only on the replica', '5mg',"
            " '30 tablets', 'Hypertension', %s, 9.99, 40)",
            [product_id, MEDPHARM, name, f"RPL-{product_id.hex[:8]}"],
        )
    return product_id


async def test_catalog_reads_go_to_the_replica_and_writes_to_the_primary(
    replicated: tuple[httpx.AsyncClient, Factory], replica: DatabaseUrls
) -> None:
    client, factory = replicated
    on_replica = _insert_product_on(replica, "Replicol 5mg")

    listed = await client.get("/api/v1/products", params={"search": "Replicol"})
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["data"]["products"]] == [str(on_replica)]
    detail = await client.get(f"/api/v1/products/{on_replica}")
    assert detail.status_code == 200
    assert detail.json()["data"]["name"] == "Replicol 5mg"
    certifications = await client.get(f"/api/v1/products/{on_replica}/certifications")
    assert certifications.status_code == 200
    assert (await client.get("/api/v1/categories")).status_code == 200

    # A product written through the API lands on the primary: the replica (which
    # nothing replicates to in this test) does not have it.
    supplier = await factory.organization("supplier")
    admin = await factory.user("admin", organization_id=supplier.id)
    created = await client.post(
        "/api/v1/products",
        headers=admin.headers,
        json={
            "name": "Primarol 10mg",
            "category": "cardiovascular",
            "description": "Written to the primary",
            "dosage": "10mg",
            "packaging": "30 tablets",
            "indication": "Hypertension",
            "manufacturer_code": f"PRM-{uuid.uuid4().hex[:8]}",
            "price": "12.00",
            "stock_quantity": 5,
        },
    )
    assert created.status_code == 201, created.text
    missing = await client.get(f"/api/v1/products/{created.json()['data']['id']}")
    assert missing.status_code == 404


async def test_replica_connections_refuse_writes(
    replicated: tuple[httpx.AsyncClient, Factory],
) -> None:
    client, factory = replicated
    database = factory.database
    assert database.read_engine is not database.engine
    async with database.session(read_only=True) as session:
        with pytest.raises(Exception, match="read-only transaction"):
            await session.execute(text("CREATE TEMPORARY TABLE nope (id int)"))
    assert (await client.get("/health/live")).status_code == 200


async def test_without_a_replica_catalog_reads_use_the_primary(client: httpx.AsyncClient) -> None:
    database = client._transport.app.state.database  # type: ignore[attr-defined]
    assert database.read_engine is database.engine
    response = await client.get("/api/v1/products")
    assert response.status_code == 200
