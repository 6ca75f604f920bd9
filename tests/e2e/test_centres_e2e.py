"""Rate your experience and campaigns (issue 13), end to end through the running system: a
Messenger rating link (new and open conversations, replayed), an SMS code rating turned into a
complaint, an IVR rating on the keypad, a smoking complaint with its place, and a second
campaign that exists only as a fixture file given to the case store.

This module starts its own system: the case store reads the fixture campaign too.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from case_store.campaigns import DEFAULT_PATH as SHIPPED_CAMPAIGNS
from tests.e2e.harness import RunningSystem, start_system
from tests.e2e.test_messenger_e2e import PAGE_ID, MessengerUser, quick_replies, references
from tests.e2e.test_sms_e2e import SmsUser
from tests.e2e.test_voice_e2e import Caller, gather_of, spoken

POTHOLES = Path(__file__).resolve().parents[1] / "case_store" / "fixtures" / "campaign_potholes.yml"


@pytest.fixture(scope="module")
def system() -> Iterator[RunningSystem]:
    # A second system beside the session's: give Rasa longer to load its model on a busy machine.
    running = start_system({"CASE_STORE_CAMPAIGNS": f"{SHIPPED_CAMPAIGNS}:{POTHOLES}"}, timeout=600)
    try:
        yield running
    finally:
        running.stop()


def api(system: RunningSystem, path: str, **params: str) -> Any:
    r = requests.get(f"{system.case_store_url}{path}", params=params, timeout=10,
                     headers={"Authorization": f"Bearer {system.case_store_token}"})
    assert r.status_code == 200, r.text
    return r.json()


def ratings_of(system: RunningSystem, code: str) -> int:
    return int(api(system, "/v1/centre-ratings/summary", by="centre", centre=code)["ratings"])


def referral(user: MessengerUser, ref: str, *, new_conversation: bool) -> dict[str, Any]:
    """Meta's documented shapes: a Get Started postback carrying the referral (first contact), or
    a `messaging_referrals` event (a conversation already open)."""
    now = int(time.time() * 1000)
    ref_obj = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
    item: dict[str, Any] = {"sender": {"id": user.psid}, "recipient": {"id": PAGE_ID}, "timestamp": now}
    if new_conversation:
        item["postback"] = {"title": "Get Started", "payload": "GET_STARTED", "referral": ref_obj, "mid": f"m_{uuid.uuid4().hex}"}
    else:
        item["referral"] = ref_obj
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [item]}]}


def open_link(user: MessengerUser, ref: str, *, new_conversation: bool) -> list[dict[str, Any]]:
    assert user.post(referral(user, ref, new_conversation=new_conversation)) == 200
    return user.wait_turn()


def tap_payload(user: MessengerUser, messages: list[dict[str, Any]], starts: str) -> list[dict[str, Any]]:
    options = quick_replies(messages)
    chosen = next((o for o in options if o["payload"].startswith(starts)), None)
    assert chosen, f"no option {starts!r} in {options}"
    return user.tap(chosen["payload"], chosen["title"])


def text_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def test_messenger_rating_link_new_conversation_then_replayed(system: RunningSystem) -> None:
    user = MessengerUser(system)
    messages = open_link(user, "rate_4127", new_conversation=True)
    assert "شمال عمّان" in text_of(messages)  # the intro names the centre (Arabic by default)
    assert [o["title"] for o in quick_replies(messages)] == ["1", "2", "3", "4", "5"]
    messages = tap_payload(user, messages, '/inform{"rating": "4"}')
    assert len(quick_replies(messages)) == 6  # five pillars and "nothing fell short"
    messages = tap_payload(user, messages, '/inform{"pillar": "procedures"}')
    messages = tap_payload(user, messages, '/inform{"pillar": "none"}')  # now "Done"
    messages = tap_payload(user, messages, "/deny")  # no comment
    assert "شكرًا" in text_of(messages) and not references(messages)  # no reference for a rating
    assert ratings_of(system, "4127") == 1
    short = {r["key"]: r["short"] for r in api(system, "/v1/centre-ratings/summary", by="pillar", centre="4127")["rows"]}
    assert short["procedures"] == 1 and sum(short.values()) == 1
    # The same link again (an open conversation now), the same day: a clear answer, nothing changed.
    messages = open_link(user, "rate_4127", new_conversation=False)
    assert "قيّمت" in text_of(messages) and not quick_replies(messages)
    assert ratings_of(system, "4127") == 1
    assert not any(r["channel"] == "messenger" and r["entity"]["id"] == "cspd" for r in system.case_store_requests())


def test_sms_code_rating_and_a_bad_visit_becomes_a_prefilled_complaint(system: RunningSystem) -> None:
    user = SmsUser(system)
    reply = user.say("RATE 5210")
    assert "Drivers and Vehicles Licensing - South Amman" in reply and "1. 1" in reply
    reply = user.say("1")  # the score: option 1 of 1..5
    assert "What fell short" in reply
    reply = user.say("2 3")  # two pillars at once, by number
    assert "comment" in reply
    comment = "The clerk shouted at me and I waited three hours for a licence renewal"
    reply = user.say(comment)
    assert "Thank you" in reply and "complaint" in reply
    offered = [b["payload"] for b in user.offered()]
    assert offered[0] == '/complain{"centre_code": "5210"}'
    reply = user.say("1")  # file the complaint
    for _ in range(12):
        if "Reference" in reply:
            break
        buttons = user.offered()
        payloads = [b["payload"] for b in buttons]
        if any(p.startswith('/inform{"pillar"') for p in payloads):
            reply = user.say(str(1 + payloads.index('/inform{"pillar": "employee_behaviour"}')))
        elif any(p.startswith('/inform{"urgency"') for p in payloads):
            reply = user.say(str(1 + next(i for i, p in enumerate(payloads) if '"normal"' in p)))
        elif "/affirm" in payloads:
            reply = user.say(str(1 + payloads.index("/affirm")))
        else:
            reply = user.say("0791234567")
    assert "Reference" in reply, reply
    rows = [r for r in system.case_store_requests() if r["channel"] == "sms" and r["entity"]["id"] == "dvld"]
    assert len(rows) == 1 and rows[0]["type"] == "complaint" and rows[0]["campaign"] is None
    assert rows[0]["description"].startswith("Visit to Drivers and Vehicles Licensing - South Amman: " + comment)
    assert ratings_of(system, "5210") == 1
    # A second rating of the same centre the same day, by the same phone: refused, nothing changed.
    assert "already rated" in user.say("RATE 5210")
    assert ratings_of(system, "5210") == 1


def test_sms_bad_codes_get_a_clear_answer_in_the_persons_language(system: RunningSystem) -> None:
    user = SmsUser(system)
    unknown = user.say("RATE 9999")
    assert "no service centre with code 9999" in unknown
    closed = user.say("قيم 5222")
    assert "مغلق" in closed and "المفرق" in closed
    rows = api(system, "/v1/centre-ratings/summary", by="centre")["rows"]
    assert "dvld_mafraq_old" not in {r["key"] for r in rows}


def test_ivr_rating_with_the_code_on_the_keypad(system: RunningSystem) -> None:
    caller = Caller(system)
    caller.send()  # the language menu
    main = spoken(caller.send(Digits="1"))
    if "لتقييم زيارتك لمركز خدمة اضغط" not in main:  # the menu's second page
        assert "لخيارات أخرى اضغط ٩" in main, main
        main = spoken(caller.send(Digits="9"))
    assert "لتقييم زيارتك لمركز خدمة اضغط" in main, main
    digit = {"١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9"}[
        main.split("لتقييم زيارتك لمركز خدمة اضغط")[1].strip()[0]]
    ask_code = caller.send(Digits=digit)
    assert "رمز المركز" in spoken(ask_code)
    score = caller.send(Digits="6301")
    assert "الشامل - عمّان" in spoken(score) and gather_of(score) is not None and gather_of(score).get("numDigits") == "1"
    assert "أين كان التقصير" in spoken(caller.send(Digits="5"))
    assert "ملاحظة" in spoken(caller.send(Digits="6"))  # nothing fell short
    done = caller.send(Digits="1")  # skip the comment
    assert "شكرًا" in spoken(done), spoken(done)
    assert ratings_of(system, "6301") == 1


def test_smoking_complaint_is_the_campaigns_with_its_place(system: RunningSystem) -> None:
    user = MessengerUser(system)
    messages = user.say("أريد تقديم شكوى: يدخن المراجعون داخل قاعة الانتظار في المركز الصحي ولا أحد يمنعهم")
    assert "التدخين في الأماكن العامة" in text_of(messages), text_of(messages)
    assert "أين كان التدخين" in text_of(messages)
    messages = user.say("المركز الصحي الشامل في ماركا الشمالية، قاعة الانتظار الرئيسية")
    assert "متى" in text_of(messages)
    messages = user.say("يوم الأحد حوالي الساعة العاشرة صباحًا")
    reference = drive_to_reference(user, messages)
    row = next(r for r in system.case_store_requests() if r["reference"] == reference)
    assert row["campaign"] == "smoking_public_places" and row["entity"]["id"] == "moh" and row["type"] == "complaint"
    assert row["campaign_answers"]["place"].startswith("المركز الصحي الشامل في ماركا")
    assert "الأحد" in row["campaign_answers"]["when"]


def test_a_second_campaign_from_a_fixture_file_files_end_to_end(system: RunningSystem) -> None:
    assert "potholes_amman" in {c["id"] for c in api(system, "/v1/campaigns")["campaigns"]}
    user = MessengerUser(system)
    messages = user.say("I want to complain about a huge pothole in our street that broke my car's wheel")
    assert "Potholes in Amman" in text_of(messages), text_of(messages)
    assert "Which street" in text_of(messages)
    messages = user.say("Wasfi Al Tal Street, next to the Safeway roundabout")
    reference = drive_to_reference(user, messages)
    row = next(r for r in system.case_store_requests() if r["reference"] == reference)
    assert (row["campaign"], row["entity"]["id"], row["pillar"]) == ("potholes_amman", "gam", "infrastructure")
    assert row["campaign_answers"] == {"street": "Wasfi Al Tal Street, next to the Safeway roundabout"}


def drive_to_reference(user: MessengerUser, messages: list[dict[str, Any]]) -> str:
    """Answer the rest of a complaint form: a phone when asked, Send at the summary."""
    for _ in range(10):
        refs = references(messages)
        if refs:
            return refs[0]
        payloads = [o["payload"] for o in quick_replies(messages)]
        if "/affirm" in payloads:
            messages = tap_payload(user, messages, "/affirm")
        elif any(p.startswith('/inform{"urgency"') for p in payloads):
            messages = tap_payload(user, messages, '/inform{"urgency": "normal"}')
        else:
            messages = user.say("0791234567")
    raise AssertionError(f"no reference; last: {json.dumps(messages, ensure_ascii=False)[:600]}")
