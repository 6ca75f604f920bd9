"""bot.rasa_patches: the action-response validator is built once and still refuses bad responses."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

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
    rasa_patches._fast_action_response_check.cache_clear()
    for _ in range(3):
        _action()._validate_action_result(dict(GOOD))
        with pytest.raises(jsonschema.ValidationError):
            _action()._validate_action_result(BAD[1])
    assert rasa_patches._fast_action_response_check.cache_info().misses == 1
    assert rasa_patches._action_response_validator.cache_info().misses == 1


def _schema_words(node: Any, keys: set[str], consts: set[Any]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("properties", "patternProperties") and isinstance(v, dict):
                keys.update(v)
            if k == "const":
                consts.add(v)
            _schema_words(v, keys, consts)
    elif isinstance(node, list):
        for v in node:
            _schema_words(v, keys, consts)


def _responses(events_only: bool = False) -> Any:
    """Action-server responses near the schema: its own field names and event names, with values of
    every JSON type (and Python's bool/int/float edge cases) where the schema wants one type.
    `events_only`: a list of such events and nothing else (each one an object with a known name,
    so that the branch its name picks decides)."""
    from hypothesis import strategies as st

    keys: set[str] = set()
    consts: set[Any] = set()
    _schema_words(RemoteAction.action_response_format_spec(), keys, consts)
    names, events = sorted(keys), sorted(c for c in consts if isinstance(c, str))
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5, -1.5]),
                        st.sampled_from(events + ["x", "", "utter_ask_sector"]))
    values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.sampled_from(names), inner, max_size=4)),
                          max_leaves=8)
    event = st.fixed_dictionaries({"event": st.sampled_from(events)},
                                  optional={k: values for k in names if k != "event"})
    if events_only:
        return st.fixed_dictionaries({"events": st.lists(event, min_size=1, max_size=3)})
    body = st.fixed_dictionaries({}, optional={"events": st.one_of(st.lists(event, max_size=4), values),
                                               "responses": st.one_of(st.lists(st.one_of(st.dictionaries(st.sampled_from(names), values, max_size=3), values), max_size=3), values)})
    return body


def test_the_compiled_check_accepts_only_what_jsonschema_accepts() -> None:
    """fastjsonschema's compiled check may only say yes where jsonschema says yes: what it refuses
    goes on to jsonschema, so a yes of its own is the one way the two could part. Both verdicts
    are counted so that the test cannot pass on nothing but refusals."""
    import fastjsonschema
    from hypothesis import given, settings

    validator = rasa_patches._action_response_validator()
    fast = rasa_patches._fast_action_response_check()
    verdicts: dict[tuple[bool, bool], int] = {}

    @settings(max_examples=400, derandomize=True, deadline=None)
    @given(_responses())
    def agree(body: dict[str, Any]) -> None:
        try:
            fast(body)
            fast_ok = True
        except fastjsonschema.JsonSchemaException:  # anything else would crash the turn
            fast_ok = False
        stock_ok = validator.is_valid(body)
        verdicts[(fast_ok, stock_ok)] = verdicts.get((fast_ok, stock_ok), 0) + 1
        assert stock_ok or not fast_ok, body

    agree()
    assert verdicts.get((True, True), 0) > 50 and verdicts.get((False, False), 0) > 50, verdicts
    # checking the branch an event's name picks is the same judgment as the whole `oneOf`
    assert verdicts.get((False, True), 0) == 0, verdicts


def test_each_event_is_checked_against_the_branch_its_name_picks() -> None:
    """Rasa's schema has the shape the per-event check relies on (else the whole schema is
    compiled, its `oneOf` tried branch by branch), and the two compiled checks agree."""
    import fastjsonschema
    from hypothesis import given, settings

    schema = RemoteAction.action_response_format_spec()
    split = rasa_patches._event_branches(schema)
    assert split is not None
    outer, branches = split
    assert len(branches) >= 20 and {"user", "bot", "slot", "action", "active_loop"} <= set(branches)
    assert "oneOf" not in outer["properties"]["events"]["items"]
    assert "oneOf" in schema["properties"]["events"]["items"]  # Rasa's own schema left as it was
    assert rasa_patches._event_branches({"properties": {"events": {"items": {"oneOf": [{}]}}}}) is None
    whole = fastjsonschema.compile(schema)
    fast = rasa_patches._fast_action_response_check()

    def verdict(check: Any, body: Any) -> bool:
        try:
            check(body)
            return True
        except fastjsonschema.JsonSchemaException:
            return False

    verdicts: dict[bool, int] = {}

    @settings(max_examples=150, derandomize=True, deadline=None)
    @given(_responses(events_only=True))
    def same(body: dict[str, Any]) -> None:
        ok = verdict(fast, body)
        verdicts[ok] = verdicts.get(ok, 0) + 1
        assert ok == verdict(whole, body), body

    same()
    assert verdicts.get(True, 0) > 30 and verdicts.get(False, 0) > 30, verdicts


def test_a_response_the_compiled_check_refuses_is_judged_by_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid response the compiled check would refuse still passes (jsonschema decides); an
    invalid one gets Rasa's error."""
    import fastjsonschema

    def refuses_all(body: Any) -> None:
        raise fastjsonschema.JsonSchemaValueException("no")

    rasa_patches.apply()
    monkeypatch.setattr(rasa_patches, "_fast_action_response_check", lambda: refuses_all)
    assert _action()._validate_action_result(dict(GOOD)) is True
    with pytest.raises(jsonschema.ValidationError):
        _action()._validate_action_result(BAD[0])


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
    # The report's lines are not the transcript's: the tail reaches back past them for its lines.
    "a report filed among the last lines": _chat(100, "a") + _report("RECENT", 15, "filed") + _chat(3, "b"),
}


def _transcript(events: list[dict], limit: int | None = None) -> list[dict]:
    from rasa_sdk import Tracker

    from actions.conversation import _transcript as transcript

    tracker = Tracker.from_dict({"sender_id": "s", "events": events, "slots": {}, "latest_message": {}})
    return transcript(tracker) if limit is None else transcript(tracker, limit)


@pytest.mark.parametrize("name", list(CONVERSATIONS))
@pytest.mark.parametrize("lines", [10, 40, 55, 100])
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
    # The handoff transcript (the last lines outside every report) reads the same from the tail.
    assert _transcript(tail, lines) == _transcript(events, lines)


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_the_tail_taken_from_a_trackers_events_is_the_tail_of_their_dicts(name: str) -> None:
    """The action call cuts the tail on the tracker's `Event` objects and turns only the tail into
    dicts; it must be the very tail `events_for_actions` takes from the whole session's dicts."""
    from collections import deque

    from rasa.shared.core.events import Event

    objects = deque(Event.from_parameters(e) for e in CONVERSATIONS[name])
    dicts = [e.as_dict() for e in objects]
    for lines in (10, 55, 100):
        assert rasa_patches.tracker_events_for_actions(objects, lines) == rasa_patches.events_for_actions(dicts, lines)


def _just_said(events: list[dict], text: str) -> list[dict]:
    """`events` and then a user message with the slots the extraction set after it, as the
    action server sees them when Rasa runs action_validate_slot_mappings."""
    return events + [{"event": "user", "text": text, "parse_data": {"intent": {"name": "inform"}}, "input_channel": "rest",
                      "metadata": {"channel": "rest"}},
                     {"event": "slot", "name": "language", "value": "en"}, {"event": "slot", "name": "sector", "value": "health"}]


VALIDATION_SHAPES = {
    **{name: _just_said(events, "and another thing") for name, events in CONVERSATIONS.items()},
    "the first message": _just_said([{"event": "action", "name": "action_listen"}], "hello"),
    "the second message": _just_said(_chat(1, "a"), "hello again"),
    "bot lines only before it": _just_said([{"event": "bot", "text": f"welcome {i}"} for i in range(6)], "hello"),
    "only a report before it": _just_said(_report("ONLY", 5, None), "and more"),
    "a report filed, then the first message outside it": _just_said(_report("FIRST", 4, "filed"), "thanks"),
}


@pytest.mark.parametrize("name", list(VALIDATION_SHAPES))
def test_the_validation_action_reads_the_same_from_its_short_tail(name: str) -> None:
    """action_validate_slot_mappings gets the events of fewer lines: what it reads (whether this is
    the session's first user message, the slots set since the latest one) must be the whole's."""
    from rasa_sdk import Tracker

    from actions.conversation import _is_first_message

    events = VALIDATION_SHAPES[name]
    lines = rasa_patches.ACTION_EVENT_LINES_FOR["action_validate_slot_mappings"]
    tail = rasa_patches.events_for_actions(events, lines)
    assert events[len(events) - len(tail):] == tail

    def tracker(evs: list[dict]) -> Tracker:
        return Tracker.from_dict({"sender_id": "s", "events": evs, "slots": {"language": "en", "sector": "health"},
                                  "latest_message": {"text": evs[-3]["text"]}})

    whole, short = tracker(events), tracker(tail)
    assert _is_first_message(short) == _is_first_message(whole)
    assert short.slots_to_validate() == whole.slots_to_validate() == {"language": "en", "sector": "health"}
    if name == "chat only":  # (an open report is sent from its start, however long)
        assert len(tail) < 20  # a late turn sends a few events, not forty lines'


def _greetings(turns: int) -> tuple[Any, Any]:
    """(domain, tracker) of `turns` greetings answered, the patches applied."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_patches.apply()
    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    events = []
    for i in range(turns):
        events += [UserUttered(f"hello {i}", intent={"name": "greet", "confidence": 1.0}), BotUttered(f"hi {i}"),
                   ActionExecuted("action_listen")]
    return domain, DialogueStateTracker.from_events("s", events, domain.slots)


def test_the_action_call_cuts_the_validation_actions_tail_shorter() -> None:
    domain, tracker = _greetings(100)
    users = {name: sum(e["event"] == "user" for e in RemoteAction(name, None)._action_call_format(tracker, domain)["tracker"]["events"])
             for name in ("action_validate_slot_mappings", "action_handoff")}
    assert users == {"action_validate_slot_mappings": 2, "action_handoff": rasa_patches.ACTION_EVENT_LINES // 2}


def test_a_long_conversation_sends_a_fraction_and_a_short_one_everything() -> None:
    assert rasa_patches.events_for_actions(_chat(20, "c")) == _chat(20, "c")
    long = _chat(375, "c")  # 1,500 events, turn 375
    assert len(rasa_patches.events_for_actions(long)) <= 2 * rasa_patches.ACTION_EVENT_LINES + 2
    open_report = _chat(60, "a") + _report("OPEN", 200, None)
    sent = rasa_patches.events_for_actions(open_report)
    assert len(sent) < len(open_report) and "I want to report OPEN" in [e.get("text") for e in sent], "an open report is sent whole"
    assert _transcript(rasa_patches.events_for_actions(long)) == _transcript(long)  # the handoff sees the same 40 lines


def test_the_action_call_carries_the_trimmed_events() -> None:
    domain, tracker = _greetings(200)
    body = _action()._action_call_format(tracker, domain)
    assert [e["event"] for e in body["tracker"]["events"]][0] == "user"
    assert len(body["tracker"]["events"]) < len(tracker.events) / 3
    assert [e for e in body["tracker"]["events"] if e["event"] == "bot"][-1]["text"] == "hi 199" and body["tracker"]["latest_message"]["text"] == "hello 199"
    assert body["tracker"]["slots"] == tracker.current_slot_values()
    stock = RemoteAction._action_call_format.__wrapped__(_action(), tracker, domain)  # type: ignore[attr-defined]
    assert len(stock["tracker"]["events"]) == len(tracker.events)
    # Everything else is stock's: the call's keys, the tracker's state but its events, the domain but its responses.
    assert {**body["tracker"], "events": None} == {**stock["tracker"], "events": None}
    assert body["tracker"]["events"] == stock["tracker"]["events"][-len(body["tracker"]["events"]):]
    assert {k: v for k, v in body.items() if k not in ("tracker", "domain")} == {k: v for k, v in stock.items() if k not in ("tracker", "domain")}
    assert set(body) == set(stock)


def test_the_action_call_carries_the_domain_without_its_responses() -> None:
    """The action server never renders a response, so the call leaves the responses (nine tenths
    of the domain's JSON) out and keeps everything else as Rasa sends it."""
    import json

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_patches.apply()
    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    tracker = DialogueStateTracker.from_events("s", [UserUttered("hi", intent={"name": "greet", "confidence": 1.0})], domain.slots)
    body = _action()._action_call_format(tracker, domain)
    stock = RemoteAction._action_call_format.__wrapped__(_action(), tracker, domain)  # type: ignore[attr-defined]
    assert "responses" in stock["domain"] and "responses" not in body["domain"]
    assert body["domain"] == {k: v for k, v in stock["domain"].items() if k != "responses"}
    assert body["domain"]["forms"] and body["domain"]["slots"]
    assert "responses" in domain.as_dict(), "the domain itself is untouched"
    assert len(json.dumps(body["domain"])) < len(json.dumps(stock["domain"])) / 5


# --- dialogue states, replayed once --------------------------------------------------------------

def _random_history(rng: random.Random, domain: Any, length: int) -> list[Any]:
    """Events as conversations produce them, and the ones that rewrite the applied history: a
    form running turn after turn (its loop execution folds the turns before it), interrupted,
    rejected, rewound (UserUtteranceReverted, ActionReverted), restarted, slots reset."""
    from rasa.shared.core import events as ev

    forms = list(domain.form_names)[:3]
    slots = [s for s in domain.slots if s.influence_conversation][:12] or list(domain.slots)[:12]
    intents = list(domain.intents)[:15]
    utters = [a for a in domain.action_names_or_texts if a.startswith("utter_")][:10]
    out: list[Any] = [ev.ActionExecuted("action_session_start"), ev.SessionStarted(), ev.ActionExecuted("action_listen")]
    form = None
    while len(out) < length:
        r = rng.random()
        intent = rng.choice(intents)
        out.append(ev.UserUttered(f"text {len(out)}", {"name": intent, "confidence": 1.0},
                                  [{"entity": "sector", "value": "x", "start": 0, "end": 1}] if rng.random() < 0.3 else []))
        if rng.random() < 0.5:
            out.append(ev.DefinePrevUserUtteredFeaturization(False))
        for _ in range(rng.randint(0, 2)):
            slot = rng.choice(slots)
            out.append(ev.SlotSet(slot.name, _slot_value(rng, slot)))
        if r < 0.35 and forms:
            if form is None or rng.random() < 0.2:
                form = rng.choice(forms)
                out += [ev.ActionExecuted(form), ev.ActiveLoop(form)]
            else:
                out.append(ev.ActionExecuted(form, hide_rule_turn=rng.random() < 0.5))
            out.append(ev.SlotSet("requested_slot", rng.choice(["sector", "description", None])))
            if rng.random() < 0.15:
                out += [ev.ActiveLoop(None), ev.SlotSet("requested_slot", None)]
                form = None
        elif r < 0.45 and form:
            out += [ev.ActionExecutionRejected(form), ev.LoopInterrupted(True), ev.ActionExecuted(rng.choice(utters))]
        elif r < 0.50:
            out += [ev.ActionExecuted(rng.choice(utters)), ev.UserUtteranceReverted()]
        elif r < 0.53:
            out += [ev.ActionExecuted(rng.choice(utters)), ev.ActionReverted()]
        elif r < 0.55:
            out += [ev.ActionExecuted("action_restart"), ev.Restarted()]
            form = None
        elif r < 0.57:
            out.append(ev.AllSlotsReset())
        elif r < 0.60:
            out.append(ev.FollowupAction(rng.choice(utters)))
        out.append(ev.ActionExecuted(rng.choice(utters), hide_rule_turn=rng.random() < 0.3))
        out.append(ev.ActionExecuted("action_listen"))
    return out


def _slot_value(rng: random.Random, slot: Any) -> Any:
    values = getattr(slot, "values", None)
    if values:
        return rng.choice(list(values) + [None])
    if slot.type_name == "bool":
        return rng.choice([True, False, None])
    return rng.choice(["a", "b", None])


@pytest.mark.parametrize("seed", range(6))
def test_dialogue_states_are_stocks_at_every_step_of_a_growing_conversation(seed: int) -> None:
    """The kept replay gives stock's states after every event of histories that rewrite
    themselves (forms folding turns, rewinds, restarts), for the flags every policy uses."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    patched = rasa_patches._make_states_for_tracker_history(Domain.states_for_tracker_history)
    stock = Domain.states_for_tracker_history
    rng = random.Random(seed)
    history = _random_history(rng, domain, 260)
    rule_only = {"rule_only_slots": [s.name for s in list(domain.slots)[:3]], "rule_only_loops": list(domain.form_names)[:1]}
    flags = [dict(), dict(ignore_rule_only_turns=True, rule_only_data=rule_only), dict(omit_unset_slots=True)]
    tracker = DialogueStateTracker("seed", domain.slots)
    resumed = 0
    for n, event in enumerate(history):
        tracker.update(event)
        if n % 3 and n != len(history) - 1:
            continue
        for f in flags:
            got = patched(domain, tracker, **f)
            want = stock(domain, tracker, **f)
            assert got == want, (seed, n, f)
            for state in got:  # as Rasa's featurizers do in place: what is kept must not change
                state.get("user", {}).pop("text", None)
            got.clear()
        resumed += bool(tracker.__dict__[rasa_patches._REPLAYS])
    assert resumed > 50
    # A fresh object of the same events (another process's read) replays from the start, alike.
    twin = DialogueStateTracker.from_events("seed", list(tracker.events), domain.slots)
    assert patched(domain, twin) == stock(domain, twin)


def test_a_long_conversations_states_are_not_replayed_from_the_start_each_turn() -> None:
    """The point of it: at turn 300 a prediction replays that turn's events, not the session's."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    patched = rasa_patches._make_states_for_tracker_history(Domain.states_for_tracker_history)
    tracker = DialogueStateTracker("long", domain.slots)
    updates = 0
    for turn in range(300):
        for e in (UserUttered(f"hello {turn}", {"name": "greet", "confidence": 1.0}), ActionExecuted("utter_greet"),
                  BotUttered("hi"), ActionExecuted("action_listen")):
            tracker.update(e)
        patched(domain, tracker)
    replay = tracker.__dict__[rasa_patches._REPLAYS]
    (kept,) = replay.values()
    original = type(kept.tracker).update

    def counting(self: Any, event: Any, domain: Any = None) -> None:
        nonlocal updates
        updates += 1
        original(self, event, domain)

    tracker.update(UserUttered("bye", {"name": "goodbye", "confidence": 1.0}))
    type(kept.tracker).update = counting
    try:
        states = patched(domain, tracker)
    finally:
        type(kept.tracker).update = original
    assert updates == 1 and len(states) == 601


def test_states_check_fails_the_turn_when_the_kept_replay_differs_from_stock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The e2e systems run with STATES_CHECK=1: it must catch a kept replay gone wrong."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    patched = rasa_patches._make_states_for_tracker_history(Domain.states_for_tracker_history)
    monkeypatch.setattr(rasa_patches, "_STATES_CHECK", True)
    tracker = DialogueStateTracker("check", domain.slots)
    for e in (ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet", "confidence": 1.0}),
              ActionExecuted("utter_greet"), ActionExecuted("action_listen")):
        tracker.update(e)
    patched(domain, tracker)
    (kept,) = tracker.__dict__[rasa_patches._REPLAYS].values()
    kept.states[1]["prev_action"] = {"action_name": "utter_something_else"}
    tracker.update(UserUttered("bye", {"name": "goodbye", "confidence": 1.0}))
    with pytest.raises(AssertionError, match="STATES_CHECK"):
        patched(domain, tracker)


@pytest.mark.parametrize("seed", range(3))
def test_the_trackers_copy_is_the_one_rasa_rebuilds_by_replaying(seed: int) -> None:
    """Rasa copies the tracker before every action by replaying all its events; ours takes the
    state as it is. Same fields after every event of self-rewriting histories; and the copy is
    its own (what the action adds to it does not reach the original)."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    fast = rasa_patches._make_tracker_copy(DialogueStateTracker.copy)
    tracker = DialogueStateTracker("copy", domain.slots)
    tracker.model_id, tracker.sender_source = "model-1", "rest"
    for n, event in enumerate(_random_history(random.Random(seed), domain, 200)):
        tracker.update(event)
        if n % 4:
            continue
        twin, rebuilt = fast(tracker), DialogueStateTracker.copy(tracker)
        assert rasa_patches._tracker_fields(twin) == rasa_patches._tracker_fields(rebuilt), (seed, n)
        before = rasa_patches._tracker_fields(tracker)
        twin.update(SlotSet("sector", "changed"))
        twin.update(ActionExecuted("utter_changed"))
        twin.change_loop_to("complaint_form")
        twin.interrupt_loop(True)
        assert rasa_patches._tracker_fields(tracker) == before


@pytest.mark.parametrize("seed", range(4))
def test_the_applied_events_are_stocks_after_every_event(seed: int) -> None:
    """The kept walk of applied events gives stock's list after every event (forms folding turns,
    a new form's name appearing, rewinds, restarts), and each caller gets a list of its own."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    kept = rasa_patches._make_applied_events(DialogueStateTracker.applied_events)
    tracker = DialogueStateTracker("applied", domain.slots)
    continued = 0
    for event in _random_history(random.Random(seed), domain, 300):
        before = tracker.__dict__.get(rasa_patches._APPLIED)
        tracker.update(event)
        got = kept(tracker)
        assert got == DialogueStateTracker.applied_events(tracker)
        continued += tracker.__dict__[rasa_patches._APPLIED] is before
        got.clear()
        assert kept(tracker) == DialogueStateTracker.applied_events(tracker)
    assert continued > 100


@pytest.mark.parametrize("seed", range(4))
def test_the_validation_tracker_is_the_one_rasa_replays(seed: int) -> None:
    """Rasa builds a tracker for every slot validation (after every message, and in each form
    turn) by replaying the session from its first event; ours continues a copy. The same fields
    and state after every event of self-rewriting histories; with a restart among the events
    it steps aside (stock drops what precedes the restart)."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, Restarted, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

    domain = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
    tracker = DialogueStateTracker("validate", domain.slots)
    compared = 0
    for n, event in enumerate(_random_history(random.Random(seed), domain, 240)):
        tracker.update(event)
        if n % 3:
            continue
        extra = [SlotSet("requested_slot", "sector"), ActionExecuted("complaint_form"), SlotSet("sector", f"s{n}")]
        ours = rasa_patches._extended(tracker, extra)
        if any(isinstance(e, Restarted) for e in tracker.events):
            assert ours is None
            continue
        stock = DialogueStateTracker.from_events(tracker.sender_id, tracker.events_after_latest_restart() + extra, slots=domain.slots)
        assert ours.current_state(EventVerbosity.ALL) == stock.current_state(EventVerbosity.ALL), (seed, n)
        assert rasa_patches._tracker_fields(ours) == rasa_patches._tracker_fields(stock), (seed, n)
        assert len(tracker.events) == len(stock.events) - len(extra), "the original is not extended"
        compared += 1
    assert compared >= 5


def test_an_sql_broker_that_loses_the_race_to_create_its_table_starts_anyway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two Rasa processes starting together: one creates the broker's table between the other's
    check and its CREATE, which then fails with "table events already exists" (seen in CI)."""
    import sqlalchemy as sa
    from rasa.core.brokers.sql import SQLEventBroker

    db = tmp_path / "events.db"
    real_create_all = SQLEventBroker.Base.metadata.create_all
    calls = []

    def lose_the_race(bind: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # the other process wins: its table appears, ours fails as SQLite says
            real_create_all(bind)
            with bind.connect() as conn:
                conn.exec_driver_sql("CREATE TABLE events (id INTEGER PRIMARY KEY)")
        real_create_all(bind, *args, **kwargs)

    monkeypatch.setattr(SQLEventBroker.Base.metadata, "create_all", lose_the_race)
    broker = rasa_patches._make_broker_init(SQLEventBroker.__init__.__wrapped__ if hasattr(SQLEventBroker.__init__, "__wrapped__")
                                            else SQLEventBroker.__init__)
    instance = SQLEventBroker.__new__(SQLEventBroker)
    broker(instance, db=str(db))
    assert len(calls) == 2 and sa.inspect(instance.engine).has_table("events")
    with pytest.raises(sa.exc.OperationalError):
        stock = SQLEventBroker.__init__.__wrapped__ if hasattr(SQLEventBroker.__init__, "__wrapped__") else SQLEventBroker.__init__
        calls.clear()
        db.unlink()
        stock(SQLEventBroker.__new__(SQLEventBroker), db=str(db))
