"""Property tests of the reference-number codec (Damm check digit)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import refcode

references = st.builds(
    lambda first, rest: (body := str(first) + "".join(map(str, rest))) + str(refcode.damm_digit(body)),
    st.integers(1, 9),
    st.lists(st.integers(0, 9), min_size=8, max_size=8),
)


@given(references)
def test_every_single_digit_substitution_is_detected(ref: str) -> None:
    for i in range(len(ref)):
        for d in "0123456789":
            if d != ref[i]:
                wrong = ref[:i] + d + ref[i + 1 :]
                with pytest.raises(refcode.BadCheckDigit):
                    refcode.parse(wrong)


@given(references)
def test_every_adjacent_transposition_is_detected(ref: str) -> None:
    for i in range(len(ref) - 1):
        if ref[i] != ref[i + 1]:
            swapped = ref[:i] + ref[i + 1] + ref[i] + ref[i + 2 :]
            with pytest.raises(refcode.BadCheckDigit):
                refcode.parse(swapped)


@given(references, st.sampled_from([" ", "-", " - ", "\u00a0"]))
def test_arabic_indic_digits_spaces_and_dashes_are_accepted(ref: str, sep: str) -> None:
    grouped = sep.join([ref[:3], ref[3:6], ref[6:]])
    assert refcode.parse(grouped) == ref
    arabic = ref.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert refcode.parse(arabic) == ref
    assert refcode.parse(sep.join([arabic[:3], arabic[3:6], arabic[6:]])) == ref


@given(st.integers(0, 10_000))
def test_generate_is_always_valid_and_never_starts_with_zero(_: int) -> None:
    ref = refcode.generate()
    assert len(ref) == 10 and ref[0] != "0"
    assert refcode.parse(ref) == ref


@given(st.text(alphabet="0123456789", min_size=0, max_size=9) | st.text(alphabet="0123456789", min_size=11, max_size=14))
def test_wrong_lengths_are_malformed(text: str) -> None:
    with pytest.raises(refcode.MalformedReference):
        refcode.parse(text)
