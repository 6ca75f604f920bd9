"""Small, tested patches to Rasa 3.6 (frozen upstream), applied once in the Rasa process.

Each patch keeps Rasa's behaviour and fixes a cost; `tests/bot/test_rasa_patches.py` pins both.

- Action-server responses: `RemoteAction._validate_action_result` calls `jsonschema.validate`,
  which checks the schema against its meta-schema and builds a new validator on every call
  (about 10x the cost of validating the response itself; half of the Rasa process's busy CPU
  under load, issue 14). Here the schema is compiled once into code by fastjsonschema, and each
  event is checked against the one branch of the events' `oneOf` that its name picks (the
  compiled `oneOf` tried all 23 and raised an exception for each that failed: 1.8 ms for a
  response of eight events, now 0.01 ms; it was 12% of the Rasa process under 40 concurrent
  filings); whatever this does not accept goes to jsonschema's validator (built once), so an
  invalid response is refused with the same `ValidationError` and jsonschema alone decides
  what is refused.
- Action server down or failing: Rasa logs the error and the turn ends in silence (the person
  sees nothing). Here the person gets `utter_backend_unavailable` in their language, once per
  turn, straight through the output channel, and the error then takes Rasa's own path (the
  action's events are dropped), so the form and its slots stay as they were and the next message
  after the action server is back carries on. A rejection (validation said no) is still Rasa's.
- The domain the action server gets: Rasa sends the whole domain with every action call, and
  nine tenths of its 65 KB of JSON are the responses in both languages, which the action server
  never reads (rasa_sdk and our actions name a response; Rasa renders it). Encoding them was 7%
  of the Rasa process under load and parsing them a quarter of the action server's. The call
  carries the domain without its responses; the slots, forms, intents and actions are whole.
- What the action server gets: Rasa sends the whole session's events with every action call
  (1,500 events, about 360 KB of JSON to write, send and parse, at turn 300 of a conversation),
  each turned into a dict first. The actions read the slots, the latest message and the recent
  events only (the latest user event, the bot's last buttons, the handoff transcript's last 40
  lines), so they get the events holding the last `ACTION_EVENT_LINES` user and bot messages
  outside every report, cut at a user message outside every report (bot/confidential.py): the
  actions find the same report turns and the same transcript in what they get as in the whole
  session, so a report's narrative never reaches the handoff transcript. The cut is found on the
  tracker's `Event` objects and only the tail is turned into dicts; the report segments come
  from a walk kept on the events and continued over the new ones (`confidential.scan_of`; the
  tracker store's save uses it too), which `STATES_CHECK=1` compares with a whole walk. An
  action that reads less gets fewer lines by the same cut (`ACTION_EVENT_LINES_FOR`: the slot
  validation that runs after every user message gets 3).
- The dialogue states the policies read: every policy, on every prediction, replays the whole
  session from its first event to build the state before each action
  (`Domain.states_for_tracker_history`): a turn's cost grew with the conversation (turn 300 cost
  about 4x turn 5 from this alone). Here the replay is kept on the tracker object (which the
  tracker store hands back next turn, bot/tracker_store.py) and continued from where it stopped;
  where the applied events were rewritten (a form's loop execution folds the turns before it,
  a rewind), it resumes from a checkpoint before the change, or replays from the start. The
  states are those stock computes, event for event; `STATES_CHECK=1` (the e2e tests set it)
  computes stock's too and fails the turn on any difference.
- What the rule policy reads: the whole session's states, formatted for a debug line nobody
  reads and deep-copied, and matched against every rule at every step back to the first. A rule
  never looks further back than its own length: the policy gets that many of the latest states
  (fewer steps back than that is stock's own case). `STATES_CHECK=1` also runs it on the whole
  history and fails the turn if the prediction differs. (The memoization policy, which had the
  same cut at its max_history, left config.yml: it never decided a step.)
- `DialogueStateTracker.applied_events()` (the events minus those rewound) walks the whole
  session, and Rasa asks for it a dozen times a turn (every policy, the session check...). Here
  the walk is kept on the tracker and continued over the events appended since; it starts over
  when the events were changed otherwise, or when a new form's name appears (Rasa folds a form's
  turns by the names of every form the session ever ran). `STATES_CHECK=1` compares with stock.
- Before every action Rasa copies the tracker by replaying every event into a new one
  (`DialogueStateTracker.copy`), so that a rejected action's events can be dropped. Here the
  copy takes the state as it is (slots, active loop and latest action copied, the events list
  copied by reference), as `copy()` would rebuild it; `STATES_CHECK=1` compares the two.
- A button's payload ("/affirm", "/switch_language{...}": every button, IVR keypress and SMS
  number choice) goes through the whole NLU pipeline, whose last node, `RegexMessageHandler`,
  then replaces the message with the payload's intent and entities and drops everything computed
  before it. Here that node alone parses a payload it accepts (12 ms less per such turn; at 20
  simultaneous IVR calls the answer's p95 went from 1.5-1.7 s to 1.0-1.1 s); one it refuses goes
  through the whole graph. tests/bot/test_payload_parse.py compares the two for every button in
  the domain; `STATES_CHECK=1` compares them on every e2e turn.
- Running the model's graph: for every message and every prediction Rasa's `DaskGraphRunner`
  cuts the graph to its targets, builds a dask graph and has dask order and schedule it on one
  thread, though the graph's shape never changes. The first run for a set of targets and input
  names goes through dask, recording the order in which it calls the nodes; later runs call them
  in that order with the same arguments (a parse 4.2 → 3.8 ms, a prediction 0.35 → 0.21 ms).
  tests/bot/test_graph_run.py compares parses and predictions with dask's on the trained model,
  and the order of the calls.
- Loading the trained model: Rasa builds DIET's variables by training it for one step on one
  example (`RasaModel.load` calls `fit`), which traces the whole training graph, gradients and
  optimizer included, before the weights are read over them: seven tenths of a Rasa process's
  start. Here the variables are built by one eager prediction, the weights read from the
  checkpoint by name, and the model prepared for prediction as stock prepares it (on a slow
  2-core machine, a whole system starts in 19 s instead of 56 s). If the checkpoint
  lacks a value for any variable so built, or anything fails, stock's load runs instead;
  tests/bot/test_model_load.py compares every variable and every parse with stock's.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import itertools
import logging
import operator
import os
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from bot import confidential

logger = logging.getLogger(__name__)

_applied = False
# The user and bot messages outside every report whose events the action server gets at least:
# the handoff transcript's lines (actions/conversation.py shows these many). The actions read
# nothing further back (the latest user event, the bot's last buttons, the opening the type
# question asked about); at 100, a late turn of a long conversation cost a third more than an
# early one, mostly in writing and reading the longer tail (issue 14).
ACTION_EVENT_LINES = 40
# Actions that read less get the events of fewer lines (the same cut: at a user message outside
# every report). Rasa runs action_validate_slot_mappings (actions/conversation.py,
# ValidatePredefinedSlots) after every user message; it reads the latest message, the slots set
# since it (rasa_sdk's `slots_to_validate`) and whether the session holds more than one user
# message (`_is_first_message`): a tail of 3 lines starts at an earlier user message whenever the
# session has one outside every report, and is the whole session otherwise, so that count is
# the same. Its 40-line tail, written and read on every turn, was most of what a late turn of a
# long conversation cost beyond an early one (issue 14).
ACTION_EVENT_LINES_FOR = {"action_validate_slot_mappings": 3}


@functools.lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, as jsonschema.validate would on every call
    return cls(schema)


def _event_branches(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
    """The response schema without its events' `oneOf`, and that `oneOf`'s branches by the event
    name each one's `const` demands; None if the schema is not of that shape.

    Rasa's events schema is a `oneOf` of 23 branches, each demanding its own `const` event name,
    under an item schema that requires `event` as a string. A compiled `oneOf` tries every branch
    and raises (and builds the message of) an exception for each one that fails: 22 per event,
    the largest part of checking a response (12% of the Rasa process's busy CPU under 40
    concurrent filings, 2026-11-30). An event whose name is the const of branch k fails every
    other branch on that const, so the `oneOf` holds exactly when branch k holds, and fails when
    no branch names the event: checking the one branch the name picks is the same judgment."""
    try:
        item = schema["properties"]["events"]["items"]
        branches = item["oneOf"]
        names = [branch["properties"]["event"]["const"] for branch in branches]
        sound = (item.get("type") == "object" and "event" in item.get("required", ())
                 and item["properties"]["event"].get("type") == "string"
                 and all(isinstance(n, str) for n in names) and len(set(names)) == len(names))
    except (KeyError, TypeError):
        return None
    if not sound:
        return None
    outer = copy.deepcopy(schema)
    del outer["properties"]["events"]["items"]["oneOf"]
    return outer, dict(zip(names, branches))


@functools.lru_cache(maxsize=1)
def _fast_action_response_check() -> Any:
    """A check that raises `fastjsonschema.JsonSchemaException` where it does not accept a response:
    the schema compiled once, each event checked against the one branch its name picks."""
    import fastjsonschema
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    split = _event_branches(schema)
    if split is None:
        return fastjsonschema.compile(schema)
    outer, branches = split
    check_outer = fastjsonschema.compile(outer)
    check_event = {name: fastjsonschema.compile(branch) for name, branch in branches.items()}

    def check(body: Any) -> None:
        check_outer(body)  # an object; its events, if any, a list of objects with a string `event`
        for event in body.get("events", ()):
            branch = check_event.get(event["event"])
            if branch is None:
                raise fastjsonschema.JsonSchemaValueException("data.events[]: no event of that name")
            branch(event)

    return check


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    import fastjsonschema
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    try:
        _fast_action_response_check()(result)
        return True
    except fastjsonschema.JsonSchemaException:
        pass  # jsonschema decides, with Rasa's own error
    error = best_match(_action_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def _tail_start(events: Any, lines: int, kind: Any, spans_of: Any) -> int:
    """Where the tail of `events` starts that holds the last `lines` user and bot messages outside
    every report segment (the handoff transcript's lines: actions/conversation.py), at a user
    message that no segment spans (so the segments of the tail are those of the whole). `kind(e)`
    is an event's type; `spans_of()` the whole's segments."""
    spans = [(s.start, s.end) for s in spans_of()]

    def secret(i: int) -> bool:
        return any(start <= i <= end for start, end in spans)

    seen, cut = 0, 0
    for i, e in zip(range(len(events) - 1, -1, -1), reversed(events)):
        if kind(e) in ("user", "bot") and not secret(i):
            seen += 1
            if seen >= lines:
                cut = i
                break
    if cut == 0:
        return 0
    for k in range(cut, 0, -1):
        if kind(events[k]) == "user" and not secret(k):
            return k
    return 0


def events_for_actions(events: list[dict[str, Any]], lines: int = ACTION_EVENT_LINES) -> list[dict[str, Any]]:
    """The tail of `events` (dicts) that the action server gets (see `_tail_start`)."""
    return events[_tail_start(events, lines, lambda e: e.get("event"), lambda: confidential.segments(events)):]


def tracker_segments(events: Any, upto: int | None = None) -> list[confidential.Segment]:
    """The report segments of a tracker's `events[:upto]` (Rasa `Event` objects), the walk kept and
    continued (`confidential.scan_of`); `STATES_CHECK=1` walks them whole too and compares."""
    found = confidential.scan_of(events, upto).segments()
    if _STATES_CHECK:
        whole = confidential.segments([e.as_dict() for e in itertools.islice(events, 0, upto)])
        if found != whole:
            raise AssertionError("STATES_CHECK: the kept walk's report segments differ from a whole walk's")
    return found


def tracker_events_for_actions(events: Any, lines: int = ACTION_EVENT_LINES) -> list[dict[str, Any]]:
    """`events_for_actions` over a tracker's `Event` objects: only the tail is turned into dicts
    (turning all 1,500 events of a long session into dicts for every action call, to send a sixth
    of them, grew a turn's cost with the conversation's length: issue 14)."""
    start = _tail_start(events, lines, lambda e: e.type_name, lambda: tracker_segments(events))
    return [e.as_dict() for e in itertools.islice(events, start, None)]


def _make_action_call_format(stock: Any) -> Any:
    def _action_call_format(self: Any, tracker: Any, domain: Any) -> dict[str, Any]:
        """Rasa 3.6's `RemoteAction._action_call_format` with the tracker's recent events only and
        the domain without its responses (stock's, `__wrapped__`, sends all of both)."""
        import rasa
        from rasa.shared.core.trackers import EventVerbosity

        state = tracker.current_state(EventVerbosity.NONE)
        state["events"] = tracker_events_for_actions(tracker.events, ACTION_EVENT_LINES_FOR.get(self._name, ACTION_EVENT_LINES))
        result: dict[str, Any] = {"next_action": self._name, "sender_id": tracker.sender_id, "tracker": state,
                                  "version": rasa.__version__}
        if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
            result["domain"] = {key: value for key, value in domain.as_dict().items() if key != "responses"}
        return result

    _action_call_format.__wrapped__ = stock  # type: ignore[attr-defined]
    return _action_call_format


# --- dialogue states, replayed once -------------------------------------------------------------

# How far back (in applied events) a turn may rewrite the history and still resume from a
# checkpoint: a form's loop execution folds the user and action events since its previous run,
# a few turns back at most; anything further replays from the start.
STATE_CHECKPOINT_EVENTS = 400
_REPLAYS = "_bekh_state_replays"


@dataclass
class _Mark:
    """The replay just before the ActionExecuted at `index` of the applied events."""

    index: int
    tracker: Any
    states: int
    last_ml: Any
    hidden: bool


@dataclass
class _Replay:
    events: list[Any]  # the applied events replayed so far
    tracker: Any  # the replay tracker after them
    states: list[dict[str, Any]] = field(default_factory=list)  # one per ActionExecuted yield (the final yield excluded)
    last_ml: Any = None
    hidden: bool = False
    marks: deque[_Mark] = field(default_factory=deque)


def _copy_replay_tracker(tracker: Any) -> Any:
    """A copy of a replay tracker's state, without its events (the caller sets them): the
    slots, the active loop and the latest action are what `update` changes in place."""
    twin = copy.copy(tracker)
    for kept in (_REPLAYS, _APPLIED):  # what is kept for a tracker is not its copy's
        twin.__dict__.pop(kept, None)
    twin.slots = {name: copy.copy(slot) for name, slot in tracker.slots.items()}
    twin.active_loop = copy.copy(tracker.active_loop)
    twin.latest_action = copy.copy(tracker.latest_action)
    return twin


def _rule_only_key(rule_only_data: Any) -> Any:
    if not rule_only_data:
        return None
    return tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple, set)) else v) for k, v in rule_only_data.items()))


def _handed_out(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New state dicts with their own user sub-state: Rasa's featurizers delete the text, the
    intent or the entities from those in place, and the kept ones must stay as computed."""
    from rasa.shared.core.constants import USER

    out = []
    for state in states:
        twin = dict(state)
        if USER in twin:
            twin[USER] = dict(twin[USER])
        out.append(twin)
    return out


def _resume(replay: _Replay, applied: list[Any]) -> tuple[Any, int] | None:
    """(replay tracker, first event to replay) continuing `replay` over `applied`, its fields set
    back to that point; None when it cannot resume (replay from the start)."""
    old, n = replay.events, min(len(replay.events), len(applied))
    if len(old) <= len(applied) and all(map(operator.is_, old, applied)):  # the usual case, compared in C
        same = len(old)
    else:
        same = 0
        while same < n and old[same] is applied[same]:
            same += 1
    if same == len(old):
        return replay.tracker, same
    while replay.marks and replay.marks[-1].index > same:
        replay.marks.pop()
    if not replay.marks:
        return None
    mark = replay.marks.pop()  # re-marked when its event is replayed
    tracker = _copy_replay_tracker(mark.tracker)
    tracker.events = deque(applied[:mark.index], maxlen=mark.tracker.events.maxlen)
    del replay.states[mark.states:]
    replay.last_ml, replay.hidden = mark.last_ml, mark.hidden
    return tracker, mark.index


def _make_states_for_tracker_history(stock: Any) -> Any:
    from rasa.shared.core.constants import PREVIOUS_ACTION
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.trackers import DialogueStateTracker

    def states_for_tracker_history(self: Any, tracker: Any, omit_unset_slots: bool = False,
                                   ignore_rule_only_turns: bool = False, rule_only_data: Any = None) -> list[dict[str, Any]]:
        if type(tracker) is not DialogueStateTracker:  # training's trackers keep their own caches
            return stock(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)  # type: ignore[no-any-return]
        replays: dict[Any, _Replay] = tracker.__dict__.setdefault(_REPLAYS, {})
        key = (id(self), omit_unset_slots, ignore_rule_only_turns, _rule_only_key(rule_only_data))
        applied = tracker.applied_events()
        replay = replays.get(key)
        start = _resume(replay, applied) if replay is not None else None
        if start is None:
            replay = replays[key] = _Replay(events=[], tracker=tracker.init_copy())
            start = (replay.tracker, 0)
        assert replay is not None
        replay_tracker, first = start
        checkpoint_from = len(applied) - STATE_CHECKPOINT_EVENTS

        def state_of(tr: Any, hide: bool, last_ml: Any, hidden: bool, keep: bool) -> tuple[Any, bool]:
            """Stock's loop body: appends the state unless the turn is hidden; (last_ml, hidden) after it."""
            if ignore_rule_only_turns:
                if not hidden:
                    last_ml = self._get_prev_action_sub_state(tr)
                if not tr.followup_action and tr.latest_action_name != tr.active_loop_name:
                    hidden = hide
                if hidden:
                    return last_ml, hidden
            state = self.get_active_state(tr, omit_unset_slots=omit_unset_slots)
            if ignore_rule_only_turns:
                self._remove_rule_only_features(state, rule_only_data)
                if replay.states:
                    self._substitute_rule_only_user_input(state, replay.states[-1])
                if last_ml:
                    state[PREVIOUS_ACTION] = last_ml
            (replay.states if keep else final).append(self._clean_state(state))
            return last_ml, hidden

        final: list[dict[str, Any]] = []
        for i in range(first, len(applied)):
            event = applied[i]
            if isinstance(event, ActionExecuted):
                if i >= checkpoint_from:
                    replay.marks.append(_Mark(i, _copy_replay_tracker(replay_tracker), len(replay.states),
                                              replay.last_ml, replay.hidden))
                replay.last_ml, replay.hidden = state_of(replay_tracker, event.hide_rule_turn, replay.last_ml,
                                                        replay.hidden, keep=True)
            replay_tracker.update(event)
        while replay.marks and replay.marks[0].index < checkpoint_from:
            replay.marks.popleft()
        replay.events, replay.tracker = applied, replay_tracker
        state_of(replay_tracker, False, replay.last_ml, replay.hidden, keep=False)
        states = replay.states + final
        tail = _STATE_TAIL.get()
        if tail and len(states) > tail and not any(_after_unlikely_intent(s) for s in states[-tail:]):
            states = states[-tail:]
        states = _handed_out(states)  # the final state may share a kept one's user sub-state
        if _STATES_CHECK:
            expected = stock(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
            if states != expected[len(expected) - len(states):]:
                raise AssertionError("STATES_CHECK: the kept replay's states differ from stock's")
        return states

    states_for_tracker_history.__wrapped__ = stock  # type: ignore[attr-defined]
    return states_for_tracker_history


_APPLIED = "_bekh_applied"


@dataclass
class _Applied:
    events: Any  # the tracker's events deque the walk is of
    length: int
    last: Any  # the last event walked
    loops: set[str]  # every form name among the events walked
    applied: list[Any]


def _make_applied_events(stock: Any) -> Any:
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        ActiveLoop,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
        UserUttered,
    )

    def applied_events(self: Any) -> list[Any]:
        events = self.events
        kept: _Applied | None = self.__dict__.get(_APPLIED)
        n = len(events)
        fresh = list(itertools.islice(events, kept.length, None)) if (
            kept is not None and kept.events is events and kept.length <= n
            and (kept.length == 0 or events[kept.length - 1] is kept.last)) else None
        if fresh is None or kept is None or any(isinstance(e, ActiveLoop) and e.name and e.name not in kept.loops for e in fresh):
            kept, fresh = _Applied(events, 0, None, {e.name for e in events if isinstance(e, ActiveLoop) and e.name}, []), list(events)
        applied = kept.applied
        for event in fresh:  # stock's walk
            if isinstance(event, (Restarted, SessionStarted)):
                applied = []
            elif isinstance(event, ActionReverted):
                self._undo_till_previous(ActionExecuted, applied)
            elif isinstance(event, UserUtteranceReverted):
                self._undo_till_previous(UserUttered, applied)
                self._undo_till_previous(ActionExecuted, applied)
            elif (isinstance(event, ActionExecuted) and event.action_name in kept.loops
                  and not self._first_loop_execution_or_unhappy_path(event.action_name, applied)):
                self._undo_till_previous_loop_execution(event.action_name, applied)
            else:
                applied.append(event)
        kept.applied, kept.length, kept.last = applied, n, (events[-1] if n else None)
        self.__dict__[_APPLIED] = kept
        out = list(applied)  # the caller's own list: the kept walk continues next time
        if _STATES_CHECK and out != stock(self):
            raise AssertionError("STATES_CHECK: the kept applied events differ from stock's")
        return out

    applied_events.__wrapped__ = stock  # type: ignore[attr-defined]
    return applied_events


def _make_tracker_copy(stock: Any) -> Any:
    from rasa.shared.core.trackers import EventVerbosity

    def copy_tracker(self: Any) -> Any:
        twin = _copy_replay_tracker(self)
        twin.events = deque(self.events, maxlen=self.events.maxlen)
        # As `init_copy` leaves them.
        twin.model_id = twin.assistant_id = twin.sender_source = None
        if _STATES_CHECK:
            rebuilt = stock(self)
            if (twin.current_state(EventVerbosity.ALL) != rebuilt.current_state(EventVerbosity.ALL)
                    or _tracker_fields(twin) != _tracker_fields(rebuilt)):
                raise AssertionError("STATES_CHECK: the tracker's copy differs from Rasa's replayed copy")
        return twin

    copy_tracker.__wrapped__ = stock  # type: ignore[attr-defined]
    return copy_tracker


def _extended(tracker: Any, extra: list[Any]) -> Any:
    """`DialogueStateTracker.from_events(sender, tracker.events_after_latest_restart() + extra,
    slots=domain.slots)`, which Rasa builds for every slot validation (after every message, and
    again in a form's turn) by replaying the whole session: the tracker's copy taken as it is, then
    `extra` applied. None when a restart is among the events (stock then drops what precedes it)."""
    from rasa.shared.core.events import Restarted

    if tracker.events.maxlen is not None or any(isinstance(e, Restarted) for e in tracker.events):
        return None
    twin = tracker.copy()
    for event in extra:
        twin.update(event)
    return twin


def _checked_extended(tracker: Any, extra: list[Any], domain: Any) -> Any:
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

    twin = _extended(tracker, extra)
    if twin is None or _STATES_CHECK:
        stock = DialogueStateTracker.from_events(tracker.sender_id, tracker.events_after_latest_restart() + extra,
                                                 slots=domain.slots)
        if twin is None:
            return stock
        if (twin.current_state(EventVerbosity.ALL) != stock.current_state(EventVerbosity.ALL)
                or _tracker_fields(twin) != _tracker_fields(stock)):
            raise AssertionError("STATES_CHECK: the validation tracker differs from Rasa's replayed one")
    return twin


def _make_execute_validation_action(stock: Any) -> Any:
    """ActionExtractSlots._execute_validation_action (rasa 3.6.21), its tracker built by `_extended`."""
    async def _execute_validation_action(self: Any, extraction_events: list[Any], output_channel: Any, nlg: Any,
                                         tracker: Any, domain: Any) -> list[Any]:
        from rasa.shared.core.constants import ACTION_VALIDATE_SLOT_MAPPINGS
        from rasa.shared.core.events import SlotSet

        slot_events = [event for event in extraction_events if isinstance(event, SlotSet)]
        if ACTION_VALIDATE_SLOT_MAPPINGS not in domain.user_actions:
            return slot_events
        _tracker = _checked_extended(tracker, slot_events, domain)
        validate_events = await self._run_custom_action(ACTION_VALIDATE_SLOT_MAPPINGS, output_channel, nlg, _tracker, domain)
        validated = [event.key for event in validate_events if isinstance(event, SlotSet)]
        # As stock: a candidate the custom action returns no SlotSet for is valid.
        return validate_events + [event for event in slot_events if event.key not in validated]

    _execute_validation_action.__wrapped__ = stock  # type: ignore[attr-defined]
    return _execute_validation_action


def _make_temporary_tracker(stock: Any) -> Any:
    """FormAction._temporary_tracker (rasa 3.6.21): the slot being filled, the form's name, then
    `additional_events`."""
    def _temporary_tracker(self: Any, current_tracker: Any, additional_events: list[Any], domain: Any) -> Any:
        from rasa.shared.core.constants import REQUESTED_SLOT
        from rasa.shared.core.events import ActionExecuted, SlotSet

        extra = [SlotSet(REQUESTED_SLOT, self.get_slot_to_fill(current_tracker)), ActionExecuted(self.name()), *additional_events]
        return _checked_extended(current_tracker, extra, domain)

    _temporary_tracker.__wrapped__ = stock  # type: ignore[attr-defined]
    return _temporary_tracker


def _make_broker_init(stock: Any) -> Any:
    """SQLEventBroker.__init__ runs `create_all` unguarded: two Rasa processes starting together
    (RASA_PROCESSES=2, pods of a deployment) race between its check and its CREATE, and the loser
    exits with "table events already exists". The table is there then: the second try finds it."""
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        import sqlalchemy.exc

        try:
            stock(self, *args, **kwargs)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.IntegrityError) as err:
            if "exist" not in str(err) and "duplicate" not in str(err).lower():
                raise
            stock(self, *args, **kwargs)

    __init__.__wrapped__ = stock  # type: ignore[attr-defined]
    return __init__


def _tracker_fields(tracker: Any) -> dict[str, Any]:
    """What a tracker holds beyond its events, comparable."""
    out = {k: v for k, v in vars(tracker).items() if k not in ("events", "slots", "active_loop", _REPLAYS, _APPLIED)}
    out["slots"] = {name: (slot.value, slot.has_been_set) for name, slot in tracker.slots.items()}
    out["active_loop"] = vars(tracker.active_loop) if tracker.active_loop is not None else None
    out["events"] = list(tracker.events)
    return out


# How many of the latest states the running policy reads (None: all), set around its prediction.
_STATE_TAIL: contextvars.ContextVar[int | None] = contextvars.ContextVar("bekh_state_tail", default=None)


def _after_unlikely_intent(state: dict[str, Any]) -> bool:
    """ML policies drop these states before counting max_history back (Rasa's
    `_remove_action_unlikely_intent_from_states`): a tail holding one is not cut."""
    from rasa.shared.core.constants import ACTION_UNLIKELY_INTENT_NAME, PREVIOUS_ACTION

    return bool((state.get(PREVIOUS_ACTION) or {}).get("action_name") == ACTION_UNLIKELY_INTENT_NAME)


def _longest_rule(policy: Any) -> int | None:
    """The most states any of the rule policy's rules spans (None: no rules, read everything)."""
    cached = policy.__dict__.get("_bekh_longest_rule")
    if cached is None:
        from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH

        keys = [k for name in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH) for k in (policy.lookup.get(name) or {})]
        cached = policy.__dict__["_bekh_longest_rule"] = max((len(policy._rule_key_to_state(k)) for k in keys), default=0)
    return cached or None


# --- the rule policy's rule matching, remembered ----------------------------------------------------

# `RulePolicy._get_possible_keys(lookup, states)` tries every rule (257 and 65 loop-unhappy ones
# here) against the latest states, in Python, several times a turn: a quarter of a millisecond a
# call, 6-9% of a short turn's Rasa CPU (py-spy, issue 14). Its answer depends only on the lookup
# and the states, and a loaded model's lookup never changes, so it is remembered per policy,
# keyed on the states themselves (bounded, least recently used out). A policy being trained
# changes its lookup as it goes: it is never remembered for (only a loaded one is marked).
POSSIBLE_KEYS_REMEMBERED = 4096
_RULES_LOADED = "_bekh_rules_loaded"
_POSSIBLE_KEYS = "_bekh_possible_keys"


def _frozen_states(states: list[dict[str, Any]]) -> tuple[Any, ...]:
    """The states as a hashable key: each state's sub-states and their features, sorted."""
    return tuple(tuple(sorted((name, tuple(sorted(sub.items()))) for name, sub in state.items())) for state in states)


def _make_possible_keys(stock: Any) -> Any:
    def _get_possible_keys(self: Any, lookup: dict[str, str], states: list[dict[str, Any]]) -> set[str]:
        if not self.__dict__.get(_RULES_LOADED):
            return stock(self, lookup, states)  # type: ignore[no-any-return]
        try:
            key = (id(lookup), _frozen_states(states))
            hash(key)
        except TypeError:  # a feature value that cannot be a key: as stock
            return stock(self, lookup, states)  # type: ignore[no-any-return]
        remembered: OrderedDict[Any, tuple[Any, frozenset[str]]] = self.__dict__.setdefault(_POSSIBLE_KEYS, OrderedDict())
        entry = remembered.get(key)
        if entry is not None and entry[0] is lookup:  # the entry holds its lookup: its id is not reused
            remembered.move_to_end(key)
            return set(entry[1])
        found = stock(self, lookup, states)
        remembered[key] = (lookup, frozenset(found))
        while len(remembered) > POSSIBLE_KEYS_REMEMBERED:
            remembered.popitem(last=False)
        return found  # type: ignore[no-any-return]

    _get_possible_keys.__wrapped__ = stock  # type: ignore[attr-defined]
    return _get_possible_keys


def _make_rule_policy_load(stock: Any) -> Any:
    def load(cls: Any, *args: Any, **kwargs: Any) -> Any:
        policy = stock(cls, *args, **kwargs)
        policy.__dict__[_RULES_LOADED] = True
        return policy

    load.__wrapped__ = stock  # type: ignore[attr-defined]
    return classmethod(load)


def _make_prediction_states(stock: Any, tail_of: Any) -> Any:
    def _prediction_states(self: Any, tracker: Any, domain: Any, use_text_for_last_user_input: bool = False,
                           rule_only_data: Any = None) -> list[dict[str, Any]]:
        token = _STATE_TAIL.set(None if _FULL_HISTORY.get() else tail_of(self))
        try:
            return stock(self, tracker, domain, use_text_for_last_user_input, rule_only_data)  # type: ignore[no-any-return]
        finally:
            _STATE_TAIL.reset(token)

    _prediction_states.__wrapped__ = stock  # type: ignore[attr-defined]
    return _prediction_states


# Set while STATES_CHECK runs a policy again on the whole history.
_FULL_HISTORY: contextvars.ContextVar[bool] = contextvars.ContextVar("bekh_full_history", default=False)


def _make_checked_prediction(stock: Any) -> Any:
    def predict_action_probabilities(self: Any, tracker: Any, domain: Any, rule_only_data: Any = None, **kwargs: Any) -> Any:
        prediction = stock(self, tracker, domain, rule_only_data=rule_only_data, **kwargs)
        if _STATES_CHECK:
            token = _FULL_HISTORY.set(True)
            try:
                whole = stock(self, tracker, domain, rule_only_data=rule_only_data, **kwargs)
            finally:
                _FULL_HISTORY.reset(token)
            if (prediction.probabilities, prediction.events, prediction.optional_events) != (
                    whole.probabilities, whole.events, whole.optional_events):
                raise AssertionError(f"STATES_CHECK: {type(self).__name__} predicts otherwise on the whole history")
        return prediction

    predict_action_probabilities.__wrapped__ = stock  # type: ignore[attr-defined]
    return predict_action_probabilities


_STATES_CHECK = os.environ.get("STATES_CHECK", "") == "1"


UNAVAILABLE_RESPONSE = "utter_backend_unavailable"


_apologised: OrderedDict[tuple[str, str | None], None] = OrderedDict()  # (sender, user message id), bounded


def _make_run(stock_run: Any) -> Any:
    async def run(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[Any]:
        from rasa.core.actions.action import ActionExecutionRejection
        from rasa.shared.exceptions import RasaException

        try:
            return await stock_run(self, output_channel, nlg, tracker, domain)  # type: ignore[no-any-return]
        except ActionExecutionRejection:
            raise
        except RasaException:
            # Rasa logs which action failed (no message text); the person hears from us once a turn.
            latest = getattr(tracker, "latest_message", None)
            key = (tracker.sender_id, getattr(latest, "message_id", None))
            if key not in _apologised:
                _apologised[key] = None
                while len(_apologised) > 10_000:
                    _apologised.popitem(last=False)
                message = await nlg.generate(UNAVAILABLE_RESPONSE, tracker, output_channel.name())
                if message:
                    await output_channel.send_response(tracker.sender_id, message)
            raise

    run.__wrapped__ = stock_run  # type: ignore[attr-defined]
    return run


# --- the model's graph run without a scheduler per message ----------------------------------------

_PLANS = "_bekh_graph_plans"


@dataclass(frozen=True)
class _Plan:
    """How dask ran a graph for one set of targets and input names: the nodes in the order it called
    them, each with its arguments (a key of the graph, whose result is passed, or a literal)."""

    node_names: tuple[str, ...]
    steps: tuple[tuple[str, Any, tuple[tuple[bool, str], ...]], ...]


def _make_graph_run(stock: Any) -> Any:
    """`DaskGraphRunner.run`, which for every message (and every prediction) cuts the graph down to
    its targets, builds a dask graph, has dask order it statically (`dask.order.order`) and runs it
    through dask's scheduler on one thread: a tenth of the Rasa process's busy CPU under 40
    concurrent filings (2026-11-30), for a graph whose shape never changes. The first run for a
    set of targets and input names goes through dask as stock does, recording the order in which
    dask calls the nodes; later runs call the same nodes in that order with the same arguments.
    dask's order depends on the graph's shape alone, which those names fix. The inputs are still
    checked against the node names on every run, as stock does."""
    from rasa.engine.exceptions import GraphRunError

    def run(self: Any, inputs: dict[str, Any] | None = None, targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        plans = self.__dict__.setdefault(_PLANS, {})
        key = (tuple(run_targets), tuple(inputs or ()))
        plan = plans.get(key)
        if plan is None:
            result, plan = _recorded_run(self, inputs, run_targets)
            if plan is not None:
                plans[key] = plan
            return result
        if inputs:
            self._add_inputs_to_graph(inputs, dict.fromkeys(plan.node_names))  # stock's clash check
        results: dict[str, Any] = {name: (name, value) for name, value in (inputs or {}).items()}
        try:
            for name, node, args in plan.steps:
                results[name] = node(*[results[arg] if is_key else arg for is_key, arg in args])
        except RuntimeError as e:  # as stock turns dask's
            raise GraphRunError("Error running runner.") from e
        return dict(results[t] for t in run_targets)

    run.__wrapped__ = stock  # type: ignore[attr-defined]
    return run


def _recorded_run(runner: Any, inputs: dict[str, Any] | None, run_targets: list[str]) -> tuple[dict[str, Any], _Plan | None]:
    """Stock's run (dask), with every node's call recorded in order; the plan of it, or None if a
    node of the cut graph was not called (then every run goes through dask)."""
    import dask
    from rasa.engine.exceptions import GraphRunError

    minimal = runner._graph_schema.minimal_graph_schema(run_targets)
    run_graph = runner._build_dask_graph(minimal)
    if inputs:
        runner._add_inputs_to_graph(inputs, run_graph)
    called: list[str] = []

    def recorded(name: str, node: Any) -> Any:
        def call(*args: Any) -> Any:
            called.append(name)
            return node(*args)
        return call

    graph = {name: (recorded(name, task[0]), *task[1:]) if name in minimal.nodes else task for name, task in run_graph.items()}
    try:
        result = dict(dask.get(graph, run_targets))
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e
    if sorted(called) != sorted(minimal.nodes):
        return result, None
    keys = frozenset(run_graph)
    steps = tuple((name, runner._instantiated_nodes[name],
                   tuple((isinstance(need, str) and need in keys, need) for need in minimal.nodes[name].needs.values()))
                  for name in called)
    return result, _Plan(tuple(minimal.nodes), steps)


# --- a button's payload parsed without the NLU pipeline ------------------------------------------

def _make_parse_message_with_graph(stock: Any) -> Any:
    def _parse_message_with_graph(self: Any, message: Any, tracker: Any, only_output_properties: bool = True) -> dict[str, Any]:
        """A message that is an intent payload ("/affirm", "/switch_language{...}": every button,
        every IVR keypress, every SMS number choice) is parsed by the graph's last node,
        `RegexMessageHandler`, which replaces the message with the payload's intent and entities
        and drops what the pipeline computed before it. Here it is that node alone: the
        tokenizers, featurizers, DIET and the linear model (12 ms of a payload turn's parse, issue
        14) are not run for a result they cannot change. A payload the handler does not accept
        (an unknown intent, a malformed one) goes through the whole graph, as stock."""
        text = getattr(message, "text", None)
        if only_output_properties and isinstance(text, str) and text.strip().startswith("/"):
            parsed = _payload_parse(self, message)
            if parsed is not None:
                if _STATES_CHECK:
                    whole = stock(self, message, tracker, only_output_properties)
                    if whole != parsed:
                        raise AssertionError("STATES_CHECK: a payload parsed alone differs from the whole graph's parse")
                return parsed
        return stock(self, message, tracker, only_output_properties)  # type: ignore[no-any-return]

    _parse_message_with_graph.__wrapped__ = stock  # type: ignore[attr-defined]
    return _parse_message_with_graph


def _payload_parse(processor: Any, message: Any) -> dict[str, Any] | None:
    """The graph's parse of an intent payload, or None if its `RegexMessageHandler` would leave
    the message to the rest of the pipeline (then the whole graph decides)."""
    from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT, TEXT_TOKENS
    from rasa.shared.nlu.training_data.message import Message

    if f"run_{RegexMessageHandler.__name__}" != processor.model_metadata.nlu_target:
        return None
    # As the graph's NLUMessageConverter builds it.
    built = Message(data={TEXT: message.text, "message_id": message.message_id, "metadata": message.metadata},
                    output_properties={TEXT_TOKENS})
    unpacked = YAMLStoryReader.unpack_regex_message(built, processor.domain, entity_extractor_name=RegexMessageHandler.__name__)
    if unpacked is built:
        return None
    parse_data: dict[str, Any] = {TEXT: "", INTENT: {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, "entities": []}
    parse_data.update(unpacked.as_dict(only_output_properties=True))
    return parse_data


# --- loading a trained model without a training step ------------------------------------------

def _make_model_load(stock: Any) -> Any:
    """`RasaModel.load`, building the model's variables by one eager prediction instead of
    Rasa's one-example `fit` (which traces the whole training step, gradients and optimizer
    included: seven tenths of a Rasa process's start here). The trained weights are then read
    from the checkpoint by name, whatever built the variables, and the model is prepared for
    prediction as stock prepares it. Fine-tuning, or a load without a prediction example, is
    stock's; so is any model whose variables the prediction leaves unbuilt (checked below)."""
    stock_load = stock.__func__

    def load(cls: Any, model_file_name: str, model_data_example: Any, predict_data_example: Any = None,
             finetune_mode: bool = False, *args: Any, **kwargs: Any) -> Any:
        model = None
        if not finetune_mode and predict_data_example is not None:
            try:
                model = _load_by_predicting(cls, model_file_name, predict_data_example, *args, **kwargs)
            except Exception:  # whatever went wrong, stock's way still loads the model
                logger.warning("Loading the model by a prediction failed; loading it as Rasa does", exc_info=True)
        if model is None:
            model = stock_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                               *args, **kwargs)
        return model

    load.__wrapped__ = stock_load  # type: ignore[attr-defined]
    return classmethod(load)


def _load_by_predicting(cls: Any, model_file_name: str, predict_data_example: Any, *args: Any, **kwargs: Any) -> Any:
    """The model with its trained weights, its variables built by an eager prediction; None when
    the checkpoint does not hold a value for every variable the prediction built."""
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY

    config = kwargs.get("config", {})
    model = cls(*args, **kwargs)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                  run_eagerly=config.get(RUN_EAGERLY))
    run_eagerly = model._run_eagerly
    model._run_eagerly = True
    model.run_inference(predict_data_example)  # eager: creates every variable a prediction reads
    model._run_eagerly = run_eagerly
    status = model.load_weights(model_file_name)
    try:
        # Every variable the prediction built, and every object holding one, found its value in
        # the checkpoint; the optimizer's slots and the training metrics stay in the file.
        status.assert_existing_objects_matched()
    except AssertionError:
        return None
    status.expect_partial()
    # The label embeddings the eager prediction cached were made with the initial weights.
    model.prepared_for_prediction = False
    model.all_labels_embed = None
    model._tf_predict_step = None
    model.run_inference(predict_data_example)  # traces the prediction graph, as stock does
    return model


def _patch_model_load() -> None:
    from rasa.utils.tensorflow.models import RasaModel

    if not hasattr(RasaModel.load, "__wrapped__"):
        RasaModel.load = _make_model_load(RasaModel.__dict__["load"])  # type: ignore[method-assign]


def apply() -> None:
    """Idempotent; called when our connectors are imported (every Rasa process loads them)."""
    global _applied
    if _applied:
        return
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    RemoteAction.run = _make_run(RemoteAction.run)  # type: ignore[method-assign]
    RemoteAction._action_call_format = _make_action_call_format(RemoteAction._action_call_format)  # type: ignore[method-assign]
    from rasa.shared.core.domain import Domain

    Domain.states_for_tracker_history = _make_states_for_tracker_history(Domain.states_for_tracker_history)  # type: ignore[method-assign]
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.trackers import DialogueStateTracker

    DialogueStateTracker.copy = _make_tracker_copy(DialogueStateTracker.copy)  # type: ignore[method-assign]
    from rasa.core.actions.action import ActionExtractSlots
    from rasa.core.actions.forms import FormAction

    ActionExtractSlots._execute_validation_action = _make_execute_validation_action(  # type: ignore[method-assign]
        ActionExtractSlots._execute_validation_action)
    FormAction._temporary_tracker = _make_temporary_tracker(FormAction._temporary_tracker)  # type: ignore[method-assign]
    from rasa.core.brokers.sql import SQLEventBroker

    SQLEventBroker.__init__ = _make_broker_init(SQLEventBroker.__init__)  # type: ignore[method-assign]
    DialogueStateTracker.applied_events = _make_applied_events(DialogueStateTracker.applied_events)  # type: ignore[method-assign]

    # On RulePolicy itself: its parent MemoizationPolicy (not in config.yml) keeps stock's methods.
    RulePolicy._prediction_states = _make_prediction_states(RulePolicy._prediction_states, _longest_rule)  # type: ignore[method-assign]
    RulePolicy.predict_action_probabilities = _make_checked_prediction(RulePolicy.predict_action_probabilities)  # type: ignore[method-assign]
    RulePolicy._get_possible_keys = _make_possible_keys(RulePolicy._get_possible_keys)  # type: ignore[method-assign]
    RulePolicy.load = _make_rule_policy_load(RulePolicy.load.__func__)  # type: ignore[method-assign]
    from rasa.core.processor import MessageProcessor

    MessageProcessor._parse_message_with_graph = _make_parse_message_with_graph(  # type: ignore[method-assign]
        MessageProcessor._parse_message_with_graph)
    from rasa.engine.runner.dask import DaskGraphRunner

    DaskGraphRunner.run = _make_graph_run(DaskGraphRunner.run)  # type: ignore[method-assign]
    _patch_model_load()
    _applied = True

