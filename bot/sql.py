"""One way to open a synchronous SQLAlchemy engine for the channel-side stores.

Channel state and the agent console keep small tables next to Rasa; on SQLite they share the
same needs (WAL so readers never block the writer, a busy timeout instead of "database is
locked", foreign keys on, the file's folder created), on PostgreSQL none of that applies.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError


def sync_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": True}
    sqlite = url.startswith("sqlite")
    if sqlite:
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def create_tables(metadata: MetaData, engine: Engine, attempts: int = 5) -> None:
    """`metadata.create_all` that survives another process creating the same tables at once.

    create_all checks, then creates; two Rasa processes starting together (the scale set-up) can
    both see "no table" and one of them then fails with "already exists". The loser retries: the
    next check sees the tables.
    """
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
