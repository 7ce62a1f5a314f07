"""The API docs work air-gapped: every asset they load is served by MedHub itself."""

from __future__ import annotations

import re

import httpx
import pytest


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", html)
    assert external == [], "no CDN or external URL in the docs page"
    assets = re.findall(r"""(?:src|href)=["'](/static/docs/[^"']+)["']""", html)
    assert assets, "the page loads its bundled scripts"
    for asset in assets:
        fetched = await client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 100
    assert "fonts.googleapis" not in html


async def test_openapi_documents_envelopes_and_400_not_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["title"] == "MedHub API"
    assert {"operations", "meta"} <= {tag["name"] for tag in spec["tags"]}
    error_envelope = spec["components"]["schemas"]["ErrorEnvelope"]
    assert set(error_envelope["properties"]) == {"success", "error", "request_id"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert "422" not in operation["responses"], f"{method} {path}"
            responses = operation["responses"]
            for status in ("400", "401", "403", "404", "409", "429", "503"):
                assert responses[status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorEnvelope"
                }, f"{method} {path} {status}"
            # A body can be refused before the route runs: too large, or of another type.
            takes_body = "requestBody" in operation
            assert ("413" in responses, "415" in responses) == (takes_body, takes_body)
    ready = spec["paths"]["/health/ready"]["get"]["responses"]["200"]
    schema_ref = ready["content"]["application/json"]["schema"]["$ref"]
    assert "Envelope" in schema_ref


@pytest.mark.parametrize("alias", ["/api-docs", "/api/docs"])
async def test_the_seeds_docs_addresses_redirect_to_the_docs(
    client: httpx.AsyncClient, alias: str
) -> None:
    response = await client.get(alias)
    assert response.status_code == 308
    assert response.headers["location"] == "/docs"
    followed = await client.get(alias, follow_redirects=True)
    assert followed.status_code == 200
    assert str(followed.url).endswith("/docs")
    assert "swagger-ui" in followed.text

    spec = (await client.get("/openapi.json")).json()
    assert alias not in spec["paths"]
