"""The escalation sweep on a schedule, inside the case-store process.

Every CASE_STORE_ESCALATION_INTERVAL seconds (default 300; 0 turns it off, e.g. where a cron job
runs `python -m case_store escalate` instead) the process runs CaseService.escalate_overdue.
Every replica runs the loop; the sweep itself makes sure only one escalates at a time (a
PostgreSQL advisory lock, SQLite's single writer), and it is idempotent per due period, so a
replica that sweeps right after another finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from bot.settings import ConfigError, env
from case_store.keys import SERVICE

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
ESCALATION_TASK = web.AppKey("escalation_task", asyncio.Task)


def interval_from_env() -> float:
    raw = env("CASE_STORE_ESCALATION_INTERVAL", str(DEFAULT_INTERVAL)) or ""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"Config 'CASE_STORE_ESCALATION_INTERVAL' is {raw!r}; expected seconds between sweeps (0 turns the sweep off)."
        ) from None
    if value < 0 or value != value:
        raise ConfigError(f"Config 'CASE_STORE_ESCALATION_INTERVAL' is {raw!r}; expected 0 or a positive number of seconds.")
    return value


async def run_forever(app: web.Application, interval: float) -> None:
    # A random first delay, so replicas started together do not all reach for the lock at once.
    await asyncio.sleep(random.uniform(0, min(interval, 5.0)))
    while True:
        try:
            await app[SERVICE].escalate_overdue()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bad sweep must not stop the next one (nor the service)
            log.error("escalation sweep failed: %s", type(exc).__name__)
            log.debug("escalation sweep failure detail", exc_info=True)
        await asyncio.sleep(interval)


def scheduler(interval: float | None) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running the sweep every `interval` seconds (None: from the environment)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        seconds = interval_from_env() if interval is None else interval
        if seconds <= 0:
            log.info("scheduled escalation is off (CASE_STORE_ESCALATION_INTERVAL=0)")
            yield
            return
        task = asyncio.create_task(run_forever(app, seconds), name="escalation-sweep")
        app[ESCALATION_TASK] = task
        log.info("escalation sweep every %.0f s", seconds)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx
