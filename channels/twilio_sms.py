"""Twilio SMS connector: `channels.twilio_sms.TwilioSmsInput`, route /webhooks/twilio_sms/webhook.

Roles (STYLE.md 1):
- verify: `X-Twilio-Signature` must be present, then RequestValidator(TWILIO_AUTH_TOKEN) checks
  it against PUBLIC_BASE_URL + path (+ query) and the POSTed form parameters.
- parse: `parse_inbound` (MessageSid, From, Body, MMS media) and `keyword` (opt-out, opt-in,
  help, status with a reference) are pure functions.
- render: a turn's messages are collected (`TwilioSmsCollector`), then `render_sms` turns them
  into SMS bodies (buttons as numbered lists) and `render_twiml` into one TwiML answer.
- send: `TwilioSmsOutput.send_sms` for notifications, the IVR's "text me the reference", and
  replies that missed Twilio's 15 s webhook deadline, through the one SMS sender
  (channels/sms_sender.py: opt-outs, length, the durable outbox).

Per-sender state in bot.channel_state (keyed by the keyed sender id): `lang`, `choices` (the
payloads last offered as a numbered list, so "2" or "٢" picks one), `page` (the titles of a list
too long for one reply and where its next page starts: "0" sends it), `opted_out`.

Why not Rasa's `twilio` connector: no signature check at all, replies only through the REST
API (one billed request per message), no de-duplication, buttons printed one per SMS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot import settings
from bot.arabic import normalise
from bot.channel_state import ChannelState, shared
from bot.choices import asks_for_more
from bot.inbound import clean_user_text
from bot.lang import message_language
from bot.privacy import keyed_id, normalise_phone, seal_address
from bot.refcode import canonical_digits
from channels import twilio_rest
from channels.common import (
    Attachment,
    FormParams,
    MalformedForm,
    attachment_metadata,
    button_payloads,
    button_titles,
    is_supported_media,
    numbered_lines,
    parse_choice,
    parse_form,
    problem_reply,
    rate_centre_payload,
    sms_segments,
    split_text,
    t,
    user_language,
)
from channels.sms_sender import MAX_SMS_BODY, SmsConfigError, SmsSender, queued_sender
from channels.twilio_rest import TwilioRest

logger = logging.getLogger(__name__)
# twilio's HTTP client logs URLs, numbers and parameters at INFO: give it a logger that doesn't.
CHANNEL = "twilio_sms"
CASE_CHANNEL = "sms"  # the channel as the case store names it
MAX_BODY_BYTES = 64 * 1024  # an SMS webhook is a few hundred bytes; ten media URLs, a few KB
MAX_MEDIA = 10
# Twilio waits 15 s for the webhook answer. A turn not done by this deadline is answered with an
# empty TwiML and its replies go later through the SMS sender (SMS_TURN_DEADLINE_SECONDS). Not a
# "one moment" SMS: it would cost the citizen a billed message only seconds before the real answer.
REPLY_TIMEOUT = 8.0
REPLY_TIMEOUT_RANGE = (0.5, 13.0)  # leave Twilio's 15 s room for the network and the TwiML

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class TwilioSmsConfigError(ValueError):
    pass


class MalformedPayload(ValueError):
    pass


def turn_deadline() -> float:
    """SMS_TURN_DEADLINE_SECONDS: seconds a webhook waits for its turn before answering empty TwiML."""
    raw = settings.env("SMS_TURN_DEADLINE_SECONDS", str(REPLY_TIMEOUT)) or str(REPLY_TIMEOUT)
    low, high = REPLY_TIMEOUT_RANGE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not low <= value <= high:
        raise TwilioSmsConfigError(f"Config 'SMS_TURN_DEADLINE_SECONDS' is {raw!r}; expected seconds between {low} and {high}.")
    return value


# --- verify ----------------------------------------------------------------------------------

def public_url(base_url: str, path: str, query_string: str = "") -> str:
    return base_url.rstrip("/") + path + (f"?{query_string}" if query_string else "")


def verify_signature(validator: RequestValidator, url: str, params: FormParams, signature: str | None) -> bool:
    if not signature:  # RequestValidator would raise on a missing header
        return False
    return bool(validator.validate(url, params, signature))


# --- parse -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmsInbound:
    sid: str
    phone: str
    body: str
    attachments: tuple[Attachment, ...] = ()
    unsupported_media: int = 0


def parse_inbound(params: FormParams) -> SmsInbound:
    sid = params.first("MessageSid") or params.first("SmsSid")
    phone = params.first("From")
    if not sid or not phone:
        raise MalformedPayload("MessageSid and From are required")
    try:
        num_media = max(0, min(int(params.first("NumMedia", "0") or 0), MAX_MEDIA))
    except ValueError:
        num_media = 0
    found, unsupported = [], 0
    for i in range(num_media):
        url, media_type = params.first(f"MediaUrl{i}"), params.first(f"MediaContentType{i}")
        if url.startswith("https://") and is_supported_media(media_type):
            found.append(Attachment(url=url, media_type=media_type))
        else:
            unsupported += 1
    e164 = normalise_phone(phone)
    if not e164 or len(e164) > 20 or len(sid) > 64:
        raise MalformedPayload("From is not a phone number, or MessageSid is too long")  # no identity to key on
    return SmsInbound(sid, e164, params.first("Body"), tuple(found), unsupported)


# Twilio's default opt-out keywords (Advanced Opt-Out), plus OPTOUT and REVOKE added in 2025;
# Twilio blocks further messages to the number itself, we must also stop talking to it.
STOP_EN = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"})
START_EN = frozenset({"start", "yes", "unstop"})
HELP_EN = frozenset({"help", "info"})
# Arabic equivalents, after bot.arabic.normalise (ء/أ/إ folded, ة -> ه). Only standalone
# keywords: "الغي" (cancel) inside a form is the `cancel` intent, not an opt-out.
STOP_AR = frozenset({normalise("توقف"), normalise("إلغاء الاشتراك")})
START_AR = frozenset({normalise("ابدأ")})
HELP_AR = frozenset({normalise("مساعدة")})
# "قيم 4127" / "قيّم ٤١٢٧" / "تقييم 4127" / "RATE 4127": the code printed on a centre's poster
# (issue 13). Only with a code: a bare "rate" is text for the NLU (rating a request's answer).
_RATE = re.compile(r"^(rate|" + "|".join(re.escape(normalise(w)) for w in ("قيم", "تقييم")) + r")\s*[:#\-]?\s*([0-9]{1,8})$")
_STATUS = re.compile(r"^(status|" + re.escape(normalise("حالة")) + r")(?:\s*[:#\-]\s*|\s+|$)(.*)$")
_TRIM = re.compile(r"^[\s.!?؟،,]+|[\s.!?؟،,]+$")


@dataclass(frozen=True)
class Keyword:
    kind: str  # stop | start | help | status | rate
    language: str  # the keyword's own language
    reference: str | None = None
    centre_code: str | None = None


def keyword(body: str) -> Keyword | None:
    """A standalone keyword that works at any point of a conversation, or None."""
    text = _TRIM.sub("", normalise(body or ""))
    lang = message_language(text, "en")
    for kind, words in (("stop", STOP_EN | STOP_AR), ("start", START_EN | START_AR), ("help", HELP_EN | HELP_AR)):
        if text in words:
            return Keyword(kind, lang)
    rate = _RATE.match(text)
    if rate:
        return Keyword("rate", lang, centre_code=rate.group(2))
    m = _STATUS.match(text)
    if m:
        rest = m.group(2).strip()
        if not rest:
            return Keyword("status", lang)
        digits = canonical_digits(rest)
        if len(digits) == 10 and digits.isascii() and digits.isdigit():
            return Keyword("status", lang, digits)
    return None


def keyword_text(kw: Keyword) -> str:
    if kw.kind == "help":
        return "/help"
    if kw.kind == "rate" and kw.centre_code:
        return rate_centre_payload(kw.centre_code, kw.language)
    if kw.reference:
        return "/check_status" + json.dumps({"reference": kw.reference})
    return "/check_status"


# --- render ----------------------------------------------------------------------------------

class TwilioSmsCollector(CollectingOutputChannel):
    """Collects a turn's messages; they are rendered into one TwiML answer afterwards."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL


@dataclass
class SmsRendered:
    bodies: list[str]
    choices: list[str] | None = None
    language: str | None = None
    # A list too long for one reply: every title, and where the next page starts (None: all shown).
    page: dict[str, Any] | None = None


# Every reply fits two SMS (issue 15: Arabic is UCS-2, 67 characters a part). A list message that
# would not on its own (the 17 sectors are eight SMS in Arabic) is sent a page at a time: as many
# items as fit, then "0. More"; "0" (or "more": bot.choices.asks_for_more) sends the next page,
# numbered on, and any number picks from the whole list. A list that fits is never cut, whatever
# comes before it in the turn (five topics cut to one because a sentence came first read badly),
# and a page shows at least MIN_PAGE item.
SMS_REPLY_SEGMENTS = 2
MIN_PAGE = 1


def render_message(text: str, buttons: list[dict[str, Any]] | None, first: int = 1) -> str:
    """A message with its buttons as a list numbered from `first`."""
    text = (text or "").strip()
    if not buttons:
        return text
    language = message_language(text)
    return "\n".join(x for x in (text, numbered_lines(button_titles(buttons), first),
                                 t(language, "Reply with the number of your choice.")) if x)


def _list_page(intro: str, titles: list[str], start: int, language: str | None, offset: int = 0) -> tuple[str, int | None]:
    """The list message: `intro` (its text, on the first page) + the titles from `start`, numbered
    after `offset` (the items of lists before it in the same turn), as many as keep it within
    SMS_REPLY_SEGMENTS (at least MIN_PAGE) + "0. More" when some are left + the reply line (first
    page); and where the next page starts (None when this one ends it)."""

    def body(end: int) -> str:
        lines = [f"{offset + i}. {title}" for i, title in enumerate(titles[start:end], start=start + 1)]
        if end < len(titles):
            lines.append("0. " + t(language, "More choices"))
        # the first page says how to answer; the pages after it are the same list, numbered on
        reply_line = t(language, "Reply with the number of your choice.") if start == 0 else ""
        return "\n".join(x for x in (intro if start == 0 else "", "\n".join(lines), reply_line) if x)

    end = len(titles)
    while end - start > MIN_PAGE and sms_segments(body(end)) > SMS_REPLY_SEGMENTS:
        end -= 1
    return body(end), (end if end < len(titles) else None)


def render_sms(messages: Iterable[Mapping[str, Any]]) -> SmsRendered:
    """A turn's bot messages as SMS bodies: one body (split only past Twilio's 1,600 chars).

    Several bot messages are joined into one SMS rather than sent as several, which could
    arrive out of order and cost a segment header each. Buttons become a numbered list; the
    payloads of every list offered are returned as `choices`. Two lists in one turn ("did you
    mean one of these bodies?" above the sector question) are numbered on from one to the next,
    so that a number picks one thing. A last list that would take its message past
    SMS_REPLY_SEGMENTS is cut into pages (`page`, sent on by `next_page`).
    """
    messages = list(messages)
    texts: list[str] = []
    choices: list[str] | None = None
    language: str | None = None
    listed: tuple[int, list[str], int] | None = None  # the last list: its message, titles, items before it
    for i, m in enumerate(messages):
        text = str(m.get("text") or "")
        buttons = m.get("buttons") or m.get("quick_replies")
        if text:
            language = message_language(text)
        offset = len(choices or [])
        if buttons:
            choices = [*(choices or []), *button_payloads(buttons)]
            listed = (i, button_titles(buttons), offset)
        rendered = render_message(text, buttons, offset + 1)
        for extra in ("image", "attachment"):
            if isinstance(m.get(extra), str):
                rendered = "\n".join(x for x in (rendered, m[extra]) if x)
        texts.append(rendered)
    body = "\n\n".join(x for x in texts if x)
    if listed is None or sms_segments(texts[listed[0]]) <= SMS_REPLY_SEGMENTS or len(listed[1]) <= MIN_PAGE:
        return SmsRendered(split_text(body, MAX_SMS_BODY), choices, language)
    at, titles, offset = listed
    m = messages[at]
    intro = "\n".join(x for x in (str(m.get("text") or "").strip(),
                                  *(m[e] for e in ("image", "attachment") if isinstance(m.get(e), str))) if x)
    list_language = message_language(str(m.get("text") or "").strip())
    texts[at], next_start = _list_page(intro, titles, 0, list_language, offset)
    page = ({"titles": titles, "next": next_start, "lang": list_language, "offset": offset}
            if next_start is not None else None)
    return SmsRendered(split_text("\n\n".join(x for x in texts if x), MAX_SMS_BODY), choices, language, page)


def next_page(page: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The next page of a paged list, numbered on from the last, and the page state after it."""
    titles, start, language = list(page["titles"]), int(page["next"]), page.get("lang")
    text, next_start = _list_page("", titles, start, language, int(page.get("offset") or 0))
    return text, ({**page, "next": next_start} if next_start is not None else None)


def render_twiml(bodies: Iterable[str]) -> str:
    """The webhook answer: one <Message> per body, or an empty <Response/> (send nothing)."""
    twiml = MessagingResponse()
    for body in bodies:
        twiml.message(body)
    return str(twiml.to_xml())


# --- send ------------------------------------------------------------------------------------

def make_client(account_sid: str, auth_token: str, api_base_url: str | None = None) -> TwilioRest:
    """The process's Twilio REST client for this account (channels/twilio_rest.py: twilio's
    async HTTP client, one aiohttp session, `api_base_url` for a local recorder in tests)."""
    return twilio_rest.shared(account_sid, auth_token, api_base_url)


class TwilioSmsOutput(OutputChannel):
    """Sends SMS through the one SMS sender (channels/sms_sender.py): never to a number that
    opted out, split past 1,600 characters, queued in the durable outbox when it has a worker."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, client: TwilioRest, sms_from: str | None, state: ChannelState, to: str | None = None,
                 sender: SmsSender | None = None) -> None:
        self.client = client
        self.sms_from = sms_from
        self.state = state
        self.to = to
        self.sender = sender or SmsSender(client, sms_from, state)

    async def send_sms(self, to: str, text: str) -> list[str]:
        """Send `text` to `to` (split past 1,600 chars); the message SIDs (or queued row ids), [] if opted out."""
        try:
            return await self.sender.send(to, text)
        except SmsConfigError as exc:
            raise TwilioSmsConfigError(str(exc)) from None

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_sms(self.to or recipient_id, text)

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        await self.send_sms(self.to or recipient_id, render_message(text, buttons))


# --- wire ------------------------------------------------------------------------------------

def _credential(credentials: Mapping[str, Any] | None, key: str, env_name: str) -> str:
    value = (credentials or {}).get(key)
    return str(value) if value else settings.secret(env_name)


@dataclass
class TwilioSmsInput(InputChannel):
    account_sid: str
    auth_token: str
    sms_from: str | None = None
    public_base_url: str = "http://127.0.0.1:5005"
    api_base_url: str | None = None
    state_url: str | None = None
    reply_timeout: float = REPLY_TIMEOUT
    _tasks: set[asyncio.Task] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.auth_token:
            raise TwilioSmsConfigError("Config 'TWILIO_AUTH_TOKEN' is missing: copy it from the Twilio console.")
        if not self.account_sid:
            raise TwilioSmsConfigError("Config 'TWILIO_ACCOUNT_SID' is missing: copy it from the Twilio console.")
        if not re.match(r"https?://[^/]+", self.public_base_url or ""):
            raise TwilioSmsConfigError(
                f"Config 'PUBLIC_BASE_URL' is {self.public_base_url!r}; expected the public http(s) URL Twilio calls."
            )
        self.public_base_url = self.public_base_url.rstrip("/")
        self.validator = RequestValidator(self.auth_token)
        self.client = make_client(self.account_sid, self.auth_token, self.api_base_url)
        self.sender = queued_sender(self.client, self.sms_from, self.state)

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TwilioSmsInput:
        creds = credentials or {}
        base = creds.get("public_base_url") or settings.env("PUBLIC_BASE_URL")
        if not base:
            if settings.env("BEKH_ENV", "dev") == "production":
                raise TwilioSmsConfigError("Config 'PUBLIC_BASE_URL' is missing: Twilio signs the public URL it calls.")
            base = "http://127.0.0.1:5005"
        return cls(
            account_sid=_credential(creds, "account_sid", "TWILIO_ACCOUNT_SID"),
            auth_token=_credential(creds, "auth_token", "TWILIO_AUTH_TOKEN"),
            sms_from=creds.get("sms_from") or settings.env("TWILIO_SMS_FROM"),
            public_base_url=str(base),
            api_base_url=creds.get("api_base_url") or settings.env("TWILIO_API_BASE_URL"),
            state_url=creds.get("state_url"),
            reply_timeout=turn_deadline(),
        )

    @property
    def state(self) -> ChannelState:
        return shared(self.state_url)

    def get_output_channel(self) -> TwilioSmsOutput:
        return TwilioSmsOutput(self.client, self.sms_from, self.state, sender=self.sender)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.sender.worker is not None:
            await self.sender.worker.run_once()

    # -- one inbound SMS -> the bodies to answer with --
    async def handle(self, sms: SmsInbound, on_new_message: OnNewMessage) -> list[str]:
        sender = keyed_id(CHANNEL, sms.phone)
        stored = await self.state.get(sender)
        stored_lang = stored.get("lang")
        kw = keyword(sms.body)

        if stored.get("opted_out"):
            if kw and kw.kind == "start":
                await self.state.update(sender, opted_out=None)
                # Twilio confirms its own English keywords; an Arabic one is ours to confirm.
                return [t("ar", "Messages are back on. Reply HELP for the menu.")] if kw.language == "ar" else []
            return []  # opted out: answer nothing, tell Rasa nothing
        if kw and kw.kind == "stop":
            await self.state.update(sender, opted_out=True, choices=None)
            return [t("ar", "You will no longer get messages from us. Reply START to resume.")] if kw.language == "ar" else []

        metadata: dict[str, Any] = {"channel": CASE_CHANNEL, "reply_address": seal_address(sms.phone)}
        if kw and kw.kind in ("help", "status", "rate"):
            text = keyword_text(kw)
        else:
            cleaned = clean_user_text(sms.body)
            # langdetect only when a channel message must be worded; Rasa sets the slot itself
            language = user_language(sms.body or "", stored_lang) if (cleaned.problem or sms.attachments) else stored_lang or "ar"
            if sms.attachments:
                text = cleaned.text or t(language, "I sent an attachment")
                metadata.update(attachment_metadata(sms.attachments))
                if not cleaned.text:
                    # The placeholder text must not become a description: the form keeps the file
                    # and asks its question again (actions/forms.py).
                    metadata["attachment_only"] = True
            elif sms.unsupported_media and cleaned.problem == "empty":
                return [problem_reply("unsupported_attachment", language)]
            elif cleaned.problem:
                return [problem_reply(cleaned.problem, language)]
            else:
                text = cleaned.text
                choice, choices = parse_choice(text), stored.get("choices") or []
                page = stored.get("page")
                if page and page.get("next") is not None and asks_for_more(text):
                    body, after = next_page(page)
                    await self.state.update(sender, page=after)
                    return [body]
                if choice is not None and choices:
                    if not 1 <= choice <= len(choices):
                        return [t(stored_lang or language, "Please reply with a number from 1 to {n}.", n=len(choices))]
                    text = choices[choice - 1]

        collector = TwilioSmsCollector()
        turn = asyncio.ensure_future(
            on_new_message(
                UserMessage(text, collector, sender, input_channel=CHANNEL, message_id=sms.sid, metadata=metadata)
            )
        )
        done, _ = await asyncio.wait({turn}, timeout=self.reply_timeout)
        if not done:
            # Past Twilio's deadline the answer would be lost: reply by REST when the turn ends.
            self._tasks.add(turn)
            turn.add_done_callback(lambda task: self._late(task, sender, stored, sms.phone, collector))
            return []
        turn.result()
        rendered = render_sms(collector.messages)
        await self._remember(sender, stored, rendered)
        return rendered.bodies

    async def _remember(self, sender: str, stored: Mapping[str, Any], rendered: SmsRendered) -> None:
        changes: dict[str, Any] = {}
        if rendered.language and rendered.language != stored.get("lang"):
            changes["lang"] = rendered.language
        if rendered.bodies and rendered.choices != stored.get("choices"):
            changes["choices"] = rendered.choices
        if rendered.bodies and rendered.page != stored.get("page"):
            changes["page"] = rendered.page
        if changes:
            await self.state.update(sender, **changes)

    def _late(self, task: asyncio.Task, sender: str, stored: Mapping[str, Any], phone: str, collector: TwilioSmsCollector) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is not None:
            logger.error("twilio_sms: a late turn failed")
            return

        async def send() -> None:
            rendered = render_sms(collector.messages)
            await self._remember(sender, stored, rendered)
            output = self.get_output_channel()
            for body in rendered.bodies:
                await output.send_sms(phone, body)

        follow_up = asyncio.ensure_future(send())
        self._tasks.add(follow_up)
        follow_up.add_done_callback(self._tasks.discard)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("twilio_sms_webhook", __name__)

        @bp.listener("after_server_start")
        async def _deliver(_app: Any, _loop: Any) -> None:
            if self.sender.worker is not None:
                self.sender.worker.start()  # also sends what an earlier run left queued

        @bp.listener("before_server_stop")
        async def _stop_delivering(_app: Any, _loop: Any) -> None:
            if self.sender.worker is not None:
                await self.sender.worker.stop()

        @bp.listener("after_server_stop")
        async def _close_twilio(_app: Any, _loop: Any) -> None:
            await twilio_rest.close_all()  # the process's Twilio sessions (the IVR's and console's too)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if len(body) > MAX_BODY_BYTES:
                return response.text("payload too large", status=413)
            signature = request.headers.get("X-Twilio-Signature")
            try:
                params = parse_form(body)
            except MalformedForm:
                params = None
            url = public_url(self.public_base_url, request.path, request.query_string)
            if params is None or not verify_signature(self.validator, url, params, signature):
                logger.warning("twilio_sms: rejected a POST with a missing or wrong signature")
                return response.text("forbidden", status=403)
            try:
                sms = parse_inbound(params)
            except MalformedPayload:
                return response.text("malformed payload", status=400)
            if not await self.state.claim(f"{CHANNEL}:{sms.sid}"):
                return response.text(render_twiml([]), content_type="text/xml; charset=utf-8")
            try:
                bodies = await self.handle(sms, on_new_message)
            except Exception:
                await self.state.release(f"{CHANNEL}:{sms.sid}")  # nothing was sent: let Twilio retry
                raise
            return response.text(render_twiml(bodies), content_type="text/xml; charset=utf-8")

        return bp
