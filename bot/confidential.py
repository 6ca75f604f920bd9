"""Which events of a conversation belong to a confidential report, and how they are scrubbed.

A report of corruption is confidential end to end (DESIGN "Privacy"). Its turns are found by
facts Rasa itself records, never by looking at the text:

- it opens with the user message that started it: an intent that starts a `report`
  (`report_violation`, or `report_human_rights` for a human-rights grievance: `REPORT_INTENTS`, from
  `bot.request_rules.INTENT_TO_TYPE`) outside the form of another request type, an opening outside a form whose type the NLU leaves unsure
  with a report among the candidates (`bot.request_rules.unsure_types`: the type is asked next),
  or the user message before `request_type` was set to "report" or the `report_form` loop was
  activated;
- it closes when `request_type` is set to anything else (filed: the submit action clears it;
  cancelled; another request begun), when a session starts or the conversation is reset, when
  the person asks for a human (`human_handoff`: that message stays outside, so the agent can
  reply to it) or `action_handoff` runs.

A follow-up is confidential too: checking a request's status, rating it, reopening it. What the
person types there (the reference, the PIN of an anonymous report, the last digits of a phone) and
what the bot answers (status, the body's reply) would otherwise sit in clear beside the keyed
sender id, and tie an anonymous report to a chat identity. The tracker cannot know whether a typed
reference is a report's, so every follow-up is treated alike:

- it opens with the user message that started it (`check_status`, `rate_request`, `reopen`), or the
  user message before a follow-up form or action ran (a typed answer to an offer, a prefilled
  reference);
- it goes on while a follow-up form is active, and afterwards through the short answers its offers
  invite (yes, no, a number, another follow-up), so "rate it?" and "reopen it?" still have their
  reference on the next turn;
- it closes before any other user message, before another form or request begins (then the user
  message that began it stays outside, as the request's own), and as a report closes.

Events are the dicts of Rasa's `Event.as_dict()`, which is also what the action server gets,
so the tracker store and the actions share this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from bot.request_rules import INTENT_TO_TYPE, REQUEST_TYPES, unsure_types

PLACEHOLDER = "[confidential]"
REPORT_TYPE = "report"
# Every intent that starts a report: a corruption report and a human-rights grievance.
REPORT_INTENTS = frozenset(intent for intent, rtype in INTENT_TO_TYPE.items() if rtype == REPORT_TYPE)
REPORT_FORM = "report_form"
# The forms of the other request types: filed in clear, whatever is said inside them.
OTHER_REQUEST_FORMS = frozenset(f"{t}_form" for t in REQUEST_TYPES if t != REPORT_TYPE)
HANDOFF_INTENT = "human_handoff"
HANDOFF_ACTION = "action_handoff"
# Slots that can hold the narrative, the PIN, the reference, a contact number, evidence links or
# the idempotency key (which the case store keeps in clear next to the request).
SECRET_SLOTS = frozenset({
    "description", "pin", "contact_phone", "attachments", "last_reference", "idem_key",
    "status_reference", "status_proof", "rating_reference", "rating_comment",
})
_RESETS = frozenset({"session_started", "restart", "reset_slots"})

FOLLOW_UP_INTENTS = frozenset({"check_status", "rate_request", "reopen"})
FOLLOW_UP_FORMS = frozenset({"status_form", "rating_form"})
FOLLOW_UP_ACTIONS = frozenset({
    "action_start_status", "action_check_status", "action_start_rating", "action_submit_rating", "action_reopen_request",
})
# Once its form is over, what keeps a follow-up going: the answers its offers invite.
FOLLOW_UP_REPLIES = FOLLOW_UP_INTENTS | {"affirm", "deny", "inform"}
REPORT, FOLLOW_UP = "report", "follow_up"

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


def _opens(e: Event, loop: str | None = None) -> bool:
    kind = e.get("event")
    if kind == "user":
        # An answer inside another type's form is that request's, whatever intent the NLU heard in
        # it (a complaint's details read as a violation once scrubbed the complaint's reference);
        # a report begun from it still reaches back to it (the slot or loop below opens it).
        if loop in OTHER_REQUEST_FORMS:
            return False
        # An opening that may be a report is one until the person says it is not: its type is
        # asked (actions/requests.py), and the answer closes the segment or goes on with it.
        ranking = (e.get("parse_data") or {}).get("intent_ranking") or []
        return _intent(e) in REPORT_INTENTS or (loop is None and REPORT_TYPE in unsure_types(ranking))
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


def _opens_follow_up(e: Event) -> bool:
    kind = e.get("event")
    if kind == "user":
        return _intent(e) in FOLLOW_UP_INTENTS
    if kind == "active_loop":
        return e.get("name") in FOLLOW_UP_FORMS
    return kind == "action" and e.get("name") in FOLLOW_UP_ACTIONS


def _leaves_follow_up(e: Event, loop: str | None) -> bool:
    """A follow-up ends before this event (a user message), or before its turn (anything else)."""
    kind = e.get("event")
    if kind == "user":
        return loop not in FOLLOW_UP_FORMS and _intent(e) not in FOLLOW_UP_REPLIES
    if kind == "active_loop":
        return e.get("name") is not None and e.get("name") not in FOLLOW_UP_FORMS
    return kind == "slot" and e.get("name") == "request_type" and e.get("value") is not None


def segments(events: Sequence[Event]) -> list[Segment]:
    """The report and follow-up segments, in order; they never overlap."""
    found: list[Segment] = []
    start: int | None = None
    kind: str | None = None
    floor = 0  # a new segment never reaches back before the previous one's end
    last_user: int | None = None
    loop: str | None = None  # the active loop, as the events so far set it

    def close(end: int, next_floor: int) -> None:
        nonlocal start, kind, floor
        assert start is not None and end >= start
        found.append(Segment(start, end, True))
        start, kind, floor = None, None, next_floor

    for i, e in enumerate(events):
        if start is not None and _closes_before(e):
            close(i - 1, i + 1)
        elif kind == FOLLOW_UP and _leaves_follow_up(e, loop):
            # Another request began in this turn: its user message is the request's, not ours.
            end = i - 1 if e.get("event") == "user" or last_user is None or last_user <= start else last_user - 1
            close(end, end + 1)
        if e.get("event") == "user":
            last_user = i
        elif e.get("event") == "active_loop":
            loop = e.get("name")
        if start is None:
            back = last_user if last_user is not None and last_user >= floor else i
            if _opens(e, loop) and not _closes_before(e):
                start, kind = back, REPORT
            elif _opens_follow_up(e):
                start, kind = back, FOLLOW_UP
        elif kind == REPORT and _closes_after(e):
            close(i, i + 1)
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
