"""Public verification of prescription QR codes (issue 15): `GET /rx/verify?token=...`
for programs and `GET /rx/<token>`, the page a phone camera opens.

The prescriptions are issued through the real endpoint, by an approved doctor; the
verifying side is always anonymous (a client that never logged in). What a verifier
may learn is the number, the status, the issuing organization and the expiry: every
answer is checked for the patient, the medicine and the diagnosis as well.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import text

from medhub.config import Settings
from medhub.kit.db import Database
from medhub.kit.signing_keys import key_id
from medhub.prescriptions.public import PAGE_CSP, PAGE_CSP_META
from medhub.prescriptions.repository import PrescriptionRepository
from medhub.prescriptions.service import signer_for
from medhub.prescriptions.tokens import PrescriptionSigner
from tests.auth.helpers import MakeSettings, limited
from tests.conftest import (
    TEST_PRESCRIPTION_KEY,
    DatabaseUrls,
)
from tests.consultations.helpers import make_chart
from tests.doctors.helpers import data, doctor_with_profile
from tests.factories import Account, Factory
from tests.test_cli import Served

PRESCRIPTIONS = "/api/v1/doctors/prescriptions"
VERIFY = "/rx/verify"
PUBLIC_BASE_URL = "https://medhub.example"
# Characters HTML must escape, in the one name the page shows.
ORGANIZATION = "St. Mary's <Heart> & Lung Hospital"
# What must never reach a verifier: distinctive enough that any leak is found.
PATIENT_FIRST, PATIENT_LAST = "Zelinda", "Quartermaine"
MEDICINE = "Amoxicillinum Forte"
DIAGNOSIS = "Streptococcal pharyngitis"
NOTES = "Penicillin-tolerant, checked twice"
CLINICAL = (PATIENT_FIRST, PATIENT_LAST, MEDICINE, DIAGNOSIS, NOTES)
ANSWER_KEYS = {"valid", "status", "number", "organization", "expires_at"}
AdminSql = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(PUBLIC_BASE_URL=PUBLIC_BASE_URL)


@dataclass
class Issued:
    """A prescription as the doctor's API returned it."""

    view: dict[str, Any]

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.view["id"])

    @property
    def token(self) -> str:
        token: str = self.view["qr_token"]
        return token

    @property
    def number(self) -> str:
        number: str = self.view["prescription_number"]
        return number


@dataclass
class Prescriber:
    doctor: Account
    patient_id: uuid.UUID

    async def issue(self, client: httpx.AsyncClient, **body: Any) -> Issued:
        payload = {
            "patient_id": str(self.patient_id),
            "diagnosis": DIAGNOSIS,
            "notes": NOTES,
            "items": [
                {"medicine_name": MEDICINE, "frequency": {"times_per_day": 2}, "quantity": 10}
            ],
            **body,
        }
        response = await client.post(PRESCRIPTIONS, json=payload, headers=self.doctor.headers)
        return Issued(data(response, 201))


@pytest.fixture
async def prescriber(client: httpx.AsyncClient, factory: Factory) -> Prescriber:
    organization = await factory.organization("hospital", name=ORGANIZATION)
    doctor = await doctor_with_profile(client, factory, organization.id)
    chart = await make_chart(
        factory.database, organization.id, first_name=PATIENT_FIRST, last_name=PATIENT_LAST
    )
    return Prescriber(doctor, chart.id)


@pytest.fixture
async def issued(client: httpx.AsyncClient, prescriber: Prescriber) -> Issued:
    return await prescriber.issue(client)


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that never logged in: no token, no cookie."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def verify(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get(VERIFY, params={"token": token})
    answer: dict[str, Any] = data(response)
    assert set(answer) == ANSWER_KEYS
    for secret in CLINICAL:
        assert secret not in response.text
    return answer


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_payload(token: str, **changes: Any) -> str:
    """The token with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    claims = {**json.loads(unb64url(payload)), **changes}
    altered = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{altered}.{signature}"


def with_signature_altered(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(unb64url(signature))
    raw[10] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def signed_by_another_key(issued: Issued, *, claim_our_key_id: bool) -> str:
    other = Ed25519PrivateKey.generate()
    token = PrescriptionSigner(other).sign(
        issued.id, issued.number, datetime.now(UTC) + timedelta(days=30)
    )
    if not claim_our_key_id:
        return token
    # The same forgery, naming the platform's key in its header.
    ours = key_id(
        Ed25519PrivateKey.from_private_bytes(unb64url(TEST_PRESCRIPTION_KEY)).public_key()
    )
    _, payload, signature = token.split(".")
    forged_header = b64url(json.dumps({"alg": "EdDSA", "kid": ours}).encode())
    return f"{forged_header}.{payload}.{signature}"


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_lapsed(admin_sql: AdminSql, settings: Settings, issued: Issued) -> str:
    """Give the prescription the life of one issued 40 days ago for 30 days: its dates
    and a code signed then (with the platform's key), stored as its code. Returns it."""
    issued_at = datetime.now(UTC) - timedelta(days=40)
    expires_at = issued_at + timedelta(days=30)
    token = signer_for(settings).sign(issued.id, issued.number, expires_at, issued_at=issued_at)
    admin_sql(
        "UPDATE prescriptions SET issued_at = %s, expires_at = %s, qr_hash = %s WHERE id = %s",
        [issued_at, expires_at, sha256(token), issued.id],
    )
    return token


# The JSON answer


async def test_a_genuine_code_is_valid_and_tells_nothing_clinical(
    anonymous: httpx.AsyncClient, issued: Issued
) -> None:
    response = await anonymous.get(VERIFY, params={"token": issued.token})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"success", "data"}
    assert body["success"] is True
    answer = body["data"]
    assert set(answer) == ANSWER_KEYS
    assert answer["valid"] is True
    assert answer["status"] == "issued"
    assert answer["number"] == issued.number
    assert answer["organization"] == ORGANIZATION
    assert instant(answer["expires_at"]) == instant(issued.view["expires_at"])
    assert instant(answer["expires_at"]) > datetime.now(UTC) + timedelta(days=29)
    for secret in (*CLINICAL, str(issued.view["patient_id"]), issued.view["reference_number"]):
        assert secret not in response.text
    assert "set-cookie" not in response.headers


async def test_a_logged_in_caller_gets_the_same_public_answer(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, prescriber: Prescriber, issued: Issued
) -> None:
    as_doctor = await client.get(
        VERIFY, params={"token": issued.token}, headers=prescriber.doctor.headers
    )
    assert data(as_doctor) == await verify(anonymous, issued.token)


async def test_the_url_the_qr_code_holds_verifies_like_its_token(
    anonymous: httpx.AsyncClient, issued: Issued
) -> None:
    assert issued.view["verification_url"] == f"{PUBLIC_BASE_URL}/rx/{issued.token}"
    expected = await verify(anonymous, issued.token)
    for scanned in (
        issued.view["verification_url"],
        f"  {issued.view['verification_url']}?utm_source=poster#top  ",
        f"http://another.origin/rx/{issued.token}",
    ):
        assert await verify(anonymous, scanned) == expected
    assert expected["valid"] is True


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda issued: with_payload(issued.token, num="RX-20991231-9999"), id="payload"
        ),
        pytest.param(lambda issued: with_payload(issued.token, exp=2**31), id="expiry-extended"),
        pytest.param(
            lambda issued: with_payload(issued.token, sub=str(uuid.uuid4())), id="subject"
        ),
        pytest.param(lambda issued: with_signature_altered(issued.token), id="signature"),
        pytest.param(lambda issued: issued.token.rsplit(".", 1)[0] + ".", id="no-signature"),
        pytest.param(
            lambda issued: signed_by_another_key(issued, claim_our_key_id=False), id="other-key"
        ),
        pytest.param(
            lambda issued: signed_by_another_key(issued, claim_our_key_id=True),
            id="other-key-our-kid",
        ),
        pytest.param(lambda issued: "not-a-token", id="garbage"),
        pytest.param(lambda issued: "a.b.c", id="three-parts"),
        pytest.param(lambda issued: issued.token[:40], id="truncated"),
        pytest.param(lambda issued: "x" * 5000, id="oversized"),
        pytest.param(lambda issued: "<script>alert(1)</script>", id="markup"),
    ],
)
async def test_a_code_medhub_did_not_sign_as_it_is_is_not_valid_and_names_nothing(
    anonymous: httpx.AsyncClient, issued: Issued, forge: Callable[[Issued], str]
) -> None:
    answer = await verify(anonymous, forge(issued))
    assert answer == {
        "valid": False,
        "status": None,
        "number": None,
        "organization": None,
        "expires_at": None,
    }


async def test_an_expired_genuine_code_is_not_valid_and_says_so(
    anonymous: httpx.AsyncClient, issued: Issued, admin_sql: AdminSql, settings: Settings
) -> None:
    lapsed = make_lapsed(admin_sql, settings, issued)
    answer = await verify(anonymous, lapsed)
    assert answer["valid"] is False
    # Still `issued` in the table (the expiry sweep has not run): expired all the same.
    assert admin_sql("SELECT status FROM prescriptions WHERE id = %s", [issued.id]) == [("issued",)]
    assert answer["status"] == "expired"
    assert answer["number"] == issued.number
    assert answer["organization"] == ORGANIZATION
    assert instant(answer["expires_at"]) < datetime.now(UTC)


async def test_a_genuine_code_that_is_no_longer_the_prescriptions_is_not_valid(
    anonymous: httpx.AsyncClient, issued: Issued, admin_sql: AdminSql, settings: Settings
) -> None:
    # Signed with the platform's key for this very prescription, but never its code
    # (another expiry: Ed25519 is deterministic, the same claims would sign the same).
    stray = signer_for(settings).sign(
        issued.id, issued.number, datetime.now(UTC) + timedelta(days=20)
    )
    assert stray != issued.token
    answer = await verify(anonymous, stray)
    assert answer["valid"] is False
    assert answer["status"] is None
    assert answer["organization"] is None
    # Reissued: the old code stops working although its signature is sound.
    make_lapsed(admin_sql, settings, issued)
    assert (await verify(anonymous, issued.token))["valid"] is False
    # A prescription that does not exist at all.
    ghost = signer_for(settings).sign(
        uuid.uuid4(), "RX-20260101-0001", datetime.now(UTC) + timedelta(days=30)
    )
    assert (await verify(anonymous, ghost))["valid"] is False


async def test_a_cancelled_prescription_is_not_valid(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    prescriber: Prescriber,
    issued: Issued,
) -> None:
    cancelled = await client.post(
        f"{PRESCRIPTIONS}/{issued.id}/cancel",
        json={"reason": "Wrong strength"},
        headers=prescriber.doctor.headers,
    )
    assert data(cancelled)["status"] == "cancelled"
    answer = await verify(anonymous, issued.token)
    assert answer["valid"] is False
    assert answer["status"] == "cancelled"
    assert answer["number"] == issued.number
    assert answer["organization"] == ORGANIZATION
    assert "Wrong strength" not in json.dumps(answer)


@pytest.mark.parametrize(
    ("status", "valid"),
    [
        ("expired", False),
        ("rejected", False),
        ("scanned", True),
        ("validated", True),
        ("partially_dispensed", True),
        ("dispensed", True),
    ],
)
async def test_the_status_decides_with_the_signature(
    anonymous: httpx.AsyncClient, issued: Issued, admin_sql: AdminSql, status: str, valid: bool
) -> None:
    admin_sql("UPDATE prescriptions SET status = %s WHERE id = %s", [status, issued.id])
    answer = await verify(anonymous, issued.token)
    assert answer["status"] == status
    assert answer["valid"] is valid
    assert answer["number"] == issued.number


async def test_without_a_caller_only_the_id_and_hash_together_reach_the_row(
    database: Database, issued: Issued
) -> None:
    """Row-level security hides every prescription from a session with no tenant
    context (an anonymous request's); migration 0019's function answers for one, and
    only to whoever holds its code."""
    async with database.unit_of_work() as session:
        assert (await session.execute(text("SELECT count(*) FROM prescriptions"))).scalar() == 0
        repository = PrescriptionRepository(session)
        found = await repository.public_status(issued.id, sha256(issued.token))
        assert found is not None
        assert found[:3] == ("issued", issued.number, ORGANIZATION)
        assert await repository.public_status(issued.id, sha256(issued.token + "x")) is None
        assert await repository.public_status(uuid.uuid4(), sha256(issued.token)) is None


@pytest.mark.parametrize("query", ["", "?token=", "?token=%20%20", "?other=1"])
async def test_a_missing_or_empty_token_is_a_400_naming_it(
    anonymous: httpx.AsyncClient, query: str
) -> None:
    response = await anonymous.get(VERIFY + query)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in error["details"]] == ["token"]


async def test_the_routes_are_documented_at_the_root(anonymous: httpx.AsyncClient) -> None:
    spec = (await anonymous.get("/openapi.json")).json()
    verify_operation = spec["paths"][VERIFY]["get"]
    assert "Envelope" in json.dumps(verify_operation["responses"]["200"])
    assert "text/html" in spec["paths"]["/rx/{token}"]["get"]["responses"]["200"]["content"]
    assert (await anonymous.get("/api/v1" + VERIFY, params={"token": "x"})).status_code == 404


# The page


def assert_page(response: httpx.Response) -> str:
    """The page's HTML, after the checks every answer passes."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["x-robots-tag"].startswith("noindex")
    assert response.headers["referrer-policy"] == "no-referrer"
    # The page's own policy, not the docs pages' (which allow scripts).
    assert response.headers["content-security-policy"] == PAGE_CSP
    html = response.text
    assert html.startswith('<!doctype html>\n<html lang="en">')
    assert (
        f'<meta http-equiv="Content-Security-Policy" content="{PAGE_CSP_META}">'.replace(
            "'", "&#39;"
        )
        in html
    )
    assert PAGE_CSP_META == (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    )
    assert html.count("<title>") == 1
    assert html.count("<h1") == 1
    # Self-contained: no script, nothing fetched from anywhere.
    for forbidden in ("<script", "<link", "<img", "<iframe", "src=", "href=", "@import", "url("):
        assert forbidden not in html
    for secret in CLINICAL:
        assert secret not in html
    return html


async def test_the_page_of_a_valid_code(anonymous: httpx.AsyncClient, issued: Issued) -> None:
    html = assert_page(await anonymous.get(f"/rx/{issued.token}"))
    assert "<title>This prescription is valid | MedHub</title>" in html
    assert "This prescription is valid</h1>" in html
    assert "not valid" not in html
    assert f"<dd>{issued.number}</dd>" in html
    # Escaped, not interpreted.
    assert "<dd>St. Mary&#39;s &lt;Heart&gt; &amp; Lung Hospital</dd>" in html
    assert "Issued, not yet presented at a pharmacy" in html
    expires = instant(issued.view["expires_at"])
    assert f'<time datetime="{expires.isoformat()}">' in html
    assert f"{expires.day} {expires:%B %Y, %H:%M} UTC</time>" in html


async def test_the_page_of_a_cancelled_prescription(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    prescriber: Prescriber,
    issued: Issued,
) -> None:
    data(
        await client.post(
            f"{PRESCRIPTIONS}/{issued.id}/cancel",
            json={"reason": "Wrong strength"},
            headers=prescriber.doctor.headers,
        )
    )
    html = assert_page(await anonymous.get(f"/rx/{issued.token}"))
    assert "This prescription is not valid</h1>" in html
    assert "the prescriber cancelled it" in html
    assert "Cancelled by the prescriber" in html
    assert f"<dd>{issued.number}</dd>" in html
    assert "Wrong strength" not in html


async def test_the_page_of_an_expired_code(
    anonymous: httpx.AsyncClient, issued: Issued, admin_sql: AdminSql, settings: Settings
) -> None:
    html = assert_page(await anonymous.get(f"/rx/{make_lapsed(admin_sql, settings, issued)}"))
    assert "This prescription is not valid</h1>" in html
    assert "it has expired" in html
    assert f"<dd>{issued.number}</dd>" in html


@pytest.mark.parametrize(
    "path",
    [
        "/rx/garbage",
        "/rx/a.b.c",
        "/rx/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        "/rx/" + "x" * 3000,
    ],
)
async def test_the_page_of_garbage_says_not_valid_and_names_nothing(
    anonymous: httpx.AsyncClient, issued: Issued, path: str
) -> None:
    html = assert_page(await anonymous.get(path))
    assert "This is not a valid prescription code</h1>" in html
    assert "<dl>" not in html
    assert issued.number not in html
    assert "Heart" not in html


async def test_the_page_of_a_forged_code(anonymous: httpx.AsyncClient, issued: Issued) -> None:
    forged = with_payload(issued.token, num="RX-20991231-9999")
    html = assert_page(await anonymous.get(f"/rx/{forged}"))
    assert "This is not a valid prescription code</h1>" in html
    assert "RX-20991231-9999" not in html


# The rate limit


async def test_verification_is_limited_per_ip_across_both_routes(
    make_settings: MakeSettings, backend: str
) -> None:
    async with limited(make_settings, backend, RATE_LIMIT_RX_VERIFY="3/minute") as served:
        first = await served.client.get(VERIFY, params={"token": "garbage"})
        assert data(first)["valid"] is False
        assert first.headers["x-ratelimit-limit"] == "3"
        assert first.headers["x-ratelimit-remaining"] == "2"
        assert (await served.client.get("/rx/garbage")).status_code == 200
        assert (await served.client.get(VERIFY, params={"token": "garbage"})).status_code == 200
        refused = await served.client.get("/rx/garbage")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        assert (await served.client.get(VERIFY, params={"token": "x"})).status_code == 429
        # Another address has its own allowance.
        transport = httpx.ASGITransport(app=served.app, client=("198.51.100.20", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            assert (await other.get(VERIFY, params={"token": "garbage"})).status_code == 200


def test_the_default_limit() -> None:
    assert Settings.model_fields["RATE_LIMIT_RX_VERIFY"].default == "60/minute"


# A real phone's view: the page served by `medhub serve`, rendered by a real browser


@pytest.fixture
def chromium() -> str:
    """The browser's executable; asked for first, so a run without it stops early."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is not None:
        return found
    message = "chromium is not installed (Debian: apt-get install -y chromium; .ci/run does it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def rendered_dom(chromium: str, url: str, profile: Path) -> str:
    """The page's DOM after a headless Chromium loaded and rendered it."""
    result = subprocess.run(
        [
            chromium,
            "--headless",
            # The test may run as root (CI containers), where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


async def test_a_headless_browser_renders_the_page_from_a_real_server(
    chromium: str,
    prescriber: Prescriber,
    client: httpx.AsyncClient,
    database_urls: DatabaseUrls,
    tmp_path: Path,
) -> None:
    issued = await prescriber.issue(client)
    cancelled = await prescriber.issue(client)
    data(
        await client.post(
            f"{PRESCRIPTIONS}/{cancelled.id}/cancel",
            json={"reason": "Duplicate"},
            headers=prescriber.doctor.headers,
        )
    )
    server = Served.on_test_database(tmp_path / "data", database_urls)
    try:
        server.wait_ready(timeout=60)
        valid = rendered_dom(chromium, f"{server.base}/rx/{issued.token}", tmp_path / "one")
        assert "This prescription is valid" in valid
        assert "not valid" not in valid
        assert issued.number in valid
        assert "St. Mary's &lt;Heart&gt; &amp; Lung Hospital" in valid
        assert 'lang="en"' in valid
        for secret in CLINICAL:
            assert secret not in valid

        not_valid = rendered_dom(chromium, f"{server.base}/rx/{cancelled.token}", tmp_path / "two")
        assert "This prescription is not valid" in not_valid
        assert cancelled.number in not_valid
        assert "Cancelled by the prescriber" in not_valid

        garbage = rendered_dom(chromium, f"{server.base}/rx/not-a-code", tmp_path / "three")
        assert "This is not a valid prescription code" in garbage
    finally:
        if server.process.poll() is None:
            server.stop()
