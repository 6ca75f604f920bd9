"""The one way any part of the gateway sends an SMS: `SmsSender`.

Every outbound SMS (the bot's replies that missed Twilio's webhook deadline, the notifier, the
agent console's replies and new-call receipts, the IVR's texted reference) goes through here,
so every one of them:
- honours the opt-out that the SMS channel records when a person texts STOP / توقف
  (bot.channel_state, under the person's SMS sender id): nothing is sent, the caller gets [];
- fits Twilio's 1,600-character limit: `split=True` cuts long text at paragraph, line or word
  boundaries (channels.common.split_text); `split=False` (an agent's reply, which must arrive as
  the agent wrote it) raises `SmsTooLong`, which callers turn into a localised 4xx;
- with a `worker`, goes through the durable outbox (channels/outbound.py): queued, tried at once,
  retried with backoff if Twilio is down, parked after the cap; without one (the notifier, whose
  queue is the case store's outbox) it is sent at once and Twilio's errors reach the caller.
The opt-out is checked again when a queued message is finally sent: a STOP that arrives while a
message waits wins.
"""

from __future__ import annotations

import logging
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException

from bot.channel_state import ChannelState
from bot.privacy import keyed_id, normalise_phone
from channels.common import split_text
from channels.outbound import DeliveryWorker, Permanent, SendFn, Transient
from channels.twilio_rest import NETWORK_ERRORS, TwilioRest

logger = logging.getLogger(__name__)

SMS_CHANNEL = "twilio_sms"  # the SMS connector's name: opt-outs live under keyed_id(SMS_CHANNEL, phone)
OUTBOX_CHANNEL = "sms"
MAX_SMS_BODY = 1600  # Twilio refuses longer bodies (error 21617)
TWILIO_UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient": Twilio saw a STOP we missed


class SmsConfigError(ValueError):
    pass


class SmsTooLong(ValueError):
    """The text is longer than one SMS request may carry, and the caller asked not to split it."""

    def __init__(self, length: int, limit: int = MAX_SMS_BODY) -> None:
        super().__init__(f"an SMS may carry at most {limit} characters; this one has {length}")
        self.length, self.limit = length, limit


def opt_out_key(phone: str) -> str:
    return keyed_id(SMS_CHANNEL, normalise_phone(phone))


def is_transient(exc: TwilioRestException) -> bool:
    return exc.status >= 500 or exc.status == 429


# The sender tries its own rows at once; the background worker only takes what is left after this.
TRY_NOW_HOLD_SECONDS = 5.0


class SmsSender:
    def __init__(
        self,
        client: TwilioRest,
        sms_from: str | None,
        state: ChannelState,
        *,
        messaging_service_sid: str | None = None,
        worker: DeliveryWorker | None = None,
    ) -> None:
        self.client = client
        self.sms_from = sms_from
        self.messaging_service_sid = messaging_service_sid
        self.state = state
        self.worker = worker

    def _origin(self) -> dict[str, str]:
        if self.messaging_service_sid:
            return {"messaging_service_sid": self.messaging_service_sid}
        if self.sms_from:
            return {"from_": self.sms_from}
        raise SmsConfigError(
            "Config 'TWILIO_SMS_FROM' is missing: set the Twilio number (E.164) to send SMS from "
            "(or TWILIO_MESSAGING_SERVICE_SID)."
        )

    async def opted_out(self, phone: str) -> bool:
        return bool((await self.state.get(opt_out_key(phone))).get("opted_out"))

    async def send(self, to: str, text: str, *, split: bool = True) -> list[str]:
        """Send (or queue) `text` to `to`. Returns Twilio SIDs, or `queued:<row>` ids with a
        worker; [] when the number opted out. Raises SmsTooLong (split=False), SmsConfigError."""
        origin = self._origin()
        text = (text or "").strip()
        if not split and len(text) > MAX_SMS_BODY:
            raise SmsTooLong(len(text))
        parts = split_text(text, MAX_SMS_BODY)
        phone = normalise_phone(to)
        if not parts:
            return []
        if await self.opted_out(phone):
            logger.info("sms: not sending to a number that opted out")
            return []
        if self.worker is None:
            return [await self.client.send_message(to=phone, body=part, **origin) for part in parts]
        # The origin travels with the row: the console may send from a Messaging Service while
        # the SMS channel sends from its number, through one worker.
        ids = await self.worker.box.enqueue(OUTBOX_CHANNEL, phone, [{"body": part, "origin": origin} for part in parts],
                                            hold=TRY_NOW_HOLD_SECONDS)
        await self.worker.try_now(ids, self.outbox_send())  # out before the caller answers, unless Twilio fails
        self.worker.start()  # what did not go out is retried from the outbox
        return [f"queued:{i}" for i in ids]

    def outbox_send(self) -> SendFn:
        """The outbox worker's send function: one Twilio Message per row, opt-out checked again."""

        async def send(phone: str, message: dict[str, Any]) -> None:
            if await self.opted_out(phone):
                logger.info("sms: dropped a queued message: the number opted out meanwhile")
                return
            try:
                origin = message.get("origin") or self._origin()
                await self.client.send_message(to=phone, body=message["body"], **origin)
            except TwilioRestException as exc:
                if exc.code == TWILIO_UNSUBSCRIBED:
                    await self.state.update(opt_out_key(phone), opted_out=True)
                kind = Transient if is_transient(exc) else Permanent
                raise kind(f"HTTP {exc.status} code {exc.code}") from None
            except (TwilioException, *NETWORK_ERRORS) as exc:
                raise Transient(type(exc).__name__) from None

        return send


def queued_sender(client: TwilioRest, sms_from: str | None, state: ChannelState, messaging_service_sid: str | None = None) -> SmsSender:
    """An SmsSender on the process's SMS outbox worker (the outbox shares the channel state's database)."""
    from channels.outbound import shared, worker_for

    sender = SmsSender(client, sms_from, state, messaging_service_sid=messaging_service_sid)
    sender.worker = worker_for(shared(state.url), OUTBOX_CHANNEL, sender.outbox_send())
    return sender
