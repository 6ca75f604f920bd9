"""The opening's type asked when the NLU cannot tell it (issue 15): action_start_request and the
fallback's action_answer_offer ask with the five types as buttons instead of guessing, and the
answer (a button, or the type typed in any variety) replays the opening as that type's, so nothing
it said is asked again."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import ActionExecuted, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.requests import CHOSEN, TYPE_QUESTION, ActionStartRequest
from actions.tracking import ActionAnswerOffer
from tests.support.trackers import bot_event, entity, tracker, user_event

pytestmark = pytest.mark.usefixtures("store")

# Openings of our own whose type the NLU left unsure, with the kind of ranking that does that.
CLERK = "The officer at the licensing centre refused my papers and told me to come back next month"
CLERK_RANKING = [("complain", 0.55), ("report_violation", 0.33), ("ask_government", 0.05)]
TRANSFER = "ذهبت إلى مديرية التربية لأسأل عن نقل ابني فأرسلوني بين ثلاثة أقسام دون جواب"
TRANSFER_RANKING = [("ask_government", 0.5), ("complain", 0.42), ("suggest", 0.03)]
BUTTON_PAYLOADS = ["/ask_government", "/suggest", "/compliment", "/complain"]


async def run(action: Any, text: str, intent: str, **kw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker(text, intent, **kw), {})
    return events, dispatcher.messages


def asked_type(opening: str, ranking: list[tuple[str, float]], entities: list[dict[str, Any]] | None = None,
               language: str = "en") -> list[dict[str, Any]]:
    """The history up to the type question: the opening, then the question with its buttons."""
    payloads = BUTTON_PAYLOADS + ["/report_violation"]
    return [user_event(opening, ranking[0][0], entities, ranking=ranking), {"event": "action", "name": "action_start_request"},
            bot_event(TYPE_QUESTION, buttons=[{"title": p[1:], "payload": p} for p in payloads]),
            {"event": "action", "name": "action_listen"}]


def replayed(events: list[dict[str, Any]]) -> dict[str, Any]:
    rewind, listen, user = events
    assert (rewind, listen) == (UserUtteranceReverted(), ActionExecuted("action_listen"))
    assert user["event"] == "user" and user["parse_data"][CHOSEN] is True
    return user


@pytest.mark.parametrize(("text", "ranking"), [(CLERK, CLERK_RANKING), (TRANSFER, TRANSFER_RANKING)])
async def test_an_opening_of_unsure_type_is_asked_with_the_five_types_and_no_form_starts(
        text: str, ranking: list[tuple[str, float]]) -> None:
    events, said = await run(ActionStartRequest(), text, ranking[0][0], ranking=ranking, slots={"language": "en"})
    assert events == [FollowupAction("action_listen")], "nothing set, the rule's form does not run"
    [message] = said
    assert message["response"] == TYPE_QUESTION
    assert [b["payload"] for b in message["buttons"]] == BUTTON_PAYLOADS + ["/report_violation"]
    assert [b["title"] for b in message["buttons"]] == ["Question", "Suggestion", "Compliment", "Complaint", "Report a violation"]


async def test_the_report_button_is_the_report_intent_ranked_higher() -> None:
    ranking = [("report_human_rights", 0.45), ("complain", 0.4), ("report_violation", 0.1)]
    _, said = await run(ActionStartRequest(), "the guards at the detention centre hit my brother during the visit",
                        "report_human_rights", ranking=ranking, slots={"language": "ar"})
    assert said[0]["buttons"][-1] == {"title": "حقوق الإنسان", "payload": "/report_human_rights"}


async def test_a_clear_opening_starts_its_request_at_once() -> None:
    events, said = await run(ActionStartRequest(), CLERK, "complain", ranking=[("complain", 0.8), ("report_violation", 0.2)])
    assert SlotSet("request_type", "complaint") in events and SlotSet("description", CLERK) in events
    assert said == []


async def test_the_types_button_replays_the_opening_as_that_type_with_everything_it_said() -> None:
    names = [entity("entity_name", "dvld")]
    events, said = await run(ActionStartRequest(), "/complain", "complain", history=asked_type(CLERK, CLERK_RANKING, names))
    user = replayed(events)
    assert user["text"] == CLERK
    assert user["parse_data"]["intent"] == {"name": "complain", "confidence": 1.0}
    assert user["parse_data"]["entities"] == names
    assert user["metadata"] == {"channel": "rest"}, "the connector's metadata goes with it"
    assert said == []


@pytest.mark.parametrize(("text", "intent", "chosen"), [
    ("no, it's a complaint", "complain", "complain"),      # English
    ("la2 hay shakwa", "complain", "complain"),            # Arabizi
    ("لا، هي شكوى", "complain", "complain"),                # MSA
    ("مش شكوى، بدي أسأل سؤال", "complain", "ask_government"),  # dialect, the NLU hearing the wrong word
    ("a question", "ask_government", "ask_government"),
    ("iqtira7", "suggest", "suggest"),
])
async def test_the_type_typed_in_any_variety_replays_the_opening(text: str, intent: str, chosen: str) -> None:
    events, _ = await run(ActionStartRequest(), text, intent, history=asked_type(TRANSFER, TRANSFER_RANKING))
    user = replayed(events)
    assert (user["text"], user["parse_data"]["intent"]["name"]) == (TRANSFER, chosen)


@pytest.mark.parametrize(("text", "intent", "payload"), [
    ("no, it's a complaint", "deny", "/complain"),
    ("la2, so2al", "deny", "/ask_government"),
    ("لا هذا ثناء", "nlu_fallback", "/compliment"),
    ("Complaint", "inform", "/complain"),
])
async def test_a_typed_type_the_nlu_reads_as_no_or_nothing_presses_that_types_button(text: str, intent: str, payload: str) -> None:
    """Outside a form a "no ..." goes to action_answer_offer; the type it names is the button pressed,
    which action_start_request then replays as above."""
    events, said = await run(ActionAnswerOffer(), text, intent, history=asked_type(TRANSFER, TRANSFER_RANKING))
    user = replayed_button(events)
    assert user["text"] == payload and said == []


def replayed_button(events: list[dict[str, Any]]) -> dict[str, Any]:
    rewind, listen, user = events
    assert (rewind, listen) == (UserUtteranceReverted(), ActionExecuted("action_listen"))
    return user


async def test_a_long_message_after_the_type_question_is_an_opening_of_its_own() -> None:
    text = "Actually I want to ask how long a transfer between two public schools takes in Zarqa"
    events, _ = await run(ActionStartRequest(), text, "ask_government", history=asked_type(TRANSFER, TRANSFER_RANKING),
                          ranking=[("ask_government", 0.9)])
    assert SlotSet("request_type", "inquiry") in events and SlotSet("description", text) in events


async def test_the_replayed_opening_starts_its_request_and_is_not_read_as_an_answer_again() -> None:
    """Right after the type question, a short opening replayed would read as a typed answer (and
    be replayed for ever): the replay is marked, and starts its request."""
    short = "Complaint: water bill doubled"
    t = tracker(short, "complain", history=asked_type(short, [("complain", 0.5), ("ask_government", 0.4)]))
    t.latest_message[CHOSEN] = True
    events = await ActionStartRequest().run(CollectingDispatcher(), t, {})
    assert SlotSet("request_type", "complaint") in events


async def test_a_report_chosen_for_an_opening_that_was_not_kept_confidential_starts_empty() -> None:
    """The opening's text was stored in clear (the NLU saw no report in it): it is never copied
    into a report, whose narrative is asked again."""
    events, _ = await run(ActionStartRequest(), "/report_violation", "report_violation",
                          history=asked_type(TRANSFER, TRANSFER_RANKING))
    user = replayed(events)
    assert (user["text"], user["parse_data"]["entities"]) == ("/report_violation", [])


async def test_a_report_chosen_for_an_opening_kept_confidential_keeps_its_narrative() -> None:
    events, _ = await run(ActionStartRequest(), "report", "report_violation", history=asked_type(CLERK, CLERK_RANKING))
    user = replayed(events)
    assert (user["text"], user["parse_data"]["intent"]["name"]) == (CLERK, "report_violation")


async def test_an_unsure_opening_the_fallback_caught_is_asked_its_type() -> None:
    ranking = [("nlu_fallback", 0.3), ("report_violation", 0.46), ("complain", 0.44)]
    events, said = await run(ActionAnswerOffer(), CLERK, "nlu_fallback", ranking=ranking)
    assert events == [] and [m["response"] for m in said] == [TYPE_QUESTION]


async def test_a_fallback_that_is_no_opening_still_says_it_did_not_understand() -> None:
    ranking = [("nlu_fallback", 0.3), ("greet", 0.28), ("complain", 0.2)]
    _, said = await run(ActionAnswerOffer(), "hmm well you know how it is with these things", "nlu_fallback", ranking=ranking)
    assert [m["response"] for m in said] == ["utter_default"]


REOPEN_OFFER = [user_event("4", "inform"), {"event": "action", "name": "action_submit_rating"},
                bot_event("utter_offer_reopen", buttons=[{"title": "Reopen", "payload": "/reopen"}, {"title": "No", "payload": "/deny"}]),
                {"event": "action", "name": "action_listen"}]


@pytest.mark.parametrize("text", ["yes, please open it again", "طيب افتحوه مرة ثانية", "aywa e3ado fat7o",
                                  "please open 573 120 9948 again", "أعيدوا فتح الطلب ٥٧٣١٢٠٩٩٤٨ لو سمحتم"])
async def test_a_typed_answer_to_an_offer_is_that_button_whatever_request_the_nlu_heard(text: str) -> None:
    """Typed at "Shall we reopen the request?", a yes-reopen read as a human-rights grievance
    presses "Reopen" instead of starting (and filing) a grievance."""
    events, said = await run(ActionStartRequest(), text, "report_human_rights", history=REOPEN_OFFER)
    assert replayed_button(events)["text"] == "/reopen" and said == []


async def test_a_long_message_after_an_offer_is_a_request_of_its_own() -> None:
    text = "Separately, the clerk at the civil status office in Irbid insulted my mother when she renewed her card"
    events, _ = await run(ActionStartRequest(), text, "complain", history=REOPEN_OFFER)
    assert SlotSet("request_type", "complaint") in events

