"""The transcript handed to the contact center leaves a report's turns out."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.conversation import _transcript


def user(intent: str, text: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "timestamp": 1.0, "parse_data": {"intent": {"name": intent}}}


def test_a_reporter_who_asks_for_a_person_hands_over_no_narrative() -> None:
    events = [
        user("greet", "hello"), {"event": "bot", "text": "Hi, how can I help?"},
        user("report_violation", "I want to report corruption"), {"event": "slot", "name": "request_type", "value": "report"},
        {"event": "bot", "text": "Describe the violation."}, user("inform", "the clerk took a bribe kanari"),
        {"event": "slot", "name": "description", "value": "the clerk took a bribe kanari"},
        user("human_handoff", "I want to talk to a person"),
    ]
    tracker = Tracker("s", {}, {}, events, False, None, {}, "action_listen")
    assert [line["text"] for line in _transcript(tracker)] == ["hello", "Hi, how can I help?", "I want to talk to a person"]
