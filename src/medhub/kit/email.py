"""Email building blocks: Jinja2 templates (HTML + text, one base layout) and transports.

Domains do not send mail themselves: `medhub.mail.service.queue_email` stores the
rendered message and defers its delivery job in the caller's transaction. The
transport is chosen by EMAIL_BACKEND: `console` writes each message as an `.eml`
file under DATA_DIR/outbox/ (and logs it), `smtp` talks to a real server.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from medhub.config import Settings

log = structlog.get_logger(__name__)

MAILER_KEY = "medhub.mailer"


@dataclass(frozen=True)
class RenderedEmail:
    template: str
    subject: str
    text: str
    html: str


class TemplateRenderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.environment = Environment(
            loader=PackageLoader("medhub", "templates/email"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            enable_async=False,
        )

    def render(self, template: str, context: dict[str, Any]) -> RenderedEmail:
        values = {
            "app_name": "MedHub",
            "frontend_url": self.settings.FRONTEND_URL.rstrip("/"),
            **context,
        }
        get = self.environment.get_template
        return RenderedEmail(
            template=template,
            subject=" ".join(get(f"{template}.subject.txt").render(values).split()),
            text=get(f"{template}.txt").render(values),
            html=get(f"{template}.html").render(values),
        )

    def templates(self) -> list[str]:
        names = self.environment.list_templates(filter_func=lambda n: n.endswith(".subject.txt"))
        return sorted(name.removesuffix(".subject.txt") for name in names)


def build_message(
    *,
    sender: str,
    to: str,
    rendered: RenderedEmail,
    attachments: list[dict[str, Any]] | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """multipart/alternative (text, html); inline images join the html part as related.

    An attachment is `{"content_type", "data_b64", "filename"}`: with a `cid` it is an
    inline part of the html (an image the html shows); without one it is attached to
    the message (which becomes multipart/mixed), with any `params` of its content type
    (a calendar invitation's `{"method": "REQUEST"}`).
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id or make_msgid(domain="medhub.local")
    message["X-MedHub-Template"] = rendered.template
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    inline = [item for item in attachments or [] if item.get("cid")]
    attached = [item for item in attachments or [] if not item.get("cid")]
    if inline:
        html_part = message.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        for item in inline:
            maintype, _, subtype = str(item["content_type"]).partition("/")
            html_part.add_related(
                base64.b64decode(item["data_b64"]),
                maintype=maintype,
                subtype=subtype,
                cid=f"<{item['cid']}>",
                filename=item.get("filename"),
                # Shown in the HTML, not listed as an attachment beside it.
                disposition="inline",
            )
    for item in attached:
        maintype, _, subtype = str(item["content_type"]).partition("/")
        message.add_attachment(
            base64.b64decode(item["data_b64"]),
            maintype=maintype,
            subtype=subtype,
            filename=item.get("filename"),
            params=dict(item.get("params") or {}),
        )
    return message


class EmailDeliveryError(Exception):
    """Delivery failed; `permanent` says whether trying again could help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    name: str

    async def send(self, message: EmailMessage) -> None: ...


class ConsoleTransport:
    name = "console"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, message: EmailMessage) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        safe_to = re.sub(r"[^A-Za-z0-9@._-]", "_", str(message["To"]))[:80]
        path = self.outbox / f"{stamp}-{safe_to}-{uuid.uuid4().hex[:8]}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(message))
        tmp.replace(path)
        log.info(
            "email.sent",
            backend=self.name,
            to=str(message["To"]),
            subject=str(message["Subject"]),
            template=str(message["X-MedHub-Template"]),
            file=str(path),
        )


class SmtpTransport:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        settings = self.settings
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.SMTP_HOST,
                port=settings.SMTP_PORT,
                username=settings.SMTP_USER,
                password=settings.SMTP_PASS.get_secret_value() if settings.SMTP_PASS else None,
                use_tls=settings.SMTP_TLS == "tls",
                start_tls=settings.SMTP_TLS == "starttls",
                timeout=settings.SMTP_TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            permanent = all(code >= 500 for code in codes)
            raise EmailDeliveryError(f"recipient refused: {exc}", permanent=permanent) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx: the server will say the same next time. 4xx: try again later.
            raise EmailDeliveryError(
                f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise EmailDeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        log.info(
            "email.sent",
            backend=self.name,
            to=str(message["To"]),
            subject=str(message["Subject"]),
            template=str(message["X-MedHub-Template"]),
        )


def transport_for(settings: Settings) -> Transport:
    if settings.EMAIL_BACKEND == "smtp":
        return SmtpTransport(settings)
    return ConsoleTransport(settings.data_dir / "outbox")


SAMPLES_FILE = "samples.json"


def sample_context(template: str) -> dict[str, Any]:
    """The sample context a template is previewed (and tested) with."""
    from importlib.resources import files  # noqa: PLC0415

    samples: dict[str, dict[str, Any]] = json.loads(
        files("medhub").joinpath("templates/email", SAMPLES_FILE).read_text()
    )
    return samples.get(template, {})


class Mailer:
    """Renders templates and knows the configured transport (one per process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.renderer = TemplateRenderer(settings)
        self.transport = transport_for(settings)

    @property
    def outbox(self) -> Path:
        return self.settings.data_dir / "outbox"

    def render(self, template: str, context: dict[str, Any]) -> RenderedEmail:
        return self.renderer.render(template, context)
