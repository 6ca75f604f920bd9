"""The console's messages to citizens: SMS through the one SMS sender (channels/sms_sender.py) and
Messenger through the Send API, answered on the address the conversation itself carries."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import aiohttp

from bot.privacy import open_address
from channels.agent_console.config import ConsoleConfig

Json = dict[str, Any]
MESSENGER_WINDOW = dt.timedelta(hours=24)


def reply_route(tracker: Any, channel: str) -> tuple[str | None, dt.datetime | None]:
    """(reply address, time of the last user message) from the newest user event of `channel`."""
    from rasa.shared.core.events import UserUttered

    for e in reversed(tracker.events):
        if isinstance(e, UserUttered):
            meta = e.metadata or {}
            address = open_address(meta.get("reply_address")) if meta.get("channel") == channel else None
            if address:
                return address, dt.datetime.fromtimestamp(e.timestamp, dt.timezone.utc)
    return None, None


class SendError(Exception):
    pass


class NoReplyAddress(SendError):
    """The conversation carries no address to answer on (e.g. a voice caller who gave no SMS consent)."""


class OutsideWindow(SendError):
    """Messenger allows no automatic message this long after the person's last one."""


class OptedOut(SendError):
    """The person texted STOP / توقف: no SMS until they text START / ابدأ."""


class TooLongForSms(SendError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"longer than {limit} characters")
        self.limit = limit


class ConsoleSender:
    """The console's messages to citizens, over one lazily made aiohttp session per server."""

    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self._session: aiohttp.ClientSession | None = None
        self._sms: Any = None

    def http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # citizens -----------------------------------------------------------------------------------
    async def send_sms(self, to: str, text: str) -> None:
        """Through the one SMS sender (channels/sms_sender.py): opt-outs honoured, queued in the
        durable outbox, never split: an agent's words arrive as written or not at all."""
        from channels.sms_sender import SmsTooLong

        try:
            sent = await self.sms().send(to, text, split=False)
        except SmsTooLong as e:
            raise TooLongForSms(e.limit) from None
        if not sent:
            raise OptedOut("the number opted out of SMS")

    def sms(self) -> Any:
        if self._sms is None:
            from bot.channel_state import default_url, shared
            from channels.sms_sender import queued_sender
            from channels.twilio_sms import make_client

            c = self.cfg
            client = make_client(c.twilio_account_sid, c.twilio_auth_token, c.twilio_api_base_url)
            self._sms = queued_sender(client, c.twilio_from or None, shared(default_url()), c.twilio_messaging_service_sid or None)
        return self._sms

    def _appsecret_proof(self) -> str:
        key, token = self.cfg.messenger_app_secret.encode(), self.cfg.messenger_page_access_token.encode()
        return hmac.new(key, token, hashlib.sha256).hexdigest()

    async def send_messenger(self, psid: str, text: str, outside_window: bool) -> None:
        payload: Json = {"recipient": {"id": psid}, "message": {"text": text}}
        if outside_window:
            # Past 24 h since the person's last message only tagged messages may be sent; HUMAN_AGENT
            # is the tag for a person answering (Meta allows it for 7 days).
            payload.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        else:
            payload["messaging_type"] = "RESPONSE"
        try:
            async with self.http().post(
                f"{self.cfg.messenger_graph_url}/me/messages",
                params={"access_token": self.cfg.messenger_page_access_token, "appsecret_proof": self._appsecret_proof()},
                json=payload,
            ) as resp:
                if resp.status >= 300:
                    raise SendError(f"graph api answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise SendError(type(e).__name__) from e



async def send_to_citizen(
    sender: ConsoleSender, tracker: Any, handoff: Json, text: str, now: dt.datetime, *, by_agent: bool = True
) -> None:
    """Send `text` to the person of a handoff, on its channel, to the newest address they wrote from.

    `by_agent`: an agent is behind the message. Past Messenger's 24-hour window only that may go out
    (tag HUMAN_AGENT); an automatic message there (expiry's notice) raises OutsideWindow instead."""
    if tracker is None:
        raise NoReplyAddress("no conversation in the tracker store")
    address, last_user_at = reply_route(tracker, handoff["channel"])
    if not address:
        raise NoReplyAddress("no reply address in the conversation")
    if handoff["channel"] == "messenger":
        outside = last_user_at is None or now - last_user_at > MESSENGER_WINDOW
        if outside and not by_agent:
            raise OutsideWindow("past Messenger's 24-hour window, and no agent is behind this message")
        await sender.send_messenger(address, text, outside)
    else:
        await sender.send_sms(address, text)
