"""Conversations filed right on the first try (issue 15), end to end over REST and signed SMS: an
opening whose type the NLU cannot tell is asked with the five types (its text kept, nothing asked
twice), an opening that may be a report leaves no trace of its narrative whichever type is chosen,
the pillar is guessed only from clear words, and a typed answer to an offer is never read as a new
request. The texts are our own; the benchmark's (bench/dialogs/) stay unseen."""

from __future__ import annotations

from typing import Any

from channels.common import sms_segments
from tests.e2e.harness import RunningSystem, rest_sender_id, rest_turn
from tests.e2e.test_confidential_e2e import Receipt, assert_filed_and_sealed, leaks
from tests.e2e.test_dialog_e2e import Chat, reference_in, rows_for
from tests.e2e.test_sms_e2e import SmsUser
from tests.e2e.test_typed_answers_e2e import answer_until, at_the_reopen_offer

TYPE_BUTTONS = ["/ask_government", "/suggest", "/compliment", "/complain"]


def unsure_opening(system: RunningSystem, candidates: list[str], among: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """The first candidate the running model leaves unsure between request types (with `among`
    in the running), which is when the type is asked (bot.request_rules.unsure_types). These
    tests are about what the dialogue does with such an opening; which texts the NLU is unsure of
    moves with every retraining (a fixed text that was unsure became a sure complaint)."""
    from bot.request_rules import unsure_types

    seen = []
    for text in candidates:
        parse = system.parse(text)
        ranking = parse["intent_ranking"]
        types = unsure_types(ranking, parse.get("intent_opinions"))
        if types and among <= set(types):
            return text
        seen.append((text, [(r["name"], round(r["confidence"], 2)) for r in ranking[:3]]))
    raise AssertionError(f"the model is sure of every candidate opening; add one it reads between types: {seen}")


def loop_of(chat: Chat) -> str | None:
    return (chat.system.tracker(rest_sender_id(chat.system, chat.sender)).get("active_loop") or {}).get("name")


def assert_type_asked(chat: Chat) -> None:
    payloads = [b["payload"] for b in chat.buttons()]
    assert payloads[:4] == TYPE_BUTTONS and payloads[4].startswith("/report_"), (chat.text, payloads)
    assert loop_of(chat) is None and chat.slots().get("requested_slot") is None, "no form started on a guess"


def test_an_opening_of_unclear_type_is_asked_and_what_it_said_is_kept(system: RunningSystem) -> None:
    # About a shop licence at the municipality, going nowhere: a question, or a complaint?
    opening = unsure_opening(system, [
        "رحت على البلدية اسأل عن رخصة المحل وضليت ساعتين وما حدا فهمني شو المطلوب",
        "ليش البلدية بتطلب ورقة جديدة كل مرة بروح فيها عشان رخصة المحل؟",
        "ليش معاملة رخصة المحل بالبلدية بتاخد شهرين؟",
        "شو المطلوب لرخصة المحل؟ رحت عالبلدية مرتين وكل مرة بقولولي اشي",
    ])
    chat = Chat(system, "type-unclear")
    chat.say(opening)
    assert "ما نوع طلبك" in chat.text
    assert_type_asked(chat)
    chat.press("/complain")
    slots = chat.slots()
    assert (slots["request_type"], slots["description"], loop_of(chat)) == ("complaint", opening, "complaint_form")
    answer_until(chat, "contact_phone", {"sector": "البلديات", "entity_id": "أمانة عمان الكبرى", "pillar": "الإجراءات",
                                         "importance": "عادي"})
    chat.say("0791234561")
    assert "ستقدّم شكوى بحق أمانة عمان الكبرى" in chat.text
    chat.say("نعم")
    [row] = rows_for(system, reference_in(chat.text))
    assert (row["type"], row["entity"]["id"], row["pillar"]) == ("complaint", "gam", "procedures")


def test_the_type_typed_in_arabizi_after_an_opening_between_types(system: RunningSystem) -> None:
    """An opening between types, read with confidence or under the fallback's threshold (then
    "sorry, I didn't understand" becomes the type question): "la2, shakwa" answers it like the button."""
    opening = unsure_opening(system, [
        "ro7t 3al baladiyeh as2al 3an rokhset el ma7al w ma 7ada 3ref yjawebni",
        "lesh lazem aru7 3al baladiyeh 3 marrat 3ashan wara2a wa7deh?",
        "lesh el baladiyeh bttlob wara2 jdeed kol marra?",
        "lesh mo3amalet el rokhsa bel baladiyeh btaakhod shahrein?",
    ])
    chat = Chat(system, "type-arabizi")
    chat.say(opening)
    assert_type_asked(chat)
    chat.say("la2, shakwa")
    slots = chat.slots()
    assert (slots["request_type"], slots["description"]) == ("complaint", opening), chat.text
    assert loop_of(chat) == "complaint_form" and slots["requested_slot"] != "description", "its text is not asked again"


def test_a_thank_you_read_as_a_question_is_asked_over_sms_and_filed_as_a_compliment(system: RunningSystem) -> None:
    user = SmsUser(system)
    opening = "The new online appointment system at the passport office saved me a whole morning"
    reply = user.say(opening)
    assert "1. Question" in reply and "3. Compliment" in reply and sms_segments(reply) <= 2, reply
    user.say("3")
    slots = system.tracker(user.sender_id)["slots"]
    assert (slots["request_type"], slots["description"]) == ("compliment", opening)
    for _ in range(6):
        asked = system.tracker(user.sender_id)["slots"].get("requested_slot")
        if asked == "confirmed":
            break
        reply = user.say({"sector": "civil status", "entity_id": "1", "contact_phone": "no"}[asked])
    assert "You are sending a compliment to" in reply, reply
    reply = user.say("yes")
    [row] = rows_for(system, reference_in(reply))
    assert (row["type"], row["description"]) == ("compliment", opening)


# A fixed canary in an opening the NLU reads between a report and another type (which one is
# picked from these by the running model: `maybe_report`).
CANARY = "kanarixqzvj"
MAYBE_REPORTS = [
    "the guard {canary} at the hospital gate would not let my father in until I gave him five dinars",
    "a nurse {canary} asked for 10 dinars to get my mother a bed sooner",
    "the man {canary} at the window said my papers were missing unless I bought him tea",
    "the inspector {canary} told my brother the shop would pass if he left an envelope",
    "the nurse {canary} let her relatives see the doctor first and we waited three hours",
    "the clerk {canary} at the licensing department served his friends first while we waited since morning",
]


def maybe_report(system: RunningSystem, canary: str) -> str:
    return unsure_opening(system, [t.format(canary=canary) for t in MAYBE_REPORTS], among={"report"})


def test_an_opening_that_may_be_a_report_and_is_one_leaves_no_trace(system: RunningSystem) -> None:
    sender = "type-report"
    sender_id = rest_sender_id(system, sender)

    def say(text: str, button: bool = False) -> list[dict[str, Any]]:
        return rest_turn(system, sender, text, button=button)

    opening = maybe_report(system, CANARY)
    asked = say(opening)
    assert [b["payload"] for m in asked for b in (m.get("buttons") or [])][:4] == TYPE_BUTTONS
    assert leaks(system.var_dir, CANARY, None) == [], "sealed while the type is asked"
    say("/report_violation", button=True)
    slots = system.tracker(sender_id)["slots"]
    assert slots["request_type"] == "report" and slots["description"] == opening, "kept, confidentially"
    for _ in range(8):
        slots = system.tracker(sender_id)["slots"]
        if slots.get("requested_slot") is None:
            break
        payload = {"sector": '/inform{"sector": "health"}', "entity_id": '/inform{"entity_name": "moh"}',
                   "contact_phone": "/deny", "confirmed": "/affirm"}[slots["requested_slot"]]
        reply = "\n".join(m.get("text") or "" for m in say(payload, button=True))
    assert_filed_and_sealed(system, CANARY, Receipt(reply), "web")


def test_an_opening_that_may_be_a_report_filed_as_a_complaint_keeps_its_text_there_only(system: RunningSystem) -> None:
    text = maybe_report(system, "kanariwvkzjq")
    chat = Chat(system, "type-complaint")
    chat.say(text)
    assert_type_asked(chat)
    chat.say("no, it's a complaint")
    assert (chat.slots()["request_type"], chat.slots()["description"]) == ("complaint", text)
    answer_until(chat, "contact_phone", {"sector": "health", "entity_id": "Ministry of Health",
                                         "pillar": "staff behaviour", "importance": "normal"})
    chat.say("0791234562")
    chat.say("yes")
    [row] = rows_for(system, reference_in(chat.text))
    assert (row["type"], row["description"]) == ("complaint", text)
    events = system.tracker(rest_sender_id(system, chat.sender))["events"]
    assert not [e for e in events if e.get("event") == "user" and "kanariwvkzjq" in (e.get("text") or "")], \
        "the opening, read while it might be a report, is scrubbed once the person said it was not"


def test_an_outage_is_guessed_as_service_quality_and_an_outage_with_a_duration_is_asked(system: RunningSystem) -> None:
    chat = Chat(system, "pillar-outage")
    chat.say("بدي اشتكي على شركة الكهرباء الأردنية، الكهربا مقطوعة عن حارتنا بجبل النصر")
    assert (chat.slots()["pillar"], chat.slots()["requested_slot"]) == ("service_quality", "importance"), chat.text
    chat = Chat(system, "pillar-unclear")
    chat.say("بدي اشتكي على شركة الكهرباء الأردنية، الكهربا مقطوعة عن حارتنا من يوم الخميس")
    assert (chat.slots()["pillar"], chat.slots()["requested_slot"]) == (None, "pillar"), chat.text
    chat.say("جودة الخدمة")
    assert chat.slots()["pillar"] == "service_quality"


def test_yes_reopen_it_at_the_offer_reopens_and_starts_no_grievance(system: RunningSystem) -> None:
    """The NLU hears a human-rights grievance in "yes reopen it"; typed at the reopen offer it is
    the offer's button."""
    chat = Chat(system, "reopen-typed")
    reference = at_the_reopen_offer(system, chat, "1")
    chat.say("yes reopen it")
    assert "reopened" in chat.text, chat.text
    assert chat.slots()["request_type"] is None and loop_of(chat) is None
    [row] = rows_for(system, reference)
    assert row["status"] == "reopened"


def test_a_complaint_whose_details_read_like_a_violation_keeps_its_reference(system: RunningSystem) -> None:
    """The details typed inside a complaint's form are the complaint's, whatever the NLU hears in
    them: read as a violation they once opened a report that closed as the complaint was filed and
    scrubbed its reference from the tracker ("my last request" knew nothing of it)."""
    chat = Chat(system, "complaint-bribe-words")
    chat.say("I have a complaint about the Ministry of Health")
    answer_until(chat, "description", {"sector": "health", "entity_id": "Ministry of Health", "pillar": "staff behaviour",
                                       "importance": "normal"})
    chat.say("the receptionist asked for twenty dinars to put my name first on the list")
    answer_until(chat, "confirmed", {"contact_phone": "0791234563"})
    chat.say("yes")
    reference = reference_in(chat.text)
    assert chat.slots()["last_reference"] == reference
    [row] = rows_for(system, reference)
    assert row["type"] == "complaint"
