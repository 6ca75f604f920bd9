"""Fold Rasa's broker events into the analytics store (insights/analytics_tables.py).

What is kept, and nothing more: when a conversation started and on which channel, its language,
each request form it opened (type, the step it reached, filed / cancelled / left open), each
user turn (language, whether it fell back), each handoff (when asked, when an agent took it,
whether it was after hours), and when the first reference was given. Text, slot values other
than the language and the form step, entities, metadata and the sender id are read and dropped.
A report's events reach the broker already scrubbed (bot/tracker_store.py stream_events); this
fold needs none of their content either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from bot import business_hours
from bot.arabic import arabic_ratio
from bot.confidential import PLACEHOLDER
from bot.lang import LANGUAGES, detect
from bot.request_rules import REQUEST_TYPES
from bot.settings import get_settings
from insights.analytics_tables import conversations, cursors, forms, handoffs, turns

Json = dict[str, Any]
FORMS = {f"{t}_form": t for t in REQUEST_TYPES}
FILED_UTTERANCES = ("utter_submitted", "utter_submitted_report")
FALLBACK_INTENT = "nlu_fallback"
_LATIN = re.compile(r"[A-Za-z]")
ARABIZI = "ar_latn"  # Arabic typed in Latin letters ("3ndi shakwa"): a variety of its own in the figures


def conversation_key(sender_id: str, key: bytes | None = None) -> str:
    """A keyed hash of the sender id, truncated: ties one conversation's rows together, and with
    16 hex digits and a key kept out of the analytics store, leads back to no one."""
    k = key if key is not None else get_settings().sender_id_key
    return hmac.new(k, b"insights:" + sender_id.encode(), hashlib.sha256).hexdigest()[:16]


def turn_variety(text: Any, parse: Json, current: str | None) -> str | None:
    """The language of one message: what the NLU tagged (bot/nlu_components LanguageTagger), else
    what bot.lang detects, else the conversation's; Arabic in Latin letters is told apart. The
    text is looked at here and never stored."""
    tagged = parse.get("language")
    readable = isinstance(text, str) and text.strip() and text != PLACEHOLDER
    language = tagged if tagged in LANGUAGES else (detect(text, current) if readable else current)
    if language == "ar" and readable and _LATIN.search(text) and arabic_ratio(text) < 0.3:
        return ARABIZI
    return language


def _at(event: Json) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(event.get("timestamp") or 0), dt.timezone.utc)


class Folder:
    """Applies a batch of broker events in one transaction of the analytics store."""

    def __init__(self, engine: Engine, key: bytes | None = None) -> None:
        self.engine = engine
        self.key = key if key is not None else get_settings().sender_id_key
        self.hours = business_hours.current()

    def apply(self, events: Iterable[Json], cursor: tuple[str, int] | None = None) -> int:
        """Fold `events`; with `cursor` (source, last id) record how far that source was read, in
        the same transaction. Returns how many events were used."""
        used = 0
        with self.engine.begin() as conn:
            for e in events:
                used += self._one(conn, e)
            if cursor is not None:
                self._set_cursor(conn, *cursor)
        return used

    @staticmethod
    def cursor(conn: Connection, source: str) -> int:
        return int(conn.execute(select(cursors.c.last_id).where(cursors.c.source == source)).scalar() or 0)

    @staticmethod
    def _set_cursor(conn: Connection, source: str, last_id: int) -> None:
        if conn.execute(update(cursors).where(cursors.c.source == source).values(last_id=last_id)).rowcount == 0:
            conn.execute(insert(cursors).values(source=source, last_id=last_id))

    # --- one event ---------------------------------------------------------------------------------
    def _one(self, conn: Connection, e: Json) -> int:
        sender = e.get("sender_id")
        kind = e.get("event")
        if not isinstance(sender, str) or not sender or not isinstance(kind, str):
            return 0
        conv = conversation_key(sender, self.key)
        at = _at(e)
        row = conn.execute(select(conversations).where(conversations.c.conv == conv)).first()
        if row is None:
            if kind != "user":
                return 0  # a conversation starts with its first message
            channel = str(e.get("input_channel") or "unknown")[:20]
            conn.execute(insert(conversations).values(conv=conv, channel=channel, language=None, started_at=at, last_event_at=at))
            row = conn.execute(select(conversations).where(conversations.c.conv == conv)).first()
        assert row is not None
        conn.execute(update(conversations).where(conversations.c.conv == conv).values(last_event_at=at))
        if kind == "user":
            parse = e.get("parse_data") or {}
            intent = (parse.get("intent") or {}).get("name")
            conn.execute(insert(turns).values(at=at, channel=row.channel, language=turn_variety(e.get("text"), parse, row.language),
                                              fallback=intent == FALLBACK_INTENT))
        elif kind == "slot":
            self._slot(conn, row, e.get("name"), e.get("value"), at)
        elif kind == "active_loop":
            self._loop(conn, row, e.get("name"), at)
        elif kind == "action":
            self._action(conn, row, e.get("name"), at)
        elif kind == "bot":
            if (e.get("metadata") or {}).get("utter_action") in FILED_UTTERANCES:
                self._filed(conn, row, at)
        elif kind == "pause":
            self._taken(conn, conv, at)
        if row.open_form_id is not None:
            conn.execute(update(forms).where(forms.c.id == row.open_form_id).values(last_event_at=at))
        return 1

    def _slot(self, conn: Connection, row: Any, name: Any, value: Any, at: dt.datetime) -> None:
        if name == "language" and value in LANGUAGES:
            conn.execute(update(conversations).where(conversations.c.conv == row.conv).values(language=value))
        elif name == "requested_slot" and row.open_form_id is not None and isinstance(value, str):
            conn.execute(update(forms).where(forms.c.id == row.open_form_id).values(step=value[:20]))

    def _close(self, conn: Connection, row: Any, outcome: str) -> None:
        if row.open_form_id is not None:
            conn.execute(update(forms).where(forms.c.id == row.open_form_id, forms.c.outcome == "open").values(outcome=outcome))
            conn.execute(update(conversations).where(conversations.c.conv == row.conv).values(open_form_id=None))

    def _loop(self, conn: Connection, row: Any, name: Any, at: dt.datetime) -> None:
        rtype = FORMS.get(name) if isinstance(name, str) else None
        if rtype is None:
            return  # deactivation: the form is over but not yet filed (the submit action follows)
        if row.open_form_id is not None:
            current = conn.execute(select(forms.c.request_type).where(forms.c.id == row.open_form_id)).scalar()
            if current == rtype:
                return  # the same form reactivated (after an edit or a digression)
            self._close(conn, row, "abandoned")  # another request started before this one was filed
        new_id = conn.execute(
            insert(forms).values(conv=row.conv, channel=row.channel, request_type=rtype, started_at=at, last_event_at=at,
                                 step=None, outcome="open")
        ).inserted_primary_key[0]
        conn.execute(update(conversations).where(conversations.c.conv == row.conv).values(open_form_id=new_id))

    def _action(self, conn: Connection, row: Any, name: Any, at: dt.datetime) -> None:
        if name == "action_cancel_request":
            self._close(conn, row, "cancelled")
        elif name == "action_handoff":
            conn.execute(insert(handoffs).values(conv=row.conv, channel=row.channel, requested_at=at,
                                                 after_hours=not self.hours.is_open(at)))

    def _filed(self, conn: Connection, row: Any, at: dt.datetime) -> None:
        self._close(conn, row, "filed")
        if row.first_reference_at is None:
            conn.execute(update(conversations).where(conversations.c.conv == row.conv).values(first_reference_at=at))

    def _taken(self, conn: Connection, conv: str, at: dt.datetime) -> None:
        h = conn.execute(
            select(handoffs).where(handoffs.c.conv == conv, handoffs.c.taken_at.is_(None)).order_by(handoffs.c.id.desc())
        ).first()
        if h is not None:
            requested = h.requested_at if h.requested_at.tzinfo else h.requested_at.replace(tzinfo=dt.timezone.utc)
            conn.execute(update(handoffs).where(handoffs.c.id == h.id).values(
                taken_at=at, wait_seconds=max((at - requested).total_seconds(), 0.0)))
