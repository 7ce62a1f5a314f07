"""A real SMTP server in the test process (aiosmtpd), told how to answer."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.data)


class RecordingHandler:
    """Accepts and records each message, unless told to answer with an error code."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._data_replies: list[str] = []
        self._rcpt_replies: list[str] = []

    def answer_data(self, reply: str, *, times: int = 1) -> None:
        """The next `times` DATA commands get `reply` (e.g. "451 4.3.0 try later")."""
        with self._lock:
            self._data_replies.extend([reply] * times)

    def answer_rcpt(self, reply: str, *, times: int = 1) -> None:
        with self._lock:
            self._rcpt_replies.extend([reply] * times)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            if self._rcpt_replies:
                return self._rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        with self._lock:
            if self._data_replies:
                return self._data_replies.pop(0)
            self.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=bytes(envelope.original_content or envelope.content),
                )
            )
        return "250 Message accepted for delivery"

    def to(self, address: str, template: str | None = None) -> list[Message]:
        with self._lock:
            received = list(self.received)
        return [
            item.message
            for item in received
            if address in item.rcpt_tos
            and (template is None or item.message["X-MedHub-Template"] == template)
        ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpServer:
    """One aiosmtpd server on a fixed free port that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is None:
            controller = Controller(self.handler, hostname=HOST, port=self.port)
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        return list(self.handler.received)

    def to(self, address: str, template: str | None = None) -> list[Message]:
        return self.handler.to(address, template)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def smtp_overrides(server: SmtpServer, **overrides: Any) -> dict[str, Any]:
    """Settings that deliver to `server` over plain SMTP, retrying at once, 3 attempts."""
    values: dict[str, Any] = {
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": HOST,
        "SMTP_PORT": server.port,
        "SMTP_TLS": "none",
        "SMTP_TIMEOUT_SECONDS": 5.0,
        "EMAIL_RETRY_BASE_SECONDS": 0,
        "EMAIL_MAX_ATTEMPTS": 3,
    }
    values.update(overrides)
    return values
