"""Prescription reference numbers: random, Crockford base32, forgiving to type, and a
check character that catches every single-character typo and every swap of two
neighbours."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medhub.prescriptions.exceptions import InvalidReferenceNumber
from medhub.prescriptions.reference import (
    ALPHABET,
    ENTROPY_BITS,
    EXAMPLE,
    RANDOM_CHARACTERS,
    check_character,
    format_reference,
    new_reference,
    normalise_reference,
)

FORMATTED = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")

references = st.text(alphabet=ALPHABET, min_size=RANDOM_CHARACTERS, max_size=RANDOM_CHARACTERS).map(
    lambda data: data + check_character(data)
)


def test_a_new_reference_is_twelve_crockford_characters_with_enough_entropy() -> None:
    assert ENTROPY_BITS >= 50
    assert len(ALPHABET) == 32
    assert set(ALPHABET).isdisjoint("ILOU")
    reference = new_reference()
    assert len(reference) == 12
    assert set(reference) <= set(ALPHABET)
    assert normalise_reference(reference) == reference
    assert FORMATTED.fullmatch(format_reference(reference))
    assert FORMATTED.fullmatch(EXAMPLE)
    assert normalise_reference(EXAMPLE) == EXAMPLE.replace("-", "")


def test_references_are_random_not_sequential() -> None:
    drawn = [new_reference() for _ in range(2000)]
    assert len(set(drawn)) == len(drawn)
    # Every random position uses the whole alphabet roughly evenly (2000/32 ≈ 62 each).
    for position in range(RANDOM_CHARACTERS):
        counts = Counter(reference[position] for reference in drawn)
        assert set(counts) == set(ALPHABET), position
        assert max(counts.values()) < 130, position
    # Consecutive draws share no more than chance would have them share.
    same_prefix = sum(a[:4] == b[:4] for a, b in itertools.pairwise(drawn))
    assert same_prefix <= 1


@settings(max_examples=300)
@given(references)
def test_every_single_character_substitution_is_caught(reference: str) -> None:
    assert normalise_reference(reference) == reference
    for position, original in enumerate(reference):
        for replacement in ALPHABET:
            if replacement == original:
                continue
            typo = reference[:position] + replacement + reference[position + 1 :]
            with pytest.raises(InvalidReferenceNumber, match="typo"):
                normalise_reference(typo)


@settings(max_examples=300)
@given(references)
def test_every_adjacent_transposition_is_caught(reference: str) -> None:
    for position in range(len(reference) - 1):
        a, b = reference[position], reference[position + 1]
        if a == b:
            continue
        swapped = reference[:position] + b + a + reference[position + 2 :]
        with pytest.raises(InvalidReferenceNumber, match="typo"):
            normalise_reference(swapped)


def test_the_check_catches_typos_exhaustively_over_a_structured_set() -> None:
    """Beyond random samples: every reference whose data is one repeated character or
    one differing character on a field of zeros (where weak checks fail first)."""
    bases = [c * RANDOM_CHARACTERS for c in ALPHABET] + [
        "0" * i + c + "0" * (RANDOM_CHARACTERS - i - 1)
        for i in range(RANDOM_CHARACTERS)
        for c in ALPHABET
    ]
    for data in bases:
        reference = data + check_character(data)
        for position, original in enumerate(reference):
            for replacement in ALPHABET.replace(original, ""):
                typo = reference[:position] + replacement + reference[position + 1 :]
                with pytest.raises(InvalidReferenceNumber):
                    normalise_reference(typo)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7k3m-9qa2-f4tv", "7K3M9QA2F4TV"),
        ("7K3M 9QA2 F4TV", "7K3M9QA2F4TV"),
        (" 7K3M9QA2F4TV ", "7K3M9QA2F4TV"),
        ("7K3M--9QA2\tF4TV", "7K3M9QA2F4TV"),
        ("7K3M\u20139QA2\u2014F4TV", "7K3M9QA2F4TV"),  # dashes a word processor makes
    ],
)
def test_normalisation_ignores_case_spaces_and_hyphens(typed: str, expected: str) -> None:
    assert normalise_reference(typed) == expected
    assert format_reference(typed) == "7K3M-9QA2-F4TV"


def test_i_l_and_o_read_as_one_and_zero() -> None:
    data = "10A1B0C1D0E"
    reference = data + check_character(data)
    assert reference == normalise_reference(reference)
    confusable = "ioAlBOCIDoE" + reference[-1]
    assert normalise_reference(confusable) == reference
    assert normalise_reference(confusable.lower()) == reference


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "12 letters and digits"),
        ("   -- ", "12 letters and digits"),
        ("7K3M-9QA2-F4TU", "the letter U is never used"),
        ("7K3M-9QA2-F4T*", "12 letters and digits"),
        ("7K3M/9QA2/F4TV", "12 letters and digits"),
        ("7K3M-9QA2-F4T", "has 11"),
        ("7K3M-9QA2-F4TV0", "has 13"),
        ("7K3M-9QA2-F4TW", "typo"),
        ("RX-20261203-0042", "prescription number"),
        ("x" * 65, "12 letters and digits"),
    ],
)
def test_what_is_not_a_reference_gets_a_clear_400(typed: str, message: str) -> None:
    with pytest.raises(InvalidReferenceNumber, match=message) as caught:
        normalise_reference(typed)
    error = caught.value
    assert (error.code, error.status_code) == ("INVALID_REFERENCE_NUMBER", 400)
    assert [detail.field for detail in error.details] == ["reference_number"]
    assert error.details[0].message == error.message


def test_format_refuses_a_non_reference() -> None:
    with pytest.raises(InvalidReferenceNumber):
        format_reference("hello")
