"""One part of the system down (issue 16), end to end over the signed channels: the citizen sees
an honest answer in their language, and once the part is back one "yes" files exactly one
request.

- The case store down at the summary's "yes", over SMS in Arabic (test_dialog_e2e covers the
  same over REST in English; this is the channel and language where a lost answer costs most).
- Rasa down while Messenger and Twilio retry: deliveries made while Rasa refuses connections are
  retried, several times and at once, after Rasa comes back; each is processed once.
"""

from __future__ import annotations

import concurrent.futures
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import requests

from tests.e2e.harness import RunningSystem, kill_process, restart_process, start_case_store, stop_case_store
from tests.e2e.test_messenger_e2e import MessengerUser, file_complaint, quick_replies, references, requests_with, user_events
from tests.e2e.test_sms_e2e import SmsUser, choose, valid_refs

SUGGESTION_AR = "لو البلدية تحط مظلات على مواقف الباصات بشارع مكة، الناس بتستنى بالشمس وقت طويل كل يوم العصر"


def sms_to_summary(user: SmsUser) -> None:
    """An Arabic suggestion over SMS, up to the summary's "shall I send it?"."""
    reply = user.say("مرحبا، بدي أقدم اقتراح")
    for _ in range(25):
        slot = user.system.tracker(user.sender_id)["slots"].get("requested_slot")
        if slot == "confirmed":
            return
        if slot == "description":
            reply = user.say(SUGGESTION_AR)
        elif slot == "contact_phone":
            reply = user.say("0791234567")
        else:
            buttons = user.offered()
            assert buttons, f"no question and no choice at slot {slot!r}: {reply!r}"
            reply = user.say(choose(buttons))
    raise AssertionError(f"never reached the summary; last: {reply!r}")


def twiml_text(resp: requests.Response) -> str:
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/xml")
    return "\n\n".join(m.text or "" for m in ET.fromstring(resp.text).iter("Message"))


def test_case_store_down_at_the_sms_yes_answers_in_arabic_and_one_yes_files_once(system: RunningSystem) -> None:
    user = SmsUser(system)
    sms_to_summary(user)
    before = len(system.case_store_requests())
    stop_case_store(system)
    try:
        reply = user.say("نعم")
        assert "تعذّر إرسال طلبك" in reply and "محفوظة" in reply, reply
        assert not valid_refs(reply)
    finally:
        start_case_store(system)
    reply = user.say("نعم")
    (reference,) = valid_refs(reply)
    assert user.say("نعم") and len(requests_with(system, reference)) == 1
    assert len(system.case_store_requests()) == before + 1
    (row,) = requests_with(system, reference)
    assert row["channel"] == "sms" and row["type"] == "suggestion" and row["language"] == "ar"


def _refused(call: Any) -> bool:
    try:
        call()
    except requests.ConnectionError:
        return True
    return False


def test_rasa_down_while_messenger_and_twilio_retry_files_each_request_once(system: RunningSystem) -> None:
    sms_user, fb_user = SmsUser(system), MessengerUser(system)
    sms_to_summary(sms_user)
    reference, messages = file_complaint(fb_user, stop_before_confirm=True)
    assert reference is None
    confirm = next(o for o in quick_replies(messages) if o["payload"] == "/affirm")
    fb_delivery = fb_user.event(text=confirm["title"], payload=confirm["payload"], mid=f"m_{uuid.uuid4().hex}")
    sms_delivery = sms_user.params("نعم", sid="SM" + uuid.uuid4().hex)
    sms_turns = len(user_events(system, sms_user.sender_id))
    fb_turns = len(user_events(system, fb_user.sender_id))
    before = len(system.case_store_requests())

    kill_process(system, "rasa")
    try:
        # What Twilio and Meta see while Rasa is down: the connection is refused; they retry later.
        assert _refused(lambda: sms_user.post(sms_delivery))
        assert _refused(lambda: fb_user.post(fb_delivery))
    finally:
        restart_process(system, "rasa")

    # The retries arrive together, each platform's several times.
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        sms_answers = [pool.submit(sms_user.post, sms_delivery) for _ in range(3)]
        fb_statuses = [pool.submit(fb_user.post, fb_delivery) for _ in range(3)]
        sms_texts = [twiml_text(f.result()) for f in sms_answers]
        assert [f.result() for f in fb_statuses] == [200] * 3
    assert sum(1 for text in sms_texts if text) <= 1  # at most one answer; the duplicates get empty TwiML
    if not any(sms_texts):  # the turn outran SMS_TURN_DEADLINE_SECONDS (a busy machine): the reply came by REST
        sms_texts = [m["form"]["Body"] for m in system.recorder.wait_for(
            lambda r: r["path"].endswith("/Messages.json") and r["form"].get("To") == sms_user.phone, 60.0)]
    (sms_reference,) = {r for text in sms_texts for r in valid_refs(text)}
    (fb_reference,) = set(references(fb_user.wait_turn(timeout=60.0, quiet=2.0)))

    assert len(requests_with(system, sms_reference)) == 1 and len(requests_with(system, fb_reference)) == 1
    assert len(system.case_store_requests()) == before + 2
    assert len(user_events(system, sms_user.sender_id)) == sms_turns + 1
    assert len(user_events(system, fb_user.sender_id)) == fb_turns + 1
