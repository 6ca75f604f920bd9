"""Rasa's SQL tracker store, made safe for confidential reports (SQLite and PostgreSQL alike).

The events of a report in progress (bot/confidential.py says which) are stored sealed with a
key derived from SENDER_ID_KEY, so the next turn can still read the form's slots and show the
summary. Once the report is filed, cancelled, handed to a person or left behind by a new
session, its rows are scrubbed in place, in the same transaction as the turn that closed it:
the narrative, PIN, reference, contact number and reply address are gone for good, only the
conversation's shape (intents, actions, slot names) stays so the dialogue still reads right.

Rasa's store only appends (`_additional_events` counts the rows of the latest session and
slices the tracker), so scrubbing updates earlier rows; the number of rows never changes.
Selected in `bot/launcher.py::endpoints()` by module path.

Rebuilding a tracker from its rows costs in proportion to the session's length (about 94 ms at
1,500 events; issue 14), so each process keeps the tracker it just saved, in memory only
(TRACKER_CACHE_SIZE senders, least recently used first out; 0 turns it off), and hands it back
on the sender's next turn when the sender's rows are still the ones it saved: one cheap query
(row count and highest row id) instead of reading and replaying the session. A turn served by
another process (they share the database; the lock store serialises a sender's turns) appends
rows, so the check fails and the tracker is read again. The tracker is kept only when it is
exactly what a read would return: not when this save closed a report (its rows are scrubbed
at rest but not in memory) or started a session (a read returns the new session only).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot import confidential, rasa_patches
from bot.privacy import FieldCipher
from bot.settings import get_settings

logger = logging.getLogger(__name__)

SEALED = "bekh_sealed"
_SEALED_PREFIX = '{"' + SEALED + '"'


def _cipher() -> FieldCipher:
    # A label of its own: a key for reply addresses or case fields never opens tracker events.
    key = get_settings().sender_id_key
    return FieldCipher(key, purpose="tracker-events", legacy_secret=b"tracker-events:" + key)


def is_sealed(raw: str | None) -> bool:
    return bool(raw) and raw.startswith(_SEALED_PREFIX)  # type: ignore[union-attr]


def seal(data: dict[str, Any], cipher: FieldCipher) -> str:
    # Type, time, intent and action stay readable in their own columns (Rasa's queries use them).
    return json.dumps({SEALED: cipher.encrypt(json.dumps(data))})


def unseal(raw: str, cipher: FieldCipher) -> dict[str, Any]:
    outer = json.loads(raw)
    if SEALED not in outer:
        return outer
    return json.loads(cipher.decrypt(outer[SEALED]) or "{}")


def _row_event(row: Any, cipher: FieldCipher) -> dict[str, Any]:
    """A stored row as an event dict. A sealed row the key no longer opens (SENDER_ID_KEY was
    rotated mid-report) becomes the scrubbed shape its columns still tell, rather than a
    conversation that can never load again."""
    try:
        return unseal(row.data, cipher)
    except InvalidToken:
        logger.warning("a sealed tracker event could not be opened (key changed?); kept as a placeholder")
        shape: dict[str, Any] = {"event": row.type_name, "timestamp": row.timestamp}
        if row.type_name == "user":
            shape["parse_data"] = {"intent": {"name": row.intent_name}}
        elif row.action_name:
            shape["name"] = row.action_name
        return confidential.scrub(shape)


def _kept_sqlite_engine(rasas: Any) -> Any:
    """Rasa's engine on a SQLite file opens and closes a connection per query (SQLAlchemy 1.4's
    NullPool; each close of the last one checkpoints the log): one kept open instead, shared by
    the turns of the event loop's thread, in WAL mode (the tracker store's and the broker's)."""
    rasas.dispose()
    engine = sa.create_engine(rasas.url, poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=4,
                              connect_args={"check_same_thread": False})
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Scrubbing rewrites rows; without this SQLite leaves the old (sealed) bytes in free space of
    # the file, where the key could still open them.
    dbapi_connection.execute("PRAGMA secure_delete = ON")
    # A commit per turn: in WAL mode with synchronous=NORMAL it appends to the log without an
    # fsync (44 ms of a turn's save on a busy disk, issue 14); a power cut may lose the last
    # turns, never the file's consistency. The log is emptied after a scrub (see save).
    dbapi_connection.execute("PRAGMA journal_mode = WAL")
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


@dataclass
class _Cached:
    tracker: DialogueStateTracker
    signature: tuple[int, int]  # the sender's (row count, highest row id) right after the save
    length: int  # len(tracker.events) when saved: a caller that appended without saving is caught


class ConfidentialSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` that seals a report while it is open and scrubs it once it is over."""

    engine: Any  # Rasa's, replaced below for SQLite

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cipher = _cipher()
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cache_size = get_settings().tracker_cache_size
        if self.engine.dialect.name == "sqlite":
            self.engine = _kept_sqlite_engine(self.engine)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        from rasa.core.brokers.sql import SQLEventBroker

        broker = self.event_broker
        if isinstance(broker, SQLEventBroker) and broker.engine.dialect.name == "sqlite":
            broker.engine = _kept_sqlite_engine(broker.engine)
            broker.sessionmaker = sa.orm.sessionmaker(bind=broker.engine)

    def _signature(self, session: Any, sender_id: str) -> tuple[int, int]:
        count, top = session.execute(
            sa.select(sa.func.count(self.SQLEvent.id), sa.func.max(self.SQLEvent.id)).where(self.SQLEvent.sender_id == sender_id)
        ).one()
        return int(count), int(top or 0)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session's tracker: the one this process saved last, if the sender's rows
        are still those it saved, else read from the database. A cached tracker is handed out
        once (the caller owns it and may change it); its save puts it back."""
        cached = self._cache.pop(sender_id, None)
        if cached is not None and len(cached.tracker.events) == cached.length:
            with self.session_scope() as session:
                if self._signature(session, sender_id) == cached.signature:
                    return cached.tracker
        return await self._retrieve(sender_id, fetch_events_from_all_sessions=False)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions).all()
            events = [_row_event(row, self._cipher) for row in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Brokers (analytics) never get a report's content, not even while it is open."""
        if self.event_broker is None:
            return
        with self.session_scope() as session:
            stored, _ = self._stored(session, tracker.sender_id)
        secret = {i for s in rasa_patches.tracker_segments(tracker.events) for i in s.indices()}
        await self._stream(tracker, self._dicts_after(tracker, stored), stored, secret)

    @staticmethod
    def _dicts_after(tracker: DialogueStateTracker, stored: int) -> list[dict[str, Any]]:
        """The events after the first `stored`, as dicts: a save turns only its new events into
        dicts (all 1,500 of a long session on every turn grew a turn's cost with its length)."""
        return [e.as_dict() for e in itertools.islice(tracker.events, stored, None)]

    async def _stream(self, tracker: DialogueStateTracker, new: list[dict[str, Any]], stored: int,
                      secret: set[int]) -> None:
        """Publish the events after the `stored` ones of the latest session (`new`, their dicts;
        Rasa's own diff, `TrackerEventDiffEngine`, rebuilt the whole stored session to count it:
        half of a late turn's cost in a 300-turn conversation, issue 14), a report's scrubbed.
        `secret`: the report's positions in the session, open or closed."""
        if self.event_broker is None:
            return
        safe: list[Event] = []
        for n, (event, data) in enumerate(zip(itertools.islice(tracker.events, stored, None), new), start=stored):
            if n not in secret:
                safe.append(event)
            else:
                scrubbed = Event.from_parameters(confidential.scrub(data))
                if scrubbed is not None:
                    safe.append(scrubbed)
        await self._stream_new_events(self.event_broker, safe, tracker.sender_id)

    async def _stream_new_events(self, event_broker: Any, new_events: list[Event], sender_id: str) -> None:
        """Rasa's SQL broker commits each event on its own connection (eight commits a turn, the
        largest part of a short turn's save, issue 14): one commit for the turn's events here,
        the same rows. Other brokers publish as Rasa does."""
        from rasa.core.brokers.sql import SQLEventBroker

        if not isinstance(event_broker, SQLEventBroker):
            await super()._stream_new_events(event_broker, new_events, sender_id)
            return
        if not new_events:
            return
        with event_broker.session_scope() as session:
            # one INSERT executed for every row (the ORM's unit of work inserted them one by one)
            session.execute(sa.insert(event_broker.SQLBrokerEvent.__table__),
                            [{"sender_id": sender_id, "data": json.dumps({"sender_id": sender_id, **e.as_dict()})}
                             for e in new_events])
            session.commit()

    def _stored(self, session: Any, sender_id: str, rows: Iterable[int] = ()) -> tuple[int, dict[int, int]]:
        """How many rows the latest session has, and the row ids of those of its `rows` (positions)
        that are stored. A count and a window, not every id: fetching a 1,500-event session's ids
        on every save cost as much as the rest of the save (issue 14)."""
        query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).with_entities(self.SQLEvent.id)
        count = int(session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar() or 0)
        wanted = sorted(i for i in rows if i < count)
        if not wanted:
            return count, {}
        window = query.offset(wanted[0]).limit(wanted[-1] - wanted[0] + 1)
        ids = list(session.execute(window.statement).scalars().all())
        return count, {i: ids[i - wanted[0]] for i in wanted if i - wanted[0] < len(ids)}

    async def save(self, tracker: DialogueStateTracker) -> None:
        parts = rasa_patches.tracker_segments(tracker.events)
        open_rows = {i for s in parts if not s.closed for i in s.indices()}
        closed_rows = {i for s in parts if s.closed for i in s.indices()}
        with self.session_scope() as session:
            stored, open_ids = self._stored(session, tracker.sender_id, open_rows)
            new = self._dicts_after(tracker, stored)
            await self._stream(tracker, new, stored, open_rows | closed_rows)
            self._cache.pop(tracker.sender_id, None)
            keep = self._cache_size > 0 and self._reads_back_as_is(tracker, new, stored, closed_rows)
            # Every sealed row outside the open report is over: this report just closed, or an
            # earlier session's report was left behind when the session expired.
            scrubbed = self._scrub_sealed(session, tracker.sender_id, keep=set(open_ids.values()))
            rows = []
            for i, data in enumerate(new, start=stored):
                if i in closed_rows:
                    raw = json.dumps(confidential.scrub(data))
                elif i in open_rows:
                    raw = seal(data, self._cipher)
                else:
                    raw = json.dumps(data)
                rows.append({
                    "sender_id": tracker.sender_id,
                    "type_name": data.get("event"),
                    "timestamp": data.get("timestamp"),
                    "intent_name": ((data.get("parse_data") or {}).get("intent") or {}).get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": raw,
                })
            if rows:
                # one INSERT executed for every row, in the events' order (the ORM's unit of work
                # inserted them one by one: a tenth of the save, issue 14)
                session.execute(sa.insert(self.SQLEvent.__table__), rows)
            signature = self._signature(session, tracker.sender_id) if keep else None  # after our rows
            session.commit()
        if scrubbed and self.engine.dialect.name == "sqlite":
            # The write-ahead log still holds the sealed rows' old pages: into the file (where
            # secure_delete overwrote them) and the log truncated, as the rollback journal was.
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        if signature is not None:
            self._cache[tracker.sender_id] = _Cached(tracker, signature, len(tracker.events))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    @staticmethod
    def _reads_back_as_is(tracker: DialogueStateTracker, new: list[dict[str, Any]], stored: int, closed_rows: set[int]) -> bool:
        """Whether reading the session after this save would give these very events: no session
        starts among the new rows (`new`, the events after the `stored` ones), and every closed
        report's rows were closed (so scrubbed, in memory as at rest) before this turn."""
        if stored > len(tracker.events) or any(e.get("event") == SessionStarted.type_name for e in new):
            return False
        if not closed_rows:
            return True
        before = {i for s in rasa_patches.tracker_segments(tracker.events, stored) if s.closed for i in s.indices()}
        return closed_rows <= before

    def _scrub_sealed(self, session: Any, sender_id: str, keep: Iterable[int]) -> int:
        keep, scrubbed = set(keep), 0
        rows = session.query(self.SQLEvent).filter(
            self.SQLEvent.sender_id == sender_id, self.SQLEvent.data.like(_SEALED_PREFIX + "%")
        ).all()
        for row in rows:
            if row.id not in keep and is_sealed(row.data):
                row.data = json.dumps(confidential.scrub(_row_event(row, self._cipher)))
                scrubbed += 1
        return scrubbed
