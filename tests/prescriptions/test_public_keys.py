"""GET /.well-known/prescription-keys: public, cacheable, a JWK Set a standard JOSE library
verifies QR tokens with, offline, and `medhub crypto generate-prescription-key`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from medhub.cli import app as medhub_app
from medhub.config import Settings
from medhub.kit.signing_keys import key_id, private_key_text, public_key_text
from medhub.prescriptions.tokens import PrescriptionSigner

JWKS_PATH = "/.well-known/prescription-keys"
CURRENT = Ed25519PrivateKey.from_private_bytes(b"\x11" * 32)
PREVIOUS = Ed25519PrivateKey.from_private_bytes(b"\x22" * 32)
RETIRED = Ed25519PrivateKey.from_private_bytes(b"\x33" * 32)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        PRESCRIPTION_SIGNING_KEY=private_key_text(CURRENT),
        PRESCRIPTION_PREVIOUS_PUBLIC_KEYS=[public_key_text(PREVIOUS.public_key())],
    )


def issue(key: Ed25519PrivateKey, *, expires_in: timedelta = timedelta(days=30)) -> str:
    return PrescriptionSigner(key).sign(
        uuid.uuid4(), "RX-20261203-0042", datetime.now(UTC) + expires_in
    )


async def test_the_key_set_is_public_and_cacheable(client: httpx.AsyncClient) -> None:
    response = await client.get(JWKS_PATH)  # no credentials
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": public_key_text(key.public_key()),
                "kid": key_id(key.public_key()),
                "use": "sig",
                "alg": "EdDSA",
            }
            for key in (CURRENT, PREVIOUS)
        ]
    }
    assert private_key_text(CURRENT) not in response.text
    assert '"d"' not in response.text


async def test_the_key_set_lives_at_the_root_only(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1" + JWKS_PATH)).status_code == 404
    assert (await client.post(JWKS_PATH)).status_code == 405
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"][JWKS_PATH]["get"]
    assert "application/jwk-set+json" in operation["responses"]["200"]["content"]


async def test_offline_verification_with_only_the_key_set_and_pyjwt(
    client: httpx.AsyncClient,
) -> None:
    """No MedHub code on the verifying side: the JSON and PyJWT."""
    key_set = jwt.PyJWKSet.from_json((await client.get(JWKS_PATH)).text)
    for key in (CURRENT, PREVIOUS):
        token = issue(key)
        signing_key = key_set[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, signing_key, algorithms=["EdDSA"])
        assert claims["typ"] == "medhub-rx"
        assert claims["num"] == "RX-20261203-0042"

    retired = issue(RETIRED)
    with pytest.raises(KeyError):
        key_set[jwt.get_unverified_header(retired)["kid"]]
    # A forged key id does not help a token signed by another key.
    forged = jwt.encode(
        {"typ": "medhub-rx", "sub": str(uuid.uuid4()), "num": "RX-1", "iat": 0, "exp": 2**31},
        RETIRED,
        algorithm="EdDSA",
        headers={"kid": key_id(CURRENT.public_key())},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key_set[key_id(CURRENT.public_key())], algorithms=["EdDSA"])
    expired = issue(CURRENT, expires_in=-timedelta(minutes=1))
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(expired, key_set[key_id(CURRENT.public_key())], algorithms=["EdDSA"])


@contextmanager
def serving(body: bytes) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers every GET with `body`: what a JOSE
    client fetches from MedHub in production."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{JWKS_PATH}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_the_readme_snippet_verifies_a_qr_code(client: httpx.AsyncClient) -> None:
    """The calls of README's "Verifying a prescription QR offline"."""
    body = (await client.get(JWKS_PATH)).content
    token = issue(PREVIOUS)
    scanned = f"https://medhub.example/rx/{token}"
    with serving(body) as keys_url:
        # -- as in the README --
        token = scanned.rsplit("/rx/", 1)[-1]
        keys = jwt.PyJWKClient(keys_url)
        claims = jwt.decode(
            token,
            keys.get_signing_key_from_jwt(token),
            algorithms=["EdDSA"],
            options={"require": ["exp", "iat", "sub", "num", "typ"]},
        )
        assert claims["typ"] == "medhub-rx"
        # -- end --
        assert claims["num"] == "RX-20261203-0042"
        with pytest.raises(jwt.PyJWKClientError):
            keys.get_signing_key_from_jwt(issue(RETIRED))


def test_generate_prescription_key_prints_a_working_key() -> None:
    result = CliRunner().invoke(medhub_app, ["crypto", "generate-prescription-key"])
    assert result.exit_code == 0, result.output
    private = result.stdout.strip()
    key = Settings(_env_file=None, PRESCRIPTION_SIGNING_KEY=private).prescription_signing_key()  # type: ignore[call-arg]
    assert f"Public key: {public_key_text(key.public_key())}" in result.stderr
    assert f"Key id (kid): {key_id(key.public_key())}" in result.stderr
    assert "PRESCRIPTION_PREVIOUS_PUBLIC_KEYS" in result.stderr
    assert private not in result.stderr
    again = CliRunner().invoke(medhub_app, ["crypto", "generate-prescription-key"])
    assert again.stdout.strip() != private
