"""Security primitives: password hashing, access tokens, opaque secrets and their digests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "medhub"
JWT_AUDIENCE = "medhub-api"


class PasswordHasher:
    """Argon2id for new hashes; verifies (and asks to upgrade) legacy bcrypt hashes.

    Hashing is CPU-bound for ~tens of ms: it runs in a small dedicated thread pool
    (argon2 releases the GIL) so the event loop keeps serving other requests, and
    the pool's size bounds how many hashes run at once.
    """

    def __init__(self, *, memory_kib: int, iterations: int, parallelism: int, workers: int):
        self.context = PasswordHash(
            (
                Argon2Hasher(memory_cost=memory_kib, time_cost=iterations, parallelism=parallelism),
                BcryptHasher(),
            )
        )
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pwhash")
        # Compared against for unknown emails, so a miss costs what a hit costs.
        self.dummy_hash = self.context.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.context.hash, password)

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """(matches, new hash if the stored one should be upgraded)."""
        loop = asyncio.get_running_loop()
        target = hashed or self.dummy_hash
        valid, updated = await loop.run_in_executor(
            self.executor, self.context.verify_and_update, password, target
        )
        return (bool(valid) and hashed is not None), updated


@dataclass(frozen=True)
class SigningKey:
    kid: str
    # Kept out of the repr: a key must never reach a log line or a rendered traceback.
    secret: str = field(repr=False)


def signing_key(secret: str) -> SigningKey:
    """The key id is derived from the secret: rotating the secret rotates the id."""
    kid = hashlib.sha256(b"medhub-kid:" + secret.encode()).hexdigest()[:12]
    return SigningKey(kid=kid, secret=secret)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    org_id: uuid.UUID | None
    session_id: uuid.UUID
    token_id: str
    issued_at: datetime
    expires_at: datetime


class InvalidToken(Exception):
    """The token is malformed, forged, expired or signed with an unknown key."""


class TokenCodec:
    """Signs access tokens with the current key; verifies with the current or previous keys."""

    # Tokens verified recently, by their exact text: a client sends the same token on
    # every request until it expires, and verifying one (base64, HMAC, claim checks in
    # PyJWT) costs more than the rest of authenticating a request. Only the signature
    # and claims are remembered; expiry is checked on every use.
    VERIFIED_CACHE_SIZE = 4096

    def __init__(self, current_secret: str, previous_secrets: Sequence[str] = ()) -> None:
        self.current = signing_key(current_secret)
        self.keys = {self.current.kid: self.current}
        for secret in previous_secrets:
            key = signing_key(secret)
            self.keys.setdefault(key.kid, key)
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        role: str,
        org_id: uuid.UUID | None,
        session_id: uuid.UUID,
        ttl: timedelta,
        now: datetime | None = None,
    ) -> tuple[str, AccessClaims]:
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        claims = AccessClaims(
            user_id=user_id,
            role=role,
            org_id=org_id,
            session_id=session_id,
            token_id=uuid.uuid4().hex,
            issued_at=issued,
            expires_at=issued + ttl,
        )
        payload: dict[str, Any] = {
            "sub": str(user_id),
            "role": role,
            "org": str(org_id) if org_id else None,
            "sid": str(session_id),
            "jti": claims.token_id,
            "iat": int(issued.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "iss": JWT_ISSUER,
            "aud": JWT_AUDIENCE,
        }
        token = jwt.encode(
            payload, self.current.secret, algorithm=JWT_ALGORITHM, headers={"kid": self.current.kid}
        )
        return token, claims

    def decode(self, token: str, now: datetime | None = None) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            self._verified[token] = claims
            if len(self._verified) > self.VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        if claims.expires_at <= (now or datetime.now(UTC)):
            self._verified.pop(token, None)
            raise InvalidToken("token expired")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        # The algorithm is pinned: whatever the header claims, only HS256 verifies,
        # so `alg: none` and public-key confusion are both refused here.
        if header.get("alg") != JWT_ALGORITHM:
            raise InvalidToken("unexpected signing algorithm")
        key = self.keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            payload = jwt.decode(
                token,
                key.secret,
                algorithms=[JWT_ALGORITHM],
                audience=JWT_AUDIENCE,
                issuer=JWT_ISSUER,
                options={"require": ["exp", "iat", "sub", "sid", "jti", "role"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        return _claims_of(payload)


def _text_claim(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken(f"invalid {name} claim")
    return value


def _uuid_claim(payload: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(_text_claim(payload, name))
    except ValueError as exc:
        raise InvalidToken(f"invalid {name} claim") from exc


def _time_claim(payload: dict[str, Any], name: str) -> datetime:
    value = payload.get(name)
    # bool is an int to Python, not a timestamp to anyone.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"invalid {name} claim")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidToken(f"invalid {name} claim") from exc


def _claims_of(payload: dict[str, Any]) -> AccessClaims:
    """Every claim checked for its type: a correctly signed token with a malformed claim
    (a key that leaked, or one of ours from a buggy build) is refused, not a crash."""
    return AccessClaims(
        user_id=_uuid_claim(payload, "sub"),
        role=_text_claim(payload, "role"),
        org_id=_uuid_claim(payload, "org") if payload.get("org") is not None else None,
        session_id=_uuid_claim(payload, "sid"),
        token_id=_text_claim(payload, "jti"),
        issued_at=_time_claim(payload, "iat"),
        expires_at=_time_claim(payload, "exp"),
    )


def new_secret(nbytes: int = 32) -> str:
    """A high-entropy, URL-safe secret (refresh tokens, reset links, API keys)."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """How high-entropy secrets are stored: SHA-256 is enough when guessing is hopeless."""
    return hashlib.sha256(secret.encode()).hexdigest()


def keyed_digest(key: str, value: str) -> str:
    """How low-entropy secrets (6-digit OTPs) are stored: a leaked table can't be brute-forced
    offline without the server key."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def new_otp() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
