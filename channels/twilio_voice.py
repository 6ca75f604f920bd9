"""Twilio Voice: the IVR of the national contact center (06 5008080), Arabic first.

Three roles, as in every channel module:

- **wire** (`TwilioVoiceInput`): credentials, the Sanic routes, the signature check
  (`X-Twilio-Signature` against `PUBLIC_BASE_URL` + path + query, before anything is read) and
  the per-call dialog state kept in `bot.channel_state`.
- **parse** (`_CallFlow`): what the caller's keypad digits, speech or recording mean at the
  current step of the call (a menu choice, a reference, a description to read back...).
- **render** (`render`): one pure function from the bot's collected messages and the call state
  to TwiML, built with Twilio's `VoiceResponse`. Voice is "collect, then render": Rasa answers
  into `TwilioVoiceCollectingOutput`, and the whole turn becomes one TwiML document.

Steps. Every answer's `<Gather>`/`<Record>` posts back to `.../webhook?step=N`. The first request
for a (CallSid, step) pair claims it in `channel_state` and is processed; the rendered TwiML is
stored with the call, and a retry of the same step gets exactly that TwiML back, without a
second message to Rasa.

Privacy. The tracker sender id is `keyed_id("voice", From)`. The raw number is never logged and
never stored by this module; it travels in the UserMessage metadata (`reply_address`) only on
the turn where the caller agreed to receive the reference by SMS. The call state (which holds
prompts and, briefly, a transcribed description awaiting confirmation) is encrypted at rest.

Conventions the bot relies on (set in the domain's responses, `custom: {voice: {...}}`):
`expect: "free_text"` (a spoken description follows: read back, confirm, else record),
`expect: "reference"` (a request number follows: keypad + check digit),
`offer_sms_reference: "<10 digits>"` (press 1 to receive it by SMS), `hangup: true` (end the call),
`share_caller_number: true` (pressing 1 / "yes" sends the caller's number, sealed, with the answer).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, Say, VoiceResponse

from bot import business_hours, refcode
from bot.arabic import arabic_indic, normalise
from bot.channel_state import ChannelState, shared
from bot.i18n import gettext
from bot.inbound import clean_user_text
from bot.lang import LANGUAGE_WORDS, message_language, requested_language
from bot.privacy import FieldCipher, keyed_id, phone_identity, seal_address
from bot.settings import ROOT, ConfigError, env, secret
from channels.common import FormParams, MalformedForm, parse_form

logger = logging.getLogger(__name__)

CHANNEL = "twilio_voice"
SENDER_CHANNEL = "voice"
DOMAIN = "voice"

AGENT_DIGIT = "0"
MORE_DIGIT = "9"
PAGE_SIZE = 8  # with more than 9 choices: 8 per page, 9 = more
MAX_REPROMPTS = 2  # silence or no match: re-prompt twice, then offer an agent
MAX_TOTAL_NOINPUT = 6  # across the whole call, whatever resets in between
MAX_SPEECH_FAILURES = 2  # a description not recognised twice is recorded instead
MAX_STEPS = 150  # a call never loops forever
MAX_FAILED_REDIRECTS = 2
RECORD_MAX_SECONDS = 120
TWIML_KEEP = 4  # answers kept per call for retries (Twilio retries only the latest step)
MAX_BODY_BYTES = 64 * 1024  # a Gather callback is a few hundred bytes; refused before it is read as a form
_DTMF = re.compile(r"[^0-9*#]")
RETRY_WAIT_SECONDS = 10.0  # a retry that overtakes the first delivery waits for its answer
HINTS_MAX_ENTRIES = 500  # Twilio: up to 500 hints,
HINT_MAX_CHARS = 100  # each at most 100 characters
DEFAULT_CATALOGUE = ROOT / "case_store" / "data" / "catalogue.yml"
_VOICE_NAME = re.compile(r"^(Polly\.[A-Za-z]+(-Neural)?|Google\.[A-Za-z]{2}-[A-Z]{2}-[\w-]+|man|woman|alice)$")
_LOCALE = re.compile(r"^[a-z]{2}-[A-Z]{2}$")
_CALL_SID = re.compile(r"^[A-Za-z0-9]{10,64}$")


def N_(message: str) -> str:
    """Marks a catalog message for `pybabel extract`; translated where it is spoken."""
    return message


# Spoken choices for the payloads every channel offers; other buttons use their title.
OPTION_PHRASES: dict[str, str] = {
    "/ask_government": N_("To ask the government, press {digit}."),
    "/suggest": N_("For a suggestion, press {digit}."),
    "/compliment": N_("For a compliment, press {digit}."),
    "/complain": N_("For a complaint, press {digit}."),
    "/report_violation": N_("To report a violation, press {digit}."),
    "/check_status": N_("To follow up on a request, press {digit}."),
    "/human_handoff": N_("To speak with an agent, press {digit}."),
    "/affirm": N_("For yes, press {digit}."),
    "/deny": N_("For no, press {digit}."),
    '/switch_language{"language":"ar"}': N_("For Arabic, press {digit}."),
    '/switch_language{"language":"en"}': N_("For English, press {digit}."),
}
GENERIC_OPTION = N_("For {title}, press {digit}.")
AGENT_WORDS = {
    "ar": ("موظف", "الموظف", "خدمة العملاء", "مندوب", "شخص"),
    "en": ("agent", "operator", "representative", "human", "person"),
}
YES_WORDS = ("نعم", "اي", "ايوه", "ايوا", "اكيد", "تمام", "موافق", "yes", "yeah", "yep", "sure", "ok", "okay", "correct")
NO_WORDS = ("لا", "كلا", "مش", "no", "nope", "not")
DIGIT_WORDS = {
    "0": ("صفر", "zero"), "1": ("واحد", "one"), "2": ("اثنين", "اتنين", "two"), "3": ("ثلاثه", "تلاته", "three"),
    "4": ("اربعه", "four"), "5": ("خمسه", "five"), "6": ("سته", "six"), "7": ("سبعه", "seven"),
    "8": ("ثمانيه", "تمانيه", "eight"), "9": ("تسعه", "nine"),
}


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceSettings:
    """What rendering needs; built once per connector and checked when built."""

    public_base_url: str
    webhook_path: str = f"/webhooks/{CHANNEL}/webhook"
    voice_ar: str = "Polly.Zeina"
    voice_en: str = "Polly.Joanna"
    locale_ar: str = "ar-JO"
    locale_en: str = "en-US"
    gather_timeout: int = 6
    queue: str = "contact-center"
    agent_number: str | None = None
    entity_hints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hours_text: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in (("VOICE_AR", self.voice_ar), ("VOICE_EN", self.voice_en)):
            if not _VOICE_NAME.match(value):
                raise ConfigError(f"Config '{name}' is {value!r}; use a Twilio voice such as 'Polly.Zeina' (Arabic) or 'Polly.Joanna'.")
        for name, value in (("VOICE_AR_LOCALE", self.locale_ar), ("VOICE_EN_LOCALE", self.locale_en)):
            if not _LOCALE.match(value):
                raise ConfigError(f"Config '{name}' is {value!r}; use a Twilio speech language such as 'ar-JO' or 'en-US'.")
        if not 1 <= self.gather_timeout <= 60:
            raise ConfigError(f"Config 'VOICE_GATHER_TIMEOUT' is {self.gather_timeout}; allowed: 1..60 seconds.")
        if not re.match(r"^https?://", self.public_base_url):
            raise ConfigError(f"Config 'PUBLIC_BASE_URL' is {self.public_base_url!r}; it must be the http(s) URL Twilio calls.")

    def action_url(self, step: int, **extra: Any) -> str:
        query = "&".join([f"step={step}"] + [f"{k}={v}" for k, v in extra.items()])
        return f"{self.public_base_url}{self.webhook_path}?{query}"

    def voice(self, language: str) -> str:
        return self.voice_ar if language == "ar" else self.voice_en

    def speech_locale(self, language: str) -> str:
        return self.locale_ar if language == "ar" else self.locale_en


def load_entity_hints(path: Path) -> dict[str, tuple[str, ...]]:
    """Entity names per language from the case store's catalogue (any YAML layout carrying
    `name_ar` / `name_en` keys); empty when the file does not exist yet."""
    if not path.exists():
        return {"ar": (), "en": ()}
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    names: dict[str, list[str]] = {"ar": [], "en": []}
    aliases: dict[str, list[str]] = {"ar": [], "en": []}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for lang in ("ar", "en"):
                value = node.get(f"name_{lang}")
                if isinstance(value, str) and value.strip():
                    names[lang].append(value.strip())
                more = node.get(f"aliases_{lang}")
                if isinstance(more, list):
                    aliases[lang] += [str(a).strip() for a in more if str(a).strip()]
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(data)
    # Official names first, then what people say: the list is cut at Twilio's 500 hints.
    return {lang: tuple(dict.fromkeys(names[lang] + aliases[lang])) for lang in ("ar", "en")}


# --- collect ----------------------------------------------------------------------------------


class TwilioVoiceCollectingOutput(CollectingOutputChannel):
    """Collects one turn of the bot's messages; `render` turns them into TwiML."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL


# --- analyse the bot's turn (pure) ------------------------------------------------------------


def _payload_key(payload: str) -> str:
    payload = payload.strip()
    m = re.match(r"^(/[a-z_]+)(\{.*\})?$", payload, re.DOTALL)
    if not m or not m.group(2):
        return payload
    try:
        entities = json.loads(m.group(2))
    except ValueError:
        return payload
    return m.group(1) + json.dumps(entities, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _is_handoff(button: Mapping[str, Any]) -> bool:
    return str(button.get("payload", "")).strip().startswith("/human_handoff")


@dataclass(frozen=True)
class Turn:
    """What one bot turn asks of the caller."""

    texts: tuple[str, ...]
    buttons: tuple[dict[str, Any], ...]
    expect: str | None
    sms_reference: str | None
    hangup: bool
    share_number: bool = False  # "press 1 to use the number you're calling from"

    @property
    def numbered(self) -> list[dict[str, Any]]:
        return [b for b in self.buttons if not _is_handoff(b)]

    @property
    def has_handoff(self) -> bool:
        return any(_is_handoff(b) for b in self.buttons)

    @property
    def kind(self) -> str:
        if self.hangup:
            return "hangup"
        if self.sms_reference:
            return "offer_sms"
        if self.expect == "free_text":
            return "free_text"
        if self.expect == "reference":
            return "reference"
        if self.buttons:
            return "menu"
        return "open"

    @property
    def pages(self) -> int:
        n = len(self.numbered)
        return 1 if n <= 9 else -(-n // PAGE_SIZE)

    def options(self, page: int = 0) -> dict[str, str]:
        """Keypad digit -> payload offered on `page` ("0" the agent, "9" more when paged)."""
        numbered = self.numbered
        if self.kind == "offer_sms" and not numbered:
            return {"1": "/affirm", "2": "/deny"}
        if len(numbered) <= 9:
            shown = numbered
            out = {str(i + 1): str(b.get("payload", "")) for i, b in enumerate(shown)}
        else:
            page %= self.pages
            shown = numbered[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
            out = {str(i + 1): str(b.get("payload", "")) for i, b in enumerate(shown)}
            out[MORE_DIGIT] = "#more"
        return out

    def page_buttons(self, page: int = 0) -> list[dict[str, Any]]:
        numbered = self.numbered
        if len(numbered) <= 9:
            return numbered
        page %= self.pages
        return numbered[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]


def analyse(messages: Sequence[Mapping[str, Any]]) -> Turn:
    texts: list[str] = []
    buttons: tuple[dict[str, Any], ...] = ()
    expect = sms = None
    hangup = share = False
    for m in messages:
        if m.get("text"):
            texts.append(str(m["text"]))
        if m.get("buttons"):
            buttons = tuple(dict(b) for b in m["buttons"])
        custom = m.get("custom")
        voice = custom.get("voice") if isinstance(custom, dict) else None
        if isinstance(voice, dict):
            expect = voice.get("expect", expect)
            if voice.get("offer_sms_reference"):
                sms = refcode.canonical_digits(str(voice["offer_sms_reference"]))
            hangup = hangup or bool(voice.get("hangup"))
            share = share or bool(voice.get("share_caller_number"))
    return Turn(tuple(texts), buttons, expect, sms, hangup, share)


def reprompt_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """On a re-prompt, repeat the question (the last message with buttons or text), not the turn."""
    last = None
    for i, m in enumerate(messages):
        if m.get("buttons"):
            last = i
    if last is None:
        for i, m in enumerate(messages):
            if m.get("text"):
                last = i
    if last is None:
        return [dict(m) for m in messages]
    kept = [dict(m) for m in messages[last:]]
    kept += [dict(m) for m in messages[:last] if m.get("custom") and not m.get("text")]
    return kept


# --- render (pure) ----------------------------------------------------------------------------


def _t(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, language, message, **params)


def spoken_digit(digit: str, language: str) -> str:
    return arabic_indic(digit) if language == "ar" else digit


def option_phrase(button: Mapping[str, Any], digit: str, language: str) -> str:
    template = OPTION_PHRASES.get(_payload_key(str(button.get("payload", ""))))
    if template:
        return _t(language, template, digit=spoken_digit(digit, language))
    title = str(button.get("title", "")).strip().rstrip(".")
    return _t(language, GENERIC_OPTION, title=title, digit=spoken_digit(digit, language))


def _valid_references(text: str) -> list[re.Match[str]]:
    return [m for m in refcode.CANDIDATE_RE.finditer(text) if refcode.is_valid_digits(refcode.canonical_digits(m.group(1)))]


def _say_text(parent: VoiceResponse | Gather, text: str, settings: VoiceSettings, default_lang: str) -> None:
    """Say a bot text; a valid reference in it is read digit by digit, then once more."""
    language = message_language(text, default_lang)
    refs = _valid_references(text)
    if not refs:
        parent.say(text, voice=settings.voice(language))
        return
    say = Say(voice=settings.voice(language))
    pos = 0
    for m in refs:
        if m.start() > pos:
            say.nest(text[pos:m.start()])
        say.say_as(refcode.canonical_digits(m.group(1)), interpret_as="digits")
        pos = m.end()
    if pos < len(text):
        say.nest(text[pos:])
    parent.nest(say)
    for m in refs:
        again = Say(voice=settings.voice(language))
        again.nest(_t(language, "I repeat the number:") + " ")
        again.say_as(refcode.canonical_digits(m.group(1)), interpret_as="digits")
        parent.nest(again)


def _clean_hint(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace(",", " ").replace("،", " ")).strip()[:HINT_MAX_CHARS]


def hints(language: str, menu_words: Sequence[str], settings: VoiceSettings) -> str:
    words = list(menu_words) + list(AGENT_WORDS[language][:2]) + list(settings.entity_hints.get(language, ()))
    out: list[str] = []
    seen: set[str] = set()
    for w in words:
        h = _clean_hint(w)
        if h and h.casefold() not in seen:
            seen.add(h.casefold())
            out.append(h)
        if len(out) >= HINTS_MAX_ENTRIES:
            break
    return ",".join(out)


def _gather(
    settings: VoiceSettings, step: int, language: str, *, num_digits: int | None = None,
    finish_on_key: str | None = None, menu_words: Sequence[str] = (),
) -> Gather:
    return Gather(
        input="dtmf speech",
        action=settings.action_url(step),
        method="POST",
        timeout=settings.gather_timeout,
        speech_timeout="auto",
        action_on_empty_result=True,
        language=settings.speech_locale(language),
        num_digits=num_digits,
        finish_on_key=finish_on_key,
        hints=hints(language, menu_words, settings) or None,
    )


NOTICES = {
    "no_input": N_("Sorry, I didn't catch that."),
    "no_match": N_("Sorry, that is not one of the choices."),
    "bad_reference": N_("That number doesn't look right. Please enter it again."),
    "error": N_("Sorry, something went wrong on our side."),
}


def _notice(parent: VoiceResponse | Gather, call_state: Mapping[str, Any], language: str, settings: VoiceSettings) -> None:
    notice = call_state.get("notice")
    if notice in NOTICES:
        parent.say(_t(language, NOTICES[notice]), voice=settings.voice(language))


def _goodbye(resp: VoiceResponse, language: str, settings: VoiceSettings) -> None:
    resp.say(_t(language, "Thank you for calling Bekhedmetkom. Goodbye."), voice=settings.voice(language))
    resp.hangup()


def render(messages: Sequence[Mapping[str, Any]], call_state: Mapping[str, Any], settings: VoiceSettings) -> str:
    """TwiML for one answer. `call_state` says what the answer is (`mode`), its `step` (put in
    every action URL), the call's `lang`, a `notice` to say first, the menu `page`, and for a
    read-back the `pending_text`. `messages` are the bot's collected messages (mode "bot")."""
    mode = call_state.get("mode", "bot")
    lang = call_state.get("lang") or "ar"
    step = int(call_state.get("step", 1))
    resp = VoiceResponse()
    voice = settings.voice(lang)

    if mode == "language_menu":
        g = _gather(settings, step, "ar", num_digits=1, menu_words=list(LANGUAGE_WORDS["ar"][:2]) + ["English"])
        if call_state.get("notice"):
            _notice(g, call_state, "ar", settings)
        else:
            g.say(_t("ar", "Welcome to Bekhedmetkom, the national platform for your government requests."), voice=settings.voice_ar)
        g.say(_t("ar", OPTION_PHRASES['/switch_language{"language":"ar"}'], digit=spoken_digit("1", "ar")), voice=settings.voice_ar)
        if call_state.get("notice"):
            _notice(g, call_state, "en", settings)
        g.say(_t("en", OPTION_PHRASES['/switch_language{"language":"en"}'], digit="2"), voice=settings.voice_en)
        resp.append(g)
        return resp.to_xml()

    if mode == "transfer":
        resp.say(_t(lang, "Please hold while we connect you to an agent."), voice=voice)
        if settings.agent_number:
            resp.dial(settings.agent_number)
        else:
            resp.enqueue(settings.queue)
        _goodbye(resp, lang, settings)
        return resp.to_xml()

    if mode == "after_hours":
        g = _gather(settings, step, lang, num_digits=1)
        _notice(g, call_state, lang, settings)
        g.say(_t(lang, "Our agents are available {hours}.", hours=settings.hours_text.get(lang, "")), voice=voice)
        g.say(
            _t(lang, "To continue with the automated assistant, press {one}. To end the call, press {two}.",
               one=spoken_digit("1", lang), two=spoken_digit("2", lang)),
            voice=voice,
        )
        resp.append(g)
        return resp.to_xml()

    if mode == "agent_offer":
        g = _gather(settings, step, lang, num_digits=1, menu_words=AGENT_WORDS[lang])
        g.say(
            _t(lang, "It seems we could not understand each other. To speak with an agent, press {zero}. To try again, press {one}.",
               zero=spoken_digit("0", lang), one=spoken_digit("1", lang)),
            voice=voice,
        )
        resp.append(g)
        return resp.to_xml()

    if mode == "goodbye":
        _notice(resp, call_state, lang, settings)
        _goodbye(resp, lang, settings)
        return resp.to_xml()

    if mode == "readback":
        text = str(call_state.get("pending_text", ""))
        g = _gather(settings, step, lang, num_digits=1)
        _notice(g, call_state, lang, settings)
        g.say(_t(lang, "You said:"), voice=voice)
        g.say(text, voice=settings.voice(message_language(text, lang)))
        g.say(
            _t(lang, "To confirm, press {one}. To say it again, press {two}.", one=spoken_digit("1", lang), two=spoken_digit("2", lang)),
            voice=voice,
        )
        resp.append(g)
        return resp.to_xml()

    if mode == "reference_entry":
        g = _gather(settings, step, lang, finish_on_key="#")
        _notice(g, call_state, lang, settings)
        if call_state.get("notice") != "bad_reference":
            g.say(_t(lang, "Please enter your 10-digit request number, then press the hash key."), voice=voice)
        resp.append(g)
        return resp.to_xml()

    if mode == "record":
        _notice(resp, call_state, lang, settings)
        resp.say(_t(lang, "Please describe your request after the tone. Press the hash key when you finish."), voice=voice)
        resp.record(
            action=settings.action_url(step), method="POST", max_length=RECORD_MAX_SECONDS,
            play_beep=True, finish_on_key="#", timeout=5,
        )
        # Twilio skips the action when nothing was recorded: come back on the same step.
        resp.redirect(settings.action_url(step), method="POST")
        return resp.to_xml()

    # mode "bot": the bot's own turn
    turn = analyse(messages)
    texts = list(turn.texts)
    if not texts and not turn.buttons:
        texts = [_t(lang, "Is there anything else I can help you with?")]
    last_lang = message_language(texts[-1] if texts else None, lang)
    if turn.kind == "hangup":
        for text in texts:
            _say_text(resp, text, settings, lang)
        resp.hangup()
        return resp.to_xml()
    kind = turn.kind
    page = int(call_state.get("page", 0))
    page_buttons = turn.page_buttons(page)
    menu_words = [str(b.get("title", "")) for b in turn.numbered]
    if kind in ("menu", "offer_sms"):
        g = _gather(settings, step, last_lang, num_digits=1, menu_words=menu_words)
    elif kind == "reference":
        g = _gather(settings, step, last_lang, finish_on_key="#")
    else:  # open question or free text: speech, or digits ended by # / the timeout
        g = _gather(settings, step, last_lang, menu_words=menu_words)
    _notice(g, call_state, last_lang, settings)
    for text in texts:
        _say_text(g, text, settings, lang)
    if kind in ("menu", "offer_sms"):
        if kind == "offer_sms" and not turn.numbered:
            lines = [_t(last_lang, "To receive the number by text message, press {one}. Otherwise, press {two}.",
                        one=spoken_digit("1", last_lang), two=spoken_digit("2", last_lang))]
        else:
            lines = [option_phrase(b, str(i + 1), last_lang) for i, b in enumerate(page_buttons)]
            if turn.pages > 1:
                lines.append(_t(last_lang, "For more choices, press {digit}.", digit=spoken_digit(MORE_DIGIT, last_lang)))
        if turn.has_handoff:
            lines.append(_t(last_lang, OPTION_PHRASES["/human_handoff"], digit=spoken_digit(AGENT_DIGIT, last_lang)))
        g.say(" ".join(lines), voice=settings.voice(last_lang))
    resp.append(g)
    return resp.to_xml()


# --- SMS (the reference, when the caller agrees) ---------------------------------------------


def make_sms_sender(account_sid: str, auth_token: str, api_base_url: str | None, sms_from: str | None, state: ChannelState) -> Any:
    """The one SMS sender (channels/sms_sender.py) behind `TwilioSmsOutput.send_sms(to, text)`:
    same REST client and `TWILIO_API_BASE_URL`, never to a number that opted out, queued in the
    durable outbox so a Twilio outage delays the reference instead of losing it."""
    from channels.sms_sender import queued_sender
    from channels.twilio_sms import TwilioSmsOutput, make_client

    client = make_client(account_sid, auth_token, api_base_url)
    return TwilioSmsOutput(client, sms_from, state, sender=queued_sender(client, sms_from, state))


# --- the call flow (parse) --------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return set(normalise(text).replace(".", " ").replace(",", " ").split())


def _says_any(text: str, words: Sequence[str]) -> bool:
    norm = normalise(text)
    tokens = _words(text)
    return any((normalise(w) in tokens) if " " not in w else (normalise(w) in norm) for w in words)


def _is_short(text: str) -> bool:
    return len(text.split()) <= 4


def _match_option(speech: str, turn: Turn, options: Mapping[str, str]) -> str | None:
    """A spoken choice: a button title, or a digit said aloud."""
    norm = normalise(speech)
    for b in turn.numbered:
        title = normalise(str(b.get("title", "")))
        if title and (title == norm or (_is_short(speech) and (title in norm or norm in title))):
            return str(b.get("payload", ""))
    if _is_short(speech):
        for digit, words in DIGIT_WORDS.items():
            if digit in options and (_says_any(speech, words) or norm == digit):
                return options[digit]
    return None


def read_form(request: Request) -> FormParams:
    if not (request.content_type or "").startswith("application/x-www-form-urlencoded"):
        return FormParams()
    try:
        return parse_form(request.body or b"")
    except MalformedForm:
        return FormParams()  # cannot carry Twilio's signature: refused as unsigned


@dataclass
class Inbound:
    digits: str
    speech: str
    recording_url: str | None
    recording_seconds: int
    caller: str | None  # raw From: memory only, never logged or stored


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
        self._sms = sms
        self._hours = hours
        key = secret("SENDER_ID_KEY").encode()
        legacy = hmac.new(key, b"twilio_voice call state", hashlib.sha256).hexdigest().encode()  # the key before v2
        self._cipher = FieldCipher(key, purpose="voice-call-state", legacy_secret=legacy)
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
                await self.state.update(self._call_key(call_sid), blob=None)
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

    @staticmethod
    def _call_key(call_sid: str) -> str:
        return f"{CHANNEL}:call:{call_sid}"

    async def _load(self, call_sid: str) -> dict[str, Any]:
        blob = (await self.state.get(self._call_key(call_sid))).get("blob")
        if not blob:
            return {}
        return json.loads(self._cipher.decrypt(blob) or "{}")

    async def _save(self, call_sid: str, call: dict[str, Any]) -> None:
        await self.state.update(self._call_key(call_sid), blob=self._cipher.encrypt(json.dumps(call, ensure_ascii=False)))

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

        claim = f"{CHANNEL}:{call_sid}:{step}"
        if not await self.state.claim(claim):
            return self._xml(await self._stored_answer(call_sid, step))

        try:
            call = await self._load(call_sid)
            flow = _CallFlow(self, call, call_sid, step, self._inbound(form), on_new_message)
            twiml = await flow.advance()
            answers = dict(call.get("twiml", {}))
            answers[str(step)] = twiml
            call["twiml"] = {k: answers[k] for k in sorted(answers, key=int)[-TWIML_KEEP:]}
            await self._save(call_sid, call)
            return self._xml(twiml)
        except Exception as e:
            logger.error("twilio_voice: step %s failed (%s)", step, type(e).__name__)
            logger.debug("twilio_voice: failure detail", exc_info=True)
            await self.state.release(claim)
            lang = "ar"
            resp = VoiceResponse()
            if failed < MAX_FAILED_REDIRECTS:
                resp.say(_t(lang, NOTICES["error"]), voice=self.settings.voice(lang))
                resp.pause(length=1)
                resp.redirect(self.settings.action_url(step, failed=failed + 1), method="POST")
            else:
                resp.say(_t(lang, NOTICES["error"]) + " " + _t(lang, "Please call again later."), voice=self.settings.voice(lang))
                resp.hangup()
            return self._xml(resp.to_xml())

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
            call = await self._load(call_sid)
            twiml = call.get("twiml", {}).get(str(step))
            if twiml:
                return str(twiml)
            if waited >= RETRY_WAIT_SECONDS:
                break
            await asyncio.sleep(0.2)
            waited += 0.2
        lang = call.get("lang") or "ar"
        resp = VoiceResponse()
        resp.say(_t(lang, NOTICES["error"]) + " " + _t(lang, "Please call again later."), voice=self.settings.voice(lang))
        resp.hangup()
        return resp.to_xml()

    # -- helpers the flow uses ----------------------------------------------------------------

    def agents_on_duty(self) -> bool:
        return (self._hours or business_hours.current()).is_open()

    def send_reference_sms(self, to: str, reference: str, language: str) -> None:
        """Queue the SMS without delaying the caller's answer (Twilio waits 15 s)."""
        text = _t(language, "Bekhedmetkom: your request number is {reference}. Keep it to follow up.",
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


class _CallFlow:
    """One step of one call: read the caller's input in the light of what was asked, decide the
    next prompt (possibly after a turn of the bot), and render it."""

    def __init__(
        self, channel: TwilioVoiceInput, call: dict[str, Any], call_sid: str, step: int, inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        self.ch, self.call, self.call_sid, self.inbound, self.on_new_message = channel, call, call_sid, inbound, on_new_message
        self.call["step"] = max(int(call.get("step", 0)), step) + 1  # the step our answer's actions carry
        self.call["steps"] = int(call.get("steps", 0)) + 1
        self.call.pop("notice", None)

    @property
    def lang(self) -> str:
        return str(self.call.get("lang") or "ar")

    def _caller_known(self) -> bool:
        caller = self.inbound.caller
        return bool(caller) and caller.lower() not in ("anonymous", "restricted", "unknown") and re.search(r"\d{5,}", caller) is not None

    def sender_id(self) -> str:
        if not self._caller_known():
            return keyed_id(SENDER_CHANNEL, f"anonymous:{self.call_sid}")
        return keyed_id(SENDER_CHANNEL, self.inbound.caller)

    def render(self, messages: Sequence[Mapping[str, Any]] | None = None) -> str:
        # Repeating a prompt (re-prompt, next page, "say it again") repeats the question only.
        prompt = messages if messages is not None else reprompt_messages(self.call.get("prompt", []))
        return render(prompt, self.call, self.ch.settings)

    def set_mode(self, mode: str, **extra: Any) -> str:
        self.call["mode"] = mode
        self.call.update(extra)
        return self.render()

    async def advance(self) -> str:
        if self.call["steps"] > MAX_STEPS:
            return self.set_mode("goodbye")
        mode = self.call.get("mode")
        if mode is None:
            self.call.update(noinput=0, total_noinput=0, speech_failures=0)
            return self.set_mode("language_menu")
        handler = getattr(self, f"on_{mode}", None)
        if handler is None or mode in ("transfer", "goodbye"):
            return self.set_mode("goodbye")
        return str(await handler())

    # -- outcomes ---------------------------------------------------------------------------

    def no_input(self, notice: str = "no_input") -> str:
        self.call["noinput"] = int(self.call.get("noinput", 0)) + 1
        self.call["total_noinput"] = int(self.call.get("total_noinput", 0)) + 1
        mode = self.call.get("mode")
        if self.call["total_noinput"] > MAX_TOTAL_NOINPUT:
            return self.set_mode("goodbye")
        if self.call["noinput"] <= MAX_REPROMPTS:
            self.call["notice"] = notice
            return self.render()
        if mode in ("agent_offer", "after_hours") or not self.ch.agents_on_duty():
            return self.set_mode("goodbye")
        self.call["resume"] = mode
        return self.set_mode("agent_offer")

    def agent(self) -> str:
        if self.ch.agents_on_duty():
            logger.info("twilio_voice: transfer to the contact center")
            return self.set_mode("transfer")
        if self.call.get("mode") not in ("after_hours", "agent_offer"):
            self.call["resume"] = self.call.get("mode")
        self.call["noinput"] = 0
        return self.set_mode("after_hours")

    def resume(self) -> str:
        self.call["noinput"] = 0
        self.call["mode"] = self.call.pop("resume", None) or "language_menu"
        return self.render()

    async def bot_turn(self, text: str, input_kind: str, extra_metadata: Mapping[str, Any] | None = None) -> str:
        metadata: dict[str, Any] = {"channel": SENDER_CHANNEL, "call_sid": self.call_sid, "input": input_kind, "language": self.lang}
        if not self.call.get("started"):
            metadata["call_start"] = True
        if self._caller_known():
            # A pseudonym of the number (never the number): the same person over SMS and the IVR.
            metadata["caller_key"] = phone_identity(self.inbound.caller)
        metadata.update(extra_metadata or {})
        collector = TwilioVoiceCollectingOutput()
        await self.on_new_message(
            UserMessage(text, collector, self.sender_id(), input_channel=CHANNEL, metadata=metadata,
                        message_id=f"{self.call_sid}:{self.call['step'] - 1}")
        )
        self.call["started"] = True
        messages = [m for m in collector.messages if m.get("text") or m.get("buttons") or m.get("custom")]
        for m in messages:
            m.pop("recipient_id", None)
        turn = analyse(messages)
        if turn.texts:
            self.call["lang"] = message_language(turn.texts[-1], self.lang)
        self.call.update(mode="bot", prompt=messages, page=0, noinput=0, speech_failures=0, options=turn.options(0))
        self.call.pop("pending_text", None)
        return self.render(messages)

    async def choose(self, payload: str) -> str:
        if payload.strip() == "/check_status":  # the connector takes the number itself (keypad + check digit)
            self.call["noinput"] = 0
            return self.set_mode("reference_entry")
        if payload.strip().startswith("/human_handoff"):
            return self.agent()
        extra = None
        if payload.strip() == "/affirm" and self._caller_known() and analyse(self.call.get("prompt", [])).share_number:
            # The caller agreed, on this very question, that we keep the number they call from.
            extra = {"reply_address": seal_address(self.inbound.caller), "number_consent": True}
        return await self.bot_turn(payload, "dtmf", extra)

    async def reference(self, digits_or_speech: str) -> str:
        try:
            reference = refcode.parse(digits_or_speech)
        except refcode.ReferenceError_:
            return self.no_input("bad_reference")
        return await self.bot_turn(f'/check_status{{"reference": "{reference}"}}', "dtmf")

    # -- handlers per mode ------------------------------------------------------------------

    async def on_language_menu(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d == AGENT_DIGIT or (s and _is_short(s) and (_says_any(s, AGENT_WORDS["ar"]) or _says_any(s, AGENT_WORDS["en"]))):
            return self.agent()
        choice = {"1": "ar", "2": "en"}.get(d)
        if not choice and s:
            choice = requested_language(s)
        if not choice:
            return self.no_input("no_match" if (d or s) else "no_input")
        self.call["lang"] = choice
        return await self.bot_turn(f'/switch_language{{"language":"{choice}"}}', "dtmf" if d else "speech")

    async def on_bot(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        turn = analyse(self.call.get("prompt", []))
        kind = turn.kind
        if kind == "hangup":
            return self.set_mode("goodbye")
        if d.rstrip("#") == AGENT_DIGIT:
            return self.agent()
        if kind != "free_text" and s and _is_short(s) and _says_any(s, AGENT_WORDS[self.lang]):
            return self.agent()
        options = turn.options(int(self.call.get("page", 0)))
        if kind == "free_text":
            return self._free_text()
        if kind == "reference":
            if not (d or s):
                return self.no_input()
            return await self.reference(d or s)
        if kind == "offer_sms":
            if d:
                if d not in options:
                    return self.no_input("no_match")
                yes, payload = d == "1", options[d]
            elif s and (_says_any(s, YES_WORDS) or _says_any(s, NO_WORDS)):
                yes = _says_any(s, YES_WORDS) and not _says_any(s, NO_WORDS)
                payload = options.get("1" if yes else "2", "/affirm" if yes else "/deny")
            else:
                return self.no_input("no_match" if s else "no_input")
            extra: dict[str, Any] = {}
            if yes and turn.sms_reference and self.inbound.caller and refcode.is_valid_digits(turn.sms_reference):
                # The one place the raw number leaves the connector: the caller agreed to the SMS.
                self.ch.send_reference_sms(self.inbound.caller, turn.sms_reference, self.lang)
                extra = {"reply_address": seal_address(self.inbound.caller), "sms_consent": True}
            return await self.bot_turn(payload, "dtmf" if d else "speech", extra)
        if kind == "menu":
            if d:
                chosen = options.get(d)
                if chosen == "#more":
                    self.call["page"] = (int(self.call.get("page", 0)) + 1) % turn.pages
                    self.call["options"] = turn.options(self.call["page"])
                    return self.render()
                if chosen:
                    self.call["noinput"] = 0
                    return await self.choose(chosen)
                return self.no_input("no_match")
            if s:
                spoken_choice = _match_option(s, turn, options)
                if spoken_choice and spoken_choice != "#more":
                    return await self.choose(spoken_choice)
                return await self._speech_to_bot(s)
            return self.no_input()
        # open question: digits (e.g. a phone's last digits) or speech go to the bot
        if d:
            return await self.bot_turn(d.rstrip("#"), "dtmf")
        if s:
            return await self._speech_to_bot(s)
        return self.no_input()

    async def _speech_to_bot(self, speech: str) -> str:
        cleaned = clean_user_text(speech)
        if cleaned.problem:
            return self.no_input("no_match")
        return await self.bot_turn(cleaned.text, "speech")

    def _free_text(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if s:
            cleaned = clean_user_text(s)
            if not cleaned.problem:
                self.call["noinput"] = 0
                return self.set_mode("readback", pending_text=cleaned.text)
        return self._speech_failed("no_match" if d else "no_input")

    def _speech_failed(self, notice: str) -> str:
        self.call["speech_failures"] = int(self.call.get("speech_failures", 0)) + 1
        self.call["total_noinput"] = int(self.call.get("total_noinput", 0)) + 1
        if self.call["total_noinput"] > MAX_TOTAL_NOINPUT:
            return self.set_mode("goodbye")
        if self.call["speech_failures"] >= MAX_SPEECH_FAILURES:
            self.call["noinput"] = 0
            return self.set_mode("record")
        self.call["notice"] = notice
        return self.set_mode("bot")

    async def on_readback(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d == AGENT_DIGIT:
            return self.agent()
        yes = d == "1" or (not d and s and _is_short(s) and _says_any(s, YES_WORDS) and not _says_any(s, NO_WORDS))
        no = d == "2" or (not d and s and _is_short(s) and _says_any(s, NO_WORDS))
        if yes:
            text = str(self.call.pop("pending_text", ""))
            return await self.bot_turn(text, "speech")
        if no:
            self.call.pop("pending_text", None)
            failures = int(self.call.get("speech_failures", 0)) + 1
            self.call["speech_failures"] = failures
            if failures >= MAX_SPEECH_FAILURES:
                return self.set_mode("record")
            return self.set_mode("bot")  # ask the question again
        return self.no_input("no_match" if (d or s) else "no_input")

    async def on_record(self) -> str:
        url, seconds = self.inbound.recording_url, self.inbound.recording_seconds
        if url and seconds > 0:
            placeholder = _t(self.lang, "(voice recording)")
            return await self.bot_turn(placeholder, "recording", {"attachments": [{"url": url, "media_type": "audio/x-wav"}]})
        return self.no_input()

    async def on_reference_entry(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d.rstrip("#") == AGENT_DIGIT:
            return self.agent()
        if not (d or s):
            return self.no_input()
        return await self.reference(d or s)

    async def on_agent_offer(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d == AGENT_DIGIT or (not d and s and _says_any(s, AGENT_WORDS[self.lang])):
            return self.agent()
        if d == "1":
            return self.resume()
        return self.set_mode("goodbye")

    async def on_after_hours(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d == "1" or (not d and s and _says_any(s, YES_WORDS)):
            return self.resume()
        if d == "2" or (not d and s and _says_any(s, NO_WORDS)):
            return self.set_mode("goodbye")
        return self.no_input("no_match" if (d or s) else "no_input")
