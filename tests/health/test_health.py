"""Liveness, readiness (database up/down, migrations at head or not) and metrics."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psycopg
from psycopg import sql

from medhub.app import create_app
from medhub.config import Settings
from medhub.kit.db import Database
from medhub.ops.migrations import head_revision
from medhub.ops.provision import app_url_for, database_url_with
from tests.conftest import DatabaseUrls, running

CLOSED_PORT_URL = "postgresql://medhub_app@127.0.0.1:9/medhub"


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "ok"
    assert body["data"]["version"]


async def test_ready_when_database_is_up_and_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    checks = response.json()["data"]["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["migrations"] == {
        "status": "ok",
        "detail": f"at head {head_revision()}",
        "latency_ms": None,
    }


async def test_ready_is_503_when_the_database_is_down(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(DATABASE_URL=CLOSED_PORT_URL)
    database = Database(settings, CLOSED_PORT_URL)
    app = create_app(
        settings, database=database, configure_logs=False, check_database_on_start=False
    )
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            live = await http.get("/health/live")
            ready = await http.get("/health/ready")
    assert live.status_code == 200, "liveness does not depend on the database"
    assert ready.status_code == 503
    body = ready.json()
    assert body["success"] is False
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    failing = {d["field"]: d["message"] for d in body["error"]["details"]}
    assert "database" in failing
    assert "unreachable" in failing["database"]


async def test_ready_is_503_when_migrations_are_not_at_head(
    admin_server_url: str, make_settings: Callable[..., Settings]
) -> None:
    name = "medhub_unmigrated_probe"
    maintenance = database_url_with(admin_server_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        app_url = app_url_for(database_url_with(admin_server_url, name), "medhub_app")
        settings = make_settings(DATABASE_URL=app_url)
        app = create_app(settings, configure_logs=False)
        async with running(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                ready = await http.get("/health/ready")
        assert ready.status_code == 503
        failing = {d["field"]: d["message"] for d in ready.json()["error"]["details"]}
        assert set(failing) == {"migrations"}
        assert "medhub db upgrade" in failing["migrations"]
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def test_metrics_count_requests_by_route_template_and_show_the_pool(
    client: httpx.AsyncClient, database_urls: DatabaseUrls
) -> None:
    await client.get("/health/live")
    await client.get("/health/ready")
    await client.get("/nowhere/at/all")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'medhub_http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "/nowhere/at/all" not in text, "raw paths would explode label cardinality"
    assert (
        'medhub_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health/ready"}'
        in text
    )
    assert "medhub_db_pool_size 5.0" in text
    assert "medhub_db_pool_checked_out 0.0" in text
