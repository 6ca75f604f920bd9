"""The notifier: case-store outbox events -> a message to the citizen, on their channel, in their language.

    python -m channels.notifier [--once] [--interval 5]

Roles:
- read: `GET /v1/outbox?after=<id>` (unacknowledged events, oldest first) and
  `POST /v1/outbox/{id}/ack` on the case store, through one aiohttp session.
- render: `render_event` is a pure function from an event to the text to send (or None), with
  the `notify` Babel catalog. A confidential report never carries its narrative or the
  entity's answer: only "there is an update on your report <ref>, check it with your PIN".
- send: Messenger through `MessengerOutput.send_notification` (tagged ACCOUNT_UPDATE, so it
  may go out after Messenger's 24-hour window), SMS through `TwilioSmsOutput.send_sms` (which
  sends nothing to a number that opted out).

Delivery is at least once, and the cursor is the outbox's own ack state plus an in-memory
`after` id, so a restart simply resumes with whatever is unacknowledged:
- sent, or nothing to send (no notify address, a `created` event) -> ack;
- refused for good (number opted out, a 4xx from Graph or Twilio) -> ack, logged without address;
- failed for now (network, timeout, 5xx, throttling, channel not configured) -> not acked: the
  scan goes on past it, and once it reaches the end of the outbox it rewinds to the first
  failure, so the event is retried next round. Later events of the same request wait behind it,
  so a citizen never reads "in progress" after "answered".
Logs carry event ids, kinds, channels and outcomes: never addresses, message text or tokens.
Run one notifier per case store: two would each send the same event once.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final

import aiohttp
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from bot import settings
from bot.channel_state import shared
from bot.i18n import gettext, lang_or_default
from bot.labels import label
from bot.refcode import canonical_digits, format_grouped
from channels.messenger import (
    DEFAULT_GRAPH_URL,
    DEFAULT_GRAPH_VERSION,
    GraphBot,
    MessengerConfigError,
    MessengerOutput,
    MessengerSendError,
)
from channels.twilio_sms import TwilioSmsConfigError, TwilioSmsOutput, make_client

logger = logging.getLogger("channels.notifier")  # not __main__ under `python -m`

DOMAIN = "notify"
ANSWER_EXCERPT = 250  # characters of the entity's answer quoted in the notification
PAGE_SIZE = 100
HTTP_TIMEOUT = 15.0  # seconds for one case-store call
DEFAULT_INTERVAL = 5.0
# Graph error codes that mean "try again later", whatever the HTTP status: unknown (1),
# temporarily unavailable (2), application / user / page request limits (4, 17, 32, 613).
GRAPH_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613})
CONFIDENTIAL_TYPES = frozenset({"report"})  # case_store: a report is always confidential


class CaseStoreError(RuntimeError):
    """The outbox could not be read or acknowledged (unreachable, timeout, non-2xx)."""


# --- render ----------------------------------------------------------------------------------

def _text(language: str, msgid: str, **params: object) -> str:
    return gettext(DOMAIN, language, msgid, **params)


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
    return cut.rstrip(" \n،,.;:-") + _text(language, "ellipsis"), True


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
        return _text(language, "report_update", reference=reference)
    if kind == "answered" and str(payload.get("answer") or "").strip():
        answer, cut = excerpt(str(payload["answer"]), language)
        text = _text(language, "answered", reference=reference, answer=answer)
        if cut:
            # The SMS keyword (and the Messenger NLU) read the reference with or without spaces.
            text += "\n" + _text(language, "answered_full_reply", reference=canonical_digits(reference))
        return text
    if kind in ("escalated", "reopened"):
        return _text(language, kind, reference=reference)
    return _text(language, "status_changed", reference=reference, status=label("status", payload.get("status"), language))


# --- send ------------------------------------------------------------------------------------

class Outcome(enum.Enum):
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to send: acked
    REFUSED = "refused"  # the platform refused for good: acked
    RETRY = "retry"  # failed for now: not acked


def _messenger_transient(exc: MessengerSendError) -> bool:
    return exc.status >= 500 or exc.status == 429 or exc.code in GRAPH_TRANSIENT_CODES


def _twilio_transient(exc: TwilioRestException) -> bool:
    return exc.status >= 500 or exc.status == 429


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

    def __post_init__(self) -> None:
        config = settings.get_settings()
        self.case_store_url = (self.case_store_url or config.case_store_url).rstrip("/")
        self.case_store_token = self.case_store_token or config.case_store_token
        if not 1 <= self.page_size <= 500:
            raise ValueError(f"page_size is {self.page_size}; allowed: 1..500 (the outbox's limit).")
        self.after = 0  # in-memory scan position; the outbox's ack state is the durable cursor
        self._retry_from: int | None = None  # first event left unacked during this scan
        self._waiting: set[str] = set()  # references with an unsent event during this scan
        self._sent_unacked: set[int] = set()  # sent, but the ack failed: ack without resending
        self._more = False  # the last page was full
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls) -> Notifier:
        return cls(messenger=messenger_from_env(), sms=sms_from_env())

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.case_store_token}"},
                timeout=aiohttp.ClientTimeout(total=self.http_timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- case store --
    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self._http().request(method, f"{self.case_store_url}{path}", **kwargs) as resp:
                if resp.status == 404 and method == "POST":
                    return None  # acking an event that no longer exists: nothing left to do
                if resp.status >= 300:
                    raise CaseStoreError(f"case store answered HTTP {resp.status} to {method} {path.split('?')[0]}")
                return await resp.json()
        # On 3.10 asyncio.TimeoutError is not the builtin TimeoutError (aliases from 3.11 only).
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise CaseStoreError(f"case store unreachable ({type(exc).__name__}) at {self.case_store_url}") from None

    async def fetch(self) -> list[dict[str, Any]]:
        body = await self._call("GET", "/v1/outbox", params={"after": str(self.after), "limit": str(self.page_size)})
        return list(body.get("events") or [])

    async def ack(self, event_id: int) -> None:
        await self._call("POST", f"/v1/outbox/{event_id}/ack")

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
                return Outcome.RETRY
            try:
                await self.messenger.send_notification(str(address), text)
            except MessengerSendError as exc:
                if _messenger_transient(exc):
                    logger.warning("notifier: event %s messenger failed for now: HTTP %s code %s", eid, exc.status, exc.code)
                    return Outcome.RETRY
                logger.warning("notifier: event %s messenger refused: HTTP %s code %s", eid, exc.status, exc.code)
                return Outcome.REFUSED
            except requests.RequestException as exc:
                logger.warning("notifier: event %s messenger unreachable: %s", eid, type(exc).__name__)
                return Outcome.RETRY
            return Outcome.SENT
        if channel == "sms":
            if self.sms is None:
                logger.warning("notifier: event %s for sms, but Twilio is not configured", eid)
                return Outcome.RETRY
            try:
                sids = await self.sms.send_sms(str(address), text)
            except TwilioRestException as exc:
                if _twilio_transient(exc):
                    logger.warning("notifier: event %s sms failed for now: HTTP %s code %s", eid, exc.status, exc.code)
                    return Outcome.RETRY
                logger.warning("notifier: event %s sms refused: HTTP %s code %s", eid, exc.status, exc.code)
                return Outcome.REFUSED
            except TwilioSmsConfigError:
                logger.error("notifier: event %s not sent: TWILIO_SMS_FROM is not set", eid)
                return Outcome.RETRY
            except (requests.RequestException, TwilioException) as exc:
                logger.warning("notifier: event %s sms unreachable: %s", eid, type(exc).__name__)
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

        Raises CaseStoreError when the outbox cannot be read (nothing was sent then).
        """
        events = await self.fetch()
        sent = 0
        for event in events:
            eid = int(event["id"])
            reference = str(event.get("reference") or "")
            if eid in self._sent_unacked:
                outcome = Outcome.SENT  # delivered last round, only the ack was lost
            elif reference in self._waiting:
                outcome = Outcome.RETRY  # an earlier event of this request is still unsent
            else:
                outcome = await self.deliver(event)
            if outcome is Outcome.RETRY:
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
                if outcome is not Outcome.SENT:
                    logger.debug("notifier: event %s (%s) acked without sending: %s", eid, event.get("event"), outcome.value)
            self.after = eid
        self._more = len(events) >= self.page_size
        if not self._more:
            # End of the outbox: the next scan starts again from the first event left behind.
            if self._retry_from is not None:
                self.after = self._retry_from - 1
            self._retry_from = None
            self._waiting.clear()
        if sent:
            logger.info("notifier: sent %d notification(s)", sent)
        return sent

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
    return MessengerOutput(GraphBot(token, app_secret, graph_url, version))


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.notifier", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="handle one page of the outbox and exit")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, help="seconds between rounds (default 5)")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error(f"--interval is {args.interval}; it must be a positive number of seconds.")
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
