"""Failed attempts per outbox event and the dead letter: the retry cap survives a restart.

An event that failed NOTIFIER_MAX_ATTEMPTS times is parked: `python -m channels.notifier dead`
lists it, `retry ID|--all` puts it back (`unpark`).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.channel_state import default_url
from bot.sql import CHANNEL_STATE, migrate, sync_engine
from channels.notifier.tables import attempts_table
from channels.outbound import RetryPolicy


class Attempts:
    """Failed attempts per outbox event, durable: the retry cap survives a restart."""

    def __init__(self, url: str | None = None) -> None:
        url = url or default_url()
        migrate(CHANNEL_STATE, url)
        self.engine = sync_engine(url)

    def get(self, event_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(attempts_table).where(attempts_table.c.event_id == event_id)).first()
        return dict(row._mapping) if row else None

    def failed(self, event_id: int, event: str, channel: str | None, error: str, policy: RetryPolicy) -> bool:
        """Count a failure; True when the event is now parked."""
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(select(attempts_table.c.attempts).where(attempts_table.c.event_id == event_id)).first()
            n = (row.attempts if row else 0) + 1
            parked = n >= policy.max_attempts
            values = {"attempts": n, "last_error": error[:120], "next_attempt_at": now + policy.delay(n),
                      "parked_at": now if parked else None}
            if row:
                conn.execute(update(attempts_table).where(attempts_table.c.event_id == event_id).values(**values))
            else:
                conn.execute(attempts_table.insert().values(event_id=event_id, event=event[:40], channel=(channel or "")[:30], **values))
        return parked

    def clear(self, event_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(attempts_table).where(attempts_table.c.event_id == event_id))

    def first_pending(self) -> int | None:
        """The oldest event still to be retried (also one an operator un-parked)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(attempts_table.c.event_id)).where(attempts_table.c.parked_at.is_(None))).scalar()

    def parked(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(attempts_table).where(attempts_table.c.parked_at.is_not(None)).order_by(attempts_table.c.event_id))
            return [dict(r._mapping) for r in rows]

    def unpark(self, event_id: int | None = None) -> int:
        cond = attempts_table.c.parked_at.is_not(None)
        if event_id is not None:
            cond = cond & (attempts_table.c.event_id == event_id)
        with self.engine.begin() as conn:
            return conn.execute(
                update(attempts_table).where(cond).values(parked_at=None, attempts=0, next_attempt_at=time.time())
            ).rowcount or 0
