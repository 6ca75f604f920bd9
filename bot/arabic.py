"""Arabic normalisation for matching (never for storage: the original text is what we keep).

Folds the spelling variants people use interchangeably when typing Arabic on phones:
alef forms (أ إ آ ٱ -> ا), ta marbuta (ة -> ه), alef maqsura (ى -> ي), tatweel, diacritics,
and Arabic-Indic digits. Also lower-cases Latin and folds whitespace, so one function serves
catalogue search, lookup tables and the NLU featurizer.
"""

from __future__ import annotations

import re
import unicodedata

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
        "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4",
        "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9",
        "۰": "0", "۱": "1", "۲": "2", "۳": "3", "۴": "4",
        "۵": "5", "۶": "6", "۷": "7", "۸": "8", "۹": "9",
        "،": ",",
        "؟": "?",
        "؛": ";",
    }
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
