from __future__ import annotations

import pytest

from bot.arabic import arabic_ratio, has_arabic, normalise


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("الأحوال المدنية", "الاحوال المدنيه"),
        ("إربد", "اربد"),
        ("آمنة", "امنه"),
        ("مستشفى", "مستشفي"),
        ("مُحَمَّد", "محمد"),
        ("شكـــرا", "شكرا"),
        ("شكراااا", "شكرا"),
        ("٤٨٢٩١٠٣٧٥١", "4829103751"),
        ("Greater  Amman", "greater amman"),
    ],
)
def test_spelling_variants_normalise_alike(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_script_helpers() -> None:
    assert has_arabic("hello مرحبا")
    assert not has_arabic("3ndi shakwa")
    assert arabic_ratio("مرحبا") == 1.0
    assert arabic_ratio("123") == 0.0
