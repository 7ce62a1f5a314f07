"""Prescription QR tokens: what verifies, what is refused and why (forgeries of every
kind), expiry told apart from forgery, key rotation, the settings that hold the keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medhub.config import ConfigurationError, Settings, prepare_settings
from medhub.kit.signing_keys import key_id, private_key_text, public_key_text
from medhub.prescriptions.exceptions import ExpiredPrescriptionToken, InvalidPrescriptionToken
from medhub.prescriptions.tokens import PrescriptionSigner, token_from_qr_data

PRESCRIPTION_ID = uuid.UUID("0192f0c4-7a1e-7cc2-9b6e-3f1d2a4b5c6d")
NUMBER = "RX-20261203-0042"
ISSUED = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
EXPIRES = ISSUED + timedelta(days=30)
DURING = ISSUED + timedelta(days=1)
AFTER = EXPIRES + timedelta(seconds=1)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fixed_key(byte: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([byte]) * 32)


CURRENT = fixed_key(1)
PREVIOUS = fixed_key(2)
STRANGER = fixed_key(3)


@pytest.fixture
def signer() -> PrescriptionSigner:
    return PrescriptionSigner(CURRENT, [PREVIOUS.public_key()])


def issue(signer: PrescriptionSigner, *, expires: datetime = EXPIRES) -> str:
    return signer.sign(PRESCRIPTION_ID, NUMBER, expires, issued_at=ISSUED)


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64url(header)), json.loads(unb64url(payload)), signature


def assemble(header: dict[str, Any], payload: dict[str, Any], signature: str) -> str:
    encode = lambda part: b64url(json.dumps(part, separators=(",", ":")).encode())  # noqa: E731
    return f"{encode(header)}.{encode(payload)}.{signature}"


def refused(signer: PrescriptionSigner, token: str, reason: str) -> None:
    with pytest.raises(InvalidPrescriptionToken) as caught:
        signer.verify(token, now=DURING)
    assert caught.value.reason == reason
    assert caught.value.code == "INVALID_PRESCRIPTION_TOKEN"
    assert caught.value.status_code == 400
    # Even with expired tokens allowed: a forgery is never "just expired".
    with pytest.raises(InvalidPrescriptionToken):
        signer.verify(token, allow_expired=True, now=AFTER)


def test_a_genuine_token_verifies_to_its_claims(signer: PrescriptionSigner) -> None:
    claims = signer.verify(issue(signer), now=DURING)
    assert claims.prescription_id == PRESCRIPTION_ID
    assert claims.number == NUMBER
    assert (claims.issued_at, claims.expires_at) == (ISSUED, EXPIRES)
    assert claims.key_id == signer.key_id == key_id(CURRENT.public_key())
    assert claims.expired is False


def test_the_token_holds_only_the_prescription_reference(signer: PrescriptionSigner) -> None:
    header, payload, _ = parts(issue(signer))
    assert header == {"alg": "EdDSA", "kid": signer.key_id}
    assert payload == {
        "typ": "medhub-rx",
        "sub": str(PRESCRIPTION_ID),
        "num": NUMBER,
        "iat": int(ISSUED.timestamp()),
        "exp": int(EXPIRES.timestamp()),
    }


def test_sign_refuses_naive_times(signer: PrescriptionSigner) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signer.sign(PRESCRIPTION_ID, NUMBER, datetime(2027, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    "change",
    [
        {"num": "RX-20261203-0043"},
        {"sub": str(uuid.UUID(int=1))},
        {"exp": int((EXPIRES + timedelta(days=365)).timestamp())},
        {"extra": "claim"},
    ],
)
def test_an_altered_payload_is_refused(signer: PrescriptionSigner, change: dict[str, Any]) -> None:
    header, payload, signature = parts(issue(signer))
    refused(signer, assemble(header, {**payload, **change}, signature), "bad_signature")


def test_an_altered_header_is_refused(signer: PrescriptionSigner) -> None:
    header, payload, signature = parts(issue(signer))
    refused(signer, assemble({**header, "typ": "JWT"}, payload, signature), "bad_signature")
    # Naming another key MedHub knows does not make its signature that key's.
    moved = {**header, "kid": key_id(PREVIOUS.public_key())}
    refused(signer, assemble(moved, payload, signature), "bad_signature")


def test_a_token_signed_by_another_key_is_refused(signer: PrescriptionSigner) -> None:
    stranger = PrescriptionSigner(STRANGER)
    genuine_looking = issue(stranger)
    refused(signer, genuine_looking, "unknown_key")
    # ...also when it claims to be signed with MedHub's key.
    _, payload, _ = parts(genuine_looking)
    forged = jwt.encode(payload, STRANGER, algorithm="EdDSA", headers={"kid": signer.key_id})
    refused(signer, forged, "bad_signature")


@pytest.mark.parametrize(
    ("kid", "reason"),
    [
        (None, "unknown_key"),
        ("", "unknown_key"),
        ("no-such-key", "unknown_key"),
        (7, "malformed"),
        (["a"], "malformed"),
    ],
)
def test_a_missing_or_unknown_kid_is_refused(
    signer: PrescriptionSigner, kid: object, reason: str
) -> None:
    header, payload, signature = parts(issue(signer))
    if kid is None:
        del header["kid"]
    else:
        header["kid"] = kid
    refused(signer, assemble(header, payload, signature), reason)


def test_alg_none_is_refused(signer: PrescriptionSigner) -> None:
    _, payload, _ = parts(issue(signer))
    for alg in ("none", "None", "NONE"):
        header = {"alg": alg, "kid": signer.key_id}
        refused(signer, assemble(header, payload, ""), "unsupported_algorithm")
        refused(signer, assemble(header, payload, "c2ln"), "unsupported_algorithm")


def test_hs256_keyed_with_the_public_key_is_refused(signer: PrescriptionSigner) -> None:
    """The classic confusion: an HMAC whose secret is the (published) verification key."""
    _, payload, _ = parts(issue(signer))
    public = CURRENT.public_key()
    secrets_an_attacker_knows = [
        public.public_bytes_raw(),
        public_key_text(public).encode(),
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(signer.jwks()["keys"][0]).encode(),
    ]
    for secret in secrets_an_attacker_knows:
        for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            header = {"alg": alg, "kid": signer.key_id}
            unsigned = assemble(header, payload, "").rstrip(".")
            mac = hmac.new(secret, unsigned.encode(), digest).digest()
            refused(signer, f"{unsigned}.{b64url(mac)}", "unsupported_algorithm")
            # Claiming EdDSA with an HMAC for a signature fails the signature check.
            eddsa = assemble({**header, "alg": "EdDSA"}, payload, b64url(mac))
            refused(signer, eddsa, "bad_signature")


def test_an_authentic_expired_token_is_told_apart_from_a_forged_one(
    signer: PrescriptionSigner,
) -> None:
    token = issue(signer)
    with pytest.raises(ExpiredPrescriptionToken) as caught:
        signer.verify(token, now=AFTER)
    assert caught.value.code == "PRESCRIPTION_TOKEN_EXPIRED"
    assert caught.value.expired_at == EXPIRES
    assert not isinstance(caught.value, InvalidPrescriptionToken)

    claims = signer.verify(token, allow_expired=True, now=AFTER)
    assert claims.expired is True
    assert (claims.prescription_id, claims.number) == (PRESCRIPTION_ID, NUMBER)
    # The last second of validity is still valid; expiry is at `exp` itself.
    assert signer.verify(token, now=EXPIRES - timedelta(seconds=1)).expired is False
    with pytest.raises(ExpiredPrescriptionToken):
        signer.verify(token, now=EXPIRES)


def test_a_token_issued_already_expired_is_expired_by_the_clock(
    signer: PrescriptionSigner,
) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    token = signer.sign(PRESCRIPTION_ID, NUMBER, yesterday)
    with pytest.raises(ExpiredPrescriptionToken):
        signer.verify(token)
    assert signer.verify(token, allow_expired=True).expired


def test_an_expired_forgery_is_invalid_not_expired(signer: PrescriptionSigner) -> None:
    header, payload, signature = parts(issue(signer))
    altered = assemble(header, {**payload, "num": "RX-20261203-9999"}, signature)
    with pytest.raises(InvalidPrescriptionToken):
        signer.verify(altered, now=AFTER)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t[:-20],
        lambda t: t.rsplit(".", 1)[0],
        lambda t: t.rsplit(".", 1)[0] + ".",
        lambda t: t[: len(t) // 2],
        lambda t: t.split(".", 1)[0],
        lambda t: t + "A",
        lambda t: t + ".AAAA",
        lambda t: "",
        lambda t: "...",
        lambda t: "not a token",
        lambda t: "A" * 5000,
    ],
)
def test_truncated_or_garbled_tokens_are_refused(signer: PrescriptionSigner, mangle: Any) -> None:
    with pytest.raises(InvalidPrescriptionToken):
        signer.verify(mangle(issue(signer)), allow_expired=True, now=DURING)


@pytest.mark.parametrize(
    "payload_change",
    [
        {"typ": "access"},
        {"sub": "not-a-uuid"},
        {"num": ""},
        {"exp": "tomorrow"},
        {"iat": True},
    ],
)
def test_genuinely_signed_but_foreign_claims_are_refused(
    signer: PrescriptionSigner, payload_change: dict[str, Any]
) -> None:
    _, payload, _ = parts(issue(signer))
    token = jwt.encode(
        {**payload, **payload_change},
        CURRENT,
        algorithm="EdDSA",
        headers={"kid": signer.key_id},
    )
    with pytest.raises(InvalidPrescriptionToken):
        signer.verify(token, allow_expired=True, now=DURING)


def test_missing_claims_are_refused(signer: PrescriptionSigner) -> None:
    _, payload, _ = parts(issue(signer))
    for claim in payload:
        token = jwt.encode(
            {k: v for k, v in payload.items() if k != claim},
            CURRENT,
            algorithm="EdDSA",
            headers={"kid": signer.key_id},
        )
        with pytest.raises(InvalidPrescriptionToken):
            signer.verify(token, allow_expired=True, now=DURING)


def test_rotation_previous_keys_verify_while_listed() -> None:
    before = PrescriptionSigner(PREVIOUS)
    old_token = issue(before)

    rotated = PrescriptionSigner(CURRENT, [PREVIOUS.public_key()])
    claims = rotated.verify(old_token, now=DURING)
    assert claims.key_id == before.key_id != rotated.key_id
    # New tokens are signed with the new key.
    assert rotated.verify(issue(rotated), now=DURING).key_id == rotated.key_id
    assert [key["kid"] for key in rotated.jwks()["keys"]] == [rotated.key_id, before.key_id]

    retired = PrescriptionSigner(CURRENT)
    refused(retired, old_token, "unknown_key")
    assert [key["kid"] for key in retired.jwks()["keys"]] == [retired.key_id]


def test_jwks_lists_public_halves_only(signer: PrescriptionSigner) -> None:
    keys = signer.jwks()["keys"]
    assert keys == [
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
    assert private_key_text(CURRENT) not in json.dumps(keys)


def test_the_current_key_listed_as_previous_too_is_listed_once() -> None:
    signer = PrescriptionSigner(CURRENT, [CURRENT.public_key(), PREVIOUS.public_key()])
    assert len(signer.jwks()["keys"]) == 2


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    """RFC 8037, appendix A.1-A.3: the example key, its public `x` and its thumbprint."""
    d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
    key = Ed25519PrivateKey.from_private_bytes(unb64url(d))
    assert public_key_text(key.public_key()) == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert key_id(key.public_key()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert private_key_text(key) == d


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_signing_key_setting_is_the_jwk_d() -> None:
    """RFC 8037, appendix A.4: the setting's format is the JWK's `d`, so the example
    key signs the example payload into the example signature."""
    d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
    key = make(PRESCRIPTION_SIGNING_KEY=d).prescription_signing_key()
    signing_input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    assert b64url(key.sign(signing_input)) == (
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    )
    # With padding, or in standard base64, it is the same key.
    padded = base64.b64encode(unb64url(d)).decode()
    assert private_key_text(make(PRESCRIPTION_SIGNING_KEY=padded).prescription_signing_key()) == d


def test_signer_from_settings() -> None:
    settings = make(
        PRESCRIPTION_SIGNING_KEY=private_key_text(CURRENT),
        PRESCRIPTION_PREVIOUS_PUBLIC_KEYS=f" {public_key_text(PREVIOUS.public_key())} ,",
    )
    signer = PrescriptionSigner.from_settings(settings)
    assert signer.jwks() == PrescriptionSigner(CURRENT, [PREVIOUS.public_key()]).jwks()
    assert signer.verify(issue(PrescriptionSigner(PREVIOUS)), now=DURING)


@pytest.mark.parametrize(
    ("values", "fault"),
    [
        ({}, "PRESCRIPTION_SIGNING_KEY is not set"),
        ({"PRESCRIPTION_SIGNING_KEY": "not base64!"}, "not valid base64url"),
        ({"PRESCRIPTION_SIGNING_KEY": b64url(b"k" * 16)}, "16 bytes; Ed25519 keys are 32"),
        (
            {
                "PRESCRIPTION_SIGNING_KEY": private_key_text(CURRENT),
                "PRESCRIPTION_PREVIOUS_PUBLIC_KEYS": b64url(b"p" * 33),
            },
            "PRESCRIPTION_PREVIOUS_PUBLIC_KEYS holds a key of 33 bytes",
        ),
    ],
)
def test_bad_key_settings_name_the_setting(values: dict[str, str], fault: str) -> None:
    with pytest.raises(ConfigurationError, match=fault):
        PrescriptionSigner.from_settings(make(**values))


def test_development_generates_a_signing_key_once(tmp_path: Path) -> None:
    first = PrescriptionSigner.from_settings(prepare_settings(make(DATA_DIR=tmp_path)))
    second = PrescriptionSigner.from_settings(prepare_settings(make(DATA_DIR=tmp_path)))
    assert first.key_id == second.key_id
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert (
        key_id(
            Ed25519PrivateKey.from_private_bytes(
                unb64url(stored["PRESCRIPTION_SIGNING_KEY"])
            ).public_key()
        )
        == first.key_id
    )
    assert make().PRESCRIPTION_VALID_DAYS == 30


PRODUCTION = {
    "ENV": "production",
    "JWT_SECRET": "p" * 48,
    "DATABASE_URL": "postgresql://a@h/db",
    "FIELD_ENCRYPTION_KEYS": "1:" + "a" * 43,
    "FIELD_INDEX_KEY": "b" * 43,
    "METRICS_PUBLIC": True,
    "AUDIT_ANCHOR_SIGNING_KEY": "d" * 43,
}


def test_production_requires_a_valid_signing_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="PRESCRIPTION_SIGNING_KEY must be set"):
        prepare_settings(make(DATA_DIR=tmp_path, **PRODUCTION))
    assert not (tmp_path / "secrets.json").exists()
    with pytest.raises(ConfigurationError, match="PRESCRIPTION_SIGNING_KEY holds a key of 3"):
        prepare_settings(make(DATA_DIR=tmp_path, PRESCRIPTION_SIGNING_KEY="abcd", **PRODUCTION))
    with pytest.raises(ConfigurationError, match="PRESCRIPTION_PREVIOUS_PUBLIC_KEYS"):
        prepare_settings(
            make(
                DATA_DIR=tmp_path,
                PRESCRIPTION_SIGNING_KEY=private_key_text(CURRENT),
                PRESCRIPTION_PREVIOUS_PUBLIC_KEYS="abcd",
                **PRODUCTION,
            )
        )
    settings = prepare_settings(
        make(DATA_DIR=tmp_path, PRESCRIPTION_SIGNING_KEY=private_key_text(CURRENT), **PRODUCTION)
    )
    assert private_key_text(CURRENT) not in repr(settings)


@pytest.mark.parametrize("days", [0, 366])
def test_valid_days_are_bounded(days: int) -> None:
    with pytest.raises(ValueError, match="PRESCRIPTION_VALID_DAYS"):
        make(PRESCRIPTION_VALID_DAYS=days)


TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "scanned",
    [
        TOKEN,
        f"  {TOKEN}\n",
        f"https://medhub.example/rx/{TOKEN}",
        f"http://127.0.0.1:8000/rx/{TOKEN}",
        f"HTTPS://pharmacy.example:8443/base/rx/{TOKEN}?src=email#top",
        f"medhub.example/rx/{TOKEN}",
        f"/rx/{TOKEN}",
    ],
)
def test_token_from_qr_data_takes_the_token_or_the_url(scanned: str) -> None:
    assert token_from_qr_data(scanned) == TOKEN


@pytest.mark.parametrize(
    "scanned",
    [
        "",
        "hello",
        "https://medhub.example/rx/",
        f"https://medhub.example/prescriptions/{TOKEN}",
        f"https://medhub.example/rx/{TOKEN}/extra",
        "https://medhub.example/rx/a.b",
        "https://medhub.example/rx/a.b.c<script>",
        "http://[::1/rx/" + TOKEN,
        "RX-20261203-0042",
        "x" * 10_000,
    ],
)
def test_token_from_qr_data_refuses_anything_else(scanned: str) -> None:
    with pytest.raises(InvalidPrescriptionToken):
        token_from_qr_data(scanned)
