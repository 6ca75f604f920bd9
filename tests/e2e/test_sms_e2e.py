"""SMS end to end: form posts signed as Twilio signs them, TwiML answers read back, and the
bot's buttons read from the tracker (SMS shows only numbered titles), so the script answers
with the number of the option whose payload it wants.
"""

from __future__ import annotations

import concurrent.futures
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator

from bot.privacy import keyed_id
from bot.refcode import find_candidates, format_grouped, is_valid_digits
from channels.common import sms_segments

ROOT = Path(__file__).resolve().parents[2]
PATH = "/webhooks/twilio_sms/webhook"
SUGGESTION_EN = ("The municipality could add shaded bus stops along Mecca Street; people wait in the sun "
                 "for a long time every afternoon.")


class SmsUser:
    def __init__(self, system: Any, phone: str | None = None) -> None:
        self.system = system
        self.phone = phone or "+9627" + str(uuid.uuid4().int)[:8].rjust(8, "7")
        self.phone = self.phone[:4] + "79" + self.phone[6:]  # a plausible Jordanian mobile

    @property
    def sender_id(self) -> str:
        return keyed_id("twilio_sms", self.phone, key=self.system.env["SENDER_ID_KEY"].encode())

    def params(self, body: str, sid: str | None = None) -> dict[str, str]:
        sid = sid or "SM" + uuid.uuid4().hex
        return {"ToCountry": "JO", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
                "Body": body, "FromCountry": "JO", "To": self.system.env["TWILIO_SMS_FROM"], "NumSegments": "1",
                "MessageSid": sid, "AccountSid": self.system.env["TWILIO_ACCOUNT_SID"], "From": self.phone,
                "ApiVersion": "2010-04-01"}

    def post(self, params: dict[str, str], token: str | None = None, signature: str | None = None,
             sign: bool = True) -> requests.Response:
        url = self.system.env["PUBLIC_BASE_URL"].rstrip("/") + PATH
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            headers["X-Twilio-Signature"] = signature or RequestValidator(
                token or self.system.env["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
        return requests.post(f"{self.system.rasa_url}{PATH}", data=urlencode(params), headers=headers, timeout=20)

    def say(self, body: str) -> str:
        resp = self.post(self.params(body))
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/xml")
        return "\n\n".join(m.text or "" for m in ET.fromstring(resp.text).iter("Message"))

    def offered(self) -> list[dict[str, str]]:
        """The buttons of the bot's last turn, from the tracker (payloads are not in the SMS), every
        list of it in order, as the SMS numbers them."""
        events = self.system.tracker(self.sender_id).get("events", [])
        buttons: list[dict[str, str]] = []
        for e in events:
            if e.get("event") == "user":
                buttons = []
            elif e.get("event") == "bot" and (e.get("data") or {}).get("buttons"):
                buttons = [*buttons, *e["data"]["buttons"]]
        return buttons


PREFERENCES = ("/suggest", '/inform{"sector"', '/inform{"entity', '/inform{"pillar": "service_quality"}',
               '/inform{"urgency": "normal"}', '/inform{"importance": "normal"}', "/affirm")


def choose(buttons: list[dict[str, str]]) -> str:
    for wanted in PREFERENCES:
        for i, b in enumerate(buttons, start=1):
            if b["payload"].startswith(wanted):
                return str(i)
    return "1"


def valid_refs(text: str) -> list[str]:
    return [d for d in find_candidates(text) if is_valid_digits(d)]


def file_suggestion(user: SmsUser) -> str:
    reply = user.say("Hello, I would like to make a suggestion")
    described = False
    for _ in range(25):
        refs = valid_refs(reply)
        if refs:
            return refs[0]
        buttons = user.offered()
        if buttons:
            reply = user.say(choose(buttons))
        elif "0791234567" in reply:
            reply = user.say("0791234567")
        else:
            reply = user.say(SUGGESTION_EN)
            described = True
    raise AssertionError(f"no reference after 25 turns (described={described}); last: {reply!r}")


def test_english_suggestion_then_status_check(system: Any) -> None:
    user = SmsUser(system)
    reference = file_suggestion(user)
    rows = [r for r in system.case_store_requests() if r.get("reference") == reference]
    assert len(rows) == 1 and rows[0]["channel"] == "sms" and rows[0]["type"] == "suggestion"
    reply = user.say(f"STATUS {format_grouped(reference)}")
    for _ in range(3):  # a second factor may be asked: the last digits of the phone on the request
        if format_grouped(reference) in reply or reference in reply:
            break
        reply = user.say(user.phone[-4:])
    assert format_grouped(reference) in reply or reference in reply


def test_arabic_main_menu_fits_two_segments(system: Any) -> None:
    reply = SmsUser(system).say("مرحبا")
    assert "1. " in reply and sms_segments(reply) <= 2


def test_a_first_hello_gets_the_english_menu_in_two_segments(system: Any) -> None:
    reply = SmsUser(system).say("hello")
    assert "1. Ask the government" in reply and "Arabic" in reply and sms_segments(reply) <= 2, reply


def test_the_sector_list_comes_a_page_at_a_time_and_any_number_of_it_picks(system: Any) -> None:
    """The 17 sectors in Arabic: every reply within two SMS, "0" sends the next page without a turn
    of the bot, and a number first shown on a later page picks that sector."""
    user = SmsUser(system)
    reply = user.say("أريد تقديم شكوى")
    for _ in range(6):
        assert sms_segments(reply) <= 2, reply
        sectors = [b for b in user.offered() if b["payload"].startswith('/inform{"sector"')]
        if sectors:
            break
        buttons = user.offered()
        reply = user.say(choose(buttons) if buttons else "الموظف في المكتب رفض استلام أوراقي وتعامل معي بأسلوب غير لائق")
    else:
        raise AssertionError(f"the sector was never asked; last reply: {reply!r}")
    assert len(sectors) == 17 and "0. المزيد" in reply and "1. " in reply
    shown = len([line for line in reply.splitlines() if line[:1].isdigit() and not line.startswith("0. ")])
    assert 3 <= shown < 17
    turns = len(system.tracker(user.sender_id)["events"])
    page2 = user.say("0")
    assert sms_segments(page2) <= 2 and page2.startswith(f"{shown + 1}. "), page2
    assert len(system.tracker(user.sender_id)["events"]) == turns  # the channel paged; Rasa saw nothing
    wanted = sectors[shown]  # the first one on the second page
    user.say(str(shown + 1))
    assert f'"{system.tracker(user.sender_id)["slots"].get("sector")}"' in wanted["payload"]


def test_replayed_message_sid_gives_one_turn_and_one_reply(system: Any) -> None:
    user = SmsUser(system)
    params = user.params("مرحبا")
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: user.post(params), range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    with_message = [a for a in answers if "<Message>" in a.text]
    assert len(with_message) == 1
    users = [e for e in system.tracker(user.sender_id)["events"] if e.get("event") == "user"]
    assert len(users) == 1


@pytest.mark.parametrize("case", ["unsigned", "wrong_token", "tampered", "wrong_url"])
def test_unverified_posts_leave_no_trace(system: Any, case: str) -> None:
    user = SmsUser(system)
    rows_before = len(system.case_store_requests())
    params = user.params("I want to file a complaint")
    if case == "unsigned":
        resp = user.post(params, sign=False)
    elif case == "wrong_token":
        resp = user.post(params, token="not-the-auth-token")
    elif case == "tampered":
        signature = RequestValidator(system.env["TWILIO_AUTH_TOKEN"]).compute_signature(
            system.env["PUBLIC_BASE_URL"].rstrip("/") + PATH, params)
        resp = user.post({**params, "Body": "STOP"}, signature=signature)
    else:
        signature = RequestValidator(system.env["TWILIO_AUTH_TOKEN"]).compute_signature("https://evil.example" + PATH, params)
        resp = user.post(params, signature=signature)
    assert resp.status_code == 403
    # The positive signal: a genuine message from the same phone, sent afterwards, is answered
    # (in its own response), so the forged post had every chance to reach the tracker before it.
    assert user.say("مرحبا")
    assert [e.get("text") for e in system.tracker(user.sender_id).get("events", []) if e.get("event") == "user"] == ["مرحبا"]
    assert len(system.case_store_requests()) == rows_before
