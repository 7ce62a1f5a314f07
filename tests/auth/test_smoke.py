from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from tests.factories import Factory, mail_to, text_body


async def test_register_verify_login_me_logout(
    client: httpx.AsyncClient, app: FastAPI, factory: Factory
) -> None:
    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "ann@example.org",
            "password": "SecurePass123!",
            "full_name": "Ann Lee",
            "role": "patient",
        },
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["message"] == "Registration successful. Please verify your email."
    [mail] = await mail_to(app, "ann@example.org", "verify_email")
    token = re.search(r"verify-email\?token=([\w-]+)", text_body(mail))
    assert token
    login = await client.post(
        "/api/v1/auth/login", json={"email": "ann@example.org", "password": "SecurePass123!"}
    )
    assert login.status_code == 200, login.text
    data = login.json()["data"]
    assert data["user"]["is_verified"] is False
    headers = {"Authorization": f"Bearer {data['access_token']}"}
    verified = await client.post("/api/v1/auth/verify-email", json={"token": token.group(1)})
    assert verified.status_code == 200, verified.text
    me = await client.get("/api/v1/users/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["data"]["is_verified"] is True
    out = await client.post("/api/v1/auth/logout", headers=headers)
    assert out.status_code == 200
    again = await client.get("/api/v1/users/me", headers=headers)
    assert again.status_code == 401
