"""TwiML for one answer: one pure function of the bot's collected messages and the call state,
built with Twilio's own `VoiceResponse` (tests compare the XML whole).

Every text the IVR speaks around the bot's responses comes from the `voice` Babel catalog
(bot/locale/<lang>/LC_MESSAGES/voice.po, the English text as msgid).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from twilio.twiml.voice_response import Gather, Say, VoiceResponse

from bot import refcode
from bot.arabic import arabic_indic
from bot.i18n import gettext
from bot.lang import LANGUAGE_WORDS, message_language
from channels.twilio_voice.settings import VoiceSettings
from channels.twilio_voice.turn import AGENT_DIGIT, MORE_DIGIT, analyse, payload_key
from channels.twilio_voice.words import AGENT_WORDS

DOMAIN = "voice"  # the Babel catalog
RECORD_MAX_SECONDS = 120
HINTS_MAX_ENTRIES = 500  # Twilio: up to 500 hints,
HINT_MAX_CHARS = 100  # each at most 100 characters


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
    "/report_human_rights": N_("For a human-rights grievance, press {digit}."),
    "/check_status": N_("To follow up on a request, press {digit}."),
    "/rate_request": N_("To rate the answer to a request, press {digit}."),
    "/rate_centre": N_("To rate your visit to a service centre, press {digit}."),
    "/reopen": N_("To reopen the request, press {digit}."),
    "/cancel": N_("To cancel, press {digit}."),
    "/human_handoff": N_("To speak with an agent, press {digit}."),
    "/affirm": N_("For yes, press {digit}."),
    "/deny": N_("For no, press {digit}."),
    '/switch_language{"language":"ar"}': N_("For Arabic, press {digit}."),
    '/switch_language{"language":"en"}': N_("For English, press {digit}."),
}
GENERIC_OPTION = N_("For {title}, press {digit}.")
# A score menu (the buttons /inform{"rating": "1"} .. "5", in order: the key is the score) is read
# as one scale, not as "for 1, press 1" five times.
SCALE_PHRASE = N_("Press a number from {first}, very bad, to {last}, excellent.")


def t(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, language, message, **params)


def spoken_digit(digit: str, language: str) -> str:
    return arabic_indic(digit) if language == "ar" else digit


def option_phrase(button: Mapping[str, Any], digit: str, language: str) -> str:
    key = payload_key(str(button.get("payload", "")))
    # An intent button with our own entities (the bad-visit offer's '/complain{"centre_code": ..}')
    # is read as its intent.
    template = OPTION_PHRASES.get(key) or OPTION_PHRASES.get(key.split("{", 1)[0])
    if template:
        return t(language, template, digit=spoken_digit(digit, language))
    title = str(button.get("title", "")).strip().rstrip(".")
    return t(language, GENERIC_OPTION, title=title, digit=spoken_digit(digit, language))


def scale_length(buttons: Sequence[Mapping[str, Any]]) -> int:
    """n when the buttons are the score scale 1..n in order (so the key pressed is the score), else 0."""
    keys = [payload_key(str(b.get("payload", ""))) for b in buttons]
    scale = [payload_key(f'/inform{{"rating": "{i}"}}') for i in range(1, len(keys) + 1)]
    return len(keys) if len(keys) >= 2 and keys == scale else 0


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
        again.nest(t(language, "I repeat the number:") + " ")
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
        parent.say(t(language, NOTICES[notice]), voice=settings.voice(language))


def _goodbye(resp: VoiceResponse, language: str, settings: VoiceSettings) -> None:
    resp.say(t(language, "Thank you for calling Bekhedmetkom. Goodbye."), voice=settings.voice(language))
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
            g.say(t("ar", "Welcome to Bekhedmetkom, the national platform for your government requests."), voice=settings.voice_ar)
        g.say(t("ar", OPTION_PHRASES['/switch_language{"language":"ar"}'], digit=spoken_digit("1", "ar")), voice=settings.voice_ar)
        if call_state.get("notice"):
            _notice(g, call_state, "en", settings)
        g.say(t("en", OPTION_PHRASES['/switch_language{"language":"en"}'], digit="2"), voice=settings.voice_en)
        resp.append(g)
        return resp.to_xml()

    if mode == "transfer":
        resp.say(t(lang, "Please hold while we connect you to an agent."), voice=voice)
        if settings.agent_number:
            resp.dial(settings.agent_number)
        else:
            resp.enqueue(settings.queue)
        _goodbye(resp, lang, settings)
        return resp.to_xml()

    if mode == "after_hours":
        g = _gather(settings, step, lang, num_digits=1)
        _notice(g, call_state, lang, settings)
        g.say(t(lang, "Our agents are available {hours}.", hours=settings.hours_text.get(lang, "")), voice=voice)
        g.say(
            t(lang, "To continue with the automated assistant, press {one}. To end the call, press {two}.",
              one=spoken_digit("1", lang), two=spoken_digit("2", lang)),
            voice=voice,
        )
        resp.append(g)
        return resp.to_xml()

    if mode == "agent_offer":
        g = _gather(settings, step, lang, num_digits=1, menu_words=AGENT_WORDS[lang])
        g.say(
            t(lang, "It seems we could not understand each other. To speak with an agent, press {zero}. To try again, press {one}.",
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
        g.say(t(lang, "You said:"), voice=voice)
        g.say(text, voice=settings.voice(message_language(text, lang)))
        g.say(
            t(lang, "To confirm, press {one}. To say it again, press {two}.", one=spoken_digit("1", lang), two=spoken_digit("2", lang)),
            voice=voice,
        )
        resp.append(g)
        return resp.to_xml()

    if mode == "reference_entry":
        g = _gather(settings, step, lang, finish_on_key="#")
        _notice(g, call_state, lang, settings)
        if call_state.get("notice") != "bad_reference":
            g.say(t(lang, "Please enter your 10-digit request number, then press the hash key."), voice=voice)
        resp.append(g)
        return resp.to_xml()

    if mode == "record":
        _notice(resp, call_state, lang, settings)
        resp.say(t(lang, "Please describe your request after the tone. Press the hash key when you finish."), voice=voice)
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
        texts = [t(lang, "Is there anything else I can help you with?")]
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
            lines = [t(last_lang, "To receive the number by text message, press {one}. Otherwise, press {two}.",
                       one=spoken_digit("1", last_lang), two=spoken_digit("2", last_lang))]
        elif scale_length(page_buttons) and turn.pages == 1:
            lines = [t(last_lang, SCALE_PHRASE, first=spoken_digit("1", last_lang),
                       last=spoken_digit(str(len(page_buttons)), last_lang))]
        else:
            lines = [option_phrase(b, str(i + 1), last_lang) for i, b in enumerate(page_buttons)]
            if turn.pages > 1:
                lines.append(t(last_lang, "For more choices, press {digit}.", digit=spoken_digit(MORE_DIGIT, last_lang)))
        if turn.has_handoff:
            lines.append(t(last_lang, OPTION_PHRASES["/human_handoff"], digit=spoken_digit(AGENT_DIGIT, last_lang)))
        g.say(" ".join(lines), voice=settings.voice(last_lang))
    resp.append(g)
    return resp.to_xml()



def try_again(settings: VoiceSettings, step: int, failed: int) -> str:
    """The step failed on our side (and was released): say so, then Twilio posts it again."""
    resp = VoiceResponse()
    resp.say(t("ar", NOTICES["error"]), voice=settings.voice("ar"))
    resp.pause(length=1)
    resp.redirect(settings.action_url(step, failed=failed + 1), method="POST")
    return resp.to_xml()


def call_again_later(settings: VoiceSettings, language: str) -> str:
    """Nothing more we can do on this call: apologise and hang up."""
    resp = VoiceResponse()
    resp.say(t(language, NOTICES["error"]) + " " + t(language, "Please call again later."), voice=settings.voice(language))
    resp.hangup()
    return resp.to_xml()


def one_moment(settings: VoiceSettings, language: str, step: int, wait: int) -> str:
    """The turn outlasted its deadline: a short word, a pause, then come back for the answer."""
    resp = VoiceResponse()
    resp.say(t(language, "One moment, please."), voice=settings.voice(language))
    resp.pause(length=2)
    resp.redirect(settings.pending_url(step, wait), method="POST")
    return resp.to_xml()
