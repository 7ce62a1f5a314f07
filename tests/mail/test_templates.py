"""Email templates: every one renders with its sample, escapes, links home only, previews.

No database here: templates are rendered straight from `TemplateRenderer`.
"""

from __future__ import annotations

import base64
import copy
import re
import struct
import zlib
from collections.abc import Iterator
from decimal import Decimal
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError
from markupsafe import escape
from typer.testing import CliRunner

from medhub.cli import app as cli_app
from medhub.config import Environment, Settings, get_settings
from medhub.kit.email import RenderedEmail, TemplateRenderer, build_message, sample_context

FRONTEND = "https://app.medhub.example"
XSS = "<script>alert(1)</script>"

# `notification.*` is written with the notifications domain, which tests its
# context; only its sample lives in samples.json and it must render like every other.
OWNED_ELSEWHERE = {"notification"}
# Sample values that steer the template or are encoded into a link, not shown as such.
NOT_DISPLAYED = {"qr_cid", "item_type", "scheduled_for"}

SEEDED_TEMPLATES = {
    "verify_email",
    "welcome",
    "password_reset",
    "otp",
    "notification",
    "inquiry_acknowledgment",
    "inquiry_response",
    "order_confirmation",
    "order_status_update",
    "shipping_notification",
    "delivery_confirmation",
    "prescription",
    "appointment_confirmation",
    "appointment_reminder",
    "low_stock",
    "reminder_due",
}


def tiny_png() -> bytes:
    """A valid 1x1 grey PNG (signature, IHDR, IDAT, IEND with real CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x80")  # filter byte 0, one grey pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> TemplateRenderer:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        ENV=Environment.test,
        DATA_DIR=tmp_path_factory.mktemp("data"),
        JWT_SECRET="test-secret-" + "x" * 40,
        FRONTEND_URL=FRONTEND + "/",  # the renderer drops the trailing slash
    )
    return TemplateRenderer(settings)


def all_templates() -> list[str]:
    settings = Settings(_env_file=None, FRONTEND_URL=FRONTEND)  # type: ignore[call-arg]
    return TemplateRenderer(settings).templates()


TEMPLATES = all_templates()
OWN_TEMPLATES = [name for name in TEMPLATES if name not in OWNED_ELSEWHERE]


def leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for child_key, child in value.items():
            yield from leaves(child, child_key)
    elif isinstance(value, list):
        for child in value:
            yield from leaves(child, key)
    else:
        yield key, value


def poisoned(value: Any) -> Any:
    """Every string of a context replaced by markup that must never reach the HTML as such."""
    if isinstance(value, dict):
        return {key: poisoned(child) for key, child in value.items()}
    if isinstance(value, list):
        return [poisoned(child) for child in value]
    if isinstance(value, str):
        return XSS
    return value


def assert_links_stay_home(html: str) -> None:
    for url in re.findall(r"https?://[^\s\"'<>]+", html):
        assert url.startswith(FRONTEND + "/"), url
    for href in re.findall(r"href=\"([^\"]*)\"", html):
        assert href.startswith(FRONTEND + "/"), href
    for src in re.findall(r"src=\"([^\"]*)\"", html):
        assert src.startswith("cid:"), src
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert "url(" not in lowered


def test_every_seeded_template_exists_and_has_a_sample(renderer: TemplateRenderer) -> None:
    assert SEEDED_TEMPLATES <= set(renderer.templates())
    for name in renderer.templates():
        assert sample_context(name), f"samples.json has no context for {name}"


def test_notification_sample_has_the_agreed_keys() -> None:
    assert set(sample_context("notification")) >= {"full_name", "title", "body", "category", "link"}


@pytest.mark.parametrize("template", TEMPLATES)
def test_renders_with_its_sample(renderer: TemplateRenderer, template: str) -> None:
    rendered = renderer.render(template, sample_context(template))

    assert rendered.subject.strip()
    assert "\n" not in rendered.subject
    assert "{" not in rendered.subject
    assert len(rendered.subject) <= 120
    assert rendered.text.strip()
    assert "Hello " + sample_context(template)["full_name"] in rendered.text
    assert rendered.html.lstrip().lower().startswith("<!doctype html>")
    assert 'lang="en"' in rendered.html
    assert_links_stay_home(rendered.html)
    # Plain-text links are absolute too.
    for url in re.findall(r"https?://\S+", rendered.text):
        assert url.startswith(FRONTEND + "/"), url


@pytest.mark.parametrize("template", OWN_TEMPLATES)
def test_text_and_html_carry_the_same_information(
    renderer: TemplateRenderer, template: str
) -> None:
    context = sample_context(template)
    rendered = renderer.render(template, context)
    for key, value in leaves(context):
        if key in NOT_DISPLAYED or value is None or isinstance(value, bool):
            continue
        assert str(value) in rendered.text, f"{template}: {key}={value!r} missing from text"
        assert str(escape(str(value))) in rendered.html, f"{template}: {key} missing from html"


@pytest.mark.parametrize("template", OWN_TEMPLATES)
def test_every_sample_key_is_required(renderer: TemplateRenderer, template: str) -> None:
    """StrictUndefined: a context missing any of its keys fails instead of rendering blanks."""
    context = sample_context(template)
    for key in context:
        partial = {name: value for name, value in context.items() if name != key}
        with pytest.raises(UndefinedError):
            renderer.render(template, partial)
    for key, value in context.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for item_key in value[0]:
                partial = copy.deepcopy(context)
                del partial[key][0][item_key]
                with pytest.raises(UndefinedError):
                    renderer.render(template, partial)


def test_missing_key_names_the_key(renderer: TemplateRenderer) -> None:
    context = sample_context("order_confirmation")
    del context["order_number"]
    with pytest.raises(UndefinedError, match="order_number"):
        renderer.render("order_confirmation", context)


@pytest.mark.parametrize("template", TEMPLATES)
def test_full_name_is_escaped_in_html(renderer: TemplateRenderer, template: str) -> None:
    context = {**sample_context(template), "full_name": XSS}
    rendered = renderer.render(template, context)

    assert XSS not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    # Plain text is not HTML: the name stays as written.
    assert XSS in rendered.text


@pytest.mark.parametrize("template", TEMPLATES)
def test_no_sample_value_can_inject_markup(renderer: TemplateRenderer, template: str) -> None:
    rendered = renderer.render(template, poisoned(sample_context(template)))

    assert "<script" not in rendered.html.lower()
    assert "\n" not in rendered.subject


def test_optional_values_switch_their_parts_off(renderer: TemplateRenderer) -> None:
    ack = renderer.render(
        "inquiry_acknowledgment", {**sample_context("inquiry_acknowledgment"), "inquiry_id": None}
    )
    assert "/inquiries/" not in ack.text
    assert "/inquiries/" not in ack.html

    update = renderer.render(
        "order_status_update", {**sample_context("order_status_update"), "note": None}
    )
    assert "Note from our team" not in update.text
    assert "Note from our team" not in update.html

    shipping = sample_context("shipping_notification")
    untracked = renderer.render("shipping_notification", {**shipping, "tracking_available": False})
    assert "/tracking" not in untracked.html
    assert f"{FRONTEND}/orders/{shipping['order_id']}" in untracked.text

    visit = sample_context("appointment_confirmation")
    in_person = renderer.render("appointment_confirmation", visit)
    video = renderer.render("appointment_confirmation", {**visit, "location": None})
    assert "/join" not in in_person.html
    assert f"{FRONTEND}/appointments/{visit['appointment_id']}/join" in video.text
    assert "Video consultation" in video.html

    product = renderer.render(
        "low_stock", {**sample_context("low_stock"), "item_type": "product", "item_id": "p-1"}
    )
    assert f"{FRONTEND}/admin/products/p-1" in product.text
    assert f"{FRONTEND}/admin/products/p-1" in product.html


def test_prescription_shows_qr_inline_and_reference_in_text(renderer: TemplateRenderer) -> None:
    context = sample_context("prescription")
    rendered = renderer.render("prescription", context)

    assert f'<img src="cid:{context["qr_cid"]}" alt="Prescription QR code"' in rendered.html
    assert context["reference_number"] in rendered.html
    assert "cid:" not in rendered.text
    assert f"give this reference number:\n\n    {context['reference_number']}" in rendered.text
    for item in context["items"]:
        assert item["medicine_name"] in rendered.text
        assert item["frequency"] in rendered.html

    without_qr = renderer.render("prescription", {**context, "qr_cid": None})
    assert "<img" not in without_qr.html
    assert context["reference_number"] in without_qr.html


def test_reminder_links_mark_the_dose_taken_or_skipped(renderer: TemplateRenderer) -> None:
    context = sample_context("reminder_due")
    rendered = renderer.render("reminder_due", context)
    base = (
        f"{FRONTEND}/reminders/{context['reminder_id']}/log?scheduled_for=2026-11-21T07%3A00%3A00Z"
    )

    assert f"{base}&status=taken" in rendered.text
    assert f"{base}&status=skipped" in rendered.text
    assert f'href="{base}&amp;status=taken"' in rendered.html


def test_order_sample_money_is_consistent() -> None:
    order = sample_context("order_confirmation")
    money = re.compile(r"^\d+\.\d{2}$")

    assert re.fullmatch(r"[A-Z]{3}", order["currency"])
    assert money.match(order["total"])
    subtotals = []
    for item in order["items"]:
        assert money.match(item["unit_price"])
        assert money.match(item["subtotal"])
        assert Decimal(item["unit_price"]) * item["quantity"] == Decimal(item["subtotal"])
        subtotals.append(Decimal(item["subtotal"]))
    assert sum(subtotals) == Decimal(order["total"])


def test_seeded_reference_formats_in_samples() -> None:
    assert re.fullmatch(r"INQ-\d{4}-\d{6}", sample_context("inquiry_response")["reference_number"])
    assert re.fullmatch(r"ORD-\d{4}-\d{6}", sample_context("order_confirmation")["order_number"])
    assert re.fullmatch(r"RX-\d{8}-\d{4}", sample_context("prescription")["prescription_number"])


def test_prescription_message_carries_the_qr_as_related_image(renderer: TemplateRenderer) -> None:
    context = sample_context("prescription")
    rendered = renderer.render("prescription", context)
    png = tiny_png()
    message = build_message(
        sender="MedHub <noreply@medhub.local>",
        to="ann@example.org",
        rendered=rendered,
        attachments=[
            {
                "content_type": "image/png",
                "data_b64": base64.b64encode(png).decode(),
                "cid": context["qr_cid"],
                "filename": "prescription-qr.png",
            }
        ],
    )

    parsed = message_from_bytes(bytes(message), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    text_part, related = parsed.get_payload()  # type: ignore[misc]
    assert text_part.get_content_type() == "text/plain"
    assert context["reference_number"] in text_part.get_content()
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert f"cid:{context['qr_cid']}" in html_part.get_content()
    assert image.get_content_type() == "image/png"
    assert image["Content-ID"] == f"<{context['qr_cid']}>"
    assert image.get_payload(decode=True) == png
    assert parsed["Subject"] == rendered.subject
    assert parsed["X-MedHub-Template"] == "prescription"


# --- `medhub email preview` -----------------------------------------------------------------


@pytest.fixture
def preview_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {
        "ENV": "development",
        "DATA_DIR": str(tmp_path / "data"),
        "FRONTEND_URL": FRONTEND,
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "true",
    }
    get_settings.cache_clear()


def expected(template: str) -> RenderedEmail:
    settings = Settings(_env_file=None, FRONTEND_URL=FRONTEND)  # type: ignore[call-arg]
    return TemplateRenderer(settings).render(template, sample_context(template))


@pytest.mark.parametrize("template", TEMPLATES)
def test_cli_preview_prints_each_template(preview_env: dict[str, str], template: str) -> None:
    result = CliRunner().invoke(cli_app, ["email", "preview", template], env=preview_env)

    assert result.exit_code == 0, result.output
    rendered = expected(template)
    assert f"Subject: {rendered.subject}" in result.output
    assert rendered.text.splitlines()[0] in result.output


@pytest.mark.parametrize("template", ["prescription", "order_confirmation", "welcome"])
def test_cli_preview_writes_a_parseable_eml(
    preview_env: dict[str, str], tmp_path: Path, template: str
) -> None:
    target = tmp_path / f"{template}.eml"
    result = CliRunner().invoke(
        cli_app, ["email", "preview", template, "--output", str(target)], env=preview_env
    )

    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output
    parsed = message_from_bytes(target.read_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    rendered = expected(template)
    assert parsed["Subject"] == rendered.subject
    assert parsed["X-MedHub-Template"] == template
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().strip() == rendered.text.strip()
    assert FRONTEND + "/" in html.get_content()


def test_cli_preview_rejects_unknown_template(preview_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli_app, ["email", "preview", "no_such_template"], env=preview_env)

    assert result.exit_code == 1
    assert "unknown template 'no_such_template'" in result.output
