"""Order documents: only the buyer and the supplier's staff see them; anyone else gets
404 (the order's existence is not confirmed); invoices come only from the system."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from medhub.config import Settings
from medhub.documents import service
from medhub.kit.db import Database
from tests import commerce
from tests.documents import samples
from tests.documents.helpers import URL, AdminSql, Catalog, upload, uploaded
from tests.factories import Account, Factory


@dataclass
class PlacedOrder:
    id: str
    buyer: Account
    catalog: Catalog


@pytest.fixture
async def order(client: httpx.AsyncClient, factory: Factory, catalog: Catalog) -> PlacedOrder:
    buyer = await commerce.buyer(factory)
    response = await commerce.place(client, buyer, [(catalog.product_id, 2)])
    assert response.status_code == 201, response.text
    return PlacedOrder(str(response.json()["data"]["id"]), buyer.account, catalog)


async def shipping_doc(client: httpx.AsyncClient, order: PlacedOrder) -> dict[str, object]:
    return await uploaded(
        client,
        order.catalog.supplier.sales,
        entity_type="order",
        entity_id=order.id,
        document_type="shipping_doc",
        content=samples.pdf("Packing list"),
        file_name="packing-list.pdf",
    )


async def test_supplier_staff_attach_and_the_buyer_reads(
    client: httpx.AsyncClient, order: PlacedOrder, admin_sql: AdminSql
) -> None:
    document = await shipping_doc(client, order)
    query = {"entity_type": "order", "entity_id": order.id}

    listed = await client.get(URL, params=query, headers=order.buyer.headers)
    download = await client.get(str(document["download_url"]), headers=order.buyer.headers)

    assert listed.status_code == 200, listed.text
    assert [d["id"] for d in listed.json()["data"]["documents"]] == [document["id"]]
    assert download.status_code == 200
    assert download.content == samples.pdf("Packing list")
    [(organization_id,)] = admin_sql(
        "SELECT organization_id FROM activity_logs WHERE action = 'document_uploaded'"
    )
    assert organization_id == order.catalog.supplier.id


async def test_anyone_else_gets_404_for_an_orders_documents(
    client: httpx.AsyncClient, factory: Factory, order: PlacedOrder
) -> None:
    document = await shipping_doc(client, order)
    stranger = await factory.user("customer")
    other_supplier = await commerce.supplier(factory)
    query = {"entity_type": "order", "entity_id": order.id}

    for account in (stranger, other_supplier.admin, other_supplier.sales):
        headers = account.headers
        for response in (
            await client.get(f"{URL}/{document['id']}", headers=headers),
            await client.get(str(document["download_url"]), headers=headers),
            await client.get(URL, params=query, headers=headers),
            await client.delete(f"{URL}/{document['id']}", headers=headers),
            await upload(
                client,
                account,
                entity_type="order",
                entity_id=order.id,
                document_type="other",
                content=samples.pdf(),
            ),
        ):
            assert response.status_code == 404, (account.role, response.request.url, response.text)
            assert response.json()["error"]["code"] == "NOT_FOUND"

    # Anonymous: the document is as unknown as any other id.
    assert (await client.get(str(document["download_url"]))).status_code == 404
    assert (await client.get(f"{URL}/{document['id']}")).status_code == 404
    assert (await client.get(URL, params=query)).status_code == 401


async def test_a_distributor_of_the_supplier_is_not_its_staff(
    client: httpx.AsyncClient, factory: Factory, order: PlacedOrder
) -> None:
    document = await shipping_doc(client, order)
    distributor = await factory.user("distributor", organization_id=order.catalog.supplier.id)

    response = await client.get(str(document["download_url"]), headers=distributor.headers)

    assert response.status_code == 404


async def test_the_buyer_attaches_other_documents_only(
    client: httpx.AsyncClient, order: PlacedOrder
) -> None:
    purchase_order = await upload(
        client,
        order.buyer,
        entity_type="order",
        entity_id=order.id,
        document_type="other",
        content=samples.docx(),
        file_name="PO-7731.docx",
    )
    shipping = await upload(
        client,
        order.buyer,
        entity_type="order",
        entity_id=order.id,
        document_type="shipping_doc",
        content=samples.pdf(),
    )

    assert purchase_order.status_code == 201, purchase_order.text
    assert purchase_order.json()["data"]["uploaded_by"] == str(order.buyer.id)
    assert shipping.status_code == 403
    # The supplier's staff see what the buyer attached.
    staff = await client.get(
        str(purchase_order.json()["data"]["download_url"]),
        headers=order.catalog.supplier.sales.headers,
    )
    assert staff.status_code == 200
    assert staff.content == samples.docx()


async def test_the_buyer_deletes_only_what_they_attached(
    client: httpx.AsyncClient, order: PlacedOrder
) -> None:
    from_supplier = await shipping_doc(client, order)
    own = await uploaded(
        client,
        order.buyer,
        entity_type="order",
        entity_id=order.id,
        document_type="other",
        content=samples.CSV,
        file_name="lines.csv",
    )

    refused = await client.delete(f"{URL}/{from_supplier['id']}", headers=order.buyer.headers)
    deleted = await client.delete(f"{URL}/{own['id']}", headers=order.buyer.headers)

    assert refused.status_code == 403
    assert deleted.status_code == 200, deleted.text


async def test_invoices_are_never_uploaded_nor_deleted_through_the_api(
    client: httpx.AsyncClient,
    factory: Factory,
    order: PlacedOrder,
    database: Database,
    settings: Settings,
) -> None:
    staff_upload = await upload(
        client,
        order.catalog.supplier.admin,
        entity_type="order",
        entity_id=order.id,
        document_type="invoice",
        content=samples.pdf(),
    )
    # The payments domain attaches the generated invoice through the service.
    async with database.unit_of_work() as session:
        invoice = await service.store_document(
            session,
            entity_type="order",
            entity_id=uuid.UUID(order.id),
            document_type="invoice",
            file_name="INV-2026-000001.pdf",
            content=samples.pdf("Invoice"),
            uploaded_by=None,
            settings=settings,
        )
    root = await factory.user("super_admin")

    buyer_download = await client.get(f"{URL}/{invoice.id}/download", headers=order.buyer.headers)
    deletions = [
        await client.delete(f"{URL}/{invoice.id}", headers=account.headers)
        for account in (order.catalog.supplier.admin, root)
    ]

    assert staff_upload.status_code == 400
    assert staff_upload.json()["error"]["details"][0]["field"] == "document_type"
    assert "generated by the system" in staff_upload.json()["error"]["message"]
    assert buyer_download.status_code == 200
    assert buyer_download.content == samples.pdf("Invoice")
    assert [d.status_code for d in deletions] == [403, 403]
    assert invoice.storage_key == (f"documents/orders/{order.id}/invoices/{invoice.id}.pdf")
