"""How the connectors turn a centre's code into our own rate_centre payload (issue 13): the
Messenger rating link's referral (both of Meta's shapes) and the SMS keyword, before any NLU."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels.common import centre_code_from_ref, centre_ref, is_valid_payload, rate_centre_payload
from channels.messenger import parse_events
from channels.twilio_sms import keyword, keyword_text

REF = {"ref": "rate_4127", "source": "SHORTLINK", "type": "OPEN_THREAD"}


def body(*items: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": "1", "time": 1, "messaging": list(items)}]}


def test_a_referral_in_an_open_conversation_starts_the_survey() -> None:
    events = parse_events(body({"sender": {"id": "77"}, "recipient": {"id": "1"}, "timestamp": 5, "referral": REF}))
    assert [(e.psid, e.kind, e.payload) for e in events] == [("77", "payload", '/rate_centre{"centre_code":"4127"}')]
    # Meta may deliver it again: the same event gets the same de-duplication key.
    again = parse_events(body({"sender": {"id": "77"}, "recipient": {"id": "1"}, "timestamp": 5, "referral": REF}))
    assert again[0].dedup_key() == events[0].dedup_key()


def test_a_get_started_postback_with_a_referral_starts_the_survey_instead_of_the_greeting() -> None:
    postback = {"title": "Get Started", "payload": "GET_STARTED", "referral": REF, "mid": "m_1"}
    events = parse_events(body({"sender": {"id": "77"}, "timestamp": 6, "postback": postback}))
    assert [(e.kind, e.payload, e.mid) for e in events] == [("payload", '/rate_centre{"centre_code":"4127"}', "m_1")]


@pytest.mark.parametrize("ref", ["ad_campaign_7", "rate_", "rate_12a4", "rate_4127; drop", "RATE_4127", 4127, None])
def test_other_referrals_start_nothing(ref: object) -> None:
    events = parse_events(body({"sender": {"id": "77"}, "timestamp": 5, "referral": {"ref": ref, "source": "ADS"}}))
    assert events == []
    postback = {"title": "Get Started", "payload": "/greet", "referral": {"ref": ref}}
    assert [e.payload for e in parse_events(body({"sender": {"id": "77"}, "timestamp": 6, "postback": postback}))] == ["/greet"]


@pytest.mark.parametrize(
    ("text", "code", "language"),
    [("قيم 4127", "4127", "ar"), ("قيّم ٤١٢٧", "4127", "ar"), ("تقييم 5210", "5210", "ar"), ("RATE 4127", "4127", "en"),
     ("rate:4127", "4127", "en"), (" Rate 6301. ", "6301", "en")],
)
def test_the_sms_keyword_with_a_code(text: str, code: str, language: str) -> None:
    kw = keyword(text)
    assert kw is not None and (kw.kind, kw.centre_code, kw.language) == ("rate", code, language)
    payload = keyword_text(kw)
    assert is_valid_payload(payload)
    assert json.loads(payload[len("/rate_centre"):]) == {"centre_code": code, "language": language}


@pytest.mark.parametrize("text", ["rate", "قيم", "rate my answer", "rate 1234567890123", "قيم الخدمة 4127"])
def test_without_a_code_it_is_text_for_the_nlu(text: str) -> None:
    kw = keyword(text)
    assert kw is None or kw.kind != "rate"


def test_ref_round_trip() -> None:
    assert centre_code_from_ref(centre_ref("4127")) == "4127"
    assert rate_centre_payload("4127") == '/rate_centre{"centre_code":"4127"}'
