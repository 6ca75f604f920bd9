from __future__ import annotations

import pytest

from bot.arabic import arabic_indic, arabic_ratio, digits_only, fold_digits, has_arabic, normalise


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


@pytest.mark.parametrize(
    "typed, digits",
    [
        ("٠٧٩١٢٣٤٥٦٧", "0791234567"),  # Arabic-Indic
        ("۰۷۹۱۲۳۴۵۶۷", "0791234567"),  # Persian / Extended Arabic-Indic
        ("+962 (79) ١٢٣-۴۵۶۷", "962791234567"),  # mixed, with separators
        ("١٢٣٤٥٦", "123456"),
        ("１２３", ""),  # other scripts' digits are not read as numbers
    ],
)
def test_digits_only_folds_both_arabic_digit_sets(typed: str, digits: str) -> None:
    assert digits_only(typed) == digits


def test_fold_digits_keeps_everything_else_and_normalise_agrees() -> None:
    assert fold_digits("رقم ٤٨۲ abc") == "رقم 482 abc"
    assert normalise("٤٨۲") == "482"
    assert arabic_indic("2026") == "٢٠٢٦"
