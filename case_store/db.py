"""Engines and units of work.

Users give plain URLs (`sqlite:///var/case_store.db`, `postgresql://user@host/db`); we map them
to the async drivers here (aiosqlite, asyncpg) and to sync drivers for Alembic.

SQLite allows one writer at a time. Rather than letting concurrent writers collide and surface
"database is locked", every write unit of work in this process is serialised by an asyncio.Lock
and opens its transaction with BEGIN IMMEDIATE (so the write lock is taken up front, never
upgraded half-way); other processes (the admin CLI) are waited for by busy_timeout, and a
residual "locked" error is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15_000
_WRITE_OPTION = "bekh_sqlite_write"


class DatabaseURLError(ValueError):
    pass


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:  # its message holds the URL, maybe with a password: do not echo it
        raise DatabaseURLError(
            "CASE_STORE_DATABASE_URL is not a database URL; use e.g. sqlite:///var/case_store.db "
            "or postgresql://user@127.0.0.1:5432/dbname"
        ) from None


def async_url(url: str) -> URL:
    """The same database through the async driver we use (aiosqlite / asyncpg)."""
    u = _parse(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return u.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return u.set(drivername="postgresql+asyncpg")
    raise DatabaseURLError(f"CASE_STORE_DATABASE_URL uses {backend!r}; allowed: sqlite, postgresql.")


def sync_url(url: str) -> URL:
    """The same database through a sync driver, for Alembic (sqlite3 / psycopg2)."""
    u = _parse(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return u.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):
        return u.set(drivername="postgresql+psycopg2")
    raise DatabaseURLError(f"CASE_STORE_DATABASE_URL uses {backend!r}; allowed: sqlite, postgresql.")


def is_locked_error(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver (its implicit BEGIN is deferred and
        # skips reads), so the "begin" hook below decides how each transaction starts.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """One engine per process plus the two kinds of unit of work: read and write."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        target = async_url(url)
        self.is_sqlite = target.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"future": True, "echo": echo, "pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            # SQLAlchemy 1.4 defaults to NullPool for aiosqlite: a new connection (and thread,
            # and PRAGMAs) per unit of work. A small pool is several times faster.
            kwargs.update(poolclass=AsyncAdaptedQueuePool, pool_size=5, max_overflow=10)
        else:
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine: AsyncEngine = create_async_engine(target, **kwargs)
        self._write_engine = self.engine
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
            self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        session = AsyncSession(self.engine, expire_on_commit=False, future=True)
        async with session, session.begin():
            yield session

    @asynccontextmanager
    async def _write_once(self) -> AsyncIterator[AsyncSession]:
        session = AsyncSession(self._write_engine, expire_on_commit=False, future=True)
        async with session, session.begin():
            yield session

    async def write(self, work: Callable[[AsyncSession], Awaitable[T]], *, attempts: int = 8) -> T:
        """Run `work` in one write transaction and commit; retried only on SQLite lock errors.

        `work` must be safe to re-run: it is given a fresh session each attempt.
        """
        for attempt in range(1, attempts + 1):
            try:
                if self._write_lock is None:
                    async with self._write_once() as session:
                        return await work(session)
                async with self._write_lock, self._write_once() as session:
                    return await work(session)
            except OperationalError as exc:
                if not is_locked_error(exc) or attempt == attempts:
                    raise
                log.warning("sqlite busy, retrying write (attempt %d)", attempt)
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def read_with(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.read() as session:
            return await work(session)
