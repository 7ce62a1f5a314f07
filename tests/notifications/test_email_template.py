"""The `notification` email: what notify() passes it, and how it renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from jinja2 import UndefinedError

from medhub.config import Environment, Settings
from medhub.kit.email import TemplateRenderer, sample_context
from tests.factories import Account, Factory, mail_to, text_body
from tests.notifications.conftest import AdminSql
from tests.notifications.helpers import send

FRONTEND = "https://app.medhub.example"
CONTEXT = {
    "full_name": "Ann Lee",
    "title": "Order ORD-2026-000042 shipped",
    "body": "It arrives <b>Tuesday</b>.\nKeep someone home.",
    "category": "order",
    "link": "/orders/42",
}


@pytest.fixture
def renderer(tmp_path: Path) -> TemplateRenderer:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        ENV=Environment.test,
        DATA_DIR=tmp_path,
        JWT_SECRET="test-secret-" + "x" * 40,
        FRONTEND_URL=FRONTEND,
    )
    return TemplateRenderer(settings)


def test_renders_title_body_and_the_deep_link(renderer: TemplateRenderer) -> None:
    rendered = renderer.render("notification", CONTEXT)

    assert rendered.subject == "Order ORD-2026-000042 shipped"
    assert "Hello Ann Lee," in rendered.text
    assert "It arrives <b>Tuesday</b>.\nKeep someone home." in rendered.text
    assert f"View details:\n{FRONTEND}/orders/42" in rendered.text
    assert "You receive order notifications by email" in rendered.text
    assert f'href="{FRONTEND}/orders/42"' in rendered.html
    assert "It arrives &lt;b&gt;Tuesday&lt;/b&gt;." in rendered.html
    assert "<b>Tuesday" not in rendered.html


def test_without_a_link_it_points_at_the_notification_list(renderer: TemplateRenderer) -> None:
    rendered = renderer.render("notification", {**CONTEXT, "link": None, "body": ""})

    assert "View details" not in rendered.text
    assert "View details" not in rendered.html
    assert f"{FRONTEND}/notifications" in rendered.text
    assert f'href="{FRONTEND}/notifications"' in rendered.html


@pytest.mark.parametrize("key", sorted(CONTEXT))
def test_every_key_is_required(renderer: TemplateRenderer, key: str) -> None:
    with pytest.raises(UndefinedError):
        renderer.render("notification", {k: v for k, v in CONTEXT.items() if k != key})


def test_the_shared_sample_has_exactly_these_keys() -> None:
    assert set(sample_context("notification")) == set(CONTEXT)


@pytest.fixture
async def ann(factory: Factory) -> Account:
    return await factory.user("patient", full_name="Ann Lee")


async def test_notify_passes_a_frontend_path_and_nothing_else_as_link(
    app: FastAPI, admin_sql: AdminSql, ann: Account
) -> None:
    await send(app, ann.id, "order", "Shipped", "Soon", {"link": "/orders/42"})
    await send(app, ann.id, "order", "Elsewhere", "No", {"link": "https://evil.example/x"})

    [inside] = [
        m for m in await mail_to(app, ann.email, "notification") if m["Subject"] == "Shipped"
    ]
    [outside] = [
        m for m in await mail_to(app, ann.email, "notification") if m["Subject"] == "Elsewhere"
    ]
    base = app.state.settings.FRONTEND_URL.rstrip("/")
    assert f"{base}/orders/42" in text_body(inside)
    assert "evil.example" not in text_body(outside)
    assert "View details" not in text_body(outside)
