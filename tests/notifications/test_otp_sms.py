"""An OTP goes by SMS too when the user has a phone and chose SMS for security messages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import Factory, run_jobs

AdminSql = Callable[..., list[tuple[Any, ...]]]


def sms_lines(app: FastAPI) -> list[str]:
    folder: Path = app.state.settings.data_dir / "sms-outbox"
    if not folder.exists():
        return []
    return [line for path in sorted(folder.glob("*.log")) for line in path.read_text().splitlines()]


async def test_otp_by_sms_only_when_chosen(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    patient = await factory.user("patient")
    admin_sql("UPDATE users SET phone = '+15550100' WHERE id = %s", [patient.id])
    first = await client.post(
        "/api/v1/auth/otp/request", json={"purpose": "medical_history"}, headers=patient.headers
    )
    assert first.status_code == 200, first.text
    await run_jobs(app)
    assert sms_lines(app) == [], "SMS is off by default"
    chosen = await client.put(
        "/api/v1/notifications/preferences",
        json={"preferences": [{"category": "security", "sms": True}]},
        headers=patient.headers,
    )
    assert chosen.status_code == 200, chosen.text
    second = await client.post(
        "/api/v1/auth/otp/request", json={"purpose": "medical_history"}, headers=patient.headers
    )
    assert second.status_code == 200
    await run_jobs(app)
    [line] = sms_lines(app)
    assert "+15550100" in line
    code = re.search(r"\b(\d{6})\b", line)
    assert code is not None
    verified = await client.post(
        "/api/v1/auth/otp/verify",
        json={"purpose": "medical_history", "code": code.group(1)},
        headers=patient.headers,
    )
    assert verified.status_code == 200, verified.text
