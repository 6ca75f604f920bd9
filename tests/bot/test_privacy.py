from __future__ import annotations

import logging

import pytest
from cryptography.fernet import InvalidToken

from bot.privacy import FieldCipher, RedactingFilter, is_plausible_phone, keyed_id, normalise_phone, phone_tail, redact


def test_keyed_ids_are_stable_per_key_and_hide_the_address() -> None:
    a = keyed_id("sms", "+962791234567", key=b"k1" * 16)
    assert a == keyed_id("sms", "+962791234567", key=b"k1" * 16)
    assert a != keyed_id("sms", "+962791234567", key=b"k2" * 16)
    assert a != keyed_id("messenger", "+962791234567", key=b"k1" * 16)
    assert "791234567" not in a and a.startswith("sms_")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("0791234567", "+962791234567"), ("079 123 4567", "+962791234567"), ("+962 79 123 4567", "+962791234567"),
     ("00962791234567", "+962791234567"), ("٠٧٩١٢٣٤٥٦٧", "+962791234567"), ("791234567", "+962791234567"),
     ("۰۷۹۱۲۳۴۵۶۷", "+962791234567")],
)
def test_jordanian_numbers_normalise_to_e164(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164
    assert is_plausible_phone(raw)


@pytest.mark.parametrize("raw", ["123", "0791", "hello", "07912345678901234"])
def test_implausible_numbers_are_refused(raw: str) -> None:
    assert not is_plausible_phone(raw)


def test_phone_tail() -> None:
    assert phone_tail("+962 79 123 4567") == "4567"
    assert phone_tail("٠٧٩١٢٣٤٥٦٧") == "4567"
    assert phone_tail("۰۷۹۱۲۳۴۵۶۷") == "4567"  # Persian digits, as some Android keyboards type


def test_redaction_scrubs_short_runs_of_either_arabic_digit_set() -> None:
    assert "٤٨٢٩" not in redact("pin ٤٨٢٩")
    assert "۴۸۲۹" not in redact("pin ۴۸۲۹")


def test_field_cipher_round_trip_and_tamper() -> None:
    c = FieldCipher(b"a-long-enough-secret-key")
    token = c.encrypt("+962791234567")
    assert token and "791234567" not in token
    assert c.decrypt(token) == "+962791234567"
    with pytest.raises(InvalidToken):
        FieldCipher(b"another-long-secret-key!").decrypt(token)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        FieldCipher(b"short")


def test_redaction_scrubs_numbers_tokens_and_arabic_text() -> None:
    line = redact("sender +962 79 123 4567 said صرلنا اسبوع بدون مي token=abc123 Bearer xyz")
    assert "4567" not in line and "صرلنا" not in line and "abc123" not in line and "xyz" not in line


def test_redacting_filter_applies_to_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("phone %s", "0791234567")
    assert "0791234567" not in caplog.text


def test_the_anonymous_report_rule_in_one_place() -> None:
    from bot.privacy import anonymous_requester_id, is_anonymous, requester

    assert is_anonymous("report", None) and is_anonymous("report", True) and not is_anonymous("report", False)
    assert not is_anonymous("complaint", None) and is_anonymous("complaint", True)
    anon = requester("report", anonymous=None, idempotency_key="k1", requester_id="sms_abc", contact_phone="+962791234567")
    assert (anon.anonymous, anon.requester_id, anon.contact_phone) == (True, anonymous_requester_id("k1"), None)
    # Stable for a retried submission, different per submission, and never the sender's id.
    assert anonymous_requester_id("k1") == anonymous_requester_id("k1") != anonymous_requester_id("k2")
    assert anon.requester_id.startswith("anon_") and "sms_abc" not in anon.requester_id
    opted_in = requester("report", anonymous=False, idempotency_key="k1", requester_id="sms_abc", contact_phone="+962791234567")
    assert (opted_in.anonymous, opted_in.requester_id, opted_in.contact_phone) == (False, "sms_abc", "+962791234567")
