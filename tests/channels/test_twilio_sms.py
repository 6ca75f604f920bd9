"""channels.twilio_sms: signature checks, TwiML answers, numbered choices, keywords, opt-out, MMS,
and outbound SMS recorded by a local stand-in for Twilio's REST API.

Requests are signed exactly as Twilio signs them: RequestValidator.compute_signature over the
public URL (PUBLIC_BASE_URL + path + query) and the POSTed form parameters.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode

import aiohttp
import pytest
from aiohttp import web
from rasa.core.channels.channel import UserMessage
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.channel_state import deliveries, sender_state
from bot.choices import asks_for_more
from bot.launcher import free_port
from bot.privacy import keyed_id, open_address
from channels.common import FormParams, sms_segments
from channels.twilio_sms import (
    SMS_REPLY_SEGMENTS,
    Keyword,
    TwilioSmsInput,
    keyword,
    next_page,
    parse_inbound,
    render_sms,
    render_twiml,
)

FIXTURES = Path(__file__).parent / "fixtures"
AUTH_TOKEN = "test-twilio-auth-token-0123456789"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC = "https://bekh.example.jo"
PATH = "/webhooks/twilio_sms/webhook"
PHONE = "+962791234567"
MENU = [
    {"title": "اسأل الحكومة", "payload": "/ask_government"},
    {"title": "اقتراح", "payload": "/suggest"},
    {"title": "ثناء", "payload": "/compliment"},
    {"title": "شكوى", "payload": "/complain"},
    {"title": "إبلاغ عن مخالفة", "payload": "/report_violation"},
    {"title": "متابعة طلب", "payload": "/check_status"},
    {"title": "التحدث مع موظف", "payload": "/human_handoff"},
]
MENU_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>كيف بقدر أساعدك؟\n'
    "1. اسأل الحكومة\n2. اقتراح\n3. ثناء\n4. شكوى\n5. إبلاغ عن مخالفة\n6. متابعة طلب\n7. التحدث مع موظف\n"
    "أرسل رقم اختيارك.</Message></Response>"
)
EMPTY_XML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def fixture(name: str) -> dict[str, str]:
    return json.loads((FIXTURES / name).read_text())


class Recorder:
    """Stands in for api.twilio.com: records form posts, answers like the Messages resource."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in parse_qs((await request.read()).decode(), keep_blank_values=True).items()}
        self.requests.append({"method": request.method, "path": request.path, "headers": dict(request.headers), "form": form})
        sid = f"SM{len(self.requests):032d}"
        return web.json_response({"sid": sid, "status": "queued", "to": form.get("To", [""])[0], "body": form.get("Body", [""])[0]},
                                 status=201)


@contextlib.asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serve(channel: Any, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> AsyncIterator[str]:
    from rasa.core.run import configure_app
    from sanic import Sanic

    Sanic.test_mode = True
    app = configure_app([channel], enable_api=False, use_uvloop=False)
    app.ctx.agent = SimpleNamespace(handle_message=on_new_message)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await channel.drain()
        server.close()
        await server.wait_closed()


def make_channel(tmp_path: Path, api: str | None = None, **kw: Any) -> TwilioSmsInput:
    return TwilioSmsInput.from_credentials(
        {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "sms_from": "+15017122661",
            "public_base_url": PUBLIC,
            "api_base_url": api or "http://127.0.0.1:9",
            "state_url": f"sqlite:///{tmp_path / 'state.db'}",
            **kw,
        }
    )


class Agent:
    def __init__(self, delay: float = 0.0, buttons: list[dict[str, str]] | None = MENU, text: str = "كيف بقدر أساعدك؟") -> None:
        self.messages: list[UserMessage] = []
        self.delay, self.buttons, self.text = delay, buttons, text

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.buttons:
            await message.output_channel.send_text_with_buttons(message.sender_id, self.text, list(self.buttons))
        else:
            await message.output_channel.send_text_message(message.sender_id, self.text)


def sms(body: str, sid: str = "SM00000000000000000000000000000001", **extra: str) -> dict[str, str]:
    params = fixture("twilio_sms_inbound.json")
    params.update({"Body": body, "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, **extra})
    return params


async def post(base: str, params: dict[str, str], *, url: str = PUBLIC + PATH, token: str = AUTH_TOKEN,
               signature: str | None = None, sign: bool = True, query: str = "", send: dict[str, str] | None = None) -> tuple[int, str, str]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = signature or RequestValidator(token).compute_signature(url + (f"?{query}" if query else ""), params)
    async with aiohttp.ClientSession() as session:
        target = f"{base}{PATH}" + (f"?{query}" if query else "")
        async with session.post(target, data=urlencode(send if send is not None else params), headers=headers) as resp:
            return resp.status, await resp.text(), resp.headers.get("Content-Type", "")


def stored_rows(channel: TwilioSmsInput) -> tuple[int, int]:
    with channel.state.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(deliveries)).scalar_one(),
            conn.execute(select(func.count()).select_from(sender_state)).scalar_one(),
        )


# --- verification --------------------------------------------------------------------------------

@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["missing", "wrong_token", "tampered", "wrong_url", "extra_param"])
async def test_unverified_posts_get_403_and_leave_no_trace(tmp_path: Path, case: str) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    params = sms("مرحبا")
    async with serve(channel, agent) as base:
        if case == "missing":
            result = await post(base, params, sign=False)
        elif case == "wrong_token":
            result = await post(base, params, token="not-the-auth-token")
        elif case == "tampered":
            result = await post(base, params, send={**params, "Body": "حالة 4829103756"})
        elif case == "wrong_url":
            result = await post(base, params, url="https://attacker.example" + PATH)
        else:
            result = await post(base, params, send={**params, "NumMedia": "1", "MediaUrl0": "https://x"})
    assert result[0] == 403
    assert agent.messages == []
    assert stored_rows(channel) == (0, 0)


@pytest.mark.asyncio
async def test_signed_request_with_query_string_and_twiml_answer(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    async with serve(channel, agent) as base:
        status, body, ctype = await post(base, sms("مرحبا"), query="src=jo")
    assert status == 200 and ctype.startswith("text/xml")
    assert body == MENU_XML
    (message,) = agent.messages
    assert message.text == "مرحبا"
    assert message.sender_id == keyed_id("twilio_sms", PHONE) and PHONE not in message.sender_id
    assert message.input_channel == "twilio_sms"
    assert message.message_id == "SM00000000000000000000000000000001"
    assert message.metadata["channel"] == "sms"
    assert PHONE not in str(message.metadata), "the phone travels sealed, never in clear"
    assert open_address(message.metadata["reply_address"]) == PHONE


@pytest.mark.asyncio
async def test_malformed_form_after_verification_is_400(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    params = {k: v for k, v in sms("hi").items() if k != "From"}
    async with serve(channel, agent) as base:
        assert (await post(base, params))[0] == 400
    assert agent.messages == []


@pytest.mark.asyncio
async def test_replayed_message_sid_gives_one_turn(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    async with serve(channel, agent) as base:
        bodies = [(await post(base, sms("مرحبا", sid="SMreplay")))[1] for _ in range(5)]
    assert bodies == [MENU_XML] + [EMPTY_XML] * 4
    assert len(agent.messages) == 1


# --- choices and keywords ------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_numbered_choices_map_to_payloads_incl_arabic_indic_digits(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    async with serve(channel, agent) as base:
        await post(base, sms("مرحبا", sid="SM1"))
        await post(base, sms("4", sid="SM2"))
        await post(base, sms("٢", sid="SM3"))
        _, body, _ = await post(base, sms("9", sid="SM4"))
    assert [m.text for m in agent.messages] == ["مرحبا", "/complain", "/suggest"]
    assert body == '<?xml version="1.0" encoding="UTF-8"?><Response><Message>يُرجى إرسال رقم من 1 إلى 7.</Message></Response>'


@pytest.mark.asyncio
async def test_a_number_without_an_offered_list_is_plain_text(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent(buttons=None, text="شو رقم هاتفك؟")
    async with serve(channel, agent) as base:
        await post(base, sms("مرحبا", sid="SM1"))
        await post(base, sms("3", sid="SM2"))
    assert [m.text for m in agent.messages] == ["مرحبا", "3"]


def test_keywords() -> None:
    assert keyword("STATUS 482 910 3756") == Keyword("status", "en", "4829103756")
    assert keyword("status: 482-910-3756") == Keyword("status", "en", "4829103756")
    assert keyword("حالة 4829103756") == Keyword("status", "ar", "4829103756")
    assert keyword("حالة ٤٨٢ ٩١٠ ٣٧٥٦") == Keyword("status", "ar", "4829103756")
    assert keyword("Status") == Keyword("status", "en")
    assert keyword("حالة الطريق سيئة") is None
    assert keyword("HELP") == Keyword("help", "en") and keyword("مساعدة") == Keyword("help", "ar")
    for word in ("STOP", "stop", "StopAll", "UNSUBSCRIBE", "cancel", "END", "quit", " Stop. "):
        assert keyword(word) == Keyword("stop", "en"), word
    assert keyword("توقف") == Keyword("stop", "ar")
    assert keyword("إلغاء الاشتراك") == Keyword("stop", "ar") and keyword("الغاء الاشتراك") == Keyword("stop", "ar")
    for word in ("START", "yes", "UNSTOP"):
        assert keyword(word) == Keyword("start", "en"), word
    assert keyword("ابدأ") == Keyword("start", "ar")
    # cancelling inside a form is the `cancel` intent, not an opt-out
    assert keyword("الغي") is None and keyword("الغي الطلب") is None and keyword("please stop the noise") is None


@pytest.mark.asyncio
async def test_keywords_reach_rasa_as_intents(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent(buttons=None, text="ok")
    async with serve(channel, agent) as base:
        await post(base, sms("STATUS 482 910 3756", sid="SM1"))
        await post(base, sms("حالة ٤٨٢٩١٠٣٧٥٦", sid="SM2"))
        await post(base, sms("HELP", sid="SM3"))
        await post(base, sms("مساعدة", sid="SM4"))
        await post(base, sms("الغي", sid="SM5"))
        await post(base, sms('/complain{"entity": "x"}', sid="SM6"))
    assert [m.text for m in agent.messages] == [
        '/check_status{"reference": "4829103756"}',
        '/check_status{"reference": "4829103756"}',
        "/help",
        "/help",
        "الغي",
        'complain{"entity": "x"}',
    ]


@pytest.mark.asyncio
async def test_stop_silences_everything_until_start(tmp_path: Path) -> None:
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url), Agent()
        out = channel.get_output_channel()
        async with serve(channel, agent) as base:
            assert (await post(base, sms("STOP", sid="SM1")))[1] == EMPTY_XML  # Twilio confirms STOP itself
            assert (await post(base, sms("مرحبا", sid="SM2")))[1] == EMPTY_XML
            assert (await post(base, sms("STATUS 4829103756", sid="SM3")))[1] == EMPTY_XML
            assert await out.send_sms("0791234567", "تم الرد على طلبك") == []
            assert rec.requests == []
            assert (await post(base, sms("START", sid="SM4")))[1] == EMPTY_XML
            assert (await post(base, sms("مرحبا", sid="SM5")))[1] == MENU_XML
            stop_ar = (await post(base, sms("توقف", sid="SM6")))[1]
            assert (await post(base, sms("1", sid="SM7")))[1] == EMPTY_XML
            start_ar = (await post(base, sms("ابدأ", sid="SM8")))[1]
            assert len(await out.send_sms(PHONE, "تم الرد على طلبك")) == 1  # queued, then sent at once
            assert [r["form"]["Body"] for r in rec.requests] == [["تم الرد على طلبك"]]
    assert [m.text for m in agent.messages] == ["مرحبا"]
    assert "تم إيقاف الرسائل" in stop_ar and "ابدأ" in stop_ar
    assert "تم تفعيل الرسائل" in start_ar
    assert len(rec.requests) == 1


# --- MMS and bad input ---------------------------------------------------------------------------

def test_parse_mms_media() -> None:
    inbound = parse_inbound(FormParams({k: [v] for k, v in fixture("twilio_mms_inbound.json").items()}))
    assert inbound.phone == PHONE and inbound.body == "صورة الحفرة"
    assert [a.as_dict() for a in inbound.attachments] == [
        {"url": fixture("twilio_mms_inbound.json")["MediaUrl0"], "media_type": "image/jpeg"},
        {"url": fixture("twilio_mms_inbound.json")["MediaUrl1"], "media_type": "application/pdf"},
    ]
    assert inbound.unsupported_media == 1  # the video


@pytest.mark.asyncio
async def test_mms_attachments_in_metadata_and_video_only_is_refused(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent(buttons=None, text="وصلت")
    mms = fixture("twilio_mms_inbound.json")
    video_only = {**sms("", sid="MMvideo"), "NumMedia": "1", "MediaUrl0": "https://api.twilio.com/x", "MediaContentType0": "video/mp4"}
    async with serve(channel, agent) as base:
        await post(base, mms)
        _, refused, _ = await post(base, video_only)
    (message,) = agent.messages
    assert message.text == "صورة الحفرة"
    assert [a["media_type"] for a in message.metadata["attachments"]] == ["image/jpeg", "application/pdf"]
    assert "attachment_only" not in message.metadata  # a caption is real text
    assert "لا يمكنني فتح هذا النوع من المرفقات" in refused


@pytest.mark.asyncio
async def test_bad_input_gets_a_localised_answer_and_changes_nothing(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    async with serve(channel, agent) as base:
        _, long_ar, _ = await post(base, sms("شكوى " * 2000, sid="SM1"))
        _, long_en, _ = await post(base, sms("I want to complain about the water supply " * 250, sid="SM2"))
        _, empty, _ = await post(base, sms("  ", sid="SM3"))
    assert agent.messages == []
    assert "رسالتك طويلة" in long_ar
    assert "Your message is too long" in long_en
    assert "لم يصلني أي نص" in empty


# --- rendering -----------------------------------------------------------------------------------

def test_render_twiml_exact_xml() -> None:
    assert render_twiml([]) == EMPTY_XML
    assert render_twiml(["Your reference: 482 910 3756 & keep it <safe>"]) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Your reference: 482 910 3756 &amp; keep it '
        "&lt;safe&gt;</Message></Response>"
    )


def test_render_sms_joins_a_turn_and_remembers_the_last_choices() -> None:
    rendered = render_sms(
        [
            {"recipient_id": "x", "text": "Thank you."},
            {"recipient_id": "x", "text": "Was it urgent?", "buttons": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]},
        ]
    )
    assert rendered.bodies == ["Thank you.\n\nWas it urgent?\n1. Yes\n2. No\nReply with the number of your choice."]
    assert rendered.choices == ["/affirm", "/deny"] and rendered.language == "en"
    long = render_sms([{"text": "نص طويل جداً. " * 200}])
    assert len(long.bodies) == 2 and all(len(b) <= 1600 for b in long.bodies) and long.choices is None



SECTORS_AR = ["الأحوال المدنية والجوازات والإقامة", "النقل والترخيص والسير", "البلديات والخدمات المحلية", "المياه والري",
              "الطاقة والكهرباء", "الصحة", "التعليم", "العمل والحماية الاجتماعية", "المالية والضرائب والجمارك",
              "الداخلية والأمن", "العدل والنزاهة والرقابة", "الاقتصاد والتجارة والاستثمار", "الزراعة والبيئة"]


def test_a_list_too_long_for_two_sms_goes_a_page_at_a_time_numbered_on() -> None:
    buttons = [{"title": title, "payload": f"/pick{i}"} for i, title in enumerate(SECTORS_AR, start=1)]
    rendered = render_sms([{"text": "ما القطاع؟", "buttons": buttons}])
    # the whole list stays pickable by number; only what is shown is cut
    assert rendered.choices == [b["payload"] for b in buttons]
    (first,) = rendered.bodies
    pages, page = [first], rendered.page
    while page is not None:
        body, page = next_page(page)
        pages.append(body)
    assert len(pages) > 1 and all(sms_segments(p) <= SMS_REPLY_SEGMENTS for p in pages), [sms_segments(p) for p in pages]
    shown = [line for p in pages for line in p.splitlines() if line[:1].isdigit() and not line.startswith("0. ")]
    assert shown == [f"{i}. {title}" for i, title in enumerate(SECTORS_AR, start=1)]  # each once, in order
    assert all("\n0. المزيد" in p for p in pages[:-1]) and not any(line.startswith("0. ") for line in pages[-1].splitlines())
    assert pages[0].startswith("ما القطاع؟") and pages[0].rstrip().endswith("أرسل رقم اختيارك.")  # how to answer, once
    assert not any("أرسل رقم اختيارك." in p for p in pages[1:])
    # what comes before the list in the same turn does not change how it is cut
    after_thanks = render_sms([{"text": "شكراً لك، وصلنا وصف طلبك."}, {"text": "ما القطاع؟", "buttons": buttons}])
    assert after_thanks.bodies == ["شكراً لك، وصلنا وصف طلبك.\n\n" + first] and after_thanks.page == rendered.page


def test_two_lists_in_one_turn_are_numbered_as_one_so_a_number_picks_one_thing() -> None:
    """A name typed with a slip at the sector question gets "did you mean one of these bodies?"
    above the sector list: numbered 1-2 and 3-..., a typed 2 picks the second body, not a sector."""
    bodies = [{"title": "وزارة الصحة", "payload": '/inform{"entity_name": "moh"}'},
              {"title": "مستشفى الجامعة الأردنية", "payload": '/inform{"entity_name": "juh"}'}]
    sectors = [{"title": title, "payload": f"/pick{i}"} for i, title in enumerate(SECTORS_AR, start=1)]
    rendered = render_sms([{"text": "هل تقصد إحدى هذه الجهات؟", "buttons": bodies}, {"text": "ما القطاع؟", "buttons": sectors}])
    assert rendered.choices == [b["payload"] for b in bodies + sectors]
    (body,) = rendered.bodies
    assert "1. وزارة الصحة\n2. مستشفى الجامعة الأردنية" in body and "\n3. الأحوال المدنية والجوازات والإقامة" in body
    assert "\n1. الأحوال" not in body
    assert rendered.page is not None
    more, _ = next_page(rendered.page)
    first = int(more.split(".", 1)[0])  # the sector list's next page goes on numbering after both lists
    assert rendered.choices[first - 1] == sectors[first - 3]["payload"]
    assert more.splitlines()[0] == f"{first}. {sectors[first - 3]['title']}"


def test_a_list_that_fits_on_its_own_is_never_cut_whatever_comes_before_it() -> None:
    topics = [{"title": t, "payload": f"/p{i}"} for i, t in enumerate(
        ["جودة الخدمة", "التأخير", "تعامل الموظفين", "الإجراءات", "البنية التحتية"], start=1)]
    rendered = render_sms([{"text": "يُرجى اختيار أقرب موضوع، فهو يحدد موعد الرد على شكواك."},
                           {"text": "ما الموضوع الرئيسي لشكواك؟", "buttons": topics}])
    assert rendered.page is None and "5. البنية التحتية" in rendered.bodies[0] and "0. " not in rendered.bodies[0]


def test_a_list_that_fits_is_not_paged_and_more_is_read_in_both_languages() -> None:
    short = render_sms([{"text": "Was it urgent?", "buttons": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]}])
    assert short.page is None and "0. " not in short.bodies[0]
    assert [asks_for_more(x) for x in ("0", "٠", " 0 ", "More", "المزيد", "next")] == [True] * 6
    assert [asks_for_more(x) for x in ("10", "1", "no more", "أريد المزيد من الوقت")] == [False] * 4


@pytest.mark.asyncio
async def test_slow_turn_is_answered_by_rest_after_the_webhook_deadline(tmp_path: Path) -> None:
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url, ), Agent(delay=0.6, buttons=None, text="تم استلام طلبك")
        channel.reply_timeout = 0.2
        async with serve(channel, agent) as base:
            _, body, _ = await post(base, sms("مرحبا", sid="SMslow"))
            assert body == EMPTY_XML
            await channel.drain()
    (req,) = rec.requests
    assert req["form"] == {"To": [PHONE], "From": ["+15017122661"], "Body": ["تم استلام طلبك"]}


@pytest.mark.asyncio
async def test_turn_deadline_from_settings_answers_at_once_and_a_retry_of_the_sid_is_absorbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn slower than SMS_TURN_DEADLINE_SECONDS (a slow case store) gets empty TwiML well
    inside Twilio's 15 s; Twilio's retry of the same MessageSid while the turn still runs starts
    no second turn; the reply reaches Twilio's REST API exactly once, through the SMS sender."""
    monkeypatch.setenv("SMS_TURN_DEADLINE_SECONDS", "0.5")
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url), Agent(delay=2.0, buttons=None, text="تم استلام طلبك")
        assert channel.reply_timeout == 0.5
        async with serve(channel, agent) as base:
            started = asyncio.get_running_loop().time()
            status, body, _ = await post(base, sms("نعم", sid="SMslowcasestore"))
            waited = asyncio.get_running_loop().time() - started
            assert (status, body) == (200, EMPTY_XML) and waited < 1.5
            assert rec.requests == []  # the turn is still running in the background
            assert (await post(base, sms("نعم", sid="SMslowcasestore")))[:2] == (200, EMPTY_XML)
            await channel.drain()
            assert (await post(base, sms("نعم", sid="SMslowcasestore")))[:2] == (200, EMPTY_XML)
    assert len(agent.messages) == 1
    (req,) = rec.requests
    assert req["form"] == {"To": [PHONE], "From": ["+15017122661"], "Body": ["تم استلام طلبك"]}


@pytest.mark.parametrize("raw", ["soon", "0", "14", "-3"])
def test_a_turn_deadline_outside_twilios_window_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raw: str) -> None:
    monkeypatch.setenv("SMS_TURN_DEADLINE_SECONDS", raw)
    with pytest.raises(Exception, match="SMS_TURN_DEADLINE_SECONDS"):
        make_channel(tmp_path)


def test_the_default_turn_deadline_leaves_room_inside_twilios_15_seconds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMS_TURN_DEADLINE_SECONDS", raising=False)
    assert make_channel(tmp_path).reply_timeout == 8.0


# --- outbound ------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_send_sms_payload_shape(tmp_path: Path) -> None:
    async with recorder() as rec:
        out = make_channel(tmp_path, rec.url).get_output_channel()
        sids = await out.send_sms("0791234567", "رقم طلبك 482 910 3756")
    (req,) = rec.requests
    assert len(sids) == 1 and sids[0].startswith("queued:")  # the outbox row, sent before send_sms returned
    assert (req["method"], req["path"]) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    assert req["form"] == {"To": [PHONE], "From": ["+15017122661"], "Body": ["رقم طلبك 482 910 3756"]}
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


def test_configuration_is_checked_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEKH_ENV", "production")
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    with pytest.raises(Exception, match="TWILIO_AUTH_TOKEN"):
        TwilioSmsInput.from_credentials({"account_sid": ACCOUNT_SID, "public_base_url": PUBLIC})
    with pytest.raises(Exception, match="PUBLIC_BASE_URL"):
        TwilioSmsInput.from_credentials({"account_sid": ACCOUNT_SID, "auth_token": "x"})
    with pytest.raises(Exception, match="PUBLIC_BASE_URL"):
        TwilioSmsInput.from_credentials({"account_sid": ACCOUNT_SID, "auth_token": "x", "public_base_url": "bekh.jo"})


# --- hostile input (issue 10 items 2 and 5) ---------------------------------------------------

@pytest.mark.asyncio
async def test_typed_commands_in_any_mix_of_slashes_and_spaces_reach_rasa_as_text(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent(buttons=None)
    typed = ["/ /affirm", "/\n/human_handoff", '/ /inform{"sector":"health"}', "/\u3000/\u200f/affirm"]
    async with serve(channel, agent) as base:
        for i, body in enumerate(typed):
            assert (await post(base, sms(body, sid=f"SM{i:032d}")))[0] == 200
    texts = [m.text or "" for m in agent.messages]
    assert len(texts) == len(typed)
    assert all(not t.strip().startswith("/") for t in texts), texts


@pytest.mark.asyncio
async def test_a_from_that_is_not_a_phone_number_is_400_and_stores_nothing(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    async with serve(channel, agent) as base:
        assert (await post(base, sms("hi", From="not a number")))[0] == 400
    assert agent.messages == []
    assert stored_rows(channel) == (0, 0)
