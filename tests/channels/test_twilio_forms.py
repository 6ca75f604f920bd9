"""channels.common.FormParams: the one reading of a Twilio webhook form (SMS and voice)."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from channels.common import FormParams, MalformedForm, parse_form

TOKEN = "test-twilio-auth-token-0123456789"
URL = "https://bekh.example/webhooks/twilio_voice/webhook?step=3"


def test_blank_and_repeated_fields_are_kept_as_twilio_signed_them() -> None:
    params = {"CallSid": "CA123", "SpeechResult": "", "Digits": "", "MediaUrl0": "https://x/1"}
    signature = RequestValidator(TOKEN).compute_signature(URL, params)
    form = parse_form(b"CallSid=CA123&SpeechResult=&Digits=&MediaUrl0=https%3A%2F%2Fx%2F1")
    assert RequestValidator(TOKEN).validate(URL, form, signature)
    assert form.first("SpeechResult") == "" and form.first("Missing", "-") == "-"
    assert form.getall("CallSid") == ["CA123"]


def test_a_body_that_is_not_utf8_is_malformed() -> None:
    with pytest.raises(MalformedForm):
        parse_form(b"Body=\xff\xfe")


def test_first_of_a_repeated_field() -> None:
    assert FormParams({"To": ["+1", "+2"]}).first("To") == "+1"
