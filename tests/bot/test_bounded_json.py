"""bot.bounded_json: the one place hostile JSON bodies are refused with a reason, never a crash."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.bounded_json import BadJson, nesting_depth, parse_json


def test_accepts_an_ordinary_object() -> None:
    assert parse_json(b'{"a": [1, {"b": "x"}]}') == {"a": [1, {"b": "x"}]}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, "too_deep"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "too_deep"),
        (b"x" * 70_000, "too_large"),
        (b"\xff\xfe{}", "not_utf8"),
        (b"{not json", "not_json"),
        (b"", "not_json"),
        (None, "not_json"),
        (b"[1, 2]", "wrong_type"),
        (b'"a string"', "wrong_type"),
    ],
)
def test_refuses_hostile_bodies_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(BadJson) as err:
        parse_json(raw)
    assert err.value.reason == reason


def test_brackets_inside_strings_do_not_count() -> None:
    assert nesting_depth(json.dumps({"t": "[[[[[[" * 100 + '\\"{{{{'})) == 1
    assert parse_json(json.dumps({"t": "[" * 1000})) == {"t": "[" * 1000}


def test_expect_none_accepts_any_value() -> None:
    assert parse_json(b"[1]", expect=None) == [1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, derandomize=True)
@given(json_values)
def test_depth_scan_agrees_with_the_structure(value: object) -> None:
    def depth(v: object) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    assert nesting_depth(json.dumps(value)) == depth(value)


@settings(max_examples=300, derandomize=True)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_badjson(raw: bytes) -> None:
    with contextlib.suppress(BadJson):
        parse_json(raw, expect=None)
