"""Ed25519 keys as settings and JWKs write them (RFC 8037), and their key ids.

Prescription QR tokens and audit-chain checkpoints are signed with keys held in
settings as base64url text; both name a key by its RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key in base64url: a `*_PREVIOUS_PUBLIC_KEYS` entry, a JWK's `x`."""
    return b64url(key.public_bytes_raw())


def private_key_text(key: Ed25519PrivateKey) -> str:
    """The private key in base64url: a `*_SIGNING_KEY` setting, a JWK's `d`."""
    return b64url(key.private_bytes_raw())


def key_id(key: Ed25519PublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url): the same key always gets
    the same `kid`, on every process, with nothing stored."""
    # The required members of an OKP key, in lexicographic order, without whitespace.
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": public_key_text(key)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


class KeyRing:
    """The current signing key and the public keys that still verify (the current one
    and those rotated out), by key id, current first."""

    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        previous_public_keys: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        self._signing_key = signing_key
        self.key_id = key_id(signing_key.public_key())
        self._public_keys: dict[str, Ed25519PublicKey] = {self.key_id: signing_key.public_key()}
        for key in previous_public_keys:
            self._public_keys.setdefault(key_id(key), key)
