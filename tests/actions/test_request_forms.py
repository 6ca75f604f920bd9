"""The request forms' validation (validate_<type>_form) against the real case-store catalogue:
each answer to the slot being asked, as the form's run() returns it (the slot events, then the
next slot to ask), and what the person is told."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import (
    ValidateComplaintForm,
    ValidateComplimentForm,
    ValidateInquiryForm,
    ValidateReportForm,
    ValidateSuggestionForm,
)
from tests.support.case_store import RunningCaseStore
from tests.support.trackers import entity, tracker

pytestmark = pytest.mark.usefixtures("store")

FORMS = {
    "inquiry": ValidateInquiryForm, "suggestion": ValidateSuggestionForm, "compliment": ValidateComplimentForm,
    "complaint": ValidateComplaintForm, "report": ValidateReportForm,
}
PHONE = "+962791234567"
# What a complaint has by the time each question is asked.
BEFORE = {
    "sector": {},
    "entity_id": {"sector": "health"},
    "pillar": {"sector": "health", "entity_id": "moh"},
    "importance": {"sector": "health", "entity_id": "moh", "pillar": "delivery_time"},
    "description": {"sector": "health", "entity_id": "moh", "pillar": "delivery_time", "importance": "normal"},
    "contact_phone": {"sector": "health", "entity_id": "moh", "pillar": "delivery_time", "importance": "normal",
                      "description": "the clinic kept me waiting for six hours"},
}
BEFORE["confirmed"] = dict(BEFORE["contact_phone"], contact_phone=PHONE)
BEFORE["edit_field"] = dict(BEFORE["confirmed"], confirmed="edit")


async def answer(
    domain: dict[str, Any], asked: str, text: str, intent: str = "inform", entities: list[dict[str, Any]] | None = None,
    rtype: str = "complaint", slots: dict[str, Any] | None = None, **kw: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    have = dict(BEFORE.get(asked, {}), **(slots or {}))
    if rtype != "complaint":
        have = {k: v for k, v in have.items() if k not in ("pillar", "importance")}
    t = tracker(text, intent, entities, slots=dict(have, request_type=rtype, requested_slot=asked),
                active_loop=f"{rtype}_form", **kw)
    dispatcher = CollectingDispatcher()
    events = await FORMS[rtype]().run(dispatcher, t, domain)
    return events, dispatcher.messages


def responses(messages: list[dict[str, Any]]) -> list[str]:
    return [m["response"] for m in messages]


# --- sector and entity ------------------------------------------------------------------------------


async def test_a_sector_button_sets_the_sector_and_asks_the_entity(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "sector", '/inform{"sector": "health"}', entities=[entity("sector", "health")])
    assert events == [SlotSet("sector", "health"), SlotSet("entity_choices", None), SlotSet("requested_slot", "entity_id")]
    assert said == []


async def test_a_body_named_at_the_sector_question_answers_both(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "sector", "وزارة الصحة")
    assert events == [SlotSet("sector", "health"), SlotSet("entity_id", "moh"), SlotSet("entity_choices", None),
                      SlotSet("requested_slot", "pillar")]
    assert said == []


async def test_a_sector_named_in_words_sets_the_sector(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "sector", "Municipal affairs")
    assert events == [SlotSet("sector", "municipal"), SlotSet("entity_choices", None), SlotSet("requested_slot", "entity_id")]
    assert said == []


async def test_an_ambiguous_body_gets_did_you_mean_buttons(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "sector", "ministry", rtype="suggestion")
    assert events == [SlotSet("sector", None), SlotSet("entity_choices", ["moh", "mot"]), SlotSet("requested_slot", "sector")]
    assert said == [{
        "response": "utter_entity_did_you_mean", "template": "utter_entity_did_you_mean", "text": None, "image": None,
        "attachment": None, "elements": [], "custom": {},
        "buttons": [{"title": "وزارة الصحة", "payload": '/inform{"entity_name": "moh"}'},
                    {"title": "وزارة النقل", "payload": '/inform{"entity_name": "mot"}'}],
    }]


async def test_a_did_you_mean_pick_while_the_sector_is_asked_sets_the_body(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "sector", '/inform{"entity_name": "mot"}', entities=[entity("entity_name", "mot")],
                                rtype="inquiry", slots={"entity_choices": ["moh", "mot"]})
    assert events == [SlotSet("sector", "transport"), SlotSet("entity_id", "mot"), SlotSet("entity_choices", None),
                      SlotSet("requested_slot", "description")]
    assert said == []
    assert said == []


STORY = "shukran la markaz el sa7i bel mafraq, el doctor kan ktir mne7 ma3 emmi w sharahelna kol ishi"


@pytest.mark.parametrize("asked", ["sector", "entity_id"])
async def test_a_story_typed_where_the_sector_or_body_is_asked_is_kept_as_the_description(domain: dict[str, Any],
                                                                                          asked: str) -> None:
    """After pressing the menu's number people tell what happened; it is not asked for again."""
    events, _ = await answer(domain, asked, STORY, rtype="compliment")
    assert SlotSet("description", STORY) in events


@pytest.mark.parametrize("text", ["Accreditation and Quality Assurance Commission for Higher Education Institutions",
                                  "دائرة الأحوال المدنية والجوازات", "wizaret el se77a"])
async def test_a_body_named_at_the_sector_question_is_no_description(domain: dict[str, Any], text: str) -> None:
    events, _ = await answer(domain, "sector", text, rtype="compliment")
    assert "description" not in [e.get("name") for e in events]


async def test_a_story_does_not_replace_a_description_already_given(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "sector", STORY, rtype="compliment", slots={"description": "the nurse was kind to us"})
    assert "description" not in [e.get("name") for e in events]


@pytest.mark.parametrize("text", ["لا", "no", "ok", "shukran", "اه"])
async def test_yes_no_or_thanks_at_the_body_question_is_no_name_to_search(domain: dict[str, Any], text: str) -> None:
    events, said = await answer(domain, "entity_id", text)
    assert responses(said) == ["utter_entity_pick"]
    assert SlotSet("entity_choices", None) not in events and "entity_choices" not in [e.get("name") for e in events]


@pytest.mark.parametrize("text", ["لا", "no", "ok", "shukran", "la2"])
async def test_yes_no_or_thanks_at_the_sector_question_is_no_name_to_search(domain: dict[str, Any], text: str) -> None:
    events, said = await answer(domain, "sector", text)
    assert responses(said) == ["utter_sector_not_found"]
    assert "entity_choices" not in [e.get("name") for e in events]


async def test_an_unknown_sector_is_asked_again(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "sector", "qwertyuiop")
    assert events == [SlotSet("sector", None), SlotSet("requested_slot", "sector")]
    assert responses(said) == ["utter_sector_not_found"]


async def test_the_entity_question_takes_a_body_by_name(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "entity_id", "food and drug", language="en")
    assert events == [SlotSet("sector", "health"), SlotSet("entity_id", "jfda"), SlotSet("entity_choices", None),
                      SlotSet("requested_slot", "pillar")]
    assert said == []


async def test_an_unknown_entity_is_asked_again(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "entity_id", "zzzzqqqq")
    assert events == [SlotSet("entity_id", None), SlotSet("requested_slot", "entity_id")]
    assert responses(said) == ["utter_entity_not_found"]


async def test_the_catalogue_down_says_so_and_asks_again(domain: dict[str, Any], store: RunningCaseStore) -> None:
    await store.stop()
    events, said = await answer(domain, "sector", "وزارة الصحة")
    assert events == [SlotSet("sector", None), SlotSet("requested_slot", "sector")]
    assert responses(said) == ["utter_backend_unavailable"]


# --- complaint specifics ----------------------------------------------------------------------------


async def test_a_pillar_in_words_is_inferred(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "pillar", "the employee was rude to me")
    assert events == [SlotSet("pillar", "employee_behaviour"), SlotSet("requested_slot", "importance")]
    assert said == []


@pytest.mark.parametrize("text, intent", [("hmm", "inform"), ("لا", "deny"), ("no", "deny"), ("ma ba3ref", "out_of_scope")])
async def test_a_pillar_that_says_nothing_is_asked_again_with_why_it_matters(domain: dict[str, Any], text: str, intent: str) -> None:
    events, said = await answer(domain, "pillar", text, intent)
    assert events == [SlotSet("pillar", None), SlotSet("requested_slot", "pillar")]
    assert responses(said) == ["utter_pillar_pick"]
    # over SMS the question comes again alone: with the reason it would be three SMS
    events, said = await answer(domain, "pillar", text, intent, connector="twilio_sms")
    assert events == [SlotSet("pillar", None), SlotSet("requested_slot", "pillar")] and said == []


@pytest.mark.parametrize(
    ("text", "pillar"),
    [
        # the labels the bot itself shows, in both languages, and its button titles
        ("time to deliver", "delivery_time"), ("وقت إنجاز الخدمة", "delivery_time"), ("Delays", "delivery_time"),
        ("مدة الانجاز", "delivery_time"), ("staff behavior", "employee_behaviour"), ("تعامل الموظفين", "employee_behaviour"),
        ("البنية التحتية", "infrastructure"), ("the procedures", "procedures"), ("جودة الخدمة", "service_quality"),
        # words of one's own, Arabizi, with the article or a preposition joined
        ("mainly the waiting", "delivery_time"), ("بالتأخير", "delivery_time"), ("el ejra2at", "procedures"),
        ("sulook el mowazaf", "employee_behaviour"),
        # the number of the listed choice (SMS numbers them in the buttons' order)
        ("1", "service_quality"), ("٢", "delivery_time"), ("5", "infrastructure"),
    ],
)
@pytest.mark.parametrize("intent", ["inform", "nlu_fallback", "complain"])
async def test_a_pillar_typed_as_its_label_a_word_or_its_number_is_understood(
    domain: dict[str, Any], text: str, pillar: str, intent: str,
) -> None:
    events, said = await answer(domain, "pillar", text, intent)
    assert events == [SlotSet("pillar", pillar), SlotSet("requested_slot", "importance")]
    assert said == []


async def test_a_pillar_answer_naming_two_is_asked_again(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "pillar", "the staff and the procedures")
    assert events == [SlotSet("pillar", None), SlotSet("requested_slot", "pillar")]


async def test_a_pillar_button_still_works(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "pillar", '/inform{"pillar": "procedures"}', entities=[entity("pillar", "procedures")])
    assert events == [SlotSet("pillar", "procedures"), SlotSet("requested_slot", "importance")]


@pytest.mark.parametrize(("intent", "importance"), [("affirm", "urgent"), ("deny", "normal")])
async def test_importance_is_a_yes_no_question(domain: dict[str, Any], intent: str, importance: str) -> None:
    events, _ = await answer(domain, "importance", "yes" if intent == "affirm" else "la2", intent)
    assert events == [SlotSet("importance", importance), SlotSet("requested_slot", "description")]


@pytest.mark.parametrize(
    ("text", "importance"),
    [("urgent", "urgent"), ("عاجل", "urgent"), ("mista3jel", "urgent"), ("2", "urgent"), ("aywa", "urgent"),
     ("normal", "normal"), ("not urgent", "normal"), ("مش مستعجل", "normal"), ("عادي", "normal"), ("١", "normal"),
     ("مش ضروري", "normal"), ("mish kteer mohem", "normal"), ("not that important", "normal"), ("مش كتير مهم", "normal"),
     ("ليس مهماً", "normal")],
)
async def test_importance_typed_in_words_or_its_number(domain: dict[str, Any], text: str, importance: str) -> None:
    events, _ = await answer(domain, "importance", text, "nlu_fallback")
    assert events == [SlotSet("importance", importance), SlotSet("requested_slot", "description")]


async def test_not_urgent_wins_over_the_nlus_urgent_tag(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "importance", "مش مستعجل", entities=[entity("urgency", "urgent")])
    assert events == [SlotSet("importance", "normal"), SlotSet("requested_slot", "description")]


# --- description ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["no water", "help!!!!!!!!!!!", "الكهرباء"])
async def test_a_too_short_description_is_refused_with_a_reason(domain: dict[str, Any], text: str) -> None:
    events, said = await answer(domain, "description", text)
    assert events == [SlotSet("description", None), SlotSet("requested_slot", "description")]
    assert responses(said) == ["utter_description_too_short"]


async def test_a_description_is_kept_as_typed(domain: dict[str, Any]) -> None:
    text = "الموظف رفض استلام الطلب مرتين بدون سبب"
    events, said = await answer(domain, "description", text)
    assert events == [SlotSet("description", text), SlotSet("requested_slot", "contact_phone")]
    assert said == []


async def test_an_interruption_fills_nothing_and_the_form_asks_again(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "description", "what can you do? I need help with this", "help")
    assert events == [SlotSet("requested_slot", "description")]
    assert said == []


async def test_an_attachment_alone_keeps_the_question_open(domain: dict[str, Any]) -> None:
    meta = {"attachment_only": True, "attachments": [{"url": "https://cdn.example/a.jpg", "media_type": "image/jpeg"}]}
    events, said = await answer(domain, "description", "", connector="messenger", address="psid-1", metadata=meta)
    assert events == [SlotSet("attachments", [{"url": "https://cdn.example/a.jpg", "media_type": "image/jpeg"}]),
                      SlotSet("requested_slot", "description")]
    assert said == [], "no 'too short' for a photo sent alone"


# --- contact phone ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rtype", ["suggestion", "compliment", "report"])
@pytest.mark.parametrize("text", ["no", "لا", "la2"])
async def test_no_at_an_optional_phone_means_none(domain: dict[str, Any], rtype: str, text: str) -> None:
    events, said = await answer(domain, "contact_phone", text, "deny", rtype=rtype)
    assert events == [SlotSet("contact_phone", "none"), SlotSet("requested_slot", "confirmed")]
    assert said == []


@pytest.mark.parametrize("rtype", ["complaint", "inquiry"])
async def test_no_at_the_phone_of_a_complaint_or_question_says_what_that_costs(domain: dict[str, Any], rtype: str) -> None:
    events, said = await answer(domain, "contact_phone", "لا", "deny", rtype=rtype)
    assert events == [SlotSet("contact_phone", "none"), SlotSet("requested_slot", "confirmed")]
    assert responses(said) == ["utter_no_contact_phone"]


@pytest.mark.parametrize("rtype", ["complaint", "suggestion", "report"])
@pytest.mark.parametrize("text", ["nope", "لأ", "laa", "مش ضروري", "skip it", "بدون", "ما بدي", "not necessary",
                                  "لا داعي", "mish daroori", "no thank you"])
@pytest.mark.parametrize("intent", ["deny", "cancel", "nlu_fallback", "inform"])
async def test_a_typed_no_at_the_phone_is_an_answer_whatever_the_nlu_heard(
    domain: dict[str, Any], rtype: str, text: str, intent: str,
) -> None:
    events, said = await answer(domain, "contact_phone", text, intent, rtype=rtype)
    assert events == [SlotSet("contact_phone", "none"), SlotSet("requested_slot", "confirmed")]
    assert responses(said) == ([] if rtype != "complaint" else ["utter_no_contact_phone"])


async def test_no_to_using_the_number_texting_files_without_one(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "contact_phone", "la2 shukran", "deny", connector="twilio_sms", address="+962781112233")
    assert events == [SlotSet("contact_phone", "none"), SlotSet("requested_slot", "confirmed")]
    assert said == [], "the updates still come by SMS; the summary follows in the same short SMS"


async def test_a_typed_yes_over_sms_uses_the_number_texting(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "contact_phone", "aywa", "nlu_fallback", connector="twilio_sms", address="+962781112233")
    assert events == [SlotSet("contact_phone", "+962781112233"), SlotSet("requested_slot", "confirmed")]


async def test_cancel_at_the_phone_question_still_cancels(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "contact_phone", "cancel my request", "cancel")
    assert events == [SlotSet("requested_slot", "contact_phone")]
    assert said == []


@pytest.mark.parametrize("text", ["12345", "0791", "0701234567", "call me maybe"])
async def test_a_bad_phone_is_refused(domain: dict[str, Any], text: str) -> None:
    events, said = await answer(domain, "contact_phone", text)
    assert events == [SlotSet("contact_phone", None), SlotSet("requested_slot", "contact_phone")]
    assert responses(said) == ["utter_invalid_phone"]


@pytest.mark.parametrize("text", ["0791234567", "٠٧٩١٢٣٤٥٦٧", "+962 79 123 4567", "00962791234567"])
async def test_a_jordanian_mobile_is_kept_in_e164(domain: dict[str, Any], text: str) -> None:
    events, said = await answer(domain, "contact_phone", text)
    assert events == [SlotSet("contact_phone", PHONE), SlotSet("requested_slot", "confirmed")]
    assert said == []


async def test_yes_over_sms_uses_the_number_texting(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "contact_phone", "yes", "affirm", connector="twilio_sms", address="+962781112233")
    assert events == [SlotSet("contact_phone", "+962781112233"), SlotSet("requested_slot", "confirmed")]


async def test_yes_over_the_web_is_not_a_number(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "contact_phone", "yes", "affirm")
    assert events == [SlotSet("contact_phone", None), SlotSet("requested_slot", "contact_phone")]
    assert responses(said) == ["utter_invalid_phone"]


async def test_a_reporter_saying_yes_over_sms_does_not_give_away_the_number(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "contact_phone", "yes", "affirm", rtype="report",
                                connector="twilio_sms", address="+962781112233")
    assert events == [SlotSet("contact_phone", None), SlotSet("requested_slot", "contact_phone")]
    assert responses(said) == ["utter_invalid_phone"]


# --- confirmation and corrections -------------------------------------------------------------------


async def test_yes_at_the_summary_completes_the_form(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "confirmed", "yes", "affirm")
    assert events == [SlotSet("confirmed", "yes"), SlotSet("requested_slot", None)]


async def test_no_at_the_summary_asks_what_to_change(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "confirmed", "no", "deny", rtype="suggestion")
    assert events == [SlotSet("confirmed", "edit"), SlotSet("requested_slot", "edit_field")]
    # A complaint's slots are the domain's list in the domain's order, so rasa-sdk leaves the
    # next question to Rasa's form (which asks the same edit_field, the first one missing).
    events, _ = await answer(domain, "confirmed", "no", "deny")
    assert events == [SlotSet("confirmed", "edit")]


async def test_choosing_a_field_clears_it_and_asks_it_again(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "edit_field", '/inform{"field": "entity_id"}', entities=[entity("field", "entity_id")])
    assert events == [SlotSet("edit_field", None), SlotSet("confirmed", None), SlotSet("entity_id", None),
                      SlotSet("entity_choices", None), SlotSet("requested_slot", "entity_id")]


async def test_an_answer_naming_no_field_asks_again(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "edit_field", "nothing", rtype="suggestion")
    assert events == [SlotSet("edit_field", None), SlotSet("requested_slot", "edit_field")]


@pytest.mark.parametrize(("text", "field"), [("the phone number", "contact_phone"), ("التفاصيل", "description"),
                                             ("el jiheh", "entity_id"), ("3", "contact_phone")])
async def test_the_field_to_change_typed_in_words_or_its_number(domain: dict[str, Any], text: str, field: str) -> None:
    events, _ = await answer(domain, "edit_field", text, "nlu_fallback", rtype="suggestion")
    assert events == [SlotSet("edit_field", None), SlotSet("confirmed", None), SlotSet(field, None),
                      *([SlotSet("entity_choices", None)] if field == "entity_id" else []), SlotSet("requested_slot", field)]


@pytest.mark.parametrize("text", ["send it please", "نعم أرسله", "aywa", "تمام", "ok"])
@pytest.mark.parametrize("intent", ["nlu_fallback", "inform", "affirm"])
async def test_a_typed_yes_at_the_summary_files(domain: dict[str, Any], text: str, intent: str) -> None:
    events, _ = await answer(domain, "confirmed", text, intent, rtype="suggestion")
    assert events == [SlotSet("confirmed", "yes"), SlotSet("requested_slot", None)]


@pytest.mark.parametrize(("text", "field"), [
    ("change the phone", "contact_phone"), ("غير الوصف", "description"), ("the body is wrong", "entity_id"),
    ("bddi 3adel el ra2m", "contact_phone"), ("أريد تعديل التفاصيل", "description"), ("الرقم غلط", "contact_phone"),
    ("بدي أغيّر الجهة", "entity_id"), ("نعدل الوصف لو سمحت", "description"),
])
@pytest.mark.parametrize("intent", ["deny", "nlu_fallback", "inform"])
async def test_a_correction_typed_at_the_summary_goes_straight_to_that_question(
    domain: dict[str, Any], text: str, field: str, intent: str,
) -> None:
    events, said = await answer(domain, "confirmed", text, intent, rtype="inquiry")
    assert events == [SlotSet("edit_field", None), SlotSet("confirmed", None), SlotSet(field, None),
                      *([SlotSet("entity_choices", None)] if field == "entity_id" else []), SlotSet("requested_slot", field)]
    assert said == []


async def test_a_yes_that_mentions_a_field_is_still_a_yes(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "confirmed", "yes, the number and the details are right", "affirm", rtype="inquiry")
    assert events == [SlotSet("confirmed", "yes"), SlotSet("requested_slot", None)]


@pytest.mark.parametrize("text", ["it's not a complaint, it's a compliment", "مش شكوى، هذا ثناء", "mish shakwa, thana2",
                                  "compliment", "حوّله إلى ثناء", "/compliment"])
async def test_a_complaint_becomes_a_compliment_in_one_step_keeping_the_answers(domain: dict[str, Any], text: str) -> None:
    intent = "compliment" if text == "/compliment" else "deny"
    events, said = await answer(domain, "confirmed", text, intent)
    assert events == [SlotSet("request_type", "compliment"), SlotSet("confirmed", None), SlotSet("edit_field", None),
                      SlotSet("pillar", None), SlotSet("importance", None), SlotSet("requested_slot", "confirmed")]
    assert said == []


async def test_a_compliment_becomes_a_complaint_and_asks_only_what_a_complaint_adds(domain: dict[str, Any]) -> None:
    slots = {"description": "the clerk kept me waiting for three weeks"}
    events, _ = await answer(domain, "confirmed", "no this is a complaint not a compliment", "deny", rtype="compliment", slots=slots)
    assert events == [SlotSet("request_type", "complaint"), SlotSet("confirmed", None), SlotSet("edit_field", None),
                      SlotSet("pillar", "delivery_time"), SlotSet("importance", None), SlotSet("requested_slot", "importance")]


@pytest.mark.parametrize("text", ["غيّر النوع", "mish shakwa", "wrong type, change the type", "it is not a complaint"])
async def test_the_type_said_wrong_without_the_right_one_asks_which(domain: dict[str, Any], text: str) -> None:
    events, _ = await answer(domain, "confirmed", text, "deny")
    assert events == [SlotSet("confirmed", "edit"), SlotSet("edit_field", None)]


@pytest.mark.parametrize(("text", "rtype"), [("a suggestion", "suggestion"), ("سؤال", "inquiry"), ("/suggest", "suggestion")])
async def test_at_what_to_change_a_type_named_switches_to_it(domain: dict[str, Any], text: str, rtype: str) -> None:
    intent = "suggest" if text.startswith("/") else "inform"
    events, _ = await answer(domain, "edit_field", text, intent, rtype="compliment")
    assert events == [SlotSet("request_type", rtype), SlotSet("confirmed", None), SlotSet("edit_field", None),
                      SlotSet("requested_slot", "confirmed")]


async def test_a_report_is_never_switched(domain: dict[str, Any]) -> None:
    # Asked what to change instead, where no other type is offered (ActionAskEditField).
    events, _ = await answer(domain, "confirmed", "it's a complaint", "complain", rtype="report", slots={"contact_phone": "none"})
    assert events == [SlotSet("confirmed", "edit"), SlotSet("requested_slot", "edit_field")]


@pytest.mark.parametrize(("text", "intent"), [
    ("no, it's a complaint", "deny"),      # English
    ("la2 hay shakwa", "complain"),        # Arabizi
    ("لا، هي شكوى", "complain"),            # Modern Standard Arabic
    ("لا هاي شكوى", "deny"),                # Jordanian dialect
])
async def test_no_its_a_complaint_at_the_summary_switches_in_one_step_in_every_variety(
        domain: dict[str, Any], text: str, intent: str) -> None:
    """"No" followed by the type is the type, not a denial of it (issue 15: one step, no restart)."""
    slots = {"description": "the new clinic closed at noon although the sign says it opens all day"}
    events, said = await answer(domain, "confirmed", text, intent, rtype="compliment", slots=slots)
    assert events[:3] == [SlotSet("request_type", "complaint"), SlotSet("confirmed", None), SlotSet("edit_field", None)]
    assert events[-1] == SlotSet("requested_slot", "pillar"), "a complaint adds its pillar, asked since the text is unclear"
    assert said == []


@pytest.mark.parametrize("text", ["أفضّل ألا أترك رقم هاتفي", "I would prefer not to leave my number", "bfaddel la a3teekom ra2mi"])
@pytest.mark.parametrize("intent", ["deny", "nlu_fallback", "inform", "complain"])
async def test_a_polite_longer_no_at_the_phone_files_without_one(domain: dict[str, Any], text: str, intent: str) -> None:
    events, said = await answer(domain, "contact_phone", text, intent, rtype="suggestion")
    assert events == [SlotSet("contact_phone", "none"), SlotSet("requested_slot", "confirmed")]
    assert said == []


@pytest.mark.parametrize("text", ["no wait, I have to fix something", "لا، هناك خطأ أريد تصحيحه", "la2 fi ghalat"])
@pytest.mark.parametrize("intent", ["nlu_fallback", "inform", "complain"])
async def test_asking_to_change_something_unnamed_at_the_summary_asks_what(domain: dict[str, Any], text: str, intent: str) -> None:
    events, _ = await answer(domain, "confirmed", text, intent, rtype="suggestion")
    assert events == [SlotSet("confirmed", "edit"), SlotSet("requested_slot", "edit_field")]


@pytest.mark.parametrize(("asked", "text"), [
    ("contact_phone", "please cancel this complaint, I will speak to the head of the school myself first"), ("confirmed", "ألغِ الطلب لو سمحت"), ("pillar", "5alas battalt"),
    ("sector", "forget it, I changed my mind"), ("importance", "لا ترسلوا شيئاً"),
])
@pytest.mark.parametrize("intent", ["complain", "nlu_fallback", "inform"])
async def test_cancel_typed_at_a_question_cancels_whatever_the_nlu_heard(domain: dict[str, Any], asked: str, text: str, intent: str) -> None:
    from rasa_sdk.events import ActiveLoop, FollowupAction

    from actions.forms import cancel_events

    events, said = await answer(domain, asked, text, intent)
    assert events == cancel_events() + [FollowupAction("action_listen")]
    assert events[0] == ActiveLoop(None)
    assert responses(said) == ["utter_cancelled"]


@pytest.mark.parametrize(("asked", "text"), [("description", "they cancel my appointment every time, stop this please"),
                                             ("contact_phone", "don't cancel it, my number is 0791234567")])
async def test_cancel_words_in_a_story_or_negated_do_not_cancel(domain: dict[str, Any], asked: str, text: str) -> None:
    events, said = await answer(domain, asked, text, "complain")
    assert "utter_cancelled" not in responses(said)
    assert SlotSet(asked, None) not in events[:1] or asked == "contact_phone"


@pytest.mark.parametrize(("text", "importance"), [("مستعجل جداً، الأولاد بلا تدفئة من أسبوع", "urgent"),
                                                  ("not urgent, it can wait until after the holidays", "normal"),
                                                  ("3adi mish mista3jel bas lazem yen7al", "normal")])
async def test_urgency_typed_with_a_reason(domain: dict[str, Any], text: str, importance: str) -> None:
    events, _ = await answer(domain, "importance", text, "complain")
    assert events[0] == SlotSet("importance", importance)


@pytest.mark.parametrize(("rtype", "text"), [("inquiry", "the question"), ("inquiry", "سؤالي"), ("suggestion", "my idea"),
                                             ("suggestion", "el e2tira7")])
async def test_the_request_named_by_its_own_type_is_its_text(domain: dict[str, Any], rtype: str, text: str) -> None:
    events, _ = await answer(domain, "edit_field", text, "nlu_fallback", rtype=rtype)
    assert events == [SlotSet("edit_field", None), SlotSet("confirmed", None), SlotSet("description", None),
                      SlotSet("requested_slot", "description")]


@pytest.mark.parametrize("text", ["no, I want to rewrite the question", "لا، أريد أن أعيد صياغة سؤالي"])
async def test_a_longer_no_at_the_summary_goes_to_what_it_names(domain: dict[str, Any], text: str) -> None:
    events, _ = await answer(domain, "confirmed", text, "ask_government", rtype="inquiry")
    assert SlotSet("description", None) in events and events[-1] == SlotSet("requested_slot", "description")
