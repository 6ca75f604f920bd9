"""The lease: one notifier sends at a time (a row in `notifier_lease`, see the package docstring)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.channel_state import default_url
from bot.sql import CHANNEL_STATE, migrate, sync_engine
from channels.notifier.tables import lease_table

DEFAULT_LEASE_SECONDS = 30.0  # > a round's pause and one send's timeout, so the holder renews in time


class Lease:
    """Who may send: one holder at a time, for `seconds` after its last renewal."""

    def __init__(self, url: str | None = None, seconds: float = DEFAULT_LEASE_SECONDS, name: str = "notifier") -> None:
        if seconds <= 0:
            raise ValueError(f"Config 'NOTIFIER_LEASE_SECONDS' is {seconds}; expected a positive number of seconds.")
        url = url or default_url()
        migrate(CHANNEL_STATE, url)
        self.engine = sync_engine(url)
        self.seconds, self.name = seconds, name
        self.holder = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, renew it if ours; True while we hold it."""
        now = time.time()
        mine_or_expired = or_(lease_table.c.holder == self.holder, lease_table.c.expires_at < now)
        with self.engine.begin() as conn:
            taken = conn.execute(update(lease_table).where(lease_table.c.name == self.name, mine_or_expired)
                                 .values(holder=self.holder, expires_at=now + self.seconds)).rowcount
        if taken:
            return True
        try:  # no row yet: the first notifier ever creates it; a racing second gets IntegrityError
            with self.engine.begin() as conn:
                conn.execute(lease_table.insert().values(name=self.name, holder=self.holder, expires_at=now + self.seconds))
        except IntegrityError:
            return False
        return True

    def release(self) -> None:
        """Let a waiting notifier take over now rather than after the lease expires."""
        with self.engine.begin() as conn:
            conn.execute(update(lease_table).where(lease_table.c.name == self.name, lease_table.c.holder == self.holder)
                         .values(expires_at=0.0))

    def current(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(lease_table).where(lease_table.c.name == self.name)).first()
        return dict(row._mapping) if row else None
