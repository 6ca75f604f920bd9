"""Small, tested patches to Rasa 3.6 (frozen upstream), applied once in the Rasa process.

Each patch keeps Rasa's behaviour and fixes a cost; `tests/bot/test_rasa_patches.py` pins both.

- Action-server responses: `RemoteAction._validate_action_result` calls `jsonschema.validate`,
  which checks the schema against its meta-schema and builds a new validator on every call
  (about 10x the cost of validating the response itself; half of the Rasa process's busy CPU
  under load, issue 14). Here the validator is built once; an invalid response is still refused
  with the same `ValidationError`.
- Action server down or failing: Rasa logs the error and the turn ends in silence (the person
  sees nothing). Here the person gets `utter_backend_unavailable` in their language, once per
  turn, straight through the output channel, and the error then takes Rasa's own path (the
  action's events are dropped), so the form and its slots stay as they were and the next message
  after the action server is back carries on. A rejection (validation said no) is still Rasa's.
- What the action server gets: Rasa sends the whole session's events with every action call
  (1,500 events, about 360 KB of JSON to write, send and parse, at turn 300 of a conversation).
  The actions read the slots, the latest message and the recent events only (the latest user
  event, the slots just extracted, the handoff transcript's last 40 lines), so they get the
  events of the last `ACTION_EVENT_LINES` user and bot messages, cut at a user message outside
  every report (bot/confidential.py): the actions find the same report turns in what they get as
  in the whole session, so a report's narrative never reaches the handoff transcript.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any

from bot import confidential

_applied = False
# User and bot messages whose events the action server gets at least (the handoff transcript,
# actions/conversation.py, shows 40 lines).
ACTION_EVENT_LINES = 100


@functools.lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, as jsonschema.validate would on every call
    return cls(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_action_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def events_for_actions(events: list[dict[str, Any]], lines: int = ACTION_EVENT_LINES) -> list[dict[str, Any]]:
    """The tail of `events` holding the last `lines` user and bot messages, starting at a user
    message that no report segment spans (so the segments of the tail are those of the whole)."""
    seen, cut = 0, 0
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") in ("user", "bot"):
            seen += 1
            if seen >= lines:
                cut = i
                break
    if cut == 0:
        return events
    spans = [(s.start, s.end) for s in confidential.segments(events)]
    for k in range(cut, 0, -1):
        if events[k].get("event") == "user" and not any(start <= k <= end for start, end in spans):
            return events[k:]
    return events


def _make_action_call_format(stock: Any) -> Any:
    def _action_call_format(self: Any, tracker: Any, domain: Any) -> dict[str, Any]:
        result: dict[str, Any] = stock(self, tracker, domain)
        state = result.get("tracker") or {}
        if isinstance(state.get("events"), list):
            state["events"] = events_for_actions(state["events"])
        return result

    _action_call_format.__wrapped__ = stock  # type: ignore[attr-defined]
    return _action_call_format


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


def apply() -> None:
    """Idempotent; called when our connectors are imported (every Rasa process loads them)."""
    global _applied
    if _applied:
        return
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    RemoteAction.run = _make_run(RemoteAction.run)  # type: ignore[method-assign]
    RemoteAction._action_call_format = _make_action_call_format(RemoteAction._action_call_format)  # type: ignore[method-assign]
    _applied = True
