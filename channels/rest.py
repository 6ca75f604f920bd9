"""The REST channel (/webhooks/rest/webhook): a chat widget or a test driving the bot over HTTP.

Rasa's stock `rest` channel trusts everything the client sends: no authentication, no size limit,
the sender id, `input_channel` and `metadata` (so `{"caller_key": ...}` borrowed someone's
identity and `{"channel": "sms"}` put a chat into the agents' SMS queue). This one keeps the
route and the answer shape (a JSON list of bot messages) and trusts nothing else:

- wire: the Rasa token (`Authorization: Bearer <RASA_TOKEN>` or `?token=`), compared in constant
  time, before the body is read; off in production unless REST_CHANNEL_ENABLED=true;
- parse: the body through bot.bounded_json (size and depth first), `sender` a short string,
  typed `message` cleaned by bot.inbound (never a command), or a button `payload` of our shape;
- the sender id is keyed (`rest_<hmac>`), so no REST client can reach another channel's
  conversation, and the metadata is only our own `{"channel": "rest"}`: client metadata and
  `input_channel` are ignored, so the actions never see a REST chat as SMS, voice or a phone.

Body: `{"sender": "<id>", "message": "<typed text>"}` or `{"sender": "<id>", "payload":
"/intent{...}"}` for a button press (a token holder may press any of our buttons, as the Rasa
HTTP API lets it do anyway).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings
from bot.bounded_json import BadJson, parse_json
from bot.inbound import clean_user_text
from bot.privacy import keyed_id
from channels.common import is_valid_payload, problem_reply, user_language

logger = logging.getLogger(__name__)

CHANNEL = "rest"
MAX_BODY_BYTES = 32 * 1024  # 2,000 characters of Arabic, \u-escaped, fit in 12 KB
MAX_DEPTH = 4  # {"sender", "message", "payload", ...}: nothing legitimate nests
MAX_SENDER_CHARS = 128
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class RestConfigError(ValueError):
    pass


class BadRequest(ValueError):
    """A body we refuse: `status` and a `code` safe to log and to return."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


@dataclass(frozen=True)
class RestInbound:
    sender: str
    text: str | None = None  # typed text, cleaned
    payload: str | None = None  # one of our button payloads
    problem: str | None = None  # bot.inbound's "empty" / "too_long"
    raw_text: str = ""


def parse_body(raw: bytes | None) -> RestInbound:
    """The request body as a RestInbound, or BadRequest (413 too large, 400 otherwise)."""
    try:
        body = parse_json(raw, max_bytes=MAX_BODY_BYTES, max_depth=MAX_DEPTH, expect=dict)
    except BadJson as bad:
        raise BadRequest(413 if bad.reason == "too_large" else 400, bad.reason) from None
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(400, "sender")
    payload, message = body.get("payload"), body.get("message")
    if payload is not None:
        if not isinstance(payload, str) or not is_valid_payload(payload):
            raise BadRequest(400, "payload")
        return RestInbound(sender, payload=payload.strip())
    if message is not None and not isinstance(message, str):
        raise BadRequest(400, "message")
    cleaned = clean_user_text(message)
    return RestInbound(sender, text=cleaned.text, problem=cleaned.problem, raw_text=(message or "")[:200])


def token_problem(request: Request, token: str) -> int | None:
    """401 without a token, 403 with a wrong one, None when it matches (in constant time)."""
    header = request.headers.get("Authorization") or ""
    given = header[7:].strip() if header[:7].lower() == "bearer " else request.args.get("token")
    if not given:
        return 401
    return None if hmac.compare_digest(given.encode(), token.encode()) else 403


def _enabled_from_env(production: bool) -> bool:
    raw = (settings.env("REST_CHANNEL_ENABLED") or "").strip().lower()
    if raw == "":
        return not production
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise RestConfigError(f"Config 'REST_CHANNEL_ENABLED' is {raw!r}; allowed: true, false.")


class RestInput(InputChannel):
    """Authenticated, bounded REST chat; Rasa loads it as `channels.rest.RestInput`."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, token: str, enabled: bool = True) -> None:
        if enabled and not token:
            raise RestConfigError("Config 'RASA_TOKEN' is missing: the REST channel answers only to the Rasa token.")
        self.token, self.enabled = token, enabled

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> RestInput:
        if not _enabled_from_env(settings.env("BEKH_ENV", "dev") == "production"):
            logger.info("rest: channel off (in production it needs REST_CHANNEL_ENABLED=true)")
            return cls("", enabled=False)
        return cls(settings.secret("RASA_TOKEN"), enabled=True)  # raises in production, naming it

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("rest_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if not self.enabled:
                return response.json({"error": "disabled"}, status=404)
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return response.json({"error": "disabled"}, status=404)
            refused = token_problem(request, self.token)
            if refused:
                logger.warning("rest: request refused (%s)", "no token" if refused == 401 else "wrong token")
                return response.json({"error": "unauthorized" if refused == 401 else "forbidden"}, status=refused)
            try:
                inbound = parse_body(request.body)
            except BadRequest as bad:
                return response.json({"error": bad.code}, status=bad.status)
            if inbound.problem:
                # Nothing reaches Rasa; the person gets the same localised answer as on the other channels.
                text = problem_reply(inbound.problem, user_language(inbound.raw_text, None))
                return response.json({"error": inbound.problem, "message": text}, status=422)
            return response.json(await self._turn(inbound, on_new_message))

        return bp

    async def _turn(self, inbound: RestInbound, on_new_message: OnNewMessage) -> list[dict[str, Any]]:
        collector = CollectingOutputChannel()
        text = inbound.payload if inbound.payload is not None else inbound.text
        message = UserMessage(text, collector, keyed_id(CHANNEL, inbound.sender), input_channel=CHANNEL,
                              metadata={"channel": CHANNEL})
        try:
            await on_new_message(message)
        except Exception as exc:  # as Rasa's own REST channel: the client gets what was said so far
            logger.error("rest: turn failed (%s)", type(exc).__name__)
        return collector.messages
