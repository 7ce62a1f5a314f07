"""Sensitive columns encrypted at rest (AES-256-GCM under versioned keys) and the
blind indexes that keep some of them searchable by exact value.

A stored value is `version (1 byte) || nonce (12 bytes) || ciphertext+tag`. The
version names the key that sealed it, so a new key can be added (it becomes the one
that encrypts) while rows sealed under older keys are still read; `medhub crypto
rotate` re-encrypts those in batches and the old key can then be retired. The column's
name is bound into every value as associated data: a value copied into another column
(or another table) does not decrypt.

A blind index is an HMAC-SHA256 of the normalised value under its own key
(`FIELD_INDEX_KEY`), per column: equality search without decrypting, and no way back
to the value without the key. It is not versioned: changing that key means
recomputing the indexes.

The keys are process-wide, like the database URL: every process that opens the
database installs them (`kit.db.Database` does, from `Settings.field_keyring()`),
and the column types read them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

KEY_BYTES = 32
NONCE_BYTES = 12
MAX_KEY_VERSION = 255


class FieldCryptoError(Exception):
    """A key is missing or malformed, or a stored value does not decrypt."""


def generate_key_spec(version: int = 1) -> str:
    """A new `FIELD_ENCRYPTION_KEYS` entry: `version:base64(32 random bytes)`."""
    return f"{version}:{base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()}"


def _decode_key(encoded: str, what: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise FieldCryptoError(f"{what} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise FieldCryptoError(f"{what} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


def parse_key_specs(spec: str) -> dict[int, bytes]:
    """`"2:<base64>,1:<base64>"` → {2: key, 1: key}. The highest version encrypts."""
    keys: dict[int, bytes] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        version_text, sep, encoded = item.partition(":")
        if not sep or not version_text.isdigit():
            raise FieldCryptoError(
                "FIELD_ENCRYPTION_KEYS entries are 'version:base64key' (e.g. '1:…'), "
                "separated by commas"
            )
        version = int(version_text)
        if not 1 <= version <= MAX_KEY_VERSION:
            raise FieldCryptoError(f"key versions run from 1 to {MAX_KEY_VERSION}, not {version}")
        if version in keys:
            raise FieldCryptoError(f"key version {version} is given twice")
        keys[version] = _decode_key(encoded, f"FIELD_ENCRYPTION_KEYS version {version}")
    if not keys:
        raise FieldCryptoError("FIELD_ENCRYPTION_KEYS holds no key")
    return keys


@dataclass(frozen=True)
class Keyring:
    keys: dict[int, bytes]
    index_key: bytes

    @classmethod
    def from_specs(cls, encryption_keys: str, index_key: str) -> Keyring:
        return cls(parse_key_specs(encryption_keys), _decode_key(index_key, "FIELD_INDEX_KEY"))

    @property
    def current_version(self) -> int:
        return max(self.keys)

    def encrypt(self, plaintext: str, context: str) -> bytes:
        version = self.current_version
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[version]).encrypt(nonce, plaintext.encode(), context.encode())
        return bytes([version]) + nonce + sealed

    def decrypt(self, stored: bytes, context: str) -> str:
        if len(stored) < 1 + NONCE_BYTES + 16:
            raise FieldCryptoError(f"{context}: stored value is too short to be encrypted")
        version = stored[0]
        key = self.keys.get(version)
        if key is None:
            raise FieldCryptoError(
                f"{context}: sealed under key version {version}, which FIELD_ENCRYPTION_KEYS "
                "no longer holds (add it back, or rotate before removing a key)"
            )
        nonce, sealed = stored[1 : 1 + NONCE_BYTES], stored[1 + NONCE_BYTES :]
        try:
            return AESGCM(key).decrypt(nonce, sealed, context.encode()).decode()
        except InvalidTag as exc:
            raise FieldCryptoError(f"{context}: stored value does not decrypt") from exc

    def blind_index(self, normalised: str, context: str) -> bytes:
        message = context.encode() + b"\x00" + normalised.encode()
        return hmac.new(self.index_key, message, hashlib.sha256).digest()


_keyring: Keyring | None = None


def install_keyring(keyring: Keyring) -> None:
    global _keyring  # noqa: PLW0603 - process-wide, like the database URL (module docstring)
    _keyring = keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise FieldCryptoError(
            "field encryption keys are not installed (FIELD_ENCRYPTION_KEYS and "
            "FIELD_INDEX_KEY must be set; development generates them into secrets.json)"
        )
    return _keyring


def key_version_of(stored: bytes) -> int:
    return stored[0]


# Normalisation before a blind index: the same value written differently must match.
def normalise_phone(value: str) -> str:
    """Digits only, keeping a leading `+` (so "+49 30 1234-5" == "+4930 12345")."""
    stripped = value.strip()
    digits = re.sub(r"\D", "", stripped)
    return ("+" if stripped.startswith("+") else "") + digits


def normalise_identifier(value: str) -> str:
    """Letters and digits only, upper case ("ab-123 45" == "AB12345")."""
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


class EncryptedText(TypeDecorator[str]):
    """A `str` column stored as AES-GCM ciphertext (bytea); `context` is its name."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return keyring().encrypt(value, self.context)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring().decrypt(bytes(value), self.context)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value (a list of allergies, an emergency contact) stored encrypted."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return keyring().encrypt(json.dumps(value, separators=(",", ":")), self.context)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(keyring().decrypt(bytes(value), self.context))
