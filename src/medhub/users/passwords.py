"""The password policy: length and character classes (MedPharm), not a common password
(zxcvbn's frequency lists, with the user's own name and email counted as guessable)."""

from __future__ import annotations

import re

from zxcvbn import zxcvbn

from medhub.kit.errors import ErrorDetail, ValidationFailed

MIN_LENGTH = 8
MAX_LENGTH = 128
# zxcvbn scores 0-4; below 2 means "guessable within ~10^6 attempts".
MIN_STRENGTH = 2

_RULES = (
    (re.compile(r"[a-z]"), "a lowercase letter"),
    (re.compile(r"[A-Z]"), "an uppercase letter"),
    (re.compile(r"\d"), "a digit"),
    (re.compile(r"[^A-Za-z0-9]"), "a symbol"),
)


def password_problems(password: str, *, user_inputs: list[str] | None = None) -> list[str]:
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
        return problems
    missing = [label for pattern, label in _RULES if not pattern.search(password)]
    if missing:
        problems.append("must contain " + ", ".join(missing))
    if not problems:
        inputs = [value for value in (user_inputs or []) if value]
        if zxcvbn(password, user_inputs=inputs)["score"] < MIN_STRENGTH:
            problems.append("is too common or too easy to guess")
    return problems


def check_password(
    password: str, *, field: str = "password", user_inputs: list[str] | None = None
) -> None:
    problems = password_problems(password, user_inputs=user_inputs)
    if problems:
        raise ValidationFailed(
            "The password does not meet the password policy",
            details=[ErrorDetail(field=field, message=f"Password {p}") for p in problems],
        )
