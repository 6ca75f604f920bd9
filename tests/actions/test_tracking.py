"""Status lookup, rating and reopening by reference number, against the real case store: a
request is shown only with proof (the owner's identity, the phone's last four digits, a report's
PIN), a bad check digit is caught before any lookup, and guessing is rate limited."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.tracking import (
    ActionAnswerOffer,
    ActionCheckStatus,
    ActionReopenRequest,
    ActionStartRating,
    ActionStartStatus,
    ActionSubmitRating,
    ValidateRatingForm,
    ValidateStatusForm,
)
from bot import refcode
from bot.i18n import format_day
from tests.support.case_store import RunningCaseStore
from tests.support.trackers import entity, said, tracker

OWNER = "rest_owner0123456789"
STRANGER = "rest_stranger987654"
PHONE = "+962791234567"


async def file(rtype: str = "complaint", **over: Any) -> tuple[str, str | None]:
    """A request filed by OWNER straight through the client: (reference, pin)."""
    body: dict[str, Any] = dict(
        type=rtype, sector="health", entity="moh", description="waited six hours at the clinic for nothing",
        language="en", channel="web", requester_id=OWNER, idempotency_key=refcode.generate() + "-key",
        contact_phone=PHONE, pillar="delivery_time" if rtype == "complaint" else None,
        importance="normal" if rtype == "complaint" else None, anonymous=True if rtype == "report" else None,
    )
    if rtype == "report":
        body["contact_phone"] = None
    body.update(over)
    created = await common.client().create_request(**body)
    return created.request.reference, created.pin


async def answered(reference: str, answer: str = "The clinic added two doctors to the evening shift.") -> None:
    await common.client().set_status(reference, "in_progress", actor="agent:amal")
    await common.client().set_status(reference, "answered", actor="agent:amal", answer=answer)


def bad_digit(reference: str) -> str:
    """The same number with its check digit off by one (Damm catches every single-digit slip)."""
    return reference[:-1] + str((int(reference[-1]) + 1) % 10)


async def run(action: Any, t: Any, domain: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, domain or {})
    return events, said(dispatcher.messages)


def lookups(store: RunningCaseStore) -> tuple[int, int]:
    """(proven accesses, counted failures) the store recorded."""
    return len(store.rows("SELECT id FROM access_log")), len(store.rows("SELECT * FROM lookup_failures"))


# --- starting a lookup ----------------------------------------------------------------------------


async def test_a_mistyped_reference_is_caught_before_any_lookup(store: RunningCaseStore) -> None:
    reference, _ = await file()
    typo = refcode.format_grouped(bad_digit(reference))
    events, messages = await run(ActionStartStatus(), tracker(typo, "check_status", [entity("reference", typo)], sender_id=OWNER))
    assert messages == [{"response": "utter_reference_bad_digit"}]
    assert events == [SlotSet("status_reference", None), SlotSet("status_proof", None), SlotSet("requested_slot", None)]
    assert lookups(store) == (0, 0)


async def test_the_owner_needs_no_other_proof(store: RunningCaseStore) -> None:
    reference, _ = await file()
    t = tracker(reference, "check_status", [entity("reference", refcode.format_grouped(reference))], sender_id=OWNER)
    events, messages = await run(ActionStartStatus(), t)
    assert messages == []
    assert events == [SlotSet("status_reference", reference), SlotSet("status_proof", None), SlotSet("requested_slot", None),
                      SlotSet("status_proof", "owner")]


async def test_someone_else_is_asked_for_proof(store: RunningCaseStore) -> None:
    reference, _ = await file()
    t = tracker(reference, "check_status", [entity("reference", reference)], sender_id=STRANGER)
    events, _ = await run(ActionStartStatus(), t)
    assert events == [SlotSet("status_reference", reference), SlotSet("status_proof", None), SlotSet("requested_slot", None)]


# --- the status form ------------------------------------------------------------------------------


async def test_the_status_form_checks_the_digit_and_the_owner(store: RunningCaseStore, domain: dict[str, Any]) -> None:
    reference, _ = await file()
    form = ValidateStatusForm()

    def asked(text: str, sender_id: str = OWNER) -> Any:
        return tracker(text, "inform", sender_id=sender_id, slots={"requested_slot": "status_reference"}, active_loop="status_form")

    assert await run(form, asked(bad_digit(reference)), domain) == ([SlotSet("status_reference", None)],
                                                                    [{"response": "utter_reference_bad_digit"}])
    assert await run(form, asked("my number is 12"), domain) == ([SlotSet("status_reference", None)],
                                                                 [{"response": "utter_reference_malformed"}])
    assert await run(form, asked("I forgot it"), domain) == ([SlotSet("status_reference", None)],
                                                             [{"response": "utter_reference_malformed"}])
    assert lookups(store) == (0, 0), "no lookup for a number that cannot be one"
    arabic = reference.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert await run(form, asked(arabic), domain) == ([SlotSet("status_reference", reference), SlotSet("status_proof", "owner")], [])
    assert await run(form, asked(reference, STRANGER), domain) == ([SlotSet("status_reference", reference)], [])


@pytest.mark.parametrize(("text", "proof"), [("4567", "4567"), ("٤٥٦٧", "4567"), ("the pin is 123 456", "123456"),
                                             ("last 4 digits are 3306", "3306"), ("اخر ٤ ارقام من رقمي 6072", "6072"),
                                             ("akher 4 ar2am 9911", "9911"), ("my number is 0782143306", "3306"),
                                             ("+962 78 214 3306", "3306")])
async def test_the_proof_is_four_or_six_digits(domain: dict[str, Any], text: str, proof: str) -> None:
    t = tracker(text, slots={"requested_slot": "status_proof", "status_reference": "1"}, active_loop="status_form")
    assert await run(ValidateStatusForm(), t, domain) == ([SlotSet("status_proof", proof)], [])


@pytest.mark.parametrize(("text", "intent", "slot"), [
    ("la2 shukran", "deny", "status_reference"), ("shukran kteer", "compliment", "status_reference"),
    ("bye", "goodbye", "status_reference"), ("ما معي الرقم", "inform", "status_reference"),
    ("no", "deny", "status_proof"), ("I don't have it", "inform", "rating_reference"), ("مش معي", "nlu_fallback", "rating_reference"),
])
async def test_no_thanks_or_bye_where_a_reference_is_asked_lets_the_person_out(domain: dict[str, Any], text: str, intent: str,
                                                                              slot: str) -> None:
    """Without a reference to hand, "la2 shukran" was met with "a reference has 10 digits" again and
    again; only "cancel" ended the form."""
    form, loop = (ValidateRatingForm(), "rating_form") if slot == "rating_reference" else (ValidateStatusForm(), "status_form")
    slots = {"requested_slot": slot, "status_reference": "1" if slot == "status_proof" else None}
    events, messages = await run(form, tracker(text, intent, slots=slots, active_loop=loop), domain)
    assert messages == [{"response": "utter_reference_later"}]
    assert ActiveLoop(None) in events and SlotSet("status_reference", None) in events
    assert events[-1] == FollowupAction("action_listen")


@pytest.mark.parametrize("text", ["45", "1234 or 5678", "ar2am 3ashan"])
async def test_a_proof_of_another_length_is_asked_again(domain: dict[str, Any], text: str) -> None:
    t = tracker(text, slots={"requested_slot": "status_proof", "status_reference": "1"}, active_loop="status_form")
    assert await run(ValidateStatusForm(), t, domain) == ([SlotSet("status_proof", None)], [{"response": "utter_ask_status_proof"}])


# --- the answer -----------------------------------------------------------------------------------


def status_tracker(reference: str, proof: str | None, sender_id: str = STRANGER, language: str = "en") -> Any:
    return tracker(sender_id=sender_id, slots={"status_reference": reference, "status_proof": proof, "language": language})


async def test_the_owner_sees_the_status(store: RunningCaseStore) -> None:
    reference, _ = await file()
    req = await common.client().get_request(reference, requester_id=OWNER)
    events, messages = await run(ActionCheckStatus(), status_tracker(reference, "owner", OWNER))
    assert messages == [{"response": "utter_status", "reference_display": refcode.format_grouped(reference),
                         "status_label": "received", "entity_label": "Ministry of Health",
                         "due_label": format_day(req.due_at, "en"), "escalation_text": "", "answer_text": ""}]
    assert events == [SlotSet("requested_slot", None), SlotSet("last_reference", reference)]


async def test_the_last_four_digits_of_the_phone_prove_it(store: RunningCaseStore) -> None:
    reference, _ = await file()
    await answered(reference)
    events, messages = await run(ActionCheckStatus(), status_tracker(reference, "4567", language="ar"))
    assert [m["response"] for m in messages] == ["utter_status", "utter_status_rate_offer"]
    assert (messages[0]["status_label"], messages[0]["entity_label"]) == ("تم الرد", "وزارة الصحة")
    assert messages[0]["answer_text"] == "\nرد الجهة: The clinic added two doctors to the evening shift."
    assert events == [SlotSet("requested_slot", None), SlotSet("last_reference", reference)]


async def test_a_wrong_proof_and_an_unknown_number_get_the_same_answer(store: RunningCaseStore) -> None:
    reference, _ = await file()
    cleared = [SlotSet("requested_slot", None), SlotSet("status_reference", None), SlotSet("status_proof", None)]
    wrong = await run(ActionCheckStatus(), status_tracker(reference, "1111"))
    unknown = await run(ActionCheckStatus(), status_tracker(refcode.generate(), "4567"))
    stranger_as_owner = await run(ActionCheckStatus(), status_tracker(reference, "owner"))
    assert wrong == unknown == stranger_as_owner == (cleared, [{"response": "utter_status_not_found"}])


async def test_a_report_is_followed_up_with_its_pin_only(store: RunningCaseStore) -> None:
    reference, pin = await file("report")
    assert pin is not None
    _, messages = await run(ActionCheckStatus(), status_tracker(reference, "owner", OWNER))
    assert messages == [{"response": "utter_status_not_found"}], "an anonymous report keeps no owner"
    _, messages = await run(ActionCheckStatus(), status_tracker(reference, pin))
    assert [m["response"] for m in messages] == ["utter_status"]


async def test_guessing_is_rate_limited_even_for_the_right_answer_afterwards(store: RunningCaseStore) -> None:
    reference, _ = await file()
    for guess in ("1111", "2222", "3333", "4444", "5555"):
        _, messages = await run(ActionCheckStatus(), status_tracker(reference, guess))
        assert messages == [{"response": "utter_status_not_found"}]
    events, messages = await run(ActionCheckStatus(), status_tracker(reference, "4567"))
    assert messages == [{"response": "utter_rate_limited"}]
    assert events == [SlotSet("requested_slot", None), SlotSet("status_reference", None), SlotSet("status_proof", None)]
    _, messages = await run(ActionCheckStatus(), status_tracker(reference, "owner", OWNER))
    assert [m["response"] for m in messages] == ["utter_status"], "the owner is never locked out by a guesser"


async def test_the_case_store_down_is_said_plainly(store: RunningCaseStore) -> None:
    await store.stop()
    _, messages = await run(ActionCheckStatus(), status_tracker(refcode.generate(), "4567"))
    assert messages == [{"response": "utter_backend_unavailable"}]


# --- rating and reopening ---------------------------------------------------------------------------


async def test_rating_starts_from_the_request_just_looked_up_with_its_proof() -> None:
    reference = refcode.generate()
    t = tracker("rate it", "rate", slots={"status_reference": reference, "status_proof": "4567"})
    events, messages = await run(ActionStartRating(), t)
    assert messages == []
    assert events == [SlotSet("rating_reference", reference), SlotSet("status_proof", "4567"), SlotSet("rating_score", None),
                      SlotSet("rating_resolved", None), SlotSet("rating_comment", None), SlotSet("requested_slot", None)]


async def test_rating_the_last_filed_request_as_its_owner(store: RunningCaseStore) -> None:
    reference, _ = await file()
    events, _ = await run(ActionStartRating(), tracker("rate", "rate", sender_id=OWNER, slots={"last_reference": reference}))
    assert events[0] == SlotSet("rating_reference", reference) and events[-1] == SlotSet("status_proof", "owner")


@pytest.mark.parametrize(("text", "score"), [("5", "5"), ("٤", "4"), ("I'd say 3", "3"), ("9", None), ("great", None),
                                            ("4/5", "4"), ("خمسة", "5"), ("arba3a", "4"), ("two stars", "2"), ("10", None),
                                            ("four out of five", "4"), ("ثلاثة من خمسة", "3"), ("5 out of 5", "5")])
async def test_a_score_is_one_to_five(domain: dict[str, Any], text: str, score: str | None) -> None:
    t = tracker(text, slots={"requested_slot": "rating_score", "rating_reference": "1", "status_proof": "owner"}, active_loop="rating_form")
    events, _ = await run(ValidateRatingForm(), t, domain)
    assert events == [SlotSet("rating_score", score)]


async def test_no_comment_is_a_dash(domain: dict[str, Any]) -> None:
    base = {"rating_reference": "1", "status_proof": "owner", "rating_score": "2", "rating_resolved": "no"}
    t = tracker("la2", "deny", slots=dict(base, requested_slot="rating_comment"), active_loop="rating_form")
    assert (await run(ValidateRatingForm(), t, domain))[0] == [SlotSet("rating_comment", "-")]
    t = tracker("nobody called me back", slots=dict(base, requested_slot="rating_comment"), active_loop="rating_form")
    assert (await run(ValidateRatingForm(), t, domain))[0] == [SlotSet("rating_comment", "nobody called me back")]


def rating_tracker(reference: str, resolved: str, comment: str = "-", proof: str = "owner") -> Any:
    return tracker(sender_id=OWNER, slots={"rating_reference": reference, "status_proof": proof, "rating_score": "2",
                                          "rating_resolved": resolved, "rating_comment": comment, "language": "en"})


CLEAR = [SlotSet(s, None) for s in ("rating_score", "rating_resolved", "rating_comment", "requested_slot")]


async def test_a_request_still_open_cannot_be_rated(store: RunningCaseStore) -> None:
    reference, _ = await file()
    assert await run(ActionSubmitRating(), rating_tracker(reference, "yes")) == (CLEAR, [{"response": "utter_not_ratable"}])


async def test_an_unresolved_rating_offers_to_reopen_and_reopening_sets_a_new_due_date(store: RunningCaseStore) -> None:
    reference, _ = await file()
    await answered(reference)
    events, messages = await run(ActionSubmitRating(), rating_tracker(reference, "no", "nobody called me back"))
    assert messages == [{"response": "utter_rating_thanks"}, {"response": "utter_offer_reopen"}]
    assert events == CLEAR + [SlotSet("reopen_offered", True), SlotSet("last_reference", reference)]
    [row] = store.requests()
    assert (row["rating_score"], row["rating_resolved"], row["rating_comment"]) == (2, 0, "nobody called me back")

    store.clock.advance(days=3)
    events, messages = await run(ActionReopenRequest(), rating_tracker(reference, "no"))
    req = await common.client().get_request(reference, requester_id=OWNER)
    assert req.status == "reopened"
    assert messages == [{"response": "utter_reopened", "reference_display": refcode.format_grouped(reference),
                         "due_label": format_day(req.due_at, "en")}]
    assert events == [SlotSet("reopen_offered", False), SlotSet("rating_reference", None)]


async def test_a_resolved_rating_just_thanks(store: RunningCaseStore) -> None:
    reference, _ = await file()
    await answered(reference)
    events, messages = await run(ActionSubmitRating(), rating_tracker(reference, "yes", proof="4567"))
    assert messages == [{"response": "utter_rating_thanks"}]
    assert events == CLEAR + [SlotSet("reopen_offered", False)]


async def test_rating_someone_elses_request_is_not_found(store: RunningCaseStore) -> None:
    reference, _ = await file()
    await answered(reference)
    t = tracker(sender_id=STRANGER, slots={"rating_reference": reference, "status_proof": "owner", "rating_score": "1",
                                           "rating_resolved": "yes"})
    assert await run(ActionSubmitRating(), t) == (CLEAR, [{"response": "utter_status_not_found"}])
    assert store.requests()[0]["rating_score"] is None


async def test_reopening_what_is_still_open_fails_politely(store: RunningCaseStore) -> None:
    reference, _ = await file()
    events, messages = await run(ActionReopenRequest(), rating_tracker(reference, "no"))
    assert (events, messages) == ([SlotSet("reopen_offered", False)], [{"response": "utter_reopen_failed"}])
    events, messages = await run(ActionReopenRequest(), tracker())
    assert (events, messages) == ([SlotSet("reopen_offered", False)], [{"response": "utter_ask_status_reference"}])


@pytest.mark.parametrize(("text", "intent", "resolved"), [("la2", "nlu_fallback", "no"), ("aywa", "inform", "yes"),
                                                         ("مش ضروري", "cancel", None), ("نعم", "affirm", "yes")])
async def test_resolved_typed_yes_or_no(domain: dict[str, Any], text: str, intent: str, resolved: str | None) -> None:
    base = {"rating_reference": "1", "status_proof": "owner", "rating_score": "2", "requested_slot": "rating_resolved"}
    events, _ = await run(ValidateRatingForm(), tracker(text, intent, slots=base, active_loop="rating_form"), domain)
    if resolved is None:  # "not necessary" answers nothing here; the cancel rule takes it
        assert events == []
    else:
        assert events[0] == SlotSet("rating_resolved", resolved)


@pytest.mark.parametrize("text", ["بدون", "skip", "ma bdi", "no comment"])
async def test_no_comment_typed_in_any_variety_even_heard_as_cancel(domain: dict[str, Any], text: str) -> None:
    base = {"rating_reference": "1", "status_proof": "owner", "rating_score": "2", "rating_resolved": "no",
            "requested_slot": "rating_comment"}
    events, _ = await run(ValidateRatingForm(), tracker(text, "cancel", slots=base, active_loop="rating_form"), domain)
    assert events[0] == SlotSet("rating_comment", "-")


# --- typed answers to an offer outside a form -----------------------------------------------------


def offered(*buttons: tuple[str, str]) -> list[dict[str, Any]]:
    """The history of a conversation whose last bot message offered these (title, payload) buttons."""
    return [{"event": "bot", "text": "Shall we?", "data": {"buttons": [{"title": t, "payload": p} for t, p in buttons]}}]


REOPEN_OFFER = offered(("Reopen", "/reopen"), ("No", "/deny"))
RATE_OFFER = offered(("تقييم", "/rate_request"), ("لا شكراً", "/deny"))


def pressed(payload: str, entities: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    event = {"event": "user", "timestamp": None, "text": payload, "input_channel": "rest", "metadata": {"channel": "rest"},
             "parse_data": {"intent": {"name": payload[1:], "confidence": 1.0}, "entities": entities or [], "text": payload}}
    return [{"event": "rewind", "timestamp": None}, {"event": "action", "name": "action_listen", "policy": None,
                                                     "confidence": None, "timestamp": None}, event]


@pytest.mark.parametrize(("text", "intent"), [("yes please", "affirm"), ("aywa", "affirm"), ("أعيدوا فتحه", "nlu_fallback"),
                                              ("reopen it", "nlu_fallback"), ("e3ado fat7o", "inform"),
                                              ("اه افتحوه كمان مرة", "out_of_scope")])
async def test_a_typed_yes_or_the_offers_words_press_its_button(text: str, intent: str) -> None:
    events, messages = await run(ActionAnswerOffer(), tracker(text, intent, history=REOPEN_OFFER, slots={"reopen_offered": True}))
    assert (events, messages) == (pressed("/reopen"), [])


@pytest.mark.parametrize("template", ["reopen request {ref}", "open {ref} again please", "e3ado fat7 {ref} law sama7t",
                                      "اعيدوا فتح {ref} من فضلكم"])
async def test_reopen_with_the_reference_typed_carries_the_reference(template: str) -> None:
    reference = refcode.generate()
    text = template.format(ref=refcode.format_grouped(reference))
    events, _ = await run(ActionAnswerOffer(), tracker(text, "nlu_fallback", history=REOPEN_OFFER))
    assert events == pressed("/reopen", [{"entity": "reference", "value": reference}])


@pytest.mark.parametrize(("text", "intent"), [("ok", "affirm"), ("قيّم الرد", "nlu_fallback"), ("rate it", "inform")])
async def test_yes_to_the_rating_offer_starts_rating(text: str, intent: str) -> None:
    events, _ = await run(ActionAnswerOffer(), tracker(text, intent, history=RATE_OFFER))
    assert events == pressed("/rate_request")


async def test_no_to_an_offer_is_answered_and_the_offer_closed() -> None:
    events, messages = await run(ActionAnswerOffer(), tracker("la2 shukran", "deny", history=REOPEN_OFFER, slots={"reopen_offered": True}))
    assert (events, messages) == ([SlotSet("reopen_offered", False)], [{"response": "utter_anything_else"}])


@pytest.mark.parametrize(("intent", "reply"), [("nlu_fallback", "utter_default"), ("inform", "utter_main_menu"),
                                               ("affirm", "utter_anything_else"), ("deny", "utter_anything_else"),
                                               ("out_of_scope", "utter_out_of_scope")])
async def test_without_an_offer_the_old_replies(intent: str, reply: str) -> None:
    events, messages = await run(ActionAnswerOffer(), tracker("blah blah", intent))
    assert (events, messages) == ([], [{"response": reply}])
    # An offer answered by something else entirely: the same.
    events, messages = await run(ActionAnswerOffer(), tracker("what is the weather", intent, history=REOPEN_OFFER))
    assert messages == [{"response": reply}]


@pytest.mark.parametrize(("text", "intent"), [("shokran", "nlu_fallback"), ("merci", "inform"), ("thx", "nlu_fallback"),
                                              ("شكرا", "affirm")])
async def test_thanks_heard_as_nothing_known_gets_a_courteous_reply(text: str, intent: str) -> None:
    events, messages = await run(ActionAnswerOffer(), tracker(text, intent))
    assert (events, messages) == ([], [{"response": "utter_welcome"}])


@pytest.mark.parametrize("text", ["yes", "aywa", "نعم", "اه"])
async def test_yes_to_anything_else_shows_the_services_rather_than_asking_again(text: str) -> None:
    menu = offered(("Ask the government", "/ask_government"), ("Complaint", "/complain"), ("Compliment", "/compliment"))
    events, messages = await run(ActionAnswerOffer(), tracker(text, "affirm", history=menu))
    assert (events, messages) == ([], [{"response": "utter_main_menu"}])


async def test_a_menu_answered_in_words_presses_the_button_only_on_a_clear_match() -> None:
    menu = offered(("Ask the government", "/ask_government"), ("Complaint", "/complain"), ("Compliment", "/compliment"))
    events, _ = await run(ActionAnswerOffer(), tracker("complaint", "nlu_fallback", history=menu))
    assert events == pressed("/complain")
    events, _ = await run(ActionAnswerOffer(), tracker("yes", "affirm", history=menu))
    assert events == [], "a yes to a menu of several picks nothing"


async def test_reopening_a_reference_typed_with_it_needs_its_owner(store: RunningCaseStore) -> None:
    mine, _ = await file()
    await answered(mine)
    other, _ = await file()
    await answered(other)
    t = tracker("/reopen", "reopen", [entity("reference", refcode.format_grouped(other))], sender_id=OWNER,
                slots={"last_reference": mine, "status_proof": "4567", "language": "en"})
    _, messages = await run(ActionReopenRequest(), t)
    assert messages[0]["response"] == "utter_reopened" and messages[0]["reference_display"] == refcode.format_grouped(other)
    t = tracker("/reopen", "reopen", [entity("reference", refcode.format_grouped(mine))], sender_id=STRANGER,
                slots={"language": "en"})
    assert (await run(ActionReopenRequest(), t))[1] == [{"response": "utter_reopen_failed"}]


@pytest.mark.parametrize(("text", "resolved"), [("لم تُحلّ حتى الآن", "no"), ("still waiting, nothing changed", "no"),
                                                ("lessa ma 7alloha", "no"), ("yes they fixed it", "yes"), ("انحلت الحمد لله", "yes")])
@pytest.mark.parametrize("intent", ["nlu_fallback", "inform", "complain", "help"])
async def test_resolved_typed_in_words(domain: dict[str, Any], text: str, resolved: str, intent: str) -> None:
    base = {"rating_reference": "1", "status_proof": "owner", "rating_score": "2", "requested_slot": "rating_resolved"}
    events, _ = await run(ValidateRatingForm(), tracker(text, intent, slots=base, active_loop="rating_form"), domain)
    assert events[0] == SlotSet("rating_resolved", resolved)
