"""bot.rasa_patches: the action-response validator is built once and still refuses bad responses."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot import rasa_patches

GOOD = {
    "events": [{"event": "slot", "name": "sector", "value": "health", "timestamp": None},
               {"event": "active_loop", "name": "complaint_form"}],
    "responses": [{"response": "utter_ask_sector", "buttons": []}],
}
BAD = [
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"events": [{"event": "no_such_event"}]},
    {"events": "not a list"},
    {"responses": [1, 2]},
]


def _action() -> RemoteAction:
    return RemoteAction("action_x", None)


def test_patch_is_installed_by_importing_the_channels() -> None:
    """As in `rasa run`: Rasa's core is loaded, then credentials.yml imports our connectors. In a
    fresh interpreter, since this one may have imported `channels` before Rasa's core."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    probe = ("from rasa.core.actions.action import RemoteAction\n"
             "import channels  # noqa: F401\n"
             "from bot import rasa_patches\n"
             "print(RemoteAction._validate_action_result is rasa_patches._validate_action_result)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_valid_response_passes() -> None:
    rasa_patches.apply()
    assert _action()._validate_action_result(dict(GOOD)) is True


@pytest.mark.parametrize("bad", BAD)
def test_invalid_response_is_still_refused_like_stock(bad: dict) -> None:
    rasa_patches.apply()
    with pytest.raises(jsonschema.ValidationError) as patched:
        _action()._validate_action_result(bad)
    with pytest.raises(jsonschema.ValidationError) as stock:
        jsonschema.validate(bad, RemoteAction.action_response_format_spec())
    assert patched.value.message.startswith(stock.value.message)
    assert "Failed to validate Action server response" in patched.value.message


def test_validator_is_built_once() -> None:
    rasa_patches.apply()
    rasa_patches._action_response_validator.cache_clear()
    for _ in range(3):
        _action()._validate_action_result(dict(GOOD))
    assert rasa_patches._action_response_validator.cache_info().misses == 1


async def test_unreachable_action_server_gets_one_localised_answer_per_turn() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import EndpointConfig

    from bot.launcher import free_port
    ROOT = Path(__file__).resolve().parents[2]

    rasa_patches.apply()
    domain = Domain.load(str(ROOT / "domain.yml"))
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    action = RemoteAction("action_start_request", EndpointConfig(url=f"http://127.0.0.1:{free_port()}/webhook"))
    expected = {"en": domain.responses["utter_backend_unavailable"][1]["text"],
                "ar": domain.responses["utter_backend_unavailable"][0]["text"]}
    for lang in ("en", "ar"):
        out = CollectingOutputChannel()
        tracker = DialogueStateTracker.from_events(
            f"s-{lang}", [SlotSet("language", lang), UserUttered("hi", message_id=f"m-{lang}")], slots=domain.slots)
        for _ in range(3):  # Rasa may try several actions in one turn: one answer only
            with pytest.raises(RasaException):
                await action.run(out, nlg, tracker, domain)
        assert [m["text"] for m in out.messages] == [expected[lang]]


# What the action server gets (events_for_actions): the recent events, cut where no report spans.

def _chat(n: int, tag: str) -> list[dict]:
    out: list[dict] = []
    for i in range(n):
        out += [{"event": "user", "text": f"{tag} {i}", "parse_data": {"intent": {"name": "greet"}}, "input_channel": "rest",
                 "metadata": {"channel": "rest"}},
                {"event": "action", "name": "utter_greet"}, {"event": "bot", "text": f"hi {tag} {i}"},
                {"event": "action", "name": "action_listen"}]
    return out


def _report(canary: str, turns: int, close: str | None) -> list[dict]:
    out = [{"event": "user", "text": f"I want to report {canary}", "parse_data": {"intent": {"name": "report_violation"}}},
           {"event": "slot", "name": "request_type", "value": "report"}, {"event": "active_loop", "name": "report_form"},
           {"event": "bot", "text": "Tell me what happened."}, {"event": "action", "name": "action_listen"}]
    for i in range(turns):
        out += [{"event": "user", "text": f"{canary} detail {i}", "parse_data": {"intent": {"name": "inform"}}},
                {"event": "slot", "name": "description", "value": f"{canary} {i}"}, {"event": "bot", "text": f"noted {canary} {i}"},
                {"event": "action", "name": "action_listen"}]
    if close == "filed":
        out += [{"event": "user", "text": "yes", "parse_data": {"intent": {"name": "affirm"}}},
                {"event": "active_loop", "name": None}, {"event": "bot", "text": f"Reference for {canary}"},
                {"event": "slot", "name": "request_type", "value": None}, {"event": "action", "name": "action_listen"}]
    elif close == "handoff":
        out += [{"event": "user", "text": "a person please", "parse_data": {"intent": {"name": "human_handoff"}}},
                {"event": "action", "name": "action_handoff"}, {"event": "action", "name": "action_listen"}]
    return out


CONVERSATIONS = {
    "chat only": _chat(300, "c"),
    "a filed report long ago": _chat(20, "a") + _report("OLD", 30, "filed") + _chat(120, "b"),
    "a report open across the cut": _chat(150, "a") + _report("OPEN", 90, None),
    "a handoff mid-report near the cut": _chat(100, "a") + _report("HANDED", 45, "handoff") + _chat(47, "b"),
    "report after report": _chat(60, "a") + _report("ONE", 40, "filed") + _report("TWO", 40, None),
}


def _transcript(events: list[dict]) -> list[dict]:
    from rasa_sdk import Tracker

    from actions.conversation import _transcript as transcript

    return transcript(Tracker.from_dict({"sender_id": "s", "events": events, "slots": {}, "latest_message": {}}))


@pytest.mark.parametrize("name", list(CONVERSATIONS))
@pytest.mark.parametrize("lines", [10, 55, 100])
def test_the_action_server_gets_the_recent_events_with_every_report_found_as_in_the_whole(name: str, lines: int) -> None:
    from bot import confidential

    events = CONVERSATIONS[name]
    tail = rasa_patches.events_for_actions(events, lines)
    first = len(events) - len(tail)
    assert events[first:] == tail
    assert first == 0 or tail[0]["event"] == "user"
    assert sum(e["event"] in ("user", "bot") for e in tail) >= min(lines, sum(e["event"] in ("user", "bot") for e in events))
    whole = {i - first for i in confidential.confidential_indices(events) if i >= first}
    assert confidential.confidential_indices(tail) == whole, "the tail's report turns are the whole's"
    assert _transcript(tail) == _transcript(events)[-len(_transcript(tail)):]


def test_a_long_conversation_sends_a_fraction_and_a_short_one_everything() -> None:
    assert rasa_patches.events_for_actions(_chat(20, "c")) == _chat(20, "c")
    long = _chat(375, "c")  # 1,500 events, turn 375
    assert len(rasa_patches.events_for_actions(long)) <= 250
    open_report = _chat(10, "a") + _report("OPEN", 200, None)
    sent = rasa_patches.events_for_actions(open_report)
    assert len(sent) < len(open_report) and "I want to report OPEN" in [e.get("text") for e in sent], "an open report is sent whole"
    assert _transcript(rasa_patches.events_for_actions(long)) == _transcript(long)  # the handoff sees the same 40 lines


def test_the_action_call_carries_the_trimmed_events() -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_patches.apply()
    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    events = []
    for i in range(200):
        events += [UserUttered(f"hello {i}", intent={"name": "greet", "confidence": 1.0}), BotUttered(f"hi {i}"),
                   ActionExecuted("action_listen")]
    tracker = DialogueStateTracker.from_events("s", events, domain.slots)
    body = _action()._action_call_format(tracker, domain)
    assert [e["event"] for e in body["tracker"]["events"]][0] == "user"
    assert len(body["tracker"]["events"]) < len(tracker.events) / 3
    assert [e for e in body["tracker"]["events"] if e["event"] == "bot"][-1]["text"] == "hi 199" and body["tracker"]["latest_message"]["text"] == "hello 199"
    assert body["tracker"]["slots"] == tracker.current_slot_values()
    stock = RemoteAction._action_call_format.__wrapped__(_action(), tracker, domain)  # type: ignore[attr-defined]
    assert len(stock["tracker"]["events"]) == len(tracker.events)
