"""The polling loop: read the case store's outbox, deliver, acknowledge, retry, park; only while holding the lease.

The rules (at least once, the cursor, retry and park, the lease) are in the package docstring.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final

from backend_client import CaseStoreClient, CaseStoreError
from bot import settings
from channels.messenger import MessengerOutput
from channels.notifier.attempts import Attempts
from channels.notifier.deliver import Outcome, deliver_event, messenger_from_env, sms_from_env
from channels.notifier.lease import DEFAULT_LEASE_SECONDS, Lease
from channels.outbound import RetryPolicy
from channels.twilio_sms import TwilioSmsOutput

logger = logging.getLogger("channels.notifier")  # one logger for the whole notifier

PAGE_SIZE = 100
HTTP_TIMEOUT = 15.0  # seconds for one case-store call
DEFAULT_INTERVAL = 5.0


@final
@dataclass
class Notifier:
    """Reads the outbox, sends, acknowledges. Use as `async with Notifier(...) as n:`."""

    messenger: MessengerOutput | None = None
    sms: TwilioSmsOutput | None = None
    case_store_url: str | None = None
    case_store_token: str | None = None
    page_size: int = PAGE_SIZE
    http_timeout: float = HTTP_TIMEOUT
    state_url: str | None = None  # where attempts are counted (the channel state's database)
    retry: RetryPolicy | None = None
    lease_seconds: float | None = None  # NOTIFIER_LEASE_SECONDS

    def __post_init__(self) -> None:
        config = settings.get_settings()
        self.case_store_url = (self.case_store_url or config.case_store_url).rstrip("/")
        self.case_store_token = self.case_store_token or config.case_store_token
        if not 1 <= self.page_size <= 500:
            raise ValueError(f"page_size is {self.page_size}; allowed: 1..500 (the outbox's limit).")
        self.retry = self.retry or RetryPolicy.from_env("NOTIFIER", max_attempts=10, base_seconds=5, max_seconds=1800)
        self.client = CaseStoreClient(self.case_store_url, self.case_store_token, self.http_timeout)
        self._attempts: Attempts | None = None
        self.after = 0  # in-memory scan position; the outbox's ack state is the durable cursor
        self._retry_from: int | None = None  # first event left unacked during this scan
        self._waiting: set[str] = set()  # references with an unsent event during this scan
        self._sent_unacked: set[int] = set()  # sent, but the ack failed: ack without resending
        self._more = False  # the last page was full
        self._why = ""  # why the last delivery is to be retried (an error class or code, never content)
        if self.lease_seconds is None:
            raw = settings.env("NOTIFIER_LEASE_SECONDS") or str(DEFAULT_LEASE_SECONDS)
            try:
                self.lease_seconds = float(raw)
            except ValueError:
                raise ValueError(f"Config 'NOTIFIER_LEASE_SECONDS' is {raw!r}; expected seconds.") from None
        self._lease: Lease | None = None
        self._holding = False
        self._said_waiting = False

    @property
    def attempts(self) -> Attempts:
        if self._attempts is None:  # made on first use: `deliver` alone needs no database
            self._attempts = Attempts(self.state_url)
        return self._attempts

    @property
    def lease(self) -> Lease:
        if self._lease is None:
            assert self.lease_seconds is not None
            self._lease = Lease(self.state_url, self.lease_seconds)
        return self._lease

    async def hold(self) -> bool:
        """Take or renew the lease; on getting it (back), start the scan afresh."""
        held = await asyncio.to_thread(self.lease.acquire)
        if held and not self._holding:
            logger.info("notifier: holding the lease; sending")
            self.after, self._retry_from = 0, None
            self._waiting.clear()
        elif not held and (self._holding or not self._said_waiting):
            logger.warning("notifier: another notifier holds the lease; waiting")  # once, not every round
        self._said_waiting = not held
        self._holding = held
        return held

    @classmethod
    def from_env(cls) -> Notifier:
        return cls(messenger=messenger_from_env(), sms=sms_from_env())

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._holding and self._lease is not None:
            await asyncio.to_thread(self._lease.release)
            self._holding = False
        await self.client.close()
        if self.sms is not None:
            await self.sms.client.close()  # its HTTP session (channels/twilio_rest.py)

    # -- case store --
    async def fetch(self) -> list[dict[str, Any]]:
        return await self.client.outbox(self.after, self.page_size)

    async def ack(self, event_id: int) -> None:
        await self.client.ack_outbox(event_id)

    # -- one event --
    async def deliver(self, event: Mapping[str, Any]) -> Outcome:
        """Send one event's message if it has one and a notify address; never acks."""
        outcome, why = await deliver_event(event, self.messenger, self.sms)
        if outcome is Outcome.RETRY:
            self._why = why
        return outcome

    # -- one round --
    async def run_once(self) -> int:
        """Handle one page of unacknowledged events after `after`; returns how many messages were sent.

        Sends nothing (0) unless this notifier holds the lease, renewed before every event.
        Raises CaseStoreError when the outbox cannot be read (nothing was sent then).
        """
        self._more = False
        if not await self.hold():
            return 0
        events = await self.fetch()
        sent = 0
        for event in events:
            if not await self.hold():
                return sent  # stalled past the lease: another notifier sends from here
            eid = int(event["id"])
            reference = str(event.get("reference") or "")
            outcome = await self._decide(event, eid, reference)
            if outcome is Outcome.PARKED:
                pass  # skipped: later events of its request go on
            elif outcome is Outcome.RETRY:
                self._waiting.add(reference)
                self._retry_from = eid if self._retry_from is None else min(self._retry_from, eid)
            else:
                if outcome is Outcome.SENT and eid not in self._sent_unacked:
                    sent += 1
                try:
                    await self.ack(eid)
                except CaseStoreError:
                    if outcome is Outcome.SENT:
                        self._sent_unacked.add(eid)
                    raise
                self._sent_unacked.discard(eid)
                await asyncio.to_thread(self.attempts.clear, eid)
                if outcome is not Outcome.SENT:
                    logger.debug("notifier: event %s (%s) acked without sending: %s", eid, event.get("event"), outcome.value)
            self.after = eid
        self._more = len(events) >= self.page_size
        if not self._more:
            # End of the outbox: the next scan starts again from the first event left behind
            # (also one an operator has just put back with `retry`).
            pending = await asyncio.to_thread(self.attempts.first_pending)
            first = min((x for x in (self._retry_from, pending) if x is not None), default=None)
            if first is not None:
                self.after = min(self.after, first - 1)
            self._retry_from = None
            self._waiting.clear()
        if sent:
            logger.info("notifier: sent %d notification(s)", sent)
        return sent

    async def _decide(self, event: Mapping[str, Any], eid: int, reference: str) -> Outcome:
        if eid in self._sent_unacked:
            return Outcome.SENT  # delivered last round, only the ack was lost
        if reference in self._waiting:
            return Outcome.RETRY  # an earlier event of this request is still unsent
        tried = await asyncio.to_thread(self.attempts.get, eid)
        if tried and tried["parked_at"] is not None:
            return Outcome.PARKED
        if tried and tried["next_attempt_at"] > time.time():
            return Outcome.RETRY  # backing off
        outcome = await self.deliver(event)
        if outcome is not Outcome.RETRY:
            return outcome
        notify = (event.get("payload") or {}).get("notify")
        channel = notify.get("channel") if isinstance(notify, dict) else None
        assert self.retry is not None
        if await asyncio.to_thread(self.attempts.failed, eid, str(event.get("event")), channel, self._why, self.retry):
            logger.warning("notifier: event %s parked after %d failed attempts (%s); see `python -m channels.notifier dead`",
                           eid, self.retry.max_attempts, self._why)
            return Outcome.PARKED
        return Outcome.RETRY

    async def run_forever(self, interval: float = DEFAULT_INTERVAL) -> None:
        """Poll every `interval` seconds; a full page is followed at once by the next."""
        while True:
            try:
                await self.run_once()
                if self._more:
                    continue  # a full page: more events are waiting
            except CaseStoreError as exc:
                logger.warning("notifier: %s; trying again in %ss", exc, interval)
            await asyncio.sleep(interval)
