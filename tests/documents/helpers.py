"""Uploading through the API, and apps with other settings, for the documents tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from medhub.app import create_app
from medhub.config import Settings
from tests import commerce
from tests.conftest import running
from tests.factories import Account

URL = "/api/v1/documents"
AdminSql = Callable[..., list[tuple[Any, ...]]]


@dataclass
class Catalog:
    supplier: commerce.Supplier
    product_id: str


async def upload(
    client: httpx.AsyncClient,
    account: Account | None,
    *,
    entity_type: str,
    entity_id: str | uuid.UUID,
    document_type: str,
    content: bytes,
    file_name: str = "file.pdf",
    content_type: str = "application/pdf",
) -> httpx.Response:
    return await client.post(
        f"{URL}/upload",
        data={
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "document_type": document_type,
        },
        files={"file": (file_name, content, content_type)},
        headers=account.headers if account else None,
    )


async def uploaded(client: httpx.AsyncClient, account: Account, **kwargs: Any) -> dict[str, Any]:
    response = await upload(client, account, **kwargs)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on this test's database with other settings (tokens stay valid:
    same database, same signing secret)."""
    application = create_app(settings, configure_logs=False)
    async with running(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def raw_upload(
    client: httpx.AsyncClient,
    account: Account,
    *,
    fields: dict[str, str],
    file_name: bytes,
    content: bytes,
) -> httpx.Response:
    """A multipart body written by hand, so the file name reaches the server byte for
    byte (httpx, like browsers, percent-escapes NUL, CR, LF and quotes)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + file_name
        + b'"\r\nContent-Type: application/pdf\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return await client.post(
        f"{URL}/upload",
        content=b"".join(parts),
        headers={**account.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
