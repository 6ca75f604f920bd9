"""channels.twilio_voice: signed webhooks in, TwiML out, one step at a time.

A real Sanic app (rasa.core.run.configure_app) serves the connector on loopback; the bot is a coroutine that
records each UserMessage and answers through the given output channel, as Rasa would. TwiML is
compared exactly. PUBLIC_BASE_URL is a public https address (as behind a proxy); requests are
signed for it and sent to the loopback port.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from twilio.request_validator import RequestValidator

from bot import refcode
from bot.business_hours import BusinessHours
from bot.channel_state import ChannelState
from bot.launcher import free_port
from bot.privacy import keyed_id, open_address, phone_identity
from channels.twilio_voice import TwilioVoiceInput, VoiceSettings, render

TOKEN = "test-twilio-auth-token"
BASE = "https://ivr.example.jo"
HOOK = f"{BASE}/webhooks/twilio_voice/webhook"
CALLER = "+962791234567"
HOURS = BusinessHours.parse("sun-thu 08:00-15:00")
SETTINGS = VoiceSettings(public_base_url=BASE, hours_text={lang: HOURS.describe(lang) for lang in ("ar", "en")})
REF = "4829103756" if refcode.is_valid_digits("4829103756") else refcode.generate()
BAD_REF = REF[:-1] + str((int(REF[-1]) + 1) % 10)

MAIN_MENU_AR = {
    "text": "كيف أستطيع خدمتك؟",
    "buttons": [
        {"title": "اسأل الحكومة", "payload": "/ask_government"},
        {"title": "اقتراح", "payload": "/suggest"},
        {"title": "ثناء", "payload": "/compliment"},
        {"title": "شكوى", "payload": "/complain"},
        {"title": "إبلاغ عن مخالفة", "payload": "/report_violation"},
        {"title": "متابعة طلب", "payload": "/check_status"},
        {"title": "التحدث مع موظف", "payload": "/human_handoff"},
    ],
}
MAIN_MENU_EN = {
    "text": "How can I help you?",
    "buttons": [
        {"title": "Ask the government", "payload": "/ask_government"},
        {"title": "Suggestion", "payload": "/suggest"},
        {"title": "Compliment", "payload": "/compliment"},
        {"title": "Complaint", "payload": "/complain"},
        {"title": "Report a violation", "payload": "/report_violation"},
        {"title": "Check a request", "payload": "/check_status"},
        {"title": "Talk to an agent", "payload": "/human_handoff"},
    ],
}
DESCRIBE_AR = [{"text": "احكِ لي ما المشكلة بالتفصيل."}, {"custom": {"voice": {"expect": "free_text"}}}]
FILED_AR = [
    {"text": f"تم تسجيل شكواك. رقم طلبك {refcode.format_grouped(REF)}."},
    {"text": "هل تريد أن نرسل لك الرقم برسالة نصية؟"},
    {"custom": {"voice": {"offer_sms_reference": REF}}},
]


def gather(step: int, lang: str = "ar", *, hints: str | None = None, num_digits: bool = False, finish: bool = False) -> str:
    locale = "ar-JO" if lang == "ar" else "en-US"
    attrs = f'action="{HOOK}?step={step}" actionOnEmptyResult="true"'
    if finish:
        attrs += ' finishOnKey="#"'
    if hints:
        attrs += f' hints="{hints}"'
    attrs += f' input="dtmf speech" language="{locale}" method="POST"'
    if num_digits:
        attrs += ' numDigits="1"'
    attrs += ' speechTimeout="auto" timeout="6"'
    return f"<Gather {attrs}>"


XML = '<?xml version="1.0" encoding="UTF-8"?>'
ZEINA, JOANNA = '<Say voice="Polly.Zeina">', '<Say voice="Polly.Joanna">'
AGENT_HINTS = {"ar": "موظف,الموظف", "en": "agent,operator"}
MENU_AR_HINTS = "اسأل الحكومة,اقتراح,ثناء,شكوى,إبلاغ عن مخالفة,متابعة طلب," + AGENT_HINTS["ar"]
MENU_AR_SAY = (
    "لسؤال الحكومة اضغط ١. للاقتراح اضغط ٢. للثناء اضغط ٣. للشكوى اضغط ٤. "
    "للإبلاغ عن مخالفة اضغط ٥. لمتابعة طلب سابق اضغط ٦. للتحدث مع أحد الموظفين اضغط ٠."
)


def language_menu(step: int = 1, notice: bool = False) -> str:
    first = f"{ZEINA}عذراً، لم أسمعك جيداً.</Say>" if notice else f"{ZEINA}أهلاً وسهلاً بكم في بخدمتكم، المنصة الوطنية لطلباتكم وشكاواكم الحكومية.</Say>"
    en_notice = f"{JOANNA}Sorry, I didn't catch that.</Say>" if notice else ""
    return (
        f"{XML}<Response>{gather(step, hints='عربي,عربيه,English,' + AGENT_HINTS['ar'], num_digits=True)}"
        f"{first}{ZEINA}للعربية اضغط ١.</Say>{en_notice}{JOANNA}For English, press 2.</Say></Gather></Response>"
    )


def main_menu_ar(step: int, notice: str = "") -> str:
    return (
        f"{XML}<Response>{gather(step, hints=MENU_AR_HINTS, num_digits=True)}{notice}"
        f"{ZEINA}كيف أستطيع خدمتك؟</Say>{ZEINA}{MENU_AR_SAY}</Say></Gather></Response>"
    )


# --- harness -----------------------------------------------------------------------------------


class FixedHours:
    def __init__(self, open_: bool) -> None:
        self.open = open_

    def is_open(self, now: Any = None) -> bool:
        return self.open


class FakeSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send_sms(self, to: str, text: str) -> list[str]:
        self.sent.append((to, text))
        return ["SM" + "0" * 32]


Reply = Callable[[UserMessage], list[dict[str, Any]]]


@dataclass
class FakeBot:
    """Stands in for Rasa: records each message and answers with `reply(message)`."""

    reply: Reply = lambda m: [MAIN_MENU_AR]
    received: list[UserMessage] = field(default_factory=list)
    delay: float = 0.0  # seconds the turn takes, as when the case store or NLU is slow

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        for out in self.reply(message):
            await message.output_channel.send_response(message.sender_id, dict(out))

    @property
    def texts(self) -> list[str]:
        return [str(m.text) for m in self.received]


@dataclass
class Harness:
    channel: TwilioVoiceInput
    bot: FakeBot
    sms: FakeSms
    hours: FixedHours
    port: int
    session: aiohttp.ClientSession
    state_url: str

    async def post(self, params: dict[str, str], query: str = "", signature: str | None = "sign", path: str = "/webhooks/twilio_voice/webhook") -> tuple[int, str]:
        headers = {}
        if signature == "sign":
            headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(f"{BASE}{path}{query}", params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        async with self.session.post(f"http://127.0.0.1:{self.port}{path}{query}", data=params, headers=headers) as r:
            return r.status, await r.text()

    def call(self, caller: str = CALLER) -> Call:
        return Call(self, "CA" + uuid.uuid4().hex, caller)


@dataclass
class Call:
    """One scripted phone call: each answer's action URL gives the next request's step."""

    h: Harness
    sid: str
    caller: str
    next_query: str = ""
    last: str = ""

    async def send(self, **inputs: str) -> str:
        params = {"CallSid": self.sid, "From": self.caller, "To": "+96265008080", "AccountSid": "AC" + "1" * 32, **inputs}
        status, body = await self.h.post(params, self.next_query)
        assert status == 200, body
        self.last = body
        m = re.search(r'action="[^"?]+(\?step=\d+)"', body)
        self.next_query = m.group(1) if m else self.next_query
        return body


@pytest_asyncio.fixture
async def voice(tmp_path) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    state_url = f"sqlite:///{tmp_path / 'channel_state.db'}"
    bot, sms, hours = FakeBot(), FakeSms(), FixedHours(True)
    channel = TwilioVoiceInput(TOKEN, SETTINGS, ChannelState(state_url), sms, hours)
    from rasa.core.run import configure_app

    Sanic.test_mode = True  # several apps in one process (Sanic's touch-up runs once per class)
    app = configure_app([channel], enable_api=False, use_uvloop=False)
    app.ctx.agent = SimpleNamespace(handle_message=bot)  # Rasa's own route registration, our fake bot
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    async with aiohttp.ClientSession() as session:
        yield Harness(channel, bot, sms, hours, port, session, state_url)
    await channel.drain()
    server.close()
    await server.wait_closed()


# --- verification --------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl"])
async def test_unsigned_or_badly_signed_requests_are_refused_and_change_nothing(voice: Harness, signature: str | None) -> None:
    sid = "CA" + uuid.uuid4().hex
    params = {"CallSid": sid, "From": CALLER, "Digits": "1"}
    status, _ = await voice.post(params, signature=signature)
    assert status == 403
    assert voice.bot.received == []
    with sqlite3.connect(voice.state_url.removeprefix("sqlite:///")) as db:
        assert db.execute("select count(*) from channel_deliveries").fetchone()[0] == 0
        assert db.execute("select count(*) from channel_sender_state").fetchone()[0] == 0
    # The step was not claimed: the genuine delivery is then processed normally.
    status, body = await voice.post(params)
    assert status == 200 and body == language_menu()


@pytest.mark.asyncio
async def test_signature_covers_the_query_string(voice: Harness) -> None:
    params = {"CallSid": "CA" + uuid.uuid4().hex, "From": CALLER, "Digits": "1"}
    good = RequestValidator(TOKEN).compute_signature(f"{HOOK}?step=1", params)
    status, _ = await voice.post(params, query="?step=2", signature=good)
    assert status == 403


@pytest.mark.asyncio
async def test_status_callback_is_signed_and_forgets_the_call(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    params = {"CallSid": call.sid, "CallStatus": "completed"}
    assert (await voice.post(params, path="/webhooks/twilio_voice/status", signature=None))[0] == 403
    assert (await voice.post(params, path="/webhooks/twilio_voice/status"))[0] == 204
    assert await voice.channel._load(call.sid) == {}


# --- the Arabic-first start ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_first_webhook_welcomes_in_arabic_and_offers_the_language_menu(voice: Harness) -> None:
    call = voice.call()
    assert await call.send(CallStatus="ringing") == language_menu(step=1)
    assert voice.bot.received == []


@pytest.mark.asyncio
async def test_pressing_one_starts_the_bot_in_arabic_with_a_keypad_menu(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    assert await call.send(Digits="1") == main_menu_ar(step=2)
    (message,) = voice.bot.received
    assert message.text == '/switch_language{"language":"ar"}'
    assert message.sender_id == keyed_id("voice", CALLER)
    assert message.input_channel == "twilio_voice"
    assert message.output_channel.name() == "twilio_voice"
    assert message.metadata == {"channel": "voice", "call_sid": call.sid, "input": "dtmf", "language": "ar", "call_start": True,
                                "caller_key": phone_identity(CALLER)}
    assert CALLER not in str(message.metadata)


@pytest.mark.asyncio
async def test_english_is_chosen_by_keypad_or_by_voice(voice: Harness) -> None:
    voice.bot.reply = lambda m: [MAIN_MENU_EN]
    call = voice.call()
    await call.send()
    body = await call.send(SpeechResult="English please")
    assert voice.bot.texts == ['/switch_language{"language":"en"}']
    assert body == (
        f"{XML}<Response>{gather(2, 'en', hints='Ask the government,Suggestion,Compliment,Complaint,Report a violation,Check a request,agent,operator', num_digits=True)}"
        f"{JOANNA}How can I help you?</Say>{JOANNA}To ask the government, press 1. For a suggestion, press 2. "
        "For a compliment, press 3. For a complaint, press 4. To report a violation, press 5. "
        "To follow up on a request, press 6. To speak with an agent, press 0.</Say></Gather></Response>"
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(("said", "lang"), [("بالعربي", "ar"), ("ingilizi", "en"), ("الإنجليزية لو سمحت", "en")])
async def test_the_language_menu_understands_bot_lang_language_words(voice: Harness, said: str, lang: str) -> None:
    """bot.lang.requested_language: a word with an Arabic prefix, or Arabizi, names a language too."""
    voice.bot.reply = lambda m: [MAIN_MENU_EN]
    call = voice.call()
    await call.send()
    await call.send(SpeechResult=said)
    assert voice.bot.texts == [f'/switch_language{{"language":"{lang}"}}']


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_retried_step_gets_the_same_twiml_and_does_not_advance(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    first = await call.send(Digits="1")
    call.next_query = "?step=1"  # Twilio retries the same request
    again = await call.send(Digits="1")
    assert again == first
    assert len(voice.bot.received) == 1
    # The call goes on from step 2 as if nothing happened.
    call.next_query = "?step=2"
    await call.send(Digits="4")
    assert voice.bot.texts == ['/switch_language{"language":"ar"}', "/complain"]


@pytest.mark.asyncio
async def test_a_retry_of_the_first_webhook_is_recognised_too(voice: Harness) -> None:
    call = voice.call()
    first = await call.send()
    call.next_query = ""
    assert await call.send() == first
    assert await voice.channel._load(call.sid) != {}


@pytest.mark.asyncio
async def test_a_failed_step_is_released_so_twilio_comes_back_and_it_runs(voice: Harness) -> None:
    calls = {"n": 0}

    def flaky(message: UserMessage) -> list[dict[str, Any]]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("action server down")
        return [MAIN_MENU_AR]

    voice.bot.reply = flaky
    call = voice.call()
    await call.send()
    body = await call.send(Digits="1")
    assert body == (
        f"{XML}<Response>{ZEINA}عذراً، حدث خلل فني لدينا.</Say><Pause length=\"1\" />"
        f'<Redirect method="POST">{HOOK}?step=1&amp;failed=1</Redirect></Response>'
    )
    call.next_query = "?step=1&failed=1"
    assert await call.send(Digits="1") == main_menu_ar(step=2)


# --- keypad menus ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_digits_map_to_the_offered_payloads_and_zero_is_the_agent(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    await call.send(Digits="5")
    assert voice.bot.texts[-1] == "/report_violation"
    state = await voice.channel._load(call.sid)
    assert state["options"]["4"] == "/complain"


@pytest.mark.asyncio
async def test_a_digit_that_is_not_offered_is_a_no_match_and_rasa_hears_nothing(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    body = await call.send(Digits="8")
    assert body == main_menu_ar(step=3, notice=f"{ZEINA}عذراً، هذا ليس من الخيارات المتاحة.</Say>")
    assert len(voice.bot.received) == 1


@pytest.mark.asyncio
async def test_spoken_choice_matches_a_button_title_and_other_speech_goes_to_nlu(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    await call.send(SpeechResult="شكوى")
    assert voice.bot.texts[-1] == "/complain"
    await call.send(SpeechResult="/complain{\"entity\": \"x\"} بدي أقدم شكوى على البلدية")
    assert voice.bot.texts[-1] == 'complain{"entity": "x"} بدي أقدم شكوى على البلدية'  # typed intents neutralised


@pytest.mark.asyncio
async def test_more_than_nine_buttons_are_paged_with_nine_for_more(voice: Harness) -> None:
    buttons = [{"title": f"جهة {i}", "payload": f'/inform{{"entity":"e{i}"}}'} for i in range(1, 12)]
    voice.bot.reply = lambda m: [{"text": "اختر الجهة.", "buttons": buttons}]
    call = voice.call()
    await call.send()
    first = await call.send(Digits="1")
    assert "جهة 1، اضغط ١. " in first and "جهة 8، اضغط ٨. لخيارات أخرى اضغط ٩." in first
    second = await call.send(Digits="9")
    assert "جهة 9، اضغط ١. جهة 10، اضغط ٢. جهة 11، اضغط ٣. لخيارات أخرى اضغط ٩." in second
    await call.send(Digits="2")
    assert voice.bot.texts[-1] == '/inform{"entity":"e10"}'


@pytest.mark.asyncio
async def test_zero_transfers_to_the_queue_during_business_hours(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    assert await call.send(Digits="0") == (
        f"{XML}<Response>{ZEINA}لحظات من فضلك، سنحوّلك إلى أحد الموظفين.</Say><Enqueue>contact-center</Enqueue>"
        f"{ZEINA}شكراً لاتصالك بمنصة بخدمتكم. مع السلامة.</Say><Hangup /></Response>"
    )
    assert len(voice.bot.received) == 1


def test_transfer_dials_the_contact_center_number_when_set() -> None:
    settings = VoiceSettings(public_base_url=BASE, agent_number="+96265008080")
    assert render([], {"mode": "transfer", "lang": "en", "step": 4}, settings) == (
        f"{XML}<Response>{JOANNA}Please hold while we connect you to an agent.</Say><Dial>+96265008080</Dial>"
        f"{JOANNA}Thank you for calling Bekhedmetkom. Goodbye.</Say><Hangup /></Response>"
    )


@pytest.mark.asyncio
async def test_after_hours_the_caller_can_go_on_with_the_bot_or_end_the_call(voice: Harness) -> None:
    voice.hours.open = False
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    body = await call.send(Digits="0")
    assert body == (
        f"{XML}<Response>{gather(3, num_digits=True, hints=AGENT_HINTS['ar'])}"
        f"{ZEINA}موظفونا متاحون من الأحد إلى الخميس، من الساعة 8:00 ص حتى 3:00 م.</Say>"
        f"{ZEINA}للمتابعة مع المساعد الآلي اضغط ١، ولإنهاء المكالمة اضغط ٢.</Say></Gather></Response>"
    )
    assert await call.send(Digits="1") == main_menu_ar(step=4)
    await call.send(Digits="0")
    assert await call.send(Digits="2") == (
        f"{XML}<Response>{ZEINA}شكراً لاتصالك بمنصة بخدمتكم. مع السلامة.</Say><Hangup /></Response>"
    )
    assert len(voice.bot.received) == 1


# --- silence ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_silence_reprompts_twice_then_offers_an_agent_then_says_goodbye(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    notice = f"{ZEINA}عذراً، لم أسمعك جيداً.</Say>"
    assert await call.send() == main_menu_ar(step=3, notice=notice)
    assert await call.send(SpeechResult="") == main_menu_ar(step=4, notice=notice)
    assert await call.send() == (
        f"{XML}<Response>{gather(5, num_digits=True, hints='موظف,الموظف,خدمة العملاء,مندوب,شخص')}"
        f"{ZEINA}يبدو أنني لم أفهم طلبك. للتحدث مع أحد الموظفين اضغط ٠، وللمحاولة مرة أخرى اضغط ١.</Say>"
        "</Gather></Response>"
    )
    assert await call.send() == f"{XML}<Response>{ZEINA}شكراً لاتصالك بمنصة بخدمتكم. مع السلامة.</Say><Hangup /></Response>"
    assert len(voice.bot.received) == 1


@pytest.mark.asyncio
async def test_after_hours_silence_ends_politely_without_an_agent_offer(voice: Harness) -> None:
    voice.hours.open = False
    call = voice.call()
    await call.send()
    await call.send()
    await call.send()
    assert await call.send() == f"{XML}<Response>{ZEINA}شكراً لاتصالك بمنصة بخدمتكم. مع السلامة.</Say><Hangup /></Response>"


@pytest.mark.asyncio
async def test_silence_at_the_language_menu_reprompts_in_both_languages(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    assert await call.send() == language_menu(step=2, notice=True)


@pytest.mark.asyncio
async def test_trying_again_after_the_agent_offer_gets_a_fresh_count_but_never_loops(voice: Harness) -> None:
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    bodies = []
    for _ in range(12):
        body = await call.send(Digits="1") if "للمحاولة مرة أخرى" in call.last else await call.send()
        bodies.append(body)
        if "<Hangup" in body:
            break
    assert "<Hangup" in bodies[-1]
    assert len(bodies) <= 10  # MAX_TOTAL_NOINPUT bounds the call whatever the caller does


# --- reference entry -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_check_status_takes_the_reference_by_keypad_and_checks_the_digit_first(voice: Harness) -> None:
    voice.bot.reply = lambda m: [MAIN_MENU_EN] if m.text.startswith("/switch") else [{"text": "Your request is in progress."}]
    call = voice.call()
    await call.send()
    await call.send(Digits="2")
    prompt = await call.send(Digits="6")
    assert prompt == (
        f"{XML}<Response>{gather(3, 'en', hints=AGENT_HINTS['en'], finish=True)}"
        f"{JOANNA}Please enter your 10-digit request number, then press the hash key.</Say></Gather></Response>"
    )
    wrong = await call.send(Digits=BAD_REF)
    assert wrong == (
        f"{XML}<Response>{gather(4, 'en', hints=AGENT_HINTS['en'], finish=True)}"
        f"{JOANNA}That number doesn't look right. Please enter it again.</Say></Gather></Response>"
    )
    assert len(voice.bot.received) == 1  # nothing went to Rasa
    await call.send(Digits=REF)
    assert voice.bot.texts[-1] == f'/check_status{{"reference": "{REF}"}}'


@pytest.mark.asyncio
async def test_a_reference_asked_by_the_bot_is_checked_the_same_way(voice: Harness) -> None:
    voice.bot.reply = lambda m: [{"text": "ما رقم طلبك؟"}, {"custom": {"voice": {"expect": "reference"}}}]
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    body = await call.send(SpeechResult="٤٨٢ ٩١٠ خطأ")
    assert 'finishOnKey="#"' in body and "يبدو أن الرقم غير صحيح" in body
    await call.send(SpeechResult=" ".join(REF))
    assert voice.bot.texts[-1] == f'/check_status{{"reference": "{REF}"}}'


# --- spoken description ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_spoken_description_is_read_back_and_sent_only_when_confirmed(voice: Harness) -> None:
    voice.bot.reply = lambda m: DESCRIBE_AR if m.text == "/complain" else [MAIN_MENU_AR]
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    asked = await call.send(Digits="4")
    assert asked == (
        f"{XML}<Response>{gather(3, hints=AGENT_HINTS['ar'])}{ZEINA}احكِ لي ما المشكلة بالتفصيل.</Say></Gather></Response>"
    )
    said = "الماء مقطوع عن حارتنا من ثلاث أيام"
    readback = await call.send(SpeechResult=said, Confidence="0.82")
    assert readback == (
        f"{XML}<Response>{gather(4, num_digits=True, hints=AGENT_HINTS['ar'])}{ZEINA}قلت:</Say>{ZEINA}{said}</Say>"
        f"{ZEINA}للتأكيد اضغط ١، ولإعادته من جديد اضغط ٢.</Say></Gather></Response>"
    )
    assert voice.bot.texts == ['/switch_language{"language":"ar"}', "/complain"]
    # The transcription waits in the call state, encrypted.
    with sqlite3.connect(voice.state_url.removeprefix("sqlite:///")) as db:
        assert said not in " ".join(row[0] for row in db.execute("select data from channel_sender_state"))
    await call.send(Digits="1")
    assert voice.bot.texts[-1] == said
    assert voice.bot.received[-1].metadata["input"] == "speech"


@pytest.mark.asyncio
async def test_saying_it_again_asks_the_question_again(voice: Harness) -> None:
    voice.bot.reply = lambda m: DESCRIBE_AR
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    await call.send(SpeechResult="شيء غير مفهوم")
    again = await call.send(Digits="2")
    assert "احكِ لي ما المشكلة بالتفصيل." in again and "<Record" not in again
    assert len(voice.bot.received) == 1


@pytest.mark.asyncio
async def test_speech_not_recognised_twice_is_recorded_and_the_recording_goes_to_rasa(voice: Harness) -> None:
    voice.bot.reply = lambda m: DESCRIBE_AR if m.text.startswith("/switch") else [{"text": "شكراً، وصلتنا رسالتك."}]
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    once = await call.send()
    assert once == (
        f"{XML}<Response>{gather(3, hints=AGENT_HINTS['ar'])}{ZEINA}عذراً، لم أسمعك جيداً.</Say>"
        f"{ZEINA}احكِ لي ما المشكلة بالتفصيل.</Say></Gather></Response>"
    )
    record = await call.send()
    assert record == (
        f"{XML}<Response>{ZEINA}من فضلك صِف لنا طلبك بعد سماع الصافرة، واضغط على المربّع عند الانتهاء.</Say>"
        f'<Record action="{HOOK}?step=4" finishOnKey="#" maxLength="120" method="POST" playBeep="true" timeout="5" />'
        f'<Redirect method="POST">{HOOK}?step=4</Redirect></Response>'
    )
    assert call.next_query == "?step=4"
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE123"
    await call.send(RecordingUrl=url, RecordingDuration="14", Digits="#")
    last = voice.bot.received[-1]
    assert last.text == "(تسجيل صوتي)"
    assert last.metadata["attachments"] == [{"url": url, "media_type": "audio/x-wav"}]
    assert last.metadata["input"] == "recording"


@pytest.mark.asyncio
async def test_an_empty_recording_comes_back_on_the_same_step_as_no_input(voice: Harness) -> None:
    voice.bot.reply = lambda m: DESCRIBE_AR
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    await call.send()
    await call.send()
    assert call.next_query == "?step=4"  # Twilio followed the <Redirect> after an empty <Record>
    body = await call.send()
    assert "<Record" in body and "عذراً، لم أسمعك جيداً." in body
    assert len(voice.bot.received) == 1


# --- the reference: read twice, texted on request ----------------------------------------------


@pytest.mark.asyncio
async def test_the_reference_is_read_digit_by_digit_twice_and_texted_when_the_caller_agrees(voice: Harness) -> None:
    voice.bot.reply = lambda m: FILED_AR if m.text.startswith("/switch") else [{"text": "تم. هل من شيء آخر؟"}]
    call = voice.call()
    await call.send()
    body = await call.send(Digits="1")
    assert body == (
        f"{XML}<Response>{gather(2, num_digits=True, hints=AGENT_HINTS['ar'])}"
        f'{ZEINA}تم تسجيل شكواك. رقم طلبك <say-as interpret-as="digits">{REF}</say-as>.</Say>'
        f'{ZEINA}أعيد الرقم: <say-as interpret-as="digits">{REF}</say-as></Say>'
        f"{ZEINA}هل تريد أن نرسل لك الرقم برسالة نصية؟</Say>"
        f"{ZEINA}لاستلام الرقم برسالة نصية اضغط ١، وإلا فاضغط ٢.</Say></Gather></Response>"
    )
    await call.send(Digits="1")
    await voice.channel.drain()
    assert voice.sms.sent == [(CALLER, f"بخدمتكم: رقم طلبك {refcode.format_grouped(REF)}. احتفظ به للمتابعة.")]
    consent = voice.bot.received[-1]
    assert consent.text == "/affirm"
    assert open_address(consent.metadata["reply_address"]) == CALLER and consent.metadata["sms_consent"] is True
    assert CALLER not in str(consent.metadata)
    assert all("reply_address" not in (m.metadata or {}) for m in voice.bot.received[:-1])


@pytest.mark.asyncio
async def test_declining_the_sms_sends_nothing(voice: Harness) -> None:
    voice.bot.reply = lambda m: FILED_AR
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    await call.send(Digits="2")
    await voice.channel.drain()
    assert voice.sms.sent == []
    assert voice.bot.texts[-1] == "/deny"
    assert "reply_address" not in voice.bot.received[-1].metadata


@pytest.mark.asyncio
async def test_the_bot_can_end_the_call(voice: Harness) -> None:
    voice.bot.reply = lambda m: [{"text": "مع السلامة."}, {"custom": {"voice": {"hangup": True}}}]
    call = voice.call()
    await call.send()
    assert await call.send(Digits="1") == f"{XML}<Response>{ZEINA}مع السلامة.</Say><Hangup /></Response>"


@pytest.mark.asyncio
async def test_withheld_caller_ids_get_a_per_call_sender(voice: Harness) -> None:
    call = voice.call(caller="anonymous")
    await call.send()
    await call.send(Digits="1")
    assert voice.bot.received[0].sender_id == keyed_id("voice", f"anonymous:{call.sid}")


# --- configuration and the real SMS sender ---------------------------------------------------


def test_bad_voice_configuration_names_the_variable() -> None:
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="VOICE_AR"):
        VoiceSettings(public_base_url=BASE, voice_ar="Zeina")
    with pytest.raises(ConfigError, match="VOICE_EN_LOCALE"):
        VoiceSettings(public_base_url=BASE, locale_en="english")
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        VoiceSettings(public_base_url="ivr.example.jo")


def test_hints_respect_twilios_limits_and_carry_catalogue_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from channels.twilio_voice import load_entity_hints

    catalogue = tmp_path / "catalogue.yml"
    lines = ["sectors:", "  - id: water", "    entities:"]
    for i in range(700):
        lines += [f"      - id: e{i}", f'        name_ar: "جهة، رقم {i}"', f'        name_en: "Entity, number {i}"']
    catalogue.write_text("\n".join(lines), encoding="utf-8")
    names = load_entity_hints(catalogue)
    settings = VoiceSettings(public_base_url=BASE, entity_hints=names)
    body = render([MAIN_MENU_EN], {"mode": "bot", "lang": "en", "step": 2}, settings)
    hints = re.search(r'hints="([^"]*)"', body).group(1)  # type: ignore[union-attr]
    entries = hints.split(",")
    assert len(entries) == 500 and all(len(e) <= 100 for e in entries)
    assert entries[:2] == ["Ask the government", "Suggestion"] and "Entity number 0" in entries


@pytest.mark.asyncio
async def test_from_credentials_sends_the_sms_through_twilio_rest_api(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[dict[str, Any]] = []

    async def messages(request: web.Request) -> web.Response:
        seen.append({"path": request.path, "form": dict(await request.post())})
        return web.json_response({"sid": "SM" + "a" * 32, "status": "queued"}, status=201)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        monkeypatch.setenv("TWILIO_API_BASE_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("TWILIO_SMS_FROM", "+15005550006")
        channel = TwilioVoiceInput.from_credentials(
            {"account_sid": "AC" + "2" * 32, "auth_token": TOKEN, "public_base_url": BASE,
             "channel_state_url": f"sqlite:///{tmp_path / 'cs.db'}", "hints_catalogue": str(tmp_path / "none.yml")}
        )
        assert channel.name() == "twilio_voice"
        channel.send_reference_sms(CALLER, REF, "en")
        await channel.drain()
        await asyncio.sleep(0)
    finally:
        await runner.cleanup()
    assert seen == [{
        "path": f"/2010-04-01/Accounts/AC{'2' * 32}/Messages.json",
        "form": {"To": CALLER, "From": "+15005550006",
                 "Body": f"Bekhedmetkom: your request number is {refcode.format_grouped(REF)}. Keep it to follow up."},
    }]


# --- hostile input (issue 10 items 2 and 5) ---------------------------------------------------


@pytest.mark.asyncio
async def test_spoken_or_keyed_commands_never_reach_rasa_as_commands(voice: Harness) -> None:
    voice.bot.reply = lambda m: [{"text": "كيف بقدر أساعدك؟"}]  # an open question: speech goes to NLU
    call = voice.call()
    await call.send()
    await call.send(Digits="1")
    for said in ["/ /affirm", "/\n/human_handoff", '/ /inform{"sector":"health"}']:
        await call.send(SpeechResult=said)
    await call.send(Digits="/affirm")  # a keypad has no slash: only 0-9 * # reach the bot
    typed = voice.bot.texts[1:]
    assert typed and all(not t.strip().startswith("/") for t in typed), typed


@pytest.mark.asyncio
async def test_an_oversized_callback_is_413_and_stores_nothing(voice: Harness) -> None:
    params = {"CallSid": "CA" + uuid.uuid4().hex, "From": CALLER, "SpeechResult": "ا" * 70_000}
    status, _ = await voice.post(params)
    assert status == 413
    assert voice.bot.received == []
    with sqlite3.connect(voice.state_url.removeprefix("sqlite:///")) as db:
        assert db.execute("select count(*) from channel_deliveries").fetchone()[0] == 0


# --- the per-turn deadline (issue 16: answer before Twilio's 15 s) ------------------------------


PENDING = "/webhooks/twilio_voice/pending"
ONE_MOMENT = {"ar": f"{ZEINA}لحظة من فضلك.</Say>", "en": f"{JOANNA}One moment, please.</Say>"}


def one_moment(lang: str, step: int, wait: int) -> str:
    return (
        f'{XML}<Response>{ONE_MOMENT[lang]}<Pause length="2" />'
        f'<Redirect method="POST">{BASE}{PENDING}?step={step}&amp;wait={wait}</Redirect></Response>'
    )


def main_menu_en(step: int) -> str:
    return (
        f"{XML}<Response>{gather(step, 'en', hints='Ask the government,Suggestion,Compliment,Complaint,Report a violation,Check a request,agent,operator', num_digits=True)}"
        f"{JOANNA}How can I help you?</Say>{JOANNA}To ask the government, press 1. For a suggestion, press 2. "
        "For a compliment, press 3. For a complaint, press 4. To report a violation, press 5. "
        "To follow up on a request, press 6. To speak with an agent, press 0.</Say></Gather></Response>"
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(("digit", "lang"), [("1", "ar"), ("2", "en")])
async def test_a_slow_turn_answers_one_moment_in_time_then_the_redirect_serves_the_answer_once(
    voice: Harness, digit: str, lang: str,
) -> None:
    voice.channel.settings = replace(SETTINGS, turn_deadline=1.0)
    voice.bot.reply = lambda m: [MAIN_MENU_AR if lang == "ar" else MAIN_MENU_EN]
    call = voice.call()
    await call.send()
    voice.bot.delay = 1.5  # the bot's turn outlasts the deadline
    started = time.monotonic()
    first = await call.send(Digits=digit)
    answered_after = time.monotonic() - started
    assert first == one_moment(lang, step=1, wait=1)
    assert answered_after < 1.5, answered_after  # before the turn finished, at the deadline
    # Twilio follows the <Redirect> (a signed POST with the call's parameters, no input).
    status, body = await voice.post({"CallSid": call.sid, "From": CALLER}, query="?step=1&wait=1", path=PENDING)
    assert status == 200
    assert body == (main_menu_ar(step=2) if lang == "ar" else main_menu_en(step=2))
    # The turn ran once; a late retry of the step (de-duplicated on CallSid+step) gets the same answer.
    call.next_query = "?step=1"
    assert await call.send(Digits=digit) == body
    assert voice.bot.texts == [f'/switch_language{{"language":"{lang}"}}']
    # The call goes on from the answer's step.
    voice.bot.delay = 0.0
    call.next_query = "?step=2"
    await call.send(Digits="4")
    assert voice.bot.texts[-1] == "/complain"


@pytest.mark.asyncio
async def test_a_turn_that_never_finishes_is_waited_for_a_bounded_number_of_times(voice: Harness) -> None:
    voice.channel.settings = replace(SETTINGS, turn_deadline=0.2)
    call = voice.call()
    await call.send()
    voice.bot.delay = 3.0
    assert await call.send(Digits="1") == one_moment("ar", step=1, wait=1)
    for wait in (1, 2):
        status, body = await voice.post({"CallSid": call.sid, "From": CALLER}, query=f"?step=1&wait={wait}", path=PENDING)
        assert (status, body) == (200, one_moment("ar", step=1, wait=wait + 1))
    status, body = await voice.post({"CallSid": call.sid, "From": CALLER}, query="?step=1&wait=3", path=PENDING)
    assert (status, body) == (
        200,
        f"{XML}<Response>{ZEINA}عذراً، حدث خلل فني لدينا. نرجو أن تتصل بنا لاحقاً.</Say><Hangup /></Response>",
    )
    assert len(voice.bot.received) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ["?step=1&wait=x", "?step=1", "?step=1&wait=9", "?step=999&wait=1"])
async def test_the_pending_route_is_signed_and_refuses_bad_queries(voice: Harness, query: str) -> None:
    params = {"CallSid": "CA" + uuid.uuid4().hex, "From": CALLER}
    assert (await voice.post(params, query="?step=1&wait=1", path=PENDING, signature=None))[0] == 403
    assert (await voice.post(params, query=query, path=PENDING))[0] == 400
    assert (await voice.post({**params, "SpeechResult": "ا" * 70_000}, query="?step=1&wait=1", path=PENDING))[0] == 413
    assert voice.bot.received == []


def test_the_turn_deadline_must_leave_time_before_twilios_15_seconds() -> None:
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="VOICE_TURN_DEADLINE_SECONDS"):
        VoiceSettings(public_base_url=BASE, turn_deadline=14)
    with pytest.raises(ConfigError, match="VOICE_TURN_DEADLINE_SECONDS"):
        VoiceSettings(public_base_url=BASE, turn_deadline=0)


def test_call_state_encrypted_before_versioned_keys_still_opens(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import base64
    import hashlib
    import hmac

    from cryptography.fernet import Fernet

    from bot.settings import secret
    from channels.twilio_voice.state import call_state_cipher

    cipher = call_state_cipher()
    # The first format: Fernet under sha256(label + hex HMAC of SENDER_ID_KEY), no version prefix.
    old_secret = hmac.new(secret("SENDER_ID_KEY").encode(), b"twilio_voice call state", hashlib.sha256).hexdigest()
    key = base64.urlsafe_b64encode(hashlib.sha256(b"bekhedmetkom-field-encryption:" + old_secret.encode()).digest())
    assert cipher.decrypt(Fernet(key).encrypt(b'{"step": 3}').decode()) == '{"step": 3}'
    assert (cipher.encrypt("x") or "").startswith("v2:")
