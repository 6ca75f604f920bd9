"""Arabic normalisation for matching (never for storage: the original text is what we keep).

Folds the spelling variants people use interchangeably when typing Arabic on phones:
alef forms (أ إ آ ٱ -> ا), ta marbuta (ة -> ه), alef maqsura (ى -> ي), tatweel, diacritics,
and Arabic-Indic digits. Also lower-cases Latin and folds whitespace, so one function serves
catalogue search, lookup tables and the NLU featurizer.

It is also the one home of digit folding: Arabic-Indic (٠-٩, U+0660) and Extended
Arabic-Indic / Persian (۰-۹, U+06F0, what some Android keyboards type) digits read as 0-9
wherever a number is typed: references, phone numbers, PINs, menu choices, ratings.
"""

from __future__ import annotations

import re
import unicodedata

ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
# Inside a regex character class: a digit in any script people type in Jordan.
DIGIT_CLASS = "0-9\u0660-\u0669\u06f0-\u06f9"
_DIGIT_FOLD = str.maketrans(ARABIC_INDIC_DIGITS + PERSIAN_DIGITS, "0123456789" * 2)
_NOT_ASCII_DIGIT = re.compile(r"[^0-9]")


def fold_digits(text: str) -> str:
    """Arabic-Indic and Persian digits to ASCII 0-9; everything else unchanged."""
    return text.translate(_DIGIT_FOLD)


def digits_only(text: str) -> str:
    """The ASCII digits of `text` after folding ("٠٧٩ ١٢٣-۴۵۶۷" -> "0791234567")."""
    return _NOT_ASCII_DIGIT.sub("", fold_digits(text))


def arabic_indic(digits: str) -> str:
    """The other way, for Arabic text that shows or speaks a digit ("3" -> "٣")."""
    return digits.translate(str.maketrans("0123456789", ARABIC_INDIC_DIGITS))


_DIACRITICS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
_CHARMAP = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ة": "ه",
        "ى": "ي",
        "ؤ": "و",
        "ئ": "ي",
        "گ": "ك",
        "ک": "ك",
        "ی": "ي",
        "،": ",",
        "؟": "?",
        "؛": ";",
    }
    | _DIGIT_FOLD
)
_SPACES = re.compile(r"\s+")
_ELONGATION = re.compile(r"([\u0621-\u064a])\1{2,}")  # "شكرااااا" -> "شكرا"
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a\u0671-\u06d3]")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _DIACRITICS.sub("", text).replace(_TATWEEL, "")
    text = text.translate(_CHARMAP)
    text = _ELONGATION.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip().casefold()


def has_arabic(text: str) -> bool:
    return _ARABIC_LETTER.search(text) is not None


def arabic_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _ARABIC_LETTER.match(c)) / len(letters)
