"""`TwilioVoiceInput`: credentials, the Sanic routes, the signature check, one step per request.

Every webhook is verified (`X-Twilio-Signature` against `PUBLIC_BASE_URL` + path + query) and
size-capped before anything is read. The first request for a (CallSid, step) pair claims it and
runs `CallFlow`; a retry of the same step gets the stored TwiML, without a second message to Rasa.

The per-turn deadline. Twilio gives up on a webhook after 15 s, and a turn (NLU, the action
server, the case store and its retries) can come close. Each step runs as a background turn
(`pending.PendingTurns`); the request waits for it at most `VOICE_TURN_DEADLINE_SECONDS`. When
the turn is late the caller hears "one moment" in their language, a 2 s pause, and a
`<Redirect>` to `/pending?step=N&wait=K`, which waits for the same turn (never a second one) and
serves its answer, or says "one moment" again, at most `MAX_WAITS` times.
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
from channels.twilio_voice.pending import PendingTurn, PendingTurns
from channels.twilio_voice.render import call_again_later, one_moment, t, try_again
from channels.twilio_voice.settings import CHANNEL, DEFAULT_CATALOGUE, VoiceSettings, load_entity_hints
from channels.twilio_voice.state import CallStates

logger = logging.getLogger("channels.twilio_voice")

MAX_FAILED_REDIRECTS = 2
MAX_BODY_BYTES = 64 * 1024  # a Gather callback is a few hundred bytes; refused before it is read as a form
MAX_WAITS = 3  # "one moment" answers per step before the caller is told to call again
POLL_SECONDS = 0.2  # how often a step's answer is looked for in the call state
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
        raw_deadline = get("turn_deadline_seconds", "VOICE_TURN_DEADLINE_SECONDS", "8") or "8"
        try:
            deadline = float(raw_deadline)
        except ValueError:
            raise ConfigError(f"Config 'VOICE_TURN_DEADLINE_SECONDS' must be a number of seconds, got {raw_deadline!r}.") from None
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
            turn_deadline=deadline,
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
        self._turns = PendingTurns()

    # -- wire ---------------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(f"{CHANNEL}_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return self._refused(request) or await self._webhook(request, on_new_message)

        @bp.route("/pending", methods=["POST"])
        async def pending(request: Request) -> HTTPResponse:
            return self._refused(request) or await self._pending(request)

        @bp.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            refused = self._refused(request)
            if refused:
                return refused
            form = read_form(request)
            call_sid = form.first("CallSid")
            if _CALL_SID.match(call_sid) and form.first("CallStatus") in ("completed", "busy", "failed", "no-answer", "canceled"):
                await self.calls.forget(call_sid)
            return response.empty()

        return bp

    def _refused(self, request: Request) -> HTTPResponse | None:
        """413 or 403 before anything in the request is used; None when it may be read."""
        if len(request.body or b"") > MAX_BODY_BYTES:
            return response.text("payload too large", status=413)
        if not self._verified(request):
            return response.text("forbidden", status=403)
        return None

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
        started = asyncio.get_running_loop().time()
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
            # Twilio's retry of a step: the first delivery's answer, when it is ready.
            return self._xml(await self._answer_when_ready(call_sid, step, 0, started))
        inbound = self._inbound(form)

        async def run(pending: PendingTurn) -> str:
            return await self._run_step(pending, call_sid, step, failed, inbound, on_new_message)

        self._turns.start(call_sid, step, run)
        return self._xml(await self._answer_when_ready(call_sid, step, 0, started))

    async def _run_step(
        self, pending: PendingTurn, call_sid: str, step: int, failed: int, inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> str:
        """One step of the call, to its end even when the caller was told "one moment"."""
        try:
            call = await self.calls.load(call_sid)
            pending.call = call
            flow = CallFlow(self, call, call_sid, step, inbound, on_new_message)
            twiml = await flow.advance()
            await self.calls.save_answer(call_sid, call, step, twiml)
            return twiml
        except Exception as e:
            logger.error("twilio_voice: step %s failed (%s)", step, type(e).__name__)
            logger.debug("twilio_voice: failure detail", exc_info=True)
            await self.calls.release(call_sid, step)
            if failed < MAX_FAILED_REDIRECTS:
                return try_again(self.settings, step, failed)
            return call_again_later(self.settings, "ar")

    async def _pending(self, request: Request) -> HTTPResponse:
        """Where "one moment" sends the caller back: the step's answer, without running it again."""
        started = asyncio.get_running_loop().time()
        call_sid = read_form(request).first("CallSid")
        query = parse_qs(request.query_string)
        try:
            step = int(query["step"][0])
            wait = int(query["wait"][0])
        except (KeyError, IndexError, ValueError):
            return response.text("bad request", status=400)
        if not _CALL_SID.match(call_sid) or not 0 <= step <= MAX_STEPS + 5 or not 1 <= wait <= MAX_WAITS:
            return response.text("bad request", status=400)
        return self._xml(await self._answer_when_ready(call_sid, step, wait, started))

    async def _answer_when_ready(self, call_sid: str, step: int, wait: int, started: float) -> str:
        """The step's answer if it comes before the deadline (counted from `started`, when the
        request arrived); else "one moment" and a redirect, or, after `MAX_WAITS`, an apology."""
        budget = self.settings.turn_deadline - (asyncio.get_running_loop().time() - started)
        pending = self._turns.get(call_sid, step)
        if pending is not None:
            twiml, lang = await pending.within(budget), pending.lang
        else:  # the turn runs in another process (or ran before a restart): its answer is saved with the call
            twiml, lang = await self._stored_within(call_sid, step, budget)
        if twiml:
            return twiml
        if wait < MAX_WAITS:
            return one_moment(self.settings, lang, step, wait + 1)
        logger.warning("twilio_voice: step %s still not answered after %s waits", step, wait)
        return call_again_later(self.settings, lang)

    async def _stored_within(self, call_sid: str, step: int, budget: float) -> tuple[str | None, str]:
        loop = asyncio.get_running_loop()
        until = loop.time() + budget
        lang = "ar"
        while True:
            try:
                twiml, lang = await self.calls.stored_answer(call_sid, step)
            except Exception as e:  # the state store is slow or down: "one moment", not a 500
                logger.warning("twilio_voice: call state unreadable (%s)", type(e).__name__)
                twiml = None
            if twiml or loop.time() + POLL_SECONDS > until:
                return twiml, lang
            await asyncio.sleep(POLL_SECONDS)

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
        """Wait for turns in flight and queued SMS (tests, shutdown)."""
        await self._turns.drain()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
