"""Every test here delivers through a real SMTP server (aiosmtpd) in the test process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from medhub.config import Settings
from tests.mail.smtp import SmtpServer, smtp_overrides, smtp_server

__all__ = ["smtp_server"]

FRONTEND_URL = "https://app.medhub.test"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp_server: SmtpServer) -> Settings:
    # A trailing slash, as an operator may well write it: links must not get "//".
    return make_settings(**smtp_overrides(smtp_server), FRONTEND_URL=FRONTEND_URL + "/")
