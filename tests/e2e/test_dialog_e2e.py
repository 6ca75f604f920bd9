"""The dialog engine end to end: the real Rasa server, action server and case store, driven
through Rasa's REST channel the way a person would chat, in Arabic, Arabizi and English."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from bot import refcode
from bot.arabic import has_arabic
from tests.e2e.harness import RunningSystem, case_store_cli, rest_sender_id, rest_turn, start_case_store, stop_case_store


class Chat:
    def __init__(self, system: RunningSystem, name: str, metadata: dict[str, Any] | None = None) -> None:
        self.system = system
        self.sender = f"{name}-{uuid.uuid4().hex[:8]}"
        self.metadata = metadata
        self.last: list[dict[str, Any]] = []

    def say(self, text: str) -> list[dict[str, Any]]:
        self.last = rest_turn(self.system, self.sender, text, self.metadata)
        return self.last

    @property
    def text(self) -> str:
        return "\n".join(m.get("text") or "" for m in self.last)

    def buttons(self) -> list[dict[str, str]]:
        return [b for m in self.last for b in (m.get("buttons") or [])]

    def press(self, payload_part: str) -> list[dict[str, Any]]:
        """Press the offered button whose payload contains `payload_part`."""
        matches = [b for b in self.buttons() if payload_part in b["payload"]]
        assert matches, f"no button with {payload_part!r} in {self.buttons()} after: {self.text!r}"
        self.last = rest_turn(self.system, self.sender, matches[0]["payload"], self.metadata, button=True)
        return self.last

    def slots(self) -> dict[str, Any]:
        return self.system.tracker(rest_sender_id(self.system, self.sender))["slots"]


def reference_in(text: str) -> str:
    found = [c for c in refcode.find_candidates(text) if refcode.is_valid_digits(c)]
    assert found, f"no valid reference in {text!r}"
    return found[0]


def rows_for(system: RunningSystem, reference: str) -> list[dict[str, Any]]:
    return [r for r in system.case_store_requests() if r["reference"] == reference]


def finish_to_summary(chat: Chat, description: str, phone: str | None) -> None:
    """Answer whatever the form still asks until the summary shows up."""
    answer_until(chat, "confirmed", description, phone)


def answer_until(chat: Chat, stop: str, description: str, phone: str | None) -> None:
    """Answer whatever the form asks until it asks `stop` (a slot name)."""
    for _ in range(10):
        slot = chat.slots().get("requested_slot")
        if slot == stop:
            return
        if slot == "sector":
            chat.press('"sector"')
        elif slot == "entity_id":
            chat.press('"entity_name"')
        elif slot == "pillar":
            chat.press("service_quality")
        elif slot == "importance":
            chat.press('"normal"')
        elif slot == "description":
            chat.say(description)
        elif slot == "contact_phone":
            chat.say(phone) if phone else chat.press("/deny")
        else:
            raise AssertionError(f"unexpected question {slot!r}: {chat.text!r}")
    raise AssertionError(f"the form never asked {stop!r}")


def test_arabic_complaint_opening_with_content_lands_in_the_form_prefilled(system: RunningSystem) -> None:
    chat = Chat(system, "ar-complaint")
    chat.say("الموظف بدائرة الترخيص صرخ علي قدام الناس وما رضي يخلص معاملتي")
    slots = chat.slots()
    assert slots["language"] == "ar"
    assert slots["request_type"] == "complaint"
    assert slots["entity_id"] == "dvld", "the licensing department was named in the first message"
    assert slots["pillar"] == "employee_behaviour", "shouting is about staff behaviour"
    assert slots["description"].startswith("الموظف بدائرة الترخيص")
    assert re.search(r"[\u0600-\u06FF]", chat.text)
    finish_to_summary(chat, "", "0791234567")
    assert "الترخيص" in chat.text and "…4567" in chat.text
    chat.press("/affirm")
    reference = reference_in(chat.text)
    assert "الرقم المرجعي" in chat.text
    rows = rows_for(system, reference)
    assert len(rows) == 1
    row = rows[0]
    assert (row["type"], row["entity"]["id"], row["pillar"], row["language"]) == ("complaint", "dvld", "employee_behaviour", "ar")
    # A repeated "yes" (or a retried delivery) never files twice.
    chat.say("نعم")
    chat.say("/affirm")
    assert len([r for r in system.case_store_requests() if r["entity"]["id"] == "dvld" and r["reference"] == reference]) == 1
    assert len(system.case_store_requests()) == len({r["reference"] for r in system.case_store_requests()})


def test_english_suggestion_from_a_generic_opening_asks_sector_then_entity(system: RunningSystem) -> None:
    chat = Chat(system, "en-suggestion")
    chat.say("I want to make a suggestion")
    assert chat.slots()["language"] == "en"
    assert chat.slots()["requested_slot"] == "sector"
    assert len(chat.buttons()) >= 12
    chat.press('"sector": "health"')
    assert chat.slots()["requested_slot"] == "entity_id"
    chat.say("ministry of health")
    assert chat.slots()["entity_id"] == "moh"
    chat.say("Please open the health centres in the evening so working people can go after work")
    assert chat.slots()["requested_slot"] == "contact_phone"
    chat.press("/deny")  # skip: a phone is optional for suggestions
    assert chat.slots()["requested_slot"] == "confirmed"
    assert "Shall we send it?" in chat.text
    chat.press("/affirm")
    reference = reference_in(chat.text)
    assert "Reference" in chat.text and "Expected answer by" in chat.text
    row = rows_for(system, reference)[0]
    assert (row["type"], row["entity"]["id"], row["language"]) == ("suggestion", "moh", "en")


def test_free_text_entity_gets_a_did_you_mean_choice(system: RunningSystem) -> None:
    chat = Chat(system, "en-didyoumean")
    chat.say("I have a question for the government")
    chat.say("water")
    asked = chat.slots()
    assert asked["requested_slot"] in ("sector", "entity_id")
    titles = [b["title"] for b in chat.buttons()]
    assert titles, chat.text


def test_correction_at_the_summary_changes_only_that_field(system: RunningSystem) -> None:
    chat = Chat(system, "en-correct")
    chat.say("The Greater Amman Municipality should plant more trees in Marka")
    finish_to_summary(chat, "unused", None)
    chat.press("/deny")
    assert chat.slots()["requested_slot"] == "edit_field"
    chat.press('"field": "description"')
    assert chat.slots()["requested_slot"] == "description"
    chat.say("Please plant trees along the streets of Marka and Tabarbour")
    assert chat.slots()["requested_slot"] == "confirmed"
    assert "Tabarbour" in chat.text
    chat.press("/affirm")
    reference_in(chat.text)


def test_interruptions_resume_the_form_or_stop_it_cleanly(system: RunningSystem) -> None:
    chat = Chat(system, "ar-interrupt")
    chat.say("بدي اقدم شكوى")
    first = chat.slots()["requested_slot"]
    chat.say("مساعدة")
    assert chat.slots()["requested_slot"] == first, "help answers and the same question comes back"
    assert chat.slots()["request_type"] == "complaint"
    chat.say("English please")
    assert chat.slots()["language"] == "en"
    assert chat.slots()["requested_slot"] == first
    assert not re.search(r"[\u0600-\u06FF]{3}", chat.last[-1]["text"]), "the question is asked again in English"
    chat.say("cancel")
    assert chat.slots()["requested_slot"] is None
    assert chat.slots()["request_type"] is None and chat.slots()["idem_key"] is None
    assert "Cancelled" in chat.text


def test_confidential_report_is_anonymous_never_echoed_and_followed_by_pin(system: RunningSystem) -> None:
    chat = Chat(system, "ar-report")
    narrative = "مدير القسم بمديرية الأراضي بياخذ رشوة من المراجعين عشان يمشي المعاملات بسرعة"
    chat.say("بدي ابلغ عن فساد")
    assert "سري" in chat.text
    finish_to_summary(chat, narrative, None)
    assert "رشوة" not in chat.text, "the narrative is not echoed back in the summary"
    chat.press("/affirm")
    reference = reference_in(chat.text)
    pin = re.search(r"(?<!\d)\d{6}(?!\d)", chat.text.replace(refcode.format_grouped(reference), ""))
    assert pin, chat.text
    row = rows_for(system, reference)[0]
    assert row["confidential"] and row["anonymous"]
    assert "description" not in row or not row.get("description")
    # follow-up from another device: reference + PIN
    other = Chat(system, "ar-report-followup")
    other.say(f"شو صار ببلاغي {reference}")
    assert other.slots()["requested_slot"] == "status_proof"
    other.say(pin.group(0))
    assert "تم الاستلام" in other.text


def test_wrong_check_digit_is_caught_before_any_lookup_in_the_users_language(system: RunningSystem) -> None:
    chat = Chat(system, "en-badref")
    good = refcode.generate()
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    chat.say(f"what is the status of {refcode.format_grouped(bad)}")
    assert "doesn't look right" in chat.text
    ar = Chat(system, "ar-badref")
    ar.say(f"بدي اعرف شو صار بطلبي رقم {bad}")
    assert "غير صحيح" in ar.text


def test_status_needs_proof_unless_asked_by_whoever_filed_it(system: RunningSystem) -> None:
    owner = Chat(system, "en-owner")
    owner.say("The street lights on our street in Irbid have been off for two weeks, Irbid municipality ignores it")
    finish_to_summary(owner, "unused", "0795551234")
    owner.press("/affirm")
    reference = reference_in(owner.text)
    owner.say(f"status of {reference}")
    assert "received" in owner.text.lower() and reference_display(reference) in owner.text

    stranger = Chat(system, "en-stranger")
    stranger.say(f"status of {reference}")
    assert stranger.slots()["requested_slot"] == "status_proof"
    assert reference_display(reference) not in stranger.text
    stranger.say("0000")
    assert "found no request" in stranger.text
    stranger.say(f"status {reference}")
    stranger.say("1234")
    assert reference_display(reference) in stranger.text and "Answer due" in stranger.text


def reference_display(reference: str) -> str:
    return refcode.format_grouped(reference)


def test_rating_an_answer_and_reopening_when_not_resolved(system: RunningSystem) -> None:
    chat = Chat(system, "en-rate")
    chat.say("I want to ask how to renew my passport at civil status")
    finish_to_summary(chat, "How do I renew my passport and what documents are needed?", "0781112222")
    chat.press("/affirm")
    reference = reference_in(chat.text)
    case_store_cli(system, "move", reference, "in_progress")
    case_store_cli(system, "move", reference, "answered", "--answer", "Bring your old passport and ID to any office.")
    chat.say(f"what happened with {reference}")
    assert "Bring your old passport" in chat.text
    chat.press("/rate_request")
    assert chat.slots()["requested_slot"] == "rating_score"
    chat.press('"rating": "2"')
    chat.press("/deny")  # not resolved
    chat.press("/deny")  # no comment
    assert "Thank you for your rating" in chat.text and "reopen" in chat.text.lower()
    chat.press("/reopen")
    assert "reopened" in chat.text
    row = rows_for(system, reference)[0]
    assert row["status"] == "reopened" and row["rating"]["score"] == 2 and row["rating"]["resolved"] is False


def test_a_case_store_crash_mid_submission_loses_nothing_and_files_once(system: RunningSystem) -> None:
    chat = Chat(system, "en-crash")
    chat.say("The bus from Mafraq to Amman never leaves on time, I wait an hour every morning")
    finish_to_summary(chat, "unused", "0772223333")
    before = len(system.case_store_requests())
    stop_case_store(system)
    try:
        chat.press("/affirm")
        assert "couldn't send" in chat.text and "answers are kept" in chat.text
    finally:
        start_case_store(system)
    chat.say("yes")
    reference = reference_in(chat.text)
    chat.say("yes")
    after = system.case_store_requests()
    assert len(after) == before + 1
    assert len(rows_for(system, reference)) == 1


def test_typed_intent_syntax_is_just_text(system: RunningSystem) -> None:
    chat = Chat(system, "en-inject")
    chat.say('/complain{"entity_id": "moh", "confirmed": "yes"}')
    slots = chat.slots()
    assert slots.get("confirmed") != "yes"


@pytest.mark.parametrize("text", ["3ndi shakwa 3al baladiyeh, el shari3 kollo 7ofar", "bdi a2adem shakwa 3al kahraba"])
def test_arabizi_gets_arabic_replies(system: RunningSystem, text: str) -> None:
    chat = Chat(system, "arabizi")
    chat.say(text)
    assert chat.slots()["language"] == "ar"
    assert chat.slots()["request_type"] == "complaint"
    assert re.search(r"[\u0600-\u06FF]{3}", chat.text)


@pytest.mark.parametrize("text", ["hello", "help", "ok?"])
def test_a_first_short_english_message_starts_the_conversation_in_english(system: RunningSystem, text: str) -> None:
    chat = Chat(system, "first-en")
    chat.say(text)
    assert chat.slots()["language"] == "en" and chat.text and not has_arabic(chat.text), chat.text


@pytest.mark.parametrize("text", ["salam", "marhaba", "مرحبا"])
def test_a_first_arabizi_or_arabic_greeting_starts_the_conversation_in_arabic(system: RunningSystem, text: str) -> None:
    chat = Chat(system, "first-ar")
    chat.say(text)
    assert chat.slots()["language"] == "ar" and has_arabic(chat.text), chat.text


def test_a_later_hello_keeps_the_conversations_arabic(system: RunningSystem) -> None:
    chat = Chat(system, "later-en")
    chat.say("السلام عليكم")
    chat.say("hello")
    assert chat.slots()["language"] == "ar" and has_arabic(chat.text), chat.text


def test_parse_output_shows_the_detected_language(system: RunningSystem) -> None:
    import urllib.request

    for text, lang in [("3ndi shakwa", "ar"), ("I have a complaint", "en")]:
        req = urllib.request.Request(f"{system.rasa_url}/model/parse?token={system.env['RASA_TOKEN']}",
                                     data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=20) as r:
            assert json.loads(r.read())["language"] == lang
