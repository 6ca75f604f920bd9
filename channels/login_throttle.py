"""Login throttling for the agent console, after OWASP's Authentication Cheat Sheet.

Three counters of failed logins, each over a sliding 15-minute window that starts at the first
failure, kept in the console database (so they hold across processes and restarts):

- per (account, source): 5 failures lock only that pair until the window ends. Someone guessing
  from elsewhere cannot lock an agent out of her own desk, and a contact centre behind one NAT
  address is not locked because one agent mistyped.
- per account, across sources: past 10 failures the account is "under attack"; a source that
  already failed on it gets no further try until the window ends (a botnet gets one guess per
  address), while a source with no failure on it (the agent's own desk) is still checked, so the
  right password still gets in.
- per source, across accounts: past 30 failures (spraying many or unknown names from one address),
  that address gets no further try except for accounts that signed in successfully from it in
  the last 30 days, so the agents of a contact centre keep working while the sprayer is stopped.

A successful login clears its pair's counter. Answers never depend on whether the account exists:
the counters for an unknown name behave exactly like those of a real one.

Counting is atomic: `admit()` takes the row locks of the three counters (an UPDATE first, which
on PostgreSQL locks the row and on SQLite takes the database write lock), reads them, and books
this attempt as a failure in the same transaction; `settle()` un-books it if the password was
right. So N parallel wrong attempts verify at most the limit's worth of passwords. The rows are
always locked in the same order (pair, account, source), so two logins cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, case, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

WINDOW = dt.timedelta(minutes=15)
PAIR_LIMIT = 5
ACCOUNT_LIMIT = 10
SOURCE_LIMIT = 30
TRUSTED_SOURCE_FOR = dt.timedelta(days=30)
SCOPES = ("pair", "account", "source")  # also the lock order

metadata = MetaData()
counters = Table(
    "console_login_throttle",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("key", String(120), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("last_success_at", DateTime(timezone=True), nullable=True),
)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes even for timezone=True columns; we only ever store UTC.
    return value if value is None or value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Admission:
    allowed: bool
    retry_after: int = 0  # seconds, when refused


def keys(username: str, source: str) -> dict[str, str]:
    return {"pair": f"{username}|{source}", "account": username, "source": source}


class LoginThrottle:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _ensure(self, conn: Connection, scope: str, key: str, now: dt.datetime) -> None:
        # INSERT .. ON CONFLICT DO NOTHING, written portably: a savepoint keeps a lost race harmless.
        exists = conn.execute(select(counters.c.key).where(counters.c.scope == scope, counters.c.key == key)).first()
        if exists:
            return
        try:
            with conn.begin_nested():
                conn.execute(counters.insert().values(scope=scope, key=key, failures=0, window_start=now))
        except IntegrityError:
            pass

    def _lock(self, conn: Connection, scope: str, key: str, now: dt.datetime) -> None:
        """Lock the counter row (if it exists), restarting its window if it has run out."""
        expired = counters.c.window_start <= now - WINDOW
        conn.execute(
            update(counters)
            .where(counters.c.scope == scope, counters.c.key == key)
            .values(
                failures=case((expired, 0), else_=counters.c.failures),
                window_start=case((expired, now), else_=counters.c.window_start),
            )
        )

    def admit(self, username: str, source: str, now: dt.datetime) -> Admission:
        """May this attempt check a password? If so it is booked as a failure until `settle()`."""
        wanted = keys(username, source)
        with self.engine.begin() as conn:
            # On SQLite the first statement must write, or a concurrent writer makes this
            # transaction fail instead of wait; the UPDATE in _lock comes first for the pair.
            rows = {}
            for scope in SCOPES:
                self._lock(conn, scope, wanted[scope], now)  # matches nothing if absent, but writes first
                self._ensure(conn, scope, wanted[scope], now)
                self._lock(conn, scope, wanted[scope], now)
                rows[scope] = conn.execute(
                    select(counters).where(counters.c.scope == scope, counters.c.key == wanted[scope])
                ).one()
            pair, account, src = rows["pair"], rows["account"], rows["source"]
            last_ok = _aware(pair.last_success_at)
            trusted = last_ok is not None and now - last_ok < TRUSTED_SOURCE_FOR
            refused_by = None
            if pair.failures >= PAIR_LIMIT or (account.failures >= ACCOUNT_LIMIT and pair.failures > 0):
                refused_by = pair
            elif src.failures >= SOURCE_LIMIT and not trusted:
                refused_by = src
            if refused_by is not None:
                started = _aware(refused_by.window_start) or now
                return Admission(False, max(1, int((started + WINDOW - now).total_seconds()) + 1))
            for scope in SCOPES:
                conn.execute(
                    update(counters)
                    .where(counters.c.scope == scope, counters.c.key == wanted[scope])
                    .values(failures=counters.c.failures + 1)
                )
        return Admission(True)

    def settle(self, username: str, source: str, succeeded: bool, now: dt.datetime) -> None:
        """After the password check: a success clears its pair and un-books the failure elsewhere."""
        if not succeeded:
            return
        wanted = keys(username, source)
        with self.engine.begin() as conn:
            conn.execute(
                update(counters)
                .where(counters.c.scope == "pair", counters.c.key == wanted["pair"])
                .values(failures=0, last_success_at=now)
            )
            for scope in ("account", "source"):
                conn.execute(
                    update(counters)
                    .where(counters.c.scope == scope, counters.c.key == wanted[scope], counters.c.failures > 0)
                    .values(failures=counters.c.failures - 1)
                )

    def sweep(self, now: dt.datetime) -> None:
        """Forget counters with nothing left to remember (run now and then, e.g. on a login)."""
        with self.engine.begin() as conn:
            conn.execute(
                counters.delete().where(
                    counters.c.window_start < now - WINDOW,
                    (counters.c.last_success_at.is_(None)) | (counters.c.last_success_at < now - TRUSTED_SOURCE_FOR),
                )
            )
