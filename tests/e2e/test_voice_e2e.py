"""Voice end to end: scripted phone calls as sequences of signed Twilio webhooks against the
real system (`system` fixture), each answer's TwiML read to decide the next key press or
utterance, the way a caller listens and answers.
"""

from __future__ import annotations

import re
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

from bot.privacy import keyed_id
from bot.refcode import format_grouped, is_valid_digits

ROOT = Path(__file__).resolve().parents[2]
PATH = "/webhooks/twilio_voice/webhook"
DESCRIPTION_AR = "الماء مقطوع عن حارتنا في جبل النزهة منذ ثلاثة أيام ولم يرد أحد على اتصالاتنا بالطوارئ"
ENTITY_AR = "شركة مياه الأردن مياهنا"
MAX_TURNS = 25


class Caller:
    """One phone call: `send` posts the next signed webhook to the step the last answer named."""

    def __init__(self, system: Any, phone: str | None = None) -> None:
        self.system = system
        self.phone = phone or "+96279" + str(uuid.uuid4().int)[:7]
        self.sid = "CA" + uuid.uuid4().hex
        self.query = ""
        self.last = ""

    @property
    def sender_id(self) -> str:
        return keyed_id("voice", self.phone, key=self.system.env["SENDER_ID_KEY"].encode())

    def send(self, **inputs: str) -> str:
        params = {"CallSid": self.sid, "AccountSid": self.system.env["TWILIO_ACCOUNT_SID"], "From": self.phone,
                  "To": "+96265008080", "CallStatus": "in-progress", "Direction": "inbound", **inputs}
        url = self.system.env["PUBLIC_BASE_URL"].rstrip("/") + PATH + self.query
        signature = RequestValidator(self.system.env["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
        r = requests.post(f"{self.system.rasa_url}{PATH}{self.query}", data=urlencode(params),
                          headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
                          timeout=20)
        assert r.status_code == 200, r.text
        self.last = r.text
        m = re.search(r'action="[^"?]+(\?step=\d+)"', r.text)
        if m:
            self.query = m.group(1)
        return r.text


def spoken(twiml: str) -> str:
    return " ".join(" ".join(el.itertext()) for el in ET.fromstring(twiml).iter("Say"))


def gather_of(twiml: str) -> ET.Element | None:
    return ET.fromstring(twiml).find("Gather")


def references(twiml: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(twiml).iter("say-as") if el.get("interpret-as") == "digits"]


def answer_like_a_caller(caller: Caller, twiml: str) -> str:
    """Press or say what an Arabic caller filing a water complaint would."""
    text = spoken(twiml)
    g = gather_of(twiml)
    if "<Record" in twiml:
        return caller.send(RecordingUrl="https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1", RecordingDuration="9")
    assert g is not None, twiml
    if "قلت:" in text:
        return caller.send(Digits="1")
    if g.get("numDigits") == "1":
        return caller.send(Digits="1")
    if "جهة" in text or "الجهة" in text:
        return caller.send(SpeechResult=ENTITY_AR, Confidence="0.9")
    return caller.send(SpeechResult=DESCRIPTION_AR, Confidence="0.9")


def test_an_arabic_caller_files_a_complaint_and_hears_the_reference(system: Any) -> None:
    caller = Caller(system)
    menu = caller.send()
    assert 'voice="Polly.Zeina"' in menu and 'language="ar-JO"' in menu and "للعربية اضغط ١" in spoken(menu)
    main = caller.send(Digits="1")
    assert "للشكوى اضغط ٤" in spoken(main), spoken(main)
    twiml = caller.send(Digits="4")
    heard: list[str] = []
    for _ in range(MAX_TURNS):
        heard = [r for r in references(twiml) if is_valid_digits(r)]
        if heard or "<Hangup" in twiml:
            break
        twiml = answer_like_a_caller(caller, twiml)
    assert heard, f"no reference read out; last prompt: {spoken(twiml)}"
    reference = heard[0]
    assert heard.count(reference) >= 2  # read twice, digit by digit
    rows = [r for r in system.case_store_requests() if r.get("reference") == reference]
    assert rows and rows[0]["type"] == "complaint" and rows[0]["channel"] == "voice"
    if "برسالة نصية" in spoken(twiml):
        system.recorder.clear()
        caller.send(Digits="1")
        sms = system.recorder.wait_for(
            lambda r: r["path"].endswith("/Messages.json") and r["form"].get("To") == caller.phone, timeout=10)
        assert format_grouped(reference) in sms["form"]["Body"]


def _file_request_for(system: Any, requester_id: str) -> str:
    body = {"type": "complaint", "sector": "water", "entity": None, "description": "No water in our street for three days.",
            "language": "en", "channel": "voice", "requester_id": requester_id}
    entities = requests.get(f"{system.case_store_url}/v1/catalogue/entities", params={"sector": "water", "limit": 1},
                            headers={"Authorization": f"Bearer {system.case_store_token}"}, timeout=10).json()
    first = entities[0] if isinstance(entities, list) else (entities.get("entities") or entities.get("items"))[0]
    body["entity"] = first["id"]
    r = requests.post(f"{system.case_store_url}/v1/requests", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {system.case_store_token}", "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["reference"])


def test_an_english_caller_checks_a_status_by_keypad(system: Any) -> None:
    caller = Caller(system)
    reference = _file_request_for(system, caller.sender_id)
    caller.send()
    main = caller.send(Digits="2")
    assert 'voice="Polly.Joanna"' in main and 'language="en-US"' in main
    assert "To follow up on a request, press 7." in spoken(main)
    prompt = caller.send(Digits="7")
    assert 'finishOnKey="#"' in prompt and "10-digit request number" in spoken(prompt)
    wrong = reference[:-1] + str((int(reference[-1]) + 1) % 10)
    again = caller.send(Digits=wrong + "#")
    assert "doesn't look right" in spoken(again)
    answer = caller.send(Digits=reference)
    assert 'voice="Polly.Joanna"' in answer
    events = system.tracker(caller.sender_id)["events"]
    users = [e for e in events if e["event"] == "user"]
    assert users[-1]["parse_data"]["intent"]["name"] == "check_status"
    assert {"entity": "reference", "value": reference}.items() <= users[-1]["parse_data"]["entities"][0].items()
    assert not any(wrong in (e.get("text") or "") for e in users)  # the mistyped number never reached Rasa


def test_a_silent_caller_is_hung_up_on_politely(system: Any) -> None:
    caller = Caller(system)
    twiml = caller.send()
    for _ in range(8):
        if "<Hangup" in twiml:
            break
        twiml = caller.send()
    assert "<Hangup" in twiml
    assert "مع السلامة" in spoken(twiml)
    assert not [e for e in system.tracker(caller.sender_id).get("events") or [] if e["event"] == "user"]


def test_a_retried_webhook_does_not_advance_the_call(system: Any) -> None:
    caller = Caller(system)
    caller.send()
    first = caller.send(Digits="1")
    caller.query = "?step=1"
    started = time.monotonic()
    again = caller.send(Digits="1")
    assert again == first and time.monotonic() - started < 5
    users = [e for e in system.tracker(caller.sender_id)["events"] if e["event"] == "user"]
    assert len(users) == 1


def test_unsigned_webhooks_are_refused(system: Any) -> None:
    r = requests.post(f"{system.rasa_url}{PATH}", data={"CallSid": "CA" + uuid.uuid4().hex, "From": "+962790000000"}, timeout=10)
    assert r.status_code == 403
