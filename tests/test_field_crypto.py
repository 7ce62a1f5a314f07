"""Encrypted columns: AES-GCM under versioned keys, bound to their column; blind indexes."""

from __future__ import annotations

import base64

import pytest

from medhub.field_crypto import (
    FieldCryptoError,
    Keyring,
    key_version_of,
    normalise_identifier,
    normalise_phone,
)

KEY_A = base64.urlsafe_b64encode(b"a" * 32).decode()
KEY_B = base64.urlsafe_b64encode(b"b" * 32).decode()
INDEX = base64.urlsafe_b64encode(b"i" * 32).decode()


def test_a_value_round_trips_and_is_not_stored_in_the_clear() -> None:
    keyring = Keyring.from_specs(f"1:{KEY_A}", INDEX)
    stored = keyring.encrypt("AB-123-456", "patients.national_id")
    assert b"AB-123-456" not in stored
    assert keyring.decrypt(stored, "patients.national_id") == "AB-123-456"
    # A fresh nonce each time: equal values do not give equal bytes.
    assert keyring.encrypt("AB-123-456", "patients.national_id") != stored


def test_a_value_moved_to_another_column_does_not_decrypt() -> None:
    keyring = Keyring.from_specs(f"1:{KEY_A}", INDEX)
    stored = keyring.encrypt("555-0100", "patients.phone")
    with pytest.raises(FieldCryptoError, match="does not decrypt"):
        keyring.decrypt(stored, "patients.national_id")


def test_a_tampered_value_does_not_decrypt() -> None:
    keyring = Keyring.from_specs(f"1:{KEY_A}", INDEX)
    stored = bytearray(keyring.encrypt("555-0100", "patients.phone"))
    stored[-1] ^= 1
    with pytest.raises(FieldCryptoError, match="does not decrypt"):
        keyring.decrypt(bytes(stored), "patients.phone")


def test_a_new_key_encrypts_while_the_old_one_still_reads() -> None:
    old = Keyring.from_specs(f"1:{KEY_A}", INDEX)
    sealed_before = old.encrypt("insured", "patients.insurance_number")
    both = Keyring.from_specs(f"2:{KEY_B},1:{KEY_A}", INDEX)
    assert both.current_version == 2
    assert key_version_of(both.encrypt("x", "c")) == 2
    assert both.decrypt(sealed_before, "patients.insurance_number") == "insured"
    new_only = Keyring.from_specs(f"2:{KEY_B}", INDEX)
    with pytest.raises(FieldCryptoError, match="key version 1"):
        new_only.decrypt(sealed_before, "patients.insurance_number")


def test_blind_indexes_match_equal_values_written_differently() -> None:
    keyring = Keyring.from_specs(f"1:{KEY_A}", INDEX)
    phone = keyring.blind_index(normalise_phone("+49 30 1234-5"), "patients.phone")
    assert phone == keyring.blind_index(normalise_phone("+4930 12345"), "patients.phone")
    assert phone != keyring.blind_index(normalise_phone("4930 12345"), "patients.phone")
    assert phone != keyring.blind_index(normalise_phone("+4930 12345"), "patients.national_id")
    national = keyring.blind_index(normalise_identifier("ab-123 45"), "patients.national_id")
    assert national == keyring.blind_index(normalise_identifier("AB12345"), "patients.national_id")
    other_key = Keyring.from_specs(f"1:{KEY_A}", KEY_B)
    assert (
        other_key.blind_index(normalise_identifier("AB12345"), "patients.national_id") != national
    )
