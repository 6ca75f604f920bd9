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
  the person is handed to a human (`action_handoff` runs; the message that asked for one stays
  outside, so the agent can reply to it). A message the NLU hears as `human_handoff` closes nothing
  by itself: the turn's first action says what it was. `action_handoff` closes the report before
  that message; anything else (the form took it as its answer: "لا أرغب في ترك رقمي", "no, I
  don't want to leave my number") keeps it, and the rest of the report, inside. While the turn has
  not yet run an action the message is outside (the handoff action's transcript shows it).

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

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from bot.request_rules import INTENT_TO_TYPE, OPINIONS_KEY, REQUEST_TYPES, unsure_types

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
        parse = e.get("parse_data") or {}
        return _intent(e) in REPORT_INTENTS or (
            loop is None and REPORT_TYPE in unsure_types(parse.get("intent_ranking") or [], parse.get(OPINIONS_KEY)))
    if kind == "slot":
        return e.get("name") == "request_type" and e.get("value") == REPORT_TYPE
    if kind == "active_loop":
        return e.get("name") == REPORT_FORM
    return False


def _closes_before(e: Event) -> bool:
    """Ends the segment without belonging to it."""
    return e.get("event") in _RESETS


def _asks_for_person(e: Event) -> bool:
    """A message heard as asking for a human: it ends the segment before it only if the
    turn's first action is the handoff (`Scan.pending`)."""
    return e.get("event") == "user" and _intent(e) == HANDOFF_INTENT


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


class Scan:
    """The walk that finds the segments, one event at a time, so that it can be kept and continued
    over the events appended since (a 1,500-event session was walked several times a turn, by the
    save and by every action call: issue 14). `segments(events)` is a whole walk."""

    __slots__ = ("floor", "found", "kind", "last_user", "loop", "n", "pending", "start")

    def __init__(self) -> None:
        self.found: list[Segment] = []
        self.start: int | None = None
        self.kind: str | None = None
        self.floor = 0  # a new segment never reaches back before the previous one's end
        self.last_user: int | None = None
        self.loop: str | None = None  # the active loop, as the events so far set it
        self.n = 0  # events walked
        # A message asking for a human inside a segment, until the turn's first action says
        # whether it was one (`action_handoff`) or an answer the form took.
        self.pending: int | None = None

    def copy(self) -> Scan:
        other = Scan()
        other.found = list(self.found)
        other.start, other.kind, other.floor = self.start, self.kind, self.floor
        other.last_user, other.loop, other.n, other.pending = self.last_user, self.loop, self.n, self.pending
        return other

    def _close(self, end: int, next_floor: int) -> None:
        assert self.start is not None and end >= self.start
        self.found.append(Segment(self.start, end, True))
        self.start, self.kind, self.floor = None, None, next_floor

    def feed(self, e: Event) -> None:
        i = self.n
        self.n += 1
        if self.pending is not None and (e.get("event") == "action" or _closes_before(e)):
            asked, self.pending = self.pending, None
            if _closes_before(e) or e.get("name") == HANDOFF_ACTION:
                self._close(asked - 1, asked + 1)
        if self.start is not None and _closes_before(e):
            self._close(i - 1, i + 1)
        elif self.start is not None and _asks_for_person(e):
            if self.kind == FOLLOW_UP and _leaves_follow_up(e, self.loop):
                self._close(i - 1, i + 1)  # outside a follow-up's form nothing of it takes this answer
            else:
                self.pending = i
        elif self.kind == FOLLOW_UP and _leaves_follow_up(e, self.loop):
            # Another request began in this turn: its user message is the request's, not ours.
            last_user = self.last_user
            end = i - 1 if e.get("event") == "user" or last_user is None or last_user <= self.start else last_user - 1  # type: ignore[operator]
            self._close(end, end + 1)
        if e.get("event") == "user":
            self.last_user = i
        elif e.get("event") == "active_loop":
            self.loop = e.get("name")
        if self.start is None:
            back = self.last_user if self.last_user is not None and self.last_user >= self.floor else i
            if _opens(e, self.loop) and not _closes_before(e) and not _asks_for_person(e):
                self.start, self.kind = back, REPORT
            elif _opens_follow_up(e):
                self.start, self.kind = back, FOLLOW_UP
        elif self.kind == REPORT and _closes_after(e):
            self._close(i, i + 1)

    def segments(self) -> list[Segment]:
        """The segments of the events walked so far, an unfinished one open to the last event
        (to the one before a message asking for a human, while its turn has run no action)."""
        if self.start is None:
            return list(self.found)
        return [*self.found, Segment(self.start, self.n - 1 if self.pending is None else self.pending - 1, False)]


def segments(events: Sequence[Event]) -> list[Segment]:
    """The report and follow-up segments, in order; they never overlap."""
    scan = Scan()
    for e in events:
        scan.feed(e)
    return scan.segments()


# Where the walk over a tracker's events is kept: on the last event it walked, as the state after it.
_KEPT_SCAN = "_bekh_confidential_scan"


def scan_of(events: Sequence[Any], upto: int | None = None) -> Scan:
    """The walk over Rasa `Event` objects `events[:upto]` (a tracker's), continued from the walk
    kept on the latest event that has one, so each event is turned into a dict and walked once
    (the objects are shared by the tracker's copies and by the tracker the store hands back next
    turn). A kept walk is used only at the position it was made for; a tracker read from the
    database has new objects and is walked whole. Events are only ever appended to a tracker."""
    n = len(events) if upto is None else min(upto, len(events))
    scan: Scan | None = None
    k = n
    for e in itertools.islice(reversed(events), len(events) - n, None):
        kept = getattr(e, _KEPT_SCAN, None)
        if kept is not None and kept.n == k:
            scan = kept.copy()
            break
        k -= 1
    if scan is None:
        scan, k = Scan(), 0
    for e in itertools.islice(events, k, n):
        scan.feed(e.as_dict())
    if n and k < n:
        setattr(events[n - 1], _KEPT_SCAN, scan.copy())
    return scan


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
            **({OPINIONS_KEY: parse[OPINIONS_KEY]} if OPINIONS_KEY in parse else {}),  # intents, read by the scan
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
