"""Prescription reference numbers: what a patient reads out or a pharmacist types when
there is no QR scanner, e.g. `7K3M-9QA2-F4TV`.

Twelve Crockford base32 characters (`0-9`, `A-Z` without `I`, `L`, `O`, `U`): eleven
random ones from `secrets` (55 bits, never sequential: a reference grants access to a
prescription, so it must not be guessable), then one check character, shown in three
groups of four. Typing is forgiving as Crockford intends: case does not matter, `I`
and `L` read as `1`, `O` as `0`, hyphens and spaces are ignored.

The check character k makes a weighted sum over GF(32) (the field of 32 elements, so
the check is one more character of the same alphabet) vanish: for the random
characters d_1..d_11,  k + sum(g^i * d_i) = 0,  where g is a primitive element (of
order 31, so the twelve weights 1, g, ..., g^11 are distinct and non-zero) and + is
xor. Hence every typo of these kinds is caught, in the check character too:

- one character replaced (a by b) at weight w: the sum changes by w * (a + b) != 0;
- two neighbours swapped (a != b at weights w != w'): it changes by
  (a + b) * (w + w') != 0.

(Crockford's own mod-37 check needs five extra symbols, `*~$=U`, that are awkward to
read out and to type.) Uniqueness is the database's job: a unique index, and a new
reference on the rare collision (issuing.py retries the insert from a SAVEPOINT, up to
`REFERENCE_ATTEMPTS` references in all).
"""

from __future__ import annotations

import re
import secrets
from functools import reduce
from operator import xor

from medhub.prescriptions.exceptions import InvalidReferenceNumber

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_CHARACTERS = 11
LENGTH = RANDOM_CHARACTERS + 1
GROUP = 4
ENTROPY_BITS = RANDOM_CHARACTERS * 5
EXAMPLE = "7K3M-9QA2-F4TV"

_VALUES = {character: value for value, character in enumerate(ALPHABET)}
# Crockford's decoding of the characters people confuse with digits.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
# Spaces, and hyphens as typed or as word processors turn them into dashes.
_IGNORED = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_PRESCRIPTION_NUMBER = re.compile(r"RX\d{8}\d{4}")
# The longest text worth looking at: a reference with every separator doubled.
_MAX_INPUT = 64

# GF(2^5) built on the primitive polynomial x^5 + x^2 + 1; g = x (the value 2).
_FIELD_SIZE = 32
_POLYNOMIAL = 0b100101


def _powers_of_generator() -> list[int]:
    powers = [1]
    for _ in range(_FIELD_SIZE - 2):
        value = powers[-1] << 1
        if value & _FIELD_SIZE:
            value ^= _POLYNOMIAL
        powers.append(value)
    return powers


_EXP = _powers_of_generator()  # _EXP[k] = g^k, k = 0..30
_LOG = {value: power for power, value in enumerate(_EXP)}


def _multiply(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[(_LOG[a] + _LOG[b]) % (_FIELD_SIZE - 1)]


def _check_value(data: str) -> int:
    """k = sum(g^i * d_i) over the random characters d_1..d_11."""
    return reduce(xor, (_multiply(_EXP[i + 1], _VALUES[c]) for i, c in enumerate(data)), 0)


def check_character(data: str) -> str:
    """The check character of eleven random characters."""
    return ALPHABET[_check_value(data)]


def new_reference() -> str:
    """A new random reference, normalised (`7K3M9QA2F4TV`); `format_reference` groups it."""
    data = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARACTERS))
    return data + check_character(data)


def normalise_reference(text: str) -> str:
    """The reference as stored (twelve upper-case characters, no separators), from any
    way of typing it; `InvalidReferenceNumber` if it is not one or has a typo."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        raise InvalidReferenceNumber(_not_a_reference())
    compact = _IGNORED.sub("", text).upper().translate(_READ_AS)
    if _PRESCRIPTION_NUMBER.fullmatch(compact):
        raise InvalidReferenceNumber(
            "This is a prescription number (RX-…), not a reference number; the reference "
            f"number is the 12-character code on the prescription, like {EXAMPLE}"
        )
    if not compact or any(character not in _VALUES for character in compact):
        raise InvalidReferenceNumber(_not_a_reference())
    if len(compact) != LENGTH:
        raise InvalidReferenceNumber(
            f"A reference number has {LENGTH} characters (like {EXAMPLE}); "
            f"this one has {len(compact)}"
        )
    if check_character(compact[:RANDOM_CHARACTERS]) != compact[RANDOM_CHARACTERS]:
        raise InvalidReferenceNumber(
            "This reference number contains a typo (its last character does not match "
            "the others); please check it and type it again"
        )
    return compact


def format_reference(reference: str) -> str:
    """The reference for people: three groups of four (`7K3M-9QA2-F4TV`). Accepts any
    spelling `normalise_reference` accepts."""
    compact = normalise_reference(reference)
    return "-".join(compact[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def _not_a_reference() -> str:
    return (
        f"A reference number is {LENGTH} letters and digits like {EXAMPLE} "
        "(the letter U is never used)"
    )
