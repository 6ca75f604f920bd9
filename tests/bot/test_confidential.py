"""Which events belong to a report: decided by intents, loops and slots, never by the text."""

from __future__ import annotations

from typing import Any

from bot.confidential import PLACEHOLDER, Segment, confidential_indices, scrub, segments


def user(intent: str, text: str = "...") -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, "text": text, "entities": []},
            "metadata": {"reply_address": "sealed:x"}}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "text": text, "data": {"buttons": []}, "metadata": {"utter_action": "utter_x", "reference": "1"}}


def test_a_report_runs_from_its_first_message_to_the_slot_that_closes_it() -> None:
    events = [user("greet"), bot("hi"), user("report_violation"), slot("request_type", "report"), user("inform"),
              slot("description", "secret"), user("affirm"), bot("PIN 123456"), slot("request_type", None), action("action_listen")]
    assert segments(events) == [Segment(2, 8, True)]


def test_a_human_rights_grievance_is_a_report_from_its_first_message() -> None:
    # Its opening message is sealed on the intent alone, even before any slot or loop says "report".
    events = [user("greet"), bot("hi"), user("report_human_rights", "they beat my son in custody")]
    assert segments(events) == [Segment(2, 2, False)]
    events += [slot("request_type", "report"), {"event": "active_loop", "name": "report_form"}, user("affirm"),
               bot("PIN 123456"), slot("request_type", None), user("greet")]
    assert segments(events) == [Segment(2, 7, True)]


def test_a_report_opened_by_a_slot_reaches_back_to_the_message_that_asked_for_it() -> None:
    events = [user("greet"), action("action_start_request"), slot("request_type", "report"), user("inform")]
    assert segments(events) == [Segment(0, 3, False)]


def test_cancel_or_another_request_closes_it_and_a_complaint_is_never_confidential() -> None:
    cancelled = [user("report_violation"), slot("request_type", "report"), user("cancel"), slot("request_type", None),
                 user("complain"), slot("request_type", "complaint"), slot("description", "mine"), slot("request_type", None)]
    assert segments(cancelled) == [Segment(0, 3, True)]
    switched = [user("report_violation"), slot("request_type", "report"), user("complain"), slot("request_type", "complaint")]
    assert segments(switched) == [Segment(0, 3, True)]


def test_asking_for_a_person_closes_it_without_the_request_for_a_person() -> None:
    events = [user("report_violation"), {"event": "active_loop", "name": "report_form"}, user("inform"),
              user("human_handoff"), action("action_handoff")]
    assert segments(events) == [Segment(0, 2, True)]
    assert confidential_indices(events) == {0, 1, 2}


def test_a_new_session_closes_it() -> None:
    events = [user("report_violation"), user("inform"), {"event": "session_started"}, user("greet")]
    assert segments(events) == [Segment(0, 1, True)]


def test_scrub_keeps_the_shape_and_nothing_else() -> None:
    u = scrub(user("inform", "the clerk took a bribe"))
    assert u["text"] == PLACEHOLDER and u["parse_data"]["text"] == PLACEHOLDER and "metadata" not in u
    assert u["parse_data"]["intent"] == {"name": "inform"}
    b = scrub(bot("PIN 123456"))
    assert b["text"] == PLACEHOLDER and b["data"] == {} and b["metadata"] == {"utter_action": "utter_x"}
    assert scrub(slot("pin", "123456"))["value"] is None and scrub(slot("sector", "health"))["value"] == "health"
