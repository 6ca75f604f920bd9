"""The durable outbox of outbound channel messages, and the worker that delivers it.

    python -m channels.outbound list [--dead]     # what is waiting or parked (no address, no text)
    python -m channels.outbound retry ID|--all-dead

Why: a reply sent inside a Rasa turn that fails (Graph API or Twilio unreachable) made Rasa drop
the whole turn, citizen's message included, while side effects of the turn had happened and the
delivery id stayed claimed. Now an `OutputChannel` only *enqueues* (one local INSERT, in the
turn, which the network cannot fail) and a `DeliveryWorker` sends afterwards:

- in order per recipient: only the oldest pending row of a recipient is ever tried, so a reply
  held back by a retry holds back the replies after it;
- safe with several Rasa processes on one database: a row is claimed with
  `UPDATE ... WHERE claimed_until IS NULL OR claimed_until < now` (one winner), and the claim is
  a lease, so a process that dies mid-send frees its row when the lease ends;
- transient errors (network, 5xx, throttling) are retried with exponential backoff and
  jitter; a permanent refusal (a 4xx) or `max_attempts` failures park the row as `dead`, listed
  and re-queued with the CLI above;
- at least once: a row is deleted after the platform accepted it; if that delete is lost the
  message may go out again (the platforms' own retries have the same property).

Privacy: the recipient is stored sealed (bot.privacy.seal_address) plus a keyed id for ordering;
the message is stored encrypted (its text can be a reference, a PIN, an agent's answer). Logs
carry row ids, channels and error codes only.
The table lives next to the channel state (CHANNEL_STATE_DATABASE_URL, SQLite by default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine

from bot.channel_state import default_url
from bot.privacy import FieldCipher, keyed_id, open_address, seal_address
from bot.settings import env, get_settings
from bot.sql import CHANNEL_STATE, migrate, sync_engine

logger = logging.getLogger("channels.outbound")  # not __main__ under `python -m`

PENDING, DEAD = "pending", "dead"
LEASE_SECONDS = 60.0  # longer than one send's timeout (10 s), so a live claim never lapses mid-send
POLL_SECONDS = 1.0  # how often a worker looks for rows enqueued by another process

metadata = MetaData()
outbox = Table(
    "channel_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(30), nullable=False),
    Column("recipient", String(80), nullable=False),  # keyed id: orders a recipient's messages
    Column("address", Text, nullable=False),  # sealed
    Column("body", Text, nullable=False),  # encrypted JSON of the message
    Column("status", String(10), nullable=False, default=PENDING),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("claimed_until", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("last_error", String(120), nullable=True),
    Index("ix_channel_outbox_head", "channel", "status", "recipient", "id"),
)


class Transient(Exception):
    """The platform could not take the message now: try again later."""


class Permanent(Exception):
    """The platform refused the message for good: park it, do not retry."""


SendFn = Callable[[str, dict[str, Any]], Awaitable[None]]  # (address, message); raises Transient/Permanent


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts is {self.max_attempts} (*_MAX_ATTEMPTS); it must be at least 1.")
        if not 0 < self.base_seconds <= self.max_seconds:
            raise ValueError(
                f"retry base ({self.base_seconds} s, *_RETRY_BASE_SECONDS) must be positive and at most "
                f"the retry cap ({self.max_seconds} s, *_RETRY_MAX_SECONDS)."
            )

    @classmethod
    def from_env(cls, prefix: str = "OUTBOX", max_attempts: int = 8, base_seconds: float = 2.0,
                 max_seconds: float = 600.0) -> RetryPolicy:
        """<prefix>_MAX_ATTEMPTS, <prefix>_RETRY_BASE_SECONDS, <prefix>_RETRY_MAX_SECONDS."""
        def number(name: str, default: float) -> float:
            raw = env(f"{prefix}_{name}")
            try:
                return float(raw) if raw else default
            except ValueError:
                raise ValueError(f"Config '{prefix}_{name}' is {raw!r}; expected a number.") from None

        return cls(
            max_attempts=int(number("MAX_ATTEMPTS", max_attempts)),
            base_seconds=number("RETRY_BASE_SECONDS", base_seconds),
            max_seconds=number("RETRY_MAX_SECONDS", max_seconds),
        )

    def delay(self, attempts: int) -> float:
        """Equal jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in
        [c/2, c] with c = min(cap, base * 2^(n-1)), so rows failing together do not come back
        together, and a retry never comes sooner than half the backoff."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return random.uniform(ceiling / 2, ceiling)


def _body_cipher() -> FieldCipher:
    key = get_settings().sender_id_key
    return FieldCipher(key, purpose="channel-outbox", legacy_secret=b"channel-outbox:" + key)


class Outbox:
    """The table and its few queries. Synchronous SQLAlchemy, called through worker threads."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        migrate(CHANNEL_STATE, self.url)
        self.engine: Engine = sync_engine(self.url)
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        self.workers: dict[str, DeliveryWorker] = {}

    # --- enqueue -----------------------------------------------------------------------------
    def _enqueue(self, channel: str, address: str, messages: list[dict[str, Any]], hold: float = 0.0) -> list[int]:
        now = time.time()
        cipher = _body_cipher()
        ids = []
        with self.engine.begin() as conn:  # one transaction: a turn's messages stay together
            for message in messages:
                result = conn.execute(
                    outbox.insert().values(
                        channel=channel, recipient=keyed_id(channel, address), address=seal_address(address),
                        body=cipher.encrypt(json.dumps(message, ensure_ascii=False)), status=PENDING, attempts=0,
                        next_attempt_at=now + hold, created_at=now,
                    )
                )
                ids.append(int(result.inserted_primary_key[0]))
        return ids

    async def enqueue(self, channel: str, address: str, messages: list[dict[str, Any]], *, hold: float = 0.0) -> list[int]:
        """Queue `messages` for `address` on `channel`, in order; returns the row ids.

        `hold`: the caller sends them itself at once (`DeliveryWorker.try_now`); the workers
        leave them alone for that long, so the caller's attempt never races a background round
        for the claim (and loses, answering before its message went out)."""
        if not messages:
            return []
        ids = await asyncio.to_thread(self._enqueue, channel, address, messages, hold)
        if not hold:
            for wake in self._listeners.get(channel, []):
                wake()
        return ids

    def listen(self, channel: str, wake: Callable[[], None]) -> None:
        self._listeners.setdefault(channel, []).append(wake)

    # --- the worker's queries ----------------------------------------------------------------
    def heads(self, channel: str, now: float, limit: int = 50) -> list[int]:
        """Ids of the oldest pending row of each recipient, when due and not claimed."""
        first = (
            select(func.min(outbox.c.id))
            .where(outbox.c.channel == channel, outbox.c.status == PENDING)
            .group_by(outbox.c.recipient)
            .scalar_subquery()
        )
        query = (
            select(outbox.c.id)
            .where(
                outbox.c.id.in_(first),
                outbox.c.next_attempt_at <= now,
                or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [int(x) for x in conn.execute(query).scalars()]

    def claim(self, row_id: int, now: float, lease: float = LEASE_SECONDS) -> tuple[str, dict[str, Any], int] | None:
        """Take the row for `lease` seconds; (address, message, attempts so far) or None if another
        process holds it. The conditional UPDATE is the lock: one winner on SQLite and PostgreSQL."""
        earlier = outbox.alias("earlier")
        with self.engine.begin() as conn:
            won = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == row_id,
                    outbox.c.status == PENDING,
                    or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
                    # only a recipient's oldest pending row, so order holds whoever calls
                    ~exists().where(
                        earlier.c.channel == outbox.c.channel,
                        earlier.c.recipient == outbox.c.recipient,
                        earlier.c.status == PENDING,
                        earlier.c.id < outbox.c.id,
                    ),
                )
                .values(claimed_until=now + lease)
            ).rowcount
            if won != 1:
                return None
            row = conn.execute(select(outbox.c.address, outbox.c.body, outbox.c.attempts).where(outbox.c.id == row_id)).one()
        address = open_address(row.address)
        body = _body_cipher().decrypt(row.body)
        if address is None or body is None:
            raise Permanent("unreadable row (SENDER_ID_KEY changed?)")
        return address, json.loads(body), int(row.attempts)

    def done(self, row_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(outbox).where(outbox.c.id == row_id))

    def failed(self, row_id: int, attempts: int, error: str, retry_at: float | None) -> None:
        """Record a failed attempt: pending again at `retry_at`, or dead when it is None."""
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:120], "claimed_until": None}
        if retry_at is None:
            values["status"] = DEAD
        else:
            values["next_attempt_at"] = retry_at
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))

    # --- operators ---------------------------------------------------------------------------
    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """What an operator may see: no address, no message."""
        cols = [outbox.c.id, outbox.c.channel, outbox.c.status, outbox.c.attempts, outbox.c.last_error,
                outbox.c.created_at, outbox.c.next_attempt_at]
        query = select(*cols).order_by(outbox.c.id)
        if status:
            query = query.where(outbox.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def retry(self, row_id: int | None = None) -> int:
        """Put a dead row (or every dead row) back in the queue, with a fresh attempt count."""
        cond = outbox.c.status == DEAD
        if row_id is not None:
            cond = and_(cond, outbox.c.id == row_id)
        with self.engine.begin() as conn:
            return conn.execute(
                update(outbox).where(cond).values(status=PENDING, attempts=0, next_attempt_at=time.time(), claimed_until=None)
            ).rowcount or 0


@functools.cache
def shared(url: str | None = None) -> Outbox:
    """One Outbox per database per process (every connector of a Rasa server shares it)."""
    return Outbox(url or default_url())


class DeliveryWorker:
    """Delivers one channel's rows. `start()` inside a running loop (a Sanic listener)."""

    def __init__(self, box: Outbox, channel: str, send: SendFn, policy: RetryPolicy | None = None,
                 poll: float = POLL_SECONDS) -> None:
        self.box, self.channel, self.send = box, channel, send
        self.policy = policy or RetryPolicy.from_env()
        self.poll = poll
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = asyncio.Lock()

    async def run_once(self) -> int:
        """Try every due head once, following each recipient's queue while sends succeed;
        returns how many messages went out."""
        sent = 0
        async with self._busy:
            while True:
                progressed = False
                for row_id in await asyncio.to_thread(self.box.heads, self.channel, time.time()):
                    if await self._deliver(row_id):
                        sent += 1
                        progressed = True
                if not progressed:
                    return sent

    async def try_now(self, row_ids: list[int], send: SendFn | None = None) -> int:
        """Try these rows at once, in order (a caller that just queued them wants them out before
        it answers), with the caller's own `send` if given; stops at the first that does not go.
        What stays is the worker's job."""
        # No lock: the claim is what keeps two deliverers apart, and waiting behind a background
        # round (maybe stuck on timeouts) would hold up the caller's answer.
        sent = 0
        for row_id in row_ids:
            if not await self._deliver(row_id, send):
                break
            sent += 1
        return sent

    async def _deliver(self, row_id: int, send: SendFn | None = None) -> bool:
        try:
            claimed = await asyncio.to_thread(self.box.claim, row_id, time.time())
        except Permanent as exc:
            await asyncio.to_thread(self.box.failed, row_id, 1, str(exc), None)
            return False
        if claimed is None:
            return False  # another worker has it
        address, message, attempts = claimed
        attempts += 1
        try:
            await (send or self.send)(address, message)
        except Permanent as exc:
            logger.warning("outbound: %s row %s refused for good (%s): parked", self.channel, row_id, exc)
            await asyncio.to_thread(self.box.failed, row_id, attempts, f"permanent: {exc}", None)
            return False
        except Exception as exc:  # Transient, or anything unexpected: retried, never lost
            reason = str(exc) if isinstance(exc, Transient) else type(exc).__name__
            if attempts >= self.policy.max_attempts:
                logger.warning("outbound: %s row %s failed %d times (%s): parked", self.channel, row_id, attempts, reason)
                await asyncio.to_thread(self.box.failed, row_id, attempts, f"gave up: {reason}", None)
            else:
                delay = self.policy.delay(attempts)
                logger.info("outbound: %s row %s failed (%s), retry %d in %.1fs", self.channel, row_id, reason, attempts, delay)
                await asyncio.to_thread(self.box.failed, row_id, attempts, reason, time.time() + delay)
            return False
        await asyncio.to_thread(self.box.done, row_id)
        return True

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """Idempotent; restarts in a new event loop (tests run one loop per test)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            if self._wake is None:
                self.box.listen(self.channel, self._poke)
            self._wake = asyncio.Event()
            self._busy = asyncio.Lock()
            self._task = loop.create_task(self._run(), name=f"outbound-{self.channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception as exc:  # the database itself: keep the worker alive
                logger.error("outbound: %s worker round failed: %s", self.channel, type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll)


def worker_for(box: Outbox, channel: str, send: SendFn) -> DeliveryWorker:
    """The process's one worker for `channel` on `box` (several connectors may ask for it)."""
    if channel not in box.workers:
        box.workers[channel] = DeliveryWorker(box, channel, send)
    box.workers[channel].send = send  # the latest connector's credentials win
    return box.workers[channel]


# --- CLI -------------------------------------------------------------------------------------

def _fmt_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.outbound", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="rows waiting or parked (ids, channels, attempts, last error)")
    ls.add_argument("--dead", action="store_true", help="only the parked (dead-letter) rows")
    rt = sub.add_parser("retry", help="re-queue a parked row, or all of them")
    group = rt.add_mutually_exclusive_group(required=True)
    group.add_argument("id", nargs="?", type=int)
    group.add_argument("--all-dead", action="store_true")
    args = parser.parse_args(argv)
    box = Outbox()
    if args.command == "list":
        rows = box.rows(DEAD if args.dead else None)
        for r in rows:
            print(f"{r['id']}\t{r['channel']}\t{r['status']}\tattempts={r['attempts']}\t"
                  f"created={_fmt_time(r['created_at'])}\tlast_error={r['last_error'] or '-'}")
        print(f"{len(rows)} row(s)")
        return 0
    n = box.retry(None if args.all_dead else args.id)
    if not n and not args.all_dead:
        print(f"no parked row {args.id}: `python -m channels.outbound list --dead` shows the parked ones")
        return 1
    print(f"re-queued {n} row(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
