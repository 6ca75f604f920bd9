"""The read-only connection of the insights to the case-store database.

INSIGHTS_CASE_STORE_DATABASE_URL (default: the case store's own CASE_STORE_DATABASE_URL). In
production give it a role with SELECT only; whatever the role, the connection refuses writes:
SQLite is opened with `mode=ro`, PostgreSQL sessions start with default_transaction_read_only.
PostgreSQL's JIT is off for these sessions: EXPLAIN ANALYZE showed it spending ~50 ms compiling
each KPI query, for aggregates that are cheap per row anyway. work_mem is 32 MB: the escalations
view's count of distinct requests sorts a year of the log (300,000 rows at a million requests),
which spilled to disk at the default 4 MB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.settings import env, get_settings
from case_store.db import async_url, sync_url


def database_url() -> str:
    return env("INSIGHTS_CASE_STORE_DATABASE_URL") or get_settings().case_store_database_url


def _sqlite_ro(url: Any) -> Any:
    path = Path(url.database).resolve()
    # A URI filename (SQLAlchemy's `uri=true` form): the driver opens the file read-only.
    return url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})


def read_only_engine(url: str | None = None) -> Engine:
    target = sync_url(url or database_url())
    kwargs: dict[str, Any] = {"future": True}
    if target.get_backend_name() == "sqlite":
        target = _sqlite_ro(target)
    else:
        kwargs.update(pool_pre_ping=True, connect_args={"options": "-c default_transaction_read_only=on -c jit=off -c work_mem=32MB"})
    return create_engine(target, **kwargs)


def read_only_async_engine(url: str | None = None) -> AsyncEngine:
    target = async_url(url or database_url())
    kwargs: dict[str, Any] = {"future": True}
    if target.get_backend_name() == "sqlite":
        target = _sqlite_ro(target)
    else:
        kwargs.update(pool_pre_ping=True, connect_args={"server_settings": {"default_transaction_read_only": "on", "jit": "off", "work_mem": "32MB"}})
    engine = create_async_engine(target, **kwargs)
    return engine


