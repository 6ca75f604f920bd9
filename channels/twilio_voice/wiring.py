"""`TwilioVoiceInput`: credentials, the Sanic routes, the signature check, one step per request.

Every webhook is verified (`X-Twilio-Signature` against `PUBLIC_BASE_URL` + path + query) and
size-capped before anything is read. The first request for a (CallSid, step) pair claims it and
runs `CallFlow`; a retry of the same step gets the stored TwiML, without a second message to Rasa.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot import business_hours, refcode
from bot.channel_state import ChannelState, shared
from bot.settings import ConfigError, env, secret
from channels.common import FormParams, MalformedForm, parse_form
from channels.twilio_voice.flow import MAX_STEPS, CallFlow, Inbound
from channels.twilio_voice.render import call_again_later, t, try_again
from channels.twilio_voice.settings import CHANNEL, DEFAULT_CATALOGUE, VoiceSettings, load_entity_hints
from channels.twilio_voice.state import CallStates

logger = logging.getLogger("channels.twilio_voice")

MAX_FAILED_REDIRECTS = 2
MAX_BODY_BYTES = 64 * 1024  # a Gather callback is a few hundred bytes; refused before it is read as a form
RETRY_WAIT_SECONDS = 10.0  # a retry that overtakes the first delivery waits for its answer
_DTMF = re.compile(r"[^0-9*#]")
_CALL_SID = re.compile(r"^[A-Za-z0-9]{10,64}$")


def make_sms_sender(account_sid: str, auth_token: str, api_base_url: str | None, sms_from: str | None, state: ChannelState) -> Any:
    """The one SMS sender (channels/sms_sender.py) behind `TwilioSmsOutput.send_sms(to, text)`:
    same REST client and `TWILIO_API_BASE_URL`, never to a number that opted out, queued in the
    durable outbox so a Twilio outage delays the reference instead of losing it."""
    from channels.sms_sender import queued_sender
    from channels.twilio_sms import TwilioSmsOutput, make_client

    client = make_client(account_sid, auth_token, api_base_url)
    return TwilioSmsOutput(client, sms_from, state, sender=queued_sender(client, sms_from, state))


def read_form(request: Request) -> FormParams:
    if not (request.content_type or "").startswith("application/x-www-form-urlencoded"):
        return FormParams()
    try:
        return parse_form(request.body or b"")
    except MalformedForm:
        return FormParams()  # cannot carry Twilio's signature: refused as unsigned


class TwilioVoiceInput(InputChannel):
    """Webhook `/webhooks/twilio_voice/webhook` (call answered, every Gather/Record) and
    `/webhooks/twilio_voice/status` (optional status callback: forgets the call's state)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TwilioVoiceInput:
        c = credentials or {}

        def get(key: str, var: str, default: str | None = None) -> str | None:
            value = c.get(key)
            return str(value) if value not in (None, "") else env(var, default)

        auth_token = get("auth_token", "TWILIO_AUTH_TOKEN") or secret("TWILIO_AUTH_TOKEN")
        public = get("public_base_url", "PUBLIC_BASE_URL")
        if not public:
            if env("BEKH_ENV", "dev") == "production":
                raise ConfigError("Config 'PUBLIC_BASE_URL' is missing, and has no default in production: set the https URL Twilio calls.")
            public = "http://127.0.0.1:5005"
        try:
            timeout = int(get("gather_timeout", "VOICE_GATHER_TIMEOUT", "6") or "6")
        except ValueError:
            raise ConfigError(f"Config 'VOICE_GATHER_TIMEOUT' must be an integer, got {get('gather_timeout', 'VOICE_GATHER_TIMEOUT')!r}.") from None
        catalogue = Path(get("hints_catalogue", "VOICE_HINTS_CATALOGUE", str(DEFAULT_CATALOGUE)) or DEFAULT_CATALOGUE)
        hours = business_hours.current()
        settings = VoiceSettings(
            public_base_url=public.rstrip("/"),
            voice_ar=get("voice_ar", "VOICE_AR", "Polly.Zeina") or "Polly.Zeina",
            voice_en=get("voice_en", "VOICE_EN", "Polly.Joanna") or "Polly.Joanna",
            locale_ar=get("locale_ar", "VOICE_AR_LOCALE", "ar-JO") or "ar-JO",
            locale_en=get("locale_en", "VOICE_EN_LOCALE", "en-US") or "en-US",
            gather_timeout=timeout,
            queue=get("queue", "CONTACT_CENTER_QUEUE", "contact-center") or "contact-center",
            agent_number=get("agent_number", "CONTACT_CENTER_NUMBER"),
            entity_hints=load_entity_hints(catalogue),
            hours_text={lang: hours.describe(lang) for lang in ("ar", "en")},
        )
        state = ChannelState(str(c["channel_state_url"])) if c.get("channel_state_url") else shared(env("CHANNEL_STATE_DATABASE_URL"))
        sms = make_sms_sender(
            account_sid=get("account_sid", "TWILIO_ACCOUNT_SID") or secret("TWILIO_ACCOUNT_SID"),
            auth_token=auth_token,
            api_base_url=get("api_base_url", "TWILIO_API_BASE_URL"),
            sms_from=get("sms_from", "TWILIO_SMS_FROM"),
            state=state,
        )
        return cls(auth_token, settings, state, sms)

    def __init__(self, auth_token: str, settings: VoiceSettings, state: ChannelState, sms: Any, hours: Any = None) -> None:
        """`sms` has `send_sms(to, text)`; `hours` has `is_open()` (default: business_hours.current())."""
        if not auth_token:
            raise ConfigError("Config 'TWILIO_AUTH_TOKEN' is missing: the voice webhook cannot verify Twilio's signature without it.")
        self.validator = RequestValidator(auth_token)
        self.settings = settings
        self.state = state
        self.calls = CallStates(state)
        self._sms = sms
        self._hours = hours
        self._background: set[asyncio.Task[Any]] = set()

    # -- wire ---------------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(f"{CHANNEL}_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if len(request.body or b"") > MAX_BODY_BYTES:
                return response.text("payload too large", status=413)
            if not self._verified(request):
                return response.text("forbidden", status=403)
            return await self._webhook(request, on_new_message)

        @bp.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            if len(request.body or b"") > MAX_BODY_BYTES:
                return response.text("payload too large", status=413)
            if not self._verified(request):
                return response.text("forbidden", status=403)
            form = read_form(request)
            call_sid = form.first("CallSid")
            if _CALL_SID.match(call_sid) and form.first("CallStatus") in ("completed", "busy", "failed", "no-answer", "canceled"):
                await self.calls.forget(call_sid)
            return response.empty()

        return bp

    def _verified(self, request: Request) -> bool:
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:  # the validator raises on a missing header
            logger.warning("twilio_voice: request without X-Twilio-Signature refused")
            return False
        url = self.settings.public_base_url + request.path
        if request.query_string:
            url += "?" + request.query_string
        if not self.validator.validate(url, read_form(request), signature):
            logger.warning("twilio_voice: bad X-Twilio-Signature refused")
            return False
        return True

    async def _load(self, call_sid: str) -> dict[str, Any]:
        return await self.calls.load(call_sid)

    @staticmethod
    def _xml(twiml: str) -> HTTPResponse:
        return response.text(twiml, content_type="text/xml; charset=utf-8")

    async def _webhook(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        form = read_form(request)
        call_sid = form.first("CallSid")
        query = parse_qs(request.query_string)
        try:
            step = int((query.get("step") or ["0"])[0])
            failed = int((query.get("failed") or ["0"])[0])
        except ValueError:
            return response.text("bad step", status=400)
        if not _CALL_SID.match(call_sid) or not 0 <= step <= MAX_STEPS + 5:
            return response.text("bad request", status=400)

        if not await self.calls.claim(call_sid, step):
            return self._xml(await self._stored_answer(call_sid, step))

        try:
            call = await self.calls.load(call_sid)
            flow = CallFlow(self, call, call_sid, step, self._inbound(form), on_new_message)
            twiml = await flow.advance()
            await self.calls.save_answer(call_sid, call, step, twiml)
            return self._xml(twiml)
        except Exception as e:
            logger.error("twilio_voice: step %s failed (%s)", step, type(e).__name__)
            logger.debug("twilio_voice: failure detail", exc_info=True)
            await self.calls.release(call_sid, step)
            if failed < MAX_FAILED_REDIRECTS:
                return self._xml(try_again(self.settings, step, failed))
            return self._xml(call_again_later(self.settings, "ar"))

    @staticmethod
    def _inbound(form: Any) -> Inbound:
        try:
            seconds = int(form.first("RecordingDuration") or "0")
        except ValueError:
            seconds = 0
        return Inbound(
            # A keypad sends 0-9, * and #: nothing else may reach the bot as a "dtmf" turn.
            digits=_DTMF.sub("", form.first("Digits"))[:64],
            speech=form.first("SpeechResult").strip(),
            recording_url=form.first("RecordingUrl") or None,
            recording_seconds=seconds,
            caller=form.first("From") or None,
        )

    async def _stored_answer(self, call_sid: str, step: int) -> str:
        """A retry of a step gets the answer the first delivery got (waiting for it if needed)."""
        waited = 0.0
        while True:
            twiml, lang = await self.calls.stored_answer(call_sid, step)
            if twiml:
                return twiml
            if waited >= RETRY_WAIT_SECONDS:
                break
            await asyncio.sleep(0.2)
            waited += 0.2
        return call_again_later(self.settings, lang)

    # -- helpers the flow uses ----------------------------------------------------------------

    def agents_on_duty(self) -> bool:
        return (self._hours or business_hours.current()).is_open()

    def send_reference_sms(self, to: str, reference: str, language: str) -> None:
        """Queue the SMS without delaying the caller's answer (Twilio waits 15 s)."""
        text = t(language, "Bekhedmetkom: your request number is {reference}. Keep it to follow up.",
                 reference=refcode.format_grouped(reference))
        async def send() -> None:
            try:
                result = self._sms.send_sms(to, text)
                if inspect.isawaitable(result):
                    await result
            except Exception as e:
                logger.error("twilio_voice: reference SMS failed (%s)", type(e).__name__)

        task = asyncio.get_running_loop().create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for queued SMS (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
