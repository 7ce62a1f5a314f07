"""Outgoing email: rendered from templates, sent only when the transaction that caused it commits.

`queue_email(session, template, to, context)` is the one call domains make. The
message goes out after COMMIT (a rolled-back request sends nothing). The
`console` backend writes each message as an `.eml` file under DATA_DIR/outbox/
and logs it; the job-queue/SMTP delivery plugs in behind the same call.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from medhub.config import Settings
from medhub.kit.txqueue import TransactionQueue

log = structlog.get_logger(__name__)

_PENDING: TransactionQueue[EmailMessage] = TransactionQueue("email")
MAILER_KEY = "medhub.mailer"


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outbox = settings.data_dir / "outbox"
        self.templates = Environment(
            loader=PackageLoader("medhub", "templates/email"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )

    def render(self, template: str, to: str, context: dict[str, Any]) -> EmailMessage:
        values = {
            "app_name": "MedHub",
            "frontend_url": self.settings.FRONTEND_URL.rstrip("/"),
            **context,
        }
        subject = self.templates.get_template(f"{template}.subject.txt").render(values).strip()
        text = self.templates.get_template(f"{template}.txt").render(values)
        html = self.templates.get_template(f"{template}.html").render(values)
        message = EmailMessage()
        message["From"] = self.settings.FROM_EMAIL
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="medhub.local")
        message["X-MedHub-Template"] = template
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    def deliver(self, message: EmailMessage) -> Path:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        safe_to = re.sub(r"[^A-Za-z0-9@._-]", "_", str(message["To"]))[:80]
        path = self.outbox / f"{stamp}-{safe_to}-{uuid.uuid4().hex[:8]}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(message))
        tmp.replace(path)
        log.info(
            "email.sent",
            backend="console",
            to=str(message["To"]),
            subject=str(message["Subject"]),
            template=str(message["X-MedHub-Template"]),
            file=str(path),
        )
        return path


def queue_email(session: AsyncSession, template: str, to: str, context: dict[str, Any]) -> None:
    """Render now (a template error fails the request), send after the commit."""
    mailer: Mailer = session.info[MAILER_KEY]
    message = mailer.render(template, to, context)
    _PENDING.add(session, message)


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    pending = _PENDING.take(session)
    mailer: Mailer | None = session.info.get(MAILER_KEY)
    for message in pending:
        if mailer is None:
            continue
        try:
            mailer.deliver(message)
        except OSError:
            # The transaction is committed; a failed delivery must not undo it.
            log.exception("email.delivery_failed", to=str(message["To"]))
