"""Which events of a conversation belong to a confidential report, and how they are scrubbed.

A report of corruption is confidential end to end (DESIGN "Privacy"). Its turns are found by
facts Rasa itself records, never by looking at the text:

- it opens with the user message that started it: an intent that starts a `report`
  (`report_violation`, or `report_human_rights` for a human-rights grievance: `REPORT_INTENTS`, from
  `bot.request_rules.INTENT_TO_TYPE`), or the user message before `request_type` was set to
  "report" or the `report_form` loop was activated;
- it closes when `request_type` is set to anything else (filed: the submit action clears it;
  cancelled; another request begun), when a session starts or the conversation is reset, when
  the person asks for a human (`human_handoff`: that message stays outside, so the agent can
  reply to it) or `action_handoff` runs.

Events are the dicts of Rasa's `Event.as_dict()`, which is also what the action server gets,
so the tracker store and the actions share this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from bot.request_rules import INTENT_TO_TYPE

PLACEHOLDER = "[confidential]"
REPORT_TYPE = "report"
# Every intent that starts a report: a corruption report and a human-rights grievance.
REPORT_INTENTS = frozenset(intent for intent, rtype in INTENT_TO_TYPE.items() if rtype == REPORT_TYPE)
REPORT_FORM = "report_form"
HANDOFF_INTENT = "human_handoff"
HANDOFF_ACTION = "action_handoff"
# Slots that can hold the narrative, the PIN, the reference, a contact number, evidence links or
# the idempotency key (which the case store keeps in clear next to the request).
SECRET_SLOTS = frozenset({
    "description", "pin", "contact_phone", "attachments", "last_reference", "idem_key",
    "status_reference", "status_proof", "rating_reference", "rating_comment",
})
_RESETS = frozenset({"session_started", "restart", "reset_slots"})

Event = Mapping[str, Any]


@dataclass(frozen=True)
class Segment:
    """Events `start` to `end` (inclusive) of a list; `closed` once the report is over."""

    start: int
    end: int
    closed: bool

    def indices(self) -> range:
        return range(self.start, self.end + 1)


def _intent(e: Event) -> str | None:
    return ((e.get("parse_data") or {}).get("intent") or {}).get("name")


def _opens(e: Event) -> bool:
    kind = e.get("event")
    if kind == "user":
        return _intent(e) in REPORT_INTENTS
    if kind == "slot":
        return e.get("name") == "request_type" and e.get("value") == REPORT_TYPE
    if kind == "active_loop":
        return e.get("name") == REPORT_FORM
    return False


def _closes_before(e: Event) -> bool:
    """Ends the segment without belonging to it."""
    kind = e.get("event")
    return kind in _RESETS or (kind == "user" and _intent(e) == HANDOFF_INTENT)


def _closes_after(e: Event) -> bool:
    """Ends the segment and belongs to it (the submit action's own events come before this)."""
    kind = e.get("event")
    if kind == "slot":
        return e.get("name") == "request_type" and e.get("value") != REPORT_TYPE
    return kind == "action" and e.get("name") == HANDOFF_ACTION


def segments(events: Sequence[Event]) -> list[Segment]:
    found: list[Segment] = []
    start: int | None = None
    floor = 0  # a new segment never reaches back before the previous one's end
    last_user: int | None = None
    for i, e in enumerate(events):
        if start is not None and _closes_before(e):
            found.append(Segment(start, i - 1, True))
            start, floor = None, i + 1
        if e.get("event") == "user":
            last_user = i
        if start is None:
            if _opens(e) and not _closes_before(e):
                start = last_user if last_user is not None and last_user >= floor else i
        elif _closes_after(e):
            found.append(Segment(start, i, True))
            start, floor = None, i + 1
    if start is not None:
        found.append(Segment(start, len(events) - 1, False))
    return found


def confidential_indices(events: Sequence[Event]) -> set[int]:
    """Every event that belongs to a report, open or closed."""
    return {i for s in segments(events) for i in s.indices()}


def scrub(e: Event) -> dict[str, Any]:
    """An event with nothing left of the report but its shape: intents, action and slot names.

    Metadata goes entirely (sealed reply address, reference), user and bot text become the
    placeholder, secret slot values become None."""
    out = {k: v for k, v in e.items() if k != "metadata"}
    kind = e.get("event")
    if kind == "user":
        parse = e.get("parse_data") or {}
        out["text"] = PLACEHOLDER
        out["parse_data"] = {
            "intent": parse.get("intent") or {},
            "intent_ranking": parse.get("intent_ranking") or [],
            "entities": [],
            "text": PLACEHOLDER,
        }
        out.pop("message_id", None)
    elif kind == "bot":
        out["text"] = PLACEHOLDER
        out["data"] = {}
        action = (e.get("metadata") or {}).get("utter_action")
        if action:
            out["metadata"] = {"utter_action": action}
    elif kind == "slot" and e.get("name") in SECRET_SLOTS:
        out["value"] = None
    elif kind == "entities":
        out["entities"] = []
    return out
