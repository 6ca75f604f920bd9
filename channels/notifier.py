"""The notifier: case-store outbox events -> a message to the citizen, on their channel, in their language.

    python -m channels.notifier [--once] [--interval 5]
    python -m channels.notifier dead            # events parked after NOTIFIER_MAX_ATTEMPTS failures
    python -m channels.notifier retry ID|--all  # put parked events back in the round

Roles:
- read: `GET /v1/outbox?after=<id>` (unacknowledged events, oldest first) and
  `POST /v1/outbox/{id}/ack` on the case store, through backend_client.CaseStoreClient.
- render: `render_event` is a pure function from an event to the text to send (or None), with
  the `notify` Babel catalog. A confidential report never carries its narrative or the
  entity's answer: only "there is an update on your report <ref>, check it with your PIN".
- send: Messenger through `MessengerOutput.send_notification` (tagged ACCOUNT_UPDATE, so it
  may go out after Messenger's 24-hour window), SMS through `TwilioSmsOutput.send_sms`, i.e. the
  one SMS sender (channels/sms_sender.py: nothing to a number that opted out). Both send at
  once: the notifier's durable queue is the case store's outbox, so it does not queue twice.

Delivery is at least once, and the cursor is the outbox's own ack state plus an in-memory
`after` id, so a restart simply resumes with whatever is unacknowledged:
- sent, or nothing to send (no notify address, a `created` event) -> ack;
- refused for good (number opted out, a 4xx from Graph or Twilio) -> ack, logged without address;
- failed for now (network, timeout, 5xx, throttling, channel not configured) -> not acked: the
  scan goes on past it, and once it reaches the end of the outbox it rewinds to the first
  failure, so the event is retried in a later round, after an exponential backoff with jitter.
  Later events of the same request wait behind it, so a citizen never reads "in progress"
  after "answered";
- failed NOTIFIER_MAX_ATTEMPTS times -> parked: left unacked in the case store, skipped by the
  scan (later events of its request go on), listed by `dead`, put back by `retry`. Attempts
  are kept in the `notifier_attempts` table next to the channel state (event ids, kinds,
  channels, error codes: no address, reference or text), so a restart does not reset them.
Logs carry event ids, kinds, channels and outcomes: never addresses, message text or tokens.

Safe to run twice (a second replica, a rollout, an operator's stray `python -m channels.notifier`):
a notifier sends only while it holds the lease, a row in `notifier_lease` next to the attempts
(the channel state's database, SQLite or PostgreSQL). The holder renews it before every event,
so it never sends on a lease older than NOTIFIER_LEASE_SECONDS; another notifier waits, checking
each round, and takes over when the holder stops (released at once) or dies (expired). The lease
is taken by one conditional UPDATE (or the first INSERT), which both databases serialise.
A holder that was stalled past its lease learns it lost it before its next send, and starts its
scan afresh when it gets the lease back. The clocks of the notifiers' hosts must agree to well
within the lease (NTP).
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final

import requests
from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from twilio.base.exceptions import TwilioException, TwilioRestException

from backend_client import CaseStoreClient, CaseStoreError
from bot import settings
from bot.channel_state import default_url, shared
from bot.i18n import N_, gettext, lang_or_default
from bot.labels import label
from bot.refcode import canonical_digits, format_grouped
from bot.sql import CHANNEL_STATE, migrate, sync_engine
from channels.messenger import (
    DEFAULT_GRAPH_URL,
    DEFAULT_GRAPH_VERSION,
    GraphClient,
    MessengerConfigError,
    MessengerOutput,
    MessengerSendError,
)
from channels.messenger import is_transient as _messenger_transient
from channels.outbound import RetryPolicy
from channels.sms_sender import is_transient as _twilio_transient
from channels.twilio_rest import NETWORK_ERRORS as TWILIO_NETWORK_ERRORS
from channels.twilio_sms import TwilioSmsConfigError, TwilioSmsOutput, make_client

logger = logging.getLogger("channels.notifier")  # not __main__ under `python -m`

DOMAIN = "notify"
ANSWER_EXCERPT = 250  # characters of the entity's answer quoted in the notification
PAGE_SIZE = 100
HTTP_TIMEOUT = 15.0  # seconds for one case-store call
DEFAULT_INTERVAL = 5.0
DEFAULT_LEASE_SECONDS = 30.0  # > a round's pause and one send's timeout, so the holder renews in time
CONFIDENTIAL_TYPES = frozenset({"report"})  # case_store: a report is always confidential
__all__ = ["CaseStoreError", "Notifier", "Outcome", "excerpt", "main", "render_event"]  # CaseStoreError: backend_client's


# --- render ----------------------------------------------------------------------------------

# The one-line notice for each event that carries no answer (msgids: the English text).
_NOTICES = {
    "escalated": N_("Bekhedmetkom: your request {reference} is overdue, so we escalated it."),
    "reopened": N_("Bekhedmetkom: your request {reference} was reopened. We will tell you when it is answered."),
}


def _text(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, language, message, **params)


def excerpt(answer: str, language: str, limit: int = ANSWER_EXCERPT) -> tuple[str, bool]:
    """The answer on as few lines as it needs, cut near `limit` at a word; (text, was_cut)."""
    text = re.sub(r"[ \t\r\f\v]+", " ", answer.strip())
    text = re.sub(r"\s*\n\s*", "\n", text)
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= limit * 0.8:  # end on a whole word unless that throws away too much
        cut = cut[:space]
    return cut.rstrip(" \n،,.;:-") + _text(language, "..."), True


def render_event(event: Mapping[str, Any]) -> str | None:
    """The text for one outbox event, or None when the citizen is not told about it.

    `created` is not notified: the conversation that filed the request already gave the
    reference (and the IVR texts it on request).
    """
    kind = event.get("event")
    payload: Mapping[str, Any] = event.get("payload") or {}
    language = lang_or_default(payload.get("language"))
    reference = format_grouped(str(payload.get("reference") or event.get("reference") or ""))
    if kind not in ("status_changed", "answered", "escalated", "reopened"):
        return None
    if payload.get("type") in CONFIDENTIAL_TYPES:
        return _text(language, "Bekhedmetkom: there is an update on your report {reference}. Check it with your PIN.", reference=reference)
    if kind == "answered" and str(payload.get("answer") or "").strip():
        answer, cut = excerpt(str(payload["answer"]), language)
        text = _text(language, "Bekhedmetkom: the entity answered your request {reference}:\n{answer}", reference=reference, answer=answer)
        if cut:
            # The SMS keyword (and the Messenger NLU) read the reference with or without spaces.
            text += "\n" + _text(language, "For the full answer, send: STATUS {reference}", reference=canonical_digits(reference))
        return text
    if kind in _NOTICES:
        return _text(language, _NOTICES[kind], reference=reference)
    status = label("status", payload.get("status"), language)
    return _text(language, "Bekhedmetkom: your request {reference} is now {status}.", reference=reference, status=status)


# --- send ------------------------------------------------------------------------------------

class Outcome(enum.Enum):
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to send: acked
    REFUSED = "refused"  # the platform refused for good: acked
    RETRY = "retry"  # failed for now: not acked
    PARKED = "parked"  # failed too often: not acked, not retried until an operator says so


# --- attempts and the dead letter ------------------------------------------------------------

_metadata = MetaData()
attempts_table = Table(
    "notifier_attempts",
    _metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("event", String(40), nullable=False),
    Column("channel", String(30), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("parked_at", Float, nullable=True),
    Column("last_error", String(120), nullable=True),
)


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


lease_table = Table(
    "notifier_lease",
    _metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(100), nullable=False),  # host:pid:random, nothing personal
    Column("expires_at", Float, nullable=False),
)


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
        payload: Mapping[str, Any] = event.get("payload") or {}
        notify = payload.get("notify")
        channel = notify.get("channel") if isinstance(notify, dict) else None
        address = notify.get("address") if isinstance(notify, dict) else None
        if not channel or not address:
            return Outcome.SKIPPED
        text = render_event(event)
        if text is None:
            return Outcome.SKIPPED
        eid = event.get("id")
        if channel == "messenger":
            if self.messenger is None:
                logger.warning("notifier: event %s for messenger, but Messenger is not configured", eid)
                self._why = "messenger not configured"
                return Outcome.RETRY
            try:
                await self.messenger.send_notification(str(address), text)
            except MessengerSendError as exc:
                if _messenger_transient(exc):
                    logger.warning("notifier: event %s messenger failed for now: HTTP %s code %s", eid, exc.status, exc.code)
                    self._why = f"messenger HTTP {exc.status} code {exc.code}"
                    return Outcome.RETRY
                logger.warning("notifier: event %s messenger refused: HTTP %s code %s", eid, exc.status, exc.code)
                return Outcome.REFUSED
            except requests.RequestException as exc:
                logger.warning("notifier: event %s messenger unreachable: %s", eid, type(exc).__name__)
                self._why = f"messenger {type(exc).__name__}"
                return Outcome.RETRY
            return Outcome.SENT
        if channel == "sms":
            if self.sms is None:
                logger.warning("notifier: event %s for sms, but Twilio is not configured", eid)
                self._why = "sms not configured"
                return Outcome.RETRY
            try:
                sids = await self.sms.send_sms(str(address), text)
            except TwilioRestException as exc:
                if _twilio_transient(exc):
                    logger.warning("notifier: event %s sms failed for now: HTTP %s code %s", eid, exc.status, exc.code)
                    self._why = f"sms HTTP {exc.status} code {exc.code}"
                    return Outcome.RETRY
                logger.warning("notifier: event %s sms refused: HTTP %s code %s", eid, exc.status, exc.code)
                return Outcome.REFUSED
            except TwilioSmsConfigError:
                logger.error("notifier: event %s not sent: TWILIO_SMS_FROM is not set", eid)
                self._why = "TWILIO_SMS_FROM not set"
                return Outcome.RETRY
            except (TwilioException, *TWILIO_NETWORK_ERRORS) as exc:
                logger.warning("notifier: event %s sms unreachable: %s", eid, type(exc).__name__)
                self._why = f"sms {type(exc).__name__}"
                return Outcome.RETRY
            if not sids:
                logger.info("notifier: event %s not sent: the number opted out of SMS", eid)
                return Outcome.REFUSED
            return Outcome.SENT
        logger.info("notifier: event %s has notify channel %s, which the notifier cannot send on", eid, channel)
        return Outcome.SKIPPED

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


# --- wire ------------------------------------------------------------------------------------

def messenger_from_env() -> MessengerOutput:
    """MESSENGER_PAGE_ACCESS_TOKEN, MESSENGER_APP_SECRET (required in production),
    MESSENGER_GRAPH_URL, MESSENGER_GRAPH_VERSION."""
    graph_url = settings.env("MESSENGER_GRAPH_URL", DEFAULT_GRAPH_URL) or DEFAULT_GRAPH_URL
    version = settings.env("MESSENGER_GRAPH_VERSION", DEFAULT_GRAPH_VERSION) or DEFAULT_GRAPH_VERSION
    if not re.fullmatch(r"v\d+\.\d+", version):
        raise MessengerConfigError(f"Config 'MESSENGER_GRAPH_VERSION' is {version!r}; expected a Graph API version like 'v21.0'.")
    if not re.match(r"https?://", graph_url):
        raise MessengerConfigError(f"Config 'MESSENGER_GRAPH_URL' is {graph_url!r}; expected an http(s) URL.")
    token = settings.secret("MESSENGER_PAGE_ACCESS_TOKEN")
    app_secret = settings.secret("MESSENGER_APP_SECRET")
    return MessengerOutput(GraphClient(token, app_secret, graph_url, version))


def sms_from_env() -> TwilioSmsOutput:
    """TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_SMS_FROM (required in production),
    TWILIO_API_BASE_URL; opt-outs are read from CHANNEL_STATE_DATABASE_URL like the connector."""
    sms_from = settings.env("TWILIO_SMS_FROM")
    if not sms_from and settings.env("BEKH_ENV", "dev") == "production":
        raise TwilioSmsConfigError("Config 'TWILIO_SMS_FROM' is missing: set the Twilio number (E.164) to send SMS from.")
    client = make_client(
        settings.secret("TWILIO_ACCOUNT_SID"), settings.secret("TWILIO_AUTH_TOKEN"), settings.env("TWILIO_API_BASE_URL")
    )
    return TwilioSmsOutput(client, sms_from, shared(settings.env("CHANNEL_STATE_DATABASE_URL")))


async def _main(once: bool, interval: float) -> int:
    async with Notifier.from_env() as notifier:
        if once:
            sent = await notifier.run_once()
            print(f"sent {sent} notification(s)")
            return 0
        await notifier.run_forever(interval)
    return 0


def _dead_letter(command: str, event_id: int | None, all_parked: bool) -> int:
    attempts = Attempts()
    if command == "dead":
        rows = attempts.parked()
        for r in rows:
            parked = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["parked_at"]))
            print(f"event {r['event_id']}\t{r['event']}\t{r['channel'] or '-'}\tattempts={r['attempts']}\t"
                  f"parked={parked}\tlast_error={r['last_error'] or '-'}")
        print(f"{len(rows)} parked event(s)")
        return 0
    if event_id is None and not all_parked:
        print("notifier: say which event to retry (an id from `dead`) or --all.")
        return 2
    n = attempts.unpark(None if all_parked else event_id)
    print(f"put back {n} event(s); the running notifier picks them up at the end of its next scan")
    return 0 if n or all_parked else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.notifier", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="run", choices=("run", "dead", "retry"),
                        help="run (default), list parked events (dead), or put them back (retry)")
    parser.add_argument("event_id", nargs="?", type=int, help="for retry: the parked event's id")
    parser.add_argument("--all", action="store_true", help="for retry: every parked event")
    parser.add_argument("--once", action="store_true", help="handle one page of the outbox and exit")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, help="seconds between rounds (default 5)")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error(f"--interval is {args.interval}; it must be a positive number of seconds.")
    if args.command != "run":
        return _dead_letter(args.command, args.event_id, args.all)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bot.privacy import install_log_redaction

    install_log_redaction()
    try:
        return asyncio.run(_main(args.once, args.interval))
    except CaseStoreError as exc:
        print(f"notifier: {exc}. Start it with `python -m case_store serve` or set CASE_STORE_URL.")
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
