"""Read Rasa's event broker and fold each event into the analytics store, then forget it.

- SQL broker (the default install; Rasa's `sql` broker writes rows to a table `events`): read
  rows after our cursor in batches, fold them and move the cursor in one transaction of the
  analytics store, then DELETE the rows, so the broker table never accumulates message text.
  A crash between the two steps re-reads nothing (the cursor) and the next pass deletes them.
  The newest folded row is kept, emptied, as a high-water mark: SQLite numbers a new row after
  the largest id in the table, so emptying the table would restart the ids below our cursor.
- RabbitMQ (Rasa's `pika` broker, EVENT_BROKER_URL=amqp://...): consume the queue Rasa publishes
  to, fold each message and ack it after the fold is committed.
Both run as background tasks of the insights service (insights/web.py cleanup_ctx).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, delete, func, inspect, select, update
from sqlalchemy.engine import Engine

from bot.sql import sync_engine
from insights.analytics import Folder

logger = logging.getLogger(__name__)
SQL_SOURCE = "sql_broker"
BATCH = 500

# Rasa's SQLEventBroker table (rasa/core/brokers/sql.py), described here only to read and delete.
_broker_md = MetaData()
broker_events = Table(
    "events", _broker_md, Column("id", Integer, primary_key=True), Column("sender_id", String(255)), Column("data", Text)
)


def _decode(raw: str | bytes | None) -> dict[str, Any] | None:
    try:
        event = json.loads(raw or "")
    except (ValueError, TypeError):
        return None
    return event if isinstance(event, dict) else None


class SqlBrokerReader:
    """Drains Rasa's SQL broker table into the analytics store."""

    def __init__(self, broker_url: str, folder: Folder) -> None:
        self.engine: Engine = sync_engine(broker_url)
        self.folder = folder

    def drain_once(self) -> int:
        """Fold and delete what is there now (several batches); returns how many rows went."""
        if not inspect(self.engine).has_table("events"):
            return 0  # Rasa has not published yet: it creates the table on first start
        total = 0
        while True:
            with self.folder.engine.connect() as aconn:
                cursor = Folder.cursor(aconn, SQL_SOURCE)
            with self.engine.connect() as conn:
                top = conn.execute(select(func.max(broker_events.c.id))).scalar()
                if top is not None and top < cursor:
                    # The broker table was dropped and made again: its ids start over.
                    logger.warning("event broker table was recreated; reading it from the start")
                    self.folder.apply([], cursor=(SQL_SOURCE, 0))
                    cursor = 0
                rows = conn.execute(
                    select(broker_events.c.id, broker_events.c.data).where(broker_events.c.id > cursor)
                    .order_by(broker_events.c.id).limit(BATCH)
                ).all()
            if rows:
                events = [e for e in (_decode(r.data) for r in rows) if e is not None]
                self.folder.apply(events, cursor=(SQL_SOURCE, int(rows[-1].id)))
                cursor = int(rows[-1].id)
            with self.engine.begin() as conn:
                conn.execute(delete(broker_events).where(broker_events.c.id < cursor))
                conn.execute(update(broker_events).where(broker_events.c.id == cursor).values(sender_id=None, data="{}"))
            total += len(rows)
            if len(rows) < BATCH:
                return total

    async def run(self, interval: float) -> None:
        while True:
            try:
                await asyncio.to_thread(self.drain_once)
            except Exception as exc:  # a locked or absent database: try again next time
                logger.warning("event broker not read: %s", type(exc).__name__)
            await asyncio.sleep(interval)

    def close(self) -> None:
        self.engine.dispose()


class RabbitReader:
    """Consumes the queue Rasa's pika broker publishes to (declared durable, as Rasa declares it)."""

    def __init__(self, url: str, queue: str, folder: Folder) -> None:
        self.url, self.queue, self.folder = url, queue, folder
        self.connection: Any = None

    async def run(self, retry_seconds: float = 5.0) -> None:
        """Consume for ever; a broker not up yet (or gone) is tried again, never fatal."""
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("RabbitMQ not consumed (%s); trying again in %.0f s", type(exc).__name__, retry_seconds)
                await self.close()
                self.connection = None
            await asyncio.sleep(retry_seconds)

    async def _consume(self) -> None:
        import aio_pika

        self.connection = await aio_pika.connect_robust(self.url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=100)
        queue = await channel.declare_queue(self.queue, durable=True)
        async with queue.iterator() as messages:
            async for message in messages:
                event = _decode(message.body)
                if event is not None:
                    await asyncio.to_thread(self.folder.apply, [event])
                await message.ack()

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


class Running:
    """A started reader: `stop()` ends it within seconds whatever the broker does (idempotent)."""

    def __init__(self, reader: SqlBrokerReader | RabbitReader, task: asyncio.Task[None]) -> None:
        self.reader, self.task, self.stopped = reader, task, False

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        # A consumer's cancel waits on the server: close the connection first (its heartbeat and
        # reconnect tasks go with it), then give the task a few seconds at most.
        if isinstance(self.reader, RabbitReader):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.reader.close(), 5)
        self.task.cancel()
        await asyncio.wait({self.task}, timeout=5)
        if isinstance(self.reader, SqlBrokerReader):
            self.reader.close()


@contextlib.asynccontextmanager
async def consuming(broker_url: str, queue: str, folder: Folder, interval: float) -> AsyncIterator[Running | None]:
    """Run the reader that fits `broker_url` for as long as the block lasts. The server also stops
    it as soon as it starts shutting down (aiohttp waits for the tasks still running)."""
    if broker_url == "none":
        yield None
        return
    reader: SqlBrokerReader | RabbitReader
    if broker_url.startswith("amqp://"):
        reader = RabbitReader(broker_url, queue, folder)
        running = Running(reader, asyncio.create_task(reader.run()))
    else:
        reader = SqlBrokerReader(broker_url, folder)
        running = Running(reader, asyncio.create_task(reader.run(interval)))
    try:
        yield running
    finally:
        await running.stop()
