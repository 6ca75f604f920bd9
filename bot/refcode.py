"""Reference numbers: 10 random digits, the last a Damm check digit.

The Damm algorithm detects every single-digit error and every adjacent transposition, so a
mistyped reference is refused before any lookup (and before it counts against rate limits).
"""

from __future__ import annotations

import re
import secrets

from bot.arabic import DIGIT_CLASS, fold_digits

LENGTH = 10

# The standard totally anti-symmetric quasigroup of order 10 (Damm, 2004).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

# What people put between digit groups: spaces (incl. NBSP), dashes, dots, slashes, RTL marks.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212._/\u200e\u200f\u061c]+")


class ReferenceError_(ValueError):
    """Base of the two ways a reference can be wrong; `code` is machine-readable."""

    code = "invalid_reference"


class MalformedReference(ReferenceError_):
    code = "malformed_reference"


class BadCheckDigit(ReferenceError_):
    code = "bad_check_digit"


def damm_digit(digits: str) -> int:
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return interim


def is_valid_digits(digits: str) -> bool:
    return len(digits) == LENGTH and digits.isascii() and digits.isdigit() and damm_digit(digits) == 0


def generate() -> str:
    """A new reference: 9 random digits (first never 0, so it never loses a digit) + check digit."""
    body = str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(LENGTH - 2))
    return body + str(damm_digit(body))


def canonical_digits(text: str) -> str:
    """Strip separators and fold Arabic-Indic and Persian digits; does not validate."""
    return _SEPARATORS.sub("", fold_digits(text.strip()))


def parse(text: str) -> str:
    """Return the canonical 10-digit reference or raise MalformedReference / BadCheckDigit."""
    digits = canonical_digits(text)
    if len(digits) != LENGTH or not digits.isascii() or not digits.isdigit():
        raise MalformedReference(text)
    if damm_digit(digits) != 0:
        raise BadCheckDigit(digits)
    return digits


def format_grouped(reference: str) -> str:
    """`4829103756` -> `482 910 3756` (3-3-4, as people read phone numbers in Jordan)."""
    d = canonical_digits(reference)
    return f"{d[:3]} {d[3:6]} {d[6:]}"


def spoken_digits(reference: str) -> list[str]:
    """Digit by digit, for the IVR and TTS."""
    return list(canonical_digits(reference))


# Candidate reference in free text: 10 digits in any script, optionally grouped.
_D = f"[{DIGIT_CLASS}]"
CANDIDATE_RE = re.compile(rf"(?<!{_D})({_D}(?:[\s\-.]?{_D}){{9}})(?!{_D})")


def find_candidates(text: str) -> list[str]:
    """All 10-digit runs in `text` (valid or not), canonicalised; used by the NLU extractor."""
    return [canonical_digits(m.group(1)) for m in CANDIDATE_RE.finditer(text)]


def without_candidates(text: str) -> str:
    """`text` with every 10-digit run taken out, so the words around a reference read as one
    phrase ("open 482 910 3756 again" -> "open again")."""
    return " ".join(CANDIDATE_RE.sub(" ", text).split())
