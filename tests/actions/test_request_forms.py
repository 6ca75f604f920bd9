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


async def test_a_pillar_that_says_nothing_is_asked_again(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "pillar", "hmm")
    assert events == [SlotSet("pillar", None), SlotSet("requested_slot", "pillar")]


@pytest.mark.parametrize(("intent", "importance"), [("affirm", "urgent"), ("deny", "normal")])
async def test_importance_is_a_yes_no_question(domain: dict[str, Any], intent: str, importance: str) -> None:
    events, _ = await answer(domain, "importance", "yes" if intent == "affirm" else "la2", intent)
    assert events == [SlotSet("importance", importance), SlotSet("requested_slot", "description")]


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
async def test_no_at_a_required_phone_asks_again(domain: dict[str, Any], rtype: str) -> None:
    events, said = await answer(domain, "contact_phone", "لا", "deny", rtype=rtype)
    assert events == [SlotSet("contact_phone", None), SlotSet("requested_slot", "contact_phone")]
    assert responses(said) == ["utter_invalid_phone"]


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
