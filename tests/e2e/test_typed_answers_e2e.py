"""Answers typed the way people type (issue 15), end to end over REST and signed SMS: every
question that offers buttons also takes its choice in words (the label, a word of one's own, the
number on SMS), a plain "no" at optional steps in every variety, a summary that says the type in
words no one can miss and switches it in one step, corrections typed at the summary, and typed
answers to the offers made outside a form (rate it? reopen it?)."""

from __future__ import annotations

from bot import refcode
from channels.common import sms_segments
from tests.e2e.harness import RunningSystem, case_store_cli, rest_sender_id
from tests.e2e.test_dialog_e2e import Chat, reference_in, rows_for
from tests.e2e.test_sms_e2e import SmsUser


def asked(chat: Chat) -> str | None:
    return chat.slots().get("requested_slot")


def answer_until(chat: Chat, wanted: str, answers: dict[str, str]) -> None:
    """Answer the form's questions in words (never a button) until `wanted` is asked."""
    for _ in range(8):
        slot = asked(chat)
        if slot == wanted:
            return
        assert slot in answers, f"unexpected question {slot!r}: {chat.text!r}"
        chat.say(answers[slot])
    raise AssertionError(f"{wanted!r} was never asked; last: {chat.text!r}")


def test_english_complaint_typed_throughout_then_made_a_compliment_at_the_summary(system: RunningSystem) -> None:
    chat = Chat(system, "typed-en")
    chat.say("I would like to file a complaint about the Ministry of Health")
    answer_until(chat, "pillar", {"sector": "health", "entity_id": "Ministry of Health"})
    chat.say("the waiting time")
    assert chat.slots()["pillar"] == "delivery_time"
    assert asked(chat) == "importance"
    chat.say("not urgent")
    assert chat.slots()["importance"] == "normal"
    answer_until(chat, "description", {})
    chat.say("My referral to the cardiology clinic has been pending since September with no reply.")
    assert asked(chat) == "contact_phone"
    chat.say("no need")
    assert chat.slots()["contact_phone"] == "none"
    assert "won't be able to call you" in chat.text
    assert asked(chat) == "confirmed"
    assert "You are filing a complaint about Ministry of Health" in chat.text

    # A correction typed at the summary goes straight to that question.
    chat.say("the details are wrong, let me fix them")
    assert asked(chat) == "description"
    chat.say("Actually the nurses at the cardiology clinic were wonderful and called me back the same day.")
    assert asked(chat) == "confirmed"
    # ... and the type changes in one step, keeping everything else.
    chat.say("sorry, I meant this as a compliment")
    slots = chat.slots()
    assert (slots["request_type"], slots["entity_id"], asked(chat)) == ("compliment", "moh", "confirmed")
    assert "You are sending a compliment to Ministry of Health" in chat.text
    chat.say("ok send it")
    reference = reference_in(chat.text)
    [row] = rows_for(system, reference)
    assert (row["type"], row["entity"]["id"], row["pillar"]) == ("compliment", "moh", None)


def test_arabic_compliment_switched_to_a_complaint_asks_only_what_a_complaint_adds(system: RunningSystem) -> None:
    chat = Chat(system, "typed-ar")
    chat.say("أود تقديم ثناء على وزارة الصحة")
    answer_until(chat, "contact_phone", {
        "sector": "الصحة", "entity_id": "وزارة الصحة",
        "description": "الطبيب المناوب في المركز الصحي تأخر ساعتين ثم غادر دون أن يعتذر للمراجعين",
    })
    chat.say("بلاش")
    assert asked(chat) == "confirmed"
    assert "ستقدّم ثناءً على وزارة الصحة" in chat.text
    chat.say("هذه شكوى وليست ثناء")
    assert chat.slots()["request_type"] == "complaint"
    assert asked(chat) == "pillar", "the pillar is not clear from the story, so it is asked"
    chat.say("التأخير")
    assert asked(chat) == "importance"
    chat.say("عاجل")
    assert asked(chat) == "confirmed"
    assert "ستقدّم شكوى بحق وزارة الصحة" in chat.text
    chat.say("نعم، أرسلها")
    [row] = rows_for(system, reference_in(chat.text))
    assert (row["type"], row["pillar"], row["importance"]) == ("complaint", "delivery_time", "urgent")


def test_sms_complaint_with_an_unclear_pillar_asks_it_and_keeps_the_summary_in_two_segments(system: RunningSystem) -> None:
    user = SmsUser(system)
    reply = user.say("بدي اشتكي على امانة عمان، حاويات الحي ما تفرغت من عشر ايام والريحة لا تطاق")
    for _ in range(6):
        slot = system.tracker(user.sender_id)["slots"].get("requested_slot")
        if slot == "pillar":
            break
        assert slot in ("sector", "entity_id"), (slot, reply)
        reply = user.say("أمانة عمان الكبرى")
    assert system.tracker(user.sender_id)["slots"]["pillar"] is None, "no guess from unclear words"
    reply = user.say("١")  # the first listed choice: service quality
    slots = system.tracker(user.sender_id)["slots"]
    assert (slots["pillar"], slots["requested_slot"]) == ("service_quality", "importance")
    reply = user.say("مش مستعجل")
    assert system.tracker(user.sender_id)["slots"]["requested_slot"] == "contact_phone"
    reply = user.say("لأ")
    assert system.tracker(user.sender_id)["slots"]["contact_phone"] == "none"
    assert "ستقدّم شكوى بحق" in reply
    assert sms_segments(reply) <= 2, (sms_segments(reply), reply)
    reply = user.say("بدي أعدل التفاصيل")
    assert system.tracker(user.sender_id)["slots"]["requested_slot"] == "description"
    reply = user.say("حاويات النفايات في شارع الحي ممتلئة منذ عشرة أيام ولم تفرغ")
    reply = user.say("أرسل")
    refs = [c for c in refcode.find_candidates(reply) if refcode.is_valid_digits(c)]
    assert refs, reply
    [row] = rows_for(system, refs[0])
    assert (row["type"], row["pillar"], row["importance"]) == ("complaint", "service_quality", "normal")


def file_inquiry(chat: Chat) -> str:
    chat.say("I have a question for the Ministry of Health")
    answer_until(chat, "contact_phone", {"sector": "health", "entity_id": "Ministry of Health",
                                         "description": "How do I get a copy of my vaccination record for travel?"})
    chat.say("0791112233")
    chat.say("yes")
    return reference_in(chat.text)


def answered_inquiry(system: RunningSystem, chat: Chat) -> str:
    """A question filed by `chat` and answered by the back office."""
    reference = file_inquiry(chat)
    case_store_cli(system, "move", reference, "in_progress")
    case_store_cli(system, "move", reference, "answered", "--answer", "Any health centre prints it.")
    return reference


def at_the_reopen_offer(system: RunningSystem, chat: Chat, score: str) -> str:
    """An answered question rated `score`, not resolved, no comment: the bot offers to reopen it."""
    reference = answered_inquiry(system, chat)
    chat.say(f"rate {reference}")
    for text in (score, "no", "no"):
        chat.say(text)
    assert chat.slots()["reopen_offered"] is True, chat.text
    return reference


def test_rating_and_reopening_answered_in_words(system: RunningSystem) -> None:
    chat = Chat(system, "typed-rate")
    reference = answered_inquiry(system, chat)
    chat.say(f"I want to rate request {refcode.format_grouped(reference)}")
    assert chat.slots().get("requested_slot") == "rating_score", chat.text
    chat.say("four out of five")
    assert chat.slots()["requested_slot"] == "rating_resolved"
    chat.say("nope")
    assert chat.slots()["requested_slot"] == "rating_comment"
    chat.say("no comment")
    assert chat.slots()["reopen_offered"] is True, chat.text
    chat.say("yes please, open it again")
    assert "reopened" in chat.text, chat.text
    [row] = rows_for(system, reference)
    assert row["status"] == "reopened"


def test_a_status_answer_offering_a_rating_takes_a_typed_yes(system: RunningSystem) -> None:
    chat = Chat(system, "typed-offer")
    reference = answered_inquiry(system, chat)
    chat.say(f"what is the status of {reference}")
    assert "rate" in chat.text.lower(), chat.text
    chat.say("sure")
    assert chat.slots().get("requested_slot") == "rating_score", chat.text


def test_reopen_typed_with_its_reference_after_the_offer(system: RunningSystem) -> None:
    chat = Chat(system, "typed-reopen")
    reference = at_the_reopen_offer(system, chat, "2")
    chat.say(f"open {refcode.format_grouped(reference)} again please")
    assert "reopened" in chat.text, chat.text


def test_cancel_typed_at_a_question_cancels_even_when_the_nlu_hears_the_request_in_it(system: RunningSystem) -> None:
    chat = Chat(system, "typed-cancel")
    chat.say("I want to complain about the Greater Amman Municipality")
    answer_until(chat, "contact_phone", {
        "sector": "municipal", "entity_id": "Greater Amman Municipality", "pillar": "the waiting time",
        "importance": "normal",
        "description": "The road outside our building has been dug up for three months and nobody finished the work."})
    chat.say("cancel the complaint please, I will go there myself")
    assert "Cancelled. Nothing was sent." in chat.text, chat.text
    slots = chat.slots()
    assert (slots.get("requested_slot"), slots.get("request_type"), slots.get("description")) == (None, None, None)
    tracker = system.tracker(rest_sender_id(system, chat.sender))
    assert not (tracker.get("active_loop") or {}).get("name"), tracker.get("active_loop")
    # The conversation goes on as new: nothing half-filled asks again, and nothing was filed.
    chat.say("hello")
    assert "Cancelled" not in chat.text and "phone" not in chat.text.lower(), chat.text
