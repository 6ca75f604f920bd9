"""Deliver: one outbox event -> Messenger or SMS, on the citizen's channel, in their language.

Messenger through `MessengerOutput.send_notification` (tagged ACCOUNT_UPDATE, so it may go out
after Messenger's 24-hour window), SMS through `TwilioSmsOutput.send_sms`, i.e. the one SMS sender
(channels/sms_sender.py: nothing to a number that opted out). Both send at once: the notifier's
durable queue is the case store's outbox, so it does not queue twice. Never acks: the loop does.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from bot import settings
from bot.channel_state import shared
from channels.messenger import (
    DEFAULT_GRAPH_URL,
    DEFAULT_GRAPH_VERSION,
    GraphClient,
    MessengerConfigError,
    MessengerOutput,
    MessengerSendError,
)
from channels.messenger import is_transient as _messenger_transient
from channels.notifier.render import render_event
from channels.sms_sender import is_transient as _twilio_transient
from channels.twilio_rest import NETWORK_ERRORS as TWILIO_NETWORK_ERRORS
from channels.twilio_sms import TwilioSmsConfigError, TwilioSmsOutput, make_client

logger = logging.getLogger("channels.notifier")  # one logger for the whole notifier


class Outcome(enum.Enum):
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to send: acked
    REFUSED = "refused"  # the platform refused for good: acked
    RETRY = "retry"  # failed for now: not acked
    PARKED = "parked"  # failed too often: not acked, not retried until an operator says so


async def deliver_event(
    event: Mapping[str, Any], messenger: MessengerOutput | None, sms: TwilioSmsOutput | None
) -> tuple[Outcome, str]:
    """Send one event's message if it has one and a notify address; never acks.

    Returns the outcome and, for RETRY, why (an error class or code, never content; else "").
    """
    payload: Mapping[str, Any] = event.get("payload") or {}
    notify = payload.get("notify")
    channel = notify.get("channel") if isinstance(notify, dict) else None
    address = notify.get("address") if isinstance(notify, dict) else None
    if not channel or not address:
        return Outcome.SKIPPED, ""
    text = render_event(event)
    if text is None:
        return Outcome.SKIPPED, ""
    eid = event.get("id")
    if channel == "messenger":
        if messenger is None:
            logger.warning("notifier: event %s for messenger, but Messenger is not configured", eid)
            return Outcome.RETRY, "messenger not configured"
        try:
            await messenger.send_notification(str(address), text)
        except MessengerSendError as exc:
            if _messenger_transient(exc):
                logger.warning("notifier: event %s messenger failed for now: HTTP %s code %s", eid, exc.status, exc.code)
                return Outcome.RETRY, f"messenger HTTP {exc.status} code {exc.code}"
            logger.warning("notifier: event %s messenger refused: HTTP %s code %s", eid, exc.status, exc.code)
            return Outcome.REFUSED, ""
        except requests.RequestException as exc:
            logger.warning("notifier: event %s messenger unreachable: %s", eid, type(exc).__name__)
            return Outcome.RETRY, f"messenger {type(exc).__name__}"
        return Outcome.SENT, ""
    if channel == "sms":
        if sms is None:
            logger.warning("notifier: event %s for sms, but Twilio is not configured", eid)
            return Outcome.RETRY, "sms not configured"
        try:
            sids = await sms.send_sms(str(address), text)
        except TwilioRestException as exc:
            if _twilio_transient(exc):
                logger.warning("notifier: event %s sms failed for now: HTTP %s code %s", eid, exc.status, exc.code)
                return Outcome.RETRY, f"sms HTTP {exc.status} code {exc.code}"
            logger.warning("notifier: event %s sms refused: HTTP %s code %s", eid, exc.status, exc.code)
            return Outcome.REFUSED, ""
        except TwilioSmsConfigError:
            logger.error("notifier: event %s not sent: TWILIO_SMS_FROM is not set", eid)
            return Outcome.RETRY, "TWILIO_SMS_FROM not set"
        except (TwilioException, *TWILIO_NETWORK_ERRORS) as exc:
            logger.warning("notifier: event %s sms unreachable: %s", eid, type(exc).__name__)
            return Outcome.RETRY, f"sms {type(exc).__name__}"
        if not sids:
            logger.info("notifier: event %s not sent: the number opted out of SMS", eid)
            return Outcome.REFUSED, ""
        return Outcome.SENT, ""
    logger.info("notifier: event %s has notify channel %s, which the notifier cannot send on", eid, channel)
    return Outcome.SKIPPED, ""


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
