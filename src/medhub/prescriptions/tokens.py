"""Prescription QR tokens: JWS signed with the platform's Ed25519 key (RFC 8037).

A token is a JWT in compact serialization, `alg: EdDSA`, whose protected header names
the signing key (`kid`: the key's RFC 7638 thumbprint). Its payload holds what a
pharmacy needs to find the prescription and nothing about the patient:

    {"typ": "medhub-rx", "sub": "<prescription id>", "num": "RX-20261203-0042",
     "iat": 1796300000, "exp": 1798892000}

The public keys are published as a JWK Set at `/.well-known/prescription-keys`, so
anyone can check a QR code offline with a standard JOSE library. After a rotation the
previous public keys stay listed (PRESCRIPTION_PREVIOUS_PUBLIC_KEYS) until the codes
they signed have expired; a token whose key is no longer listed is refused.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from medhub.config import Settings
from medhub.kit.signing_keys import KeyRing, key_id, public_key_text
from medhub.prescriptions.exceptions import ExpiredPrescriptionToken, InvalidPrescriptionToken

ALGORITHM = "EdDSA"
TOKEN_TYPE = "medhub-rx"  # noqa: S105 - a claim value, not a password
# A genuine token is about 300 characters; anything far longer is refused before parsing.
MAX_TOKEN_LENGTH = 2048
VERIFICATION_PATH = "/rx/"
REQUIRED_CLAIMS = ("typ", "sub", "num", "iat", "exp")
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK (RFC 8037), with its `kid`, `use` and `alg`."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": public_key_text(key),
        "kid": key_id(key),
        "use": "sig",
        "alg": ALGORITHM,
    }


@dataclass(frozen=True, slots=True)
class PrescriptionClaims:
    """What an authentic token says. `expired` is true only when the caller allowed
    expired tokens (`verify(..., allow_expired=True)`)."""

    prescription_id: uuid.UUID
    number: str
    issued_at: datetime
    expires_at: datetime
    key_id: str
    expired: bool


def _timestamp(moment: datetime, name: str) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return int(moment.timestamp())


def _claim_time(payload: dict[str, Any], name: str) -> datetime:
    value = payload[name]
    # bool is an int in Python; a JSON `true` is no time.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPrescriptionToken("bad_claims")
    return datetime.fromtimestamp(value, UTC)


def _claims_from(payload: dict[str, Any], kid: str, now: datetime) -> PrescriptionClaims:
    number = payload["num"]
    subject = payload["sub"]
    if payload["typ"] != TOKEN_TYPE or not isinstance(number, str) or not number:
        raise InvalidPrescriptionToken("bad_claims")
    if not isinstance(subject, str):
        raise InvalidPrescriptionToken("bad_claims")
    try:
        prescription_id = uuid.UUID(subject)
    except ValueError as exc:
        raise InvalidPrescriptionToken("bad_claims") from exc
    expires_at = _claim_time(payload, "exp")
    return PrescriptionClaims(
        prescription_id=prescription_id,
        number=number,
        issued_at=_claim_time(payload, "iat"),
        expires_at=expires_at,
        key_id=kid,
        expired=expires_at <= now,
    )


class PrescriptionSigner(KeyRing):
    """Signs with the current key; verifies with it and the previous public keys."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PrescriptionSigner:
        """The signer of PRESCRIPTION_SIGNING_KEY and PRESCRIPTION_PREVIOUS_PUBLIC_KEYS
        (a ConfigurationError when they are missing or malformed)."""
        return cls(
            settings.prescription_signing_key(), settings.prescription_previous_public_keys()
        )

    def sign(
        self,
        prescription_id: uuid.UUID,
        number: str,
        expires_at: datetime,
        *,
        issued_at: datetime | None = None,
    ) -> str:
        """A token for the prescription, valid until `expires_at` (timezone-aware)."""
        issued = issued_at or datetime.now(UTC)
        payload = {
            "typ": TOKEN_TYPE,
            "sub": str(prescription_id),
            "num": number,
            "iat": _timestamp(issued, "issued_at"),
            "exp": _timestamp(expires_at, "expires_at"),
        }
        # No `typ: JWT` header: every byte makes the QR code denser; the payload's
        # `typ` says what the token is.
        return jwt.encode(
            payload,
            self._signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self.key_id, "typ": None},
        )

    def verify(
        self, token: str, *, allow_expired: bool = False, now: datetime | None = None
    ) -> PrescriptionClaims:
        """The claims of a token MedHub signed with a key it still lists.

        Raises `InvalidPrescriptionToken` for anything else (malformed, altered, forged,
        another algorithm, a key not listed), and `ExpiredPrescriptionToken` for an
        authentic token past its expiry unless `allow_expired`, in which case the claims
        come back with `expired=True`.
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidPrescriptionToken("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidPrescriptionToken("malformed") from exc
        # Only EdDSA, decided here and never by the token: `none`, or HS256 keyed with
        # the (public) verification key, are refused before any key is used.
        if header.get("alg") != ALGORITHM:
            raise InvalidPrescriptionToken("unsupported_algorithm")
        kid = header.get("kid")
        key = self._public_keys.get(kid) if isinstance(kid, str) else None
        if kid is None or key is None:
            raise InvalidPrescriptionToken("unknown_key")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                # Expiry is judged below, so that an expired token can be told from a
                # forged one; the signature is always checked first.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": list(REQUIRED_CLAIMS),
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise InvalidPrescriptionToken("bad_signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidPrescriptionToken("bad_claims") from exc
        except jwt.PyJWTError as exc:
            raise InvalidPrescriptionToken("malformed") from exc
        claims = _claims_from(payload, kid, now or datetime.now(UTC))
        if claims.expired and not allow_expired:
            raise ExpiredPrescriptionToken(claims.expires_at)
        return claims

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys as a JWK Set (RFC 7517): the current key first, then the
        previous ones."""
        return {"keys": [public_jwk(key) for key in self._public_keys.values()]}


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def token_from_qr_data(text: str) -> str:
    """The token in what a scanner read: the bare token, or a verification URL
    `<any origin>/rx/<token>` (query and fragment ignored)."""
    data = text.strip() if isinstance(text, str) else ""
    if len(data) > MAX_TOKEN_LENGTH + 512:
        raise InvalidPrescriptionToken("malformed")
    if _TOKEN_SHAPE.fullmatch(data):
        return data
    try:
        path = urlsplit(data).path
    except ValueError as exc:
        raise InvalidPrescriptionToken("malformed") from exc
    _, found, token = path.rpartition(VERIFICATION_PATH)
    if found and _TOKEN_SHAPE.fullmatch(token):
        return token
    raise InvalidPrescriptionToken("malformed")
