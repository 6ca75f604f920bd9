"""Durable channel state: de-duplication of webhook deliveries and small per-sender state.

Meta and Twilio deliver at least once. Each delivery id (Messenger `mid`, Twilio `MessageSid`,
`CallSid` + step) is claimed here with an INSERT on a primary key: the first claim wins, every
retry (also from another Rasa process sharing the database) sees it was claimed. The table lives
in SQL so it survives a restart: SQLite by default, PostgreSQL when several processes share it.

Per-sender state holds what a channel must remember between turns and Rasa does not: the
numbered choices last offered over SMS, an SMS opt-out, the IVR step counter. Keys are keyed
sender ids (bot.privacy.keyed_id), never raw phone numbers or PSIDs.

SQLAlchemy here is synchronous and every call runs in a worker thread, so the Sanic loop never
blocks on disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.sql import CHANNEL_STATE, migrate, sync_engine

metadata = MetaData()
deliveries = Table(
    "channel_deliveries",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)
sender_state = Table(
    "channel_sender_state",
    metadata,
    Column("sender", String(200), primary_key=True),
    Column("data", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

DEDUP_RETENTION = dt.timedelta(days=7)  # Meta and Twilio give up retrying within a day


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def default_url() -> str:
    return CHANNEL_STATE.default_url()


class ChannelState:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        migrate(CHANNEL_STATE, self.url)
        self.engine: Engine = sync_engine(self.url)

    # --- de-duplication ------------------------------------------------------------------
    def _claim(self, key: str) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(deliveries.insert().values(key=key[:200], seen_at=_now()))
            return True
        except IntegrityError:
            return False

    async def claim(self, key: str) -> bool:
        """True the first time `key` is seen (process it); False for every repeat (drop it)."""
        return await asyncio.to_thread(self._claim, key)

    def _release(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(deliveries).where(deliveries.c.key == key[:200]))

    async def release(self, key: str) -> None:
        """Forget a claim whose processing failed before anything was sent, so a retry runs."""
        await asyncio.to_thread(self._release, key)

    def prune(self, now: dt.datetime | None = None) -> int:
        cutoff = (now or _now()) - DEDUP_RETENTION
        with self.engine.begin() as conn:
            return conn.execute(delete(deliveries).where(deliveries.c.seen_at < cutoff)).rowcount or 0

    # --- per-sender state -----------------------------------------------------------------
    def _get(self, sender: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            raw = conn.execute(select(sender_state.c.data).where(sender_state.c.sender == sender)).scalar()
        return json.loads(raw) if raw else {}

    def _put(self, sender: str, data: dict[str, Any]) -> None:
        payload = json.dumps(data, ensure_ascii=False)
        with self.engine.begin() as conn:
            updated = conn.execute(
                sender_state.update().where(sender_state.c.sender == sender).values(data=payload, updated_at=_now())
            ).rowcount
            if not updated:
                try:
                    with conn.begin_nested():
                        conn.execute(sender_state.insert().values(sender=sender, data=payload, updated_at=_now()))
                except IntegrityError:  # another process inserted first: last write wins
                    conn.execute(
                        sender_state.update().where(sender_state.c.sender == sender).values(data=payload, updated_at=_now())
                    )

    async def get(self, sender: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._get, sender)

    async def update(self, sender: str, **changes: Any) -> dict[str, Any]:
        """Merge `changes` into the sender's state (a key set to None is removed)."""
        def work() -> dict[str, Any]:
            data = self._get(sender)
            for k, v in changes.items():
                if v is None:
                    data.pop(k, None)
                else:
                    data[k] = v
            self._put(sender, data)
            return data

        return await asyncio.to_thread(work)


@functools.cache
def shared(url: str | None = None) -> ChannelState:
    """One ChannelState per URL per process (connectors are built once per Rasa server)."""
    return ChannelState(url)
