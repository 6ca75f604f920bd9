from __future__ import annotations

from bot.inbound import MAX_TEXT_CHARS, clean_user_text, is_button_payload


def test_typed_intent_is_neutralised_to_plain_text() -> None:
    out = clean_user_text('/complain{"entity_id": "moh"}')
    assert out.problem is None
    assert not out.text.startswith("/")
    assert out.text == 'complain{"entity_id": "moh"}'


def test_empty_and_whitespace_are_refused() -> None:
    assert clean_user_text("").problem == "empty"
    assert clean_user_text("   \n").problem == "empty"
    assert clean_user_text(None).problem == "empty"
    assert clean_user_text("///").problem == "empty"


def test_oversized_message_is_refused_not_truncated() -> None:
    assert clean_user_text("ا" * 10_000).problem == "too_long"
    assert clean_user_text("ا" * MAX_TEXT_CHARS).problem is None


def test_control_characters_are_dropped() -> None:
    assert clean_user_text("مرحبا\x00\x07").text == "مرحبا"


def test_button_payloads_are_recognised() -> None:
    assert is_button_payload("/complain")
    assert is_button_payload('/inform{"sector": "health"}')
    assert not is_button_payload("complain")
    assert not is_button_payload("/Complain now")
