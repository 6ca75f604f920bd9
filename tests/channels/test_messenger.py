"""channels.messenger: verification, parsing, de-duplication, rendering and the Send API payloads.

A real Sanic app (rasa.core.run.configure_app) serves the connector on a loopback port; the
agent is replaced by a coroutine that records UserMessages and answers through the output
channel it is given. A small aiohttp server records what would go to Meta's Graph API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from rasa.core.channels.channel import UserMessage
from sqlalchemy import func, select

from bot.channel_state import deliveries, sender_state, shared
from bot.launcher import free_port
from bot.privacy import keyed_id, open_address
from channels import messenger_profile
from channels.messenger import (
    MAX_TEXT,
    GraphClient,
    MessengerConfigError,
    MessengerInput,
    MessengerOutput,
    parse_events,
    render_reply,
    send_payload,
    signature_for,
    verify_signature,
)

FIXTURES = Path(__file__).parent / "fixtures"
APP_SECRET = "test-app-secret-0123456789"
VERIFY_TOKEN = "test-verify-token"
PAGE_TOKEN = "EAAtestpagetoken"
PSID = "6783920011223344"
MENU = [
    {"title": "اسأل الحكومة", "payload": "/ask_government"},
    {"title": "اقتراح", "payload": "/suggest"},
    {"title": "ثناء", "payload": "/compliment"},
    {"title": "شكوى", "payload": "/complain"},
    {"title": "إبلاغ عن مخالفة", "payload": "/report_violation"},
    {"title": "متابعة طلب", "payload": "/check_status"},
    {"title": "التحدث مع موظف", "payload": "/human_handoff"},
]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


# --- a recorder standing in for the Graph API ----------------------------------------------------

class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "json": json.loads(body) if body else None,
            }
        )
        if request.path.endswith("/messenger_profile"):
            return web.json_response({"result": "success"})
        return web.json_response({"recipient_id": "x", "message_id": f"m_out-{len(self.requests)}"})


@contextlib.asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


# --- the connector in a real Sanic app -----------------------------------------------------------

Handler = Callable[[UserMessage], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(channel: Any, on_new_message: Handler) -> AsyncIterator[str]:
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


def make_channel(tmp_path: Path, graph_url: str = "http://127.0.0.1:9") -> MessengerInput:
    return MessengerInput.from_credentials(
        {
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "page_access_token": PAGE_TOKEN,
            "graph_url": graph_url,
            "state_url": f"sqlite:///{tmp_path / 'state.db'}",
        }
    )


class Agent:
    """Records UserMessages; answers with the main menu (Arabic) through the given output."""

    def __init__(self, delay: float = 0.0, reply: bool = True, buttons: list[dict[str, str]] | None = None) -> None:
        self.messages: list[UserMessage] = []
        self.delay = delay
        self.reply = reply
        self.buttons = MENU if buttons is None else buttons

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reply:
            await message.output_channel.send_text_with_buttons(message.sender_id, "كيف بقدر أساعدك؟", list(self.buttons))


async def post(base: str, payload: Any, *, secret: str = APP_SECRET, raw: bytes | None = None, sign: bool = True,
               signature: str | None = None) -> tuple[int, str]:
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if sign:
        headers["X-Hub-Signature-256"] = signature or signature_for(secret, body)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/webhooks/messenger/webhook", data=body, headers=headers) as resp:
            return resp.status, await resp.text()


def stored_rows(channel: MessengerInput) -> tuple[int, int]:
    with channel.state.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(deliveries)).scalar_one(),
            conn.execute(select(func.count()).select_from(sender_state)).scalar_one(),
        )


def text_event(mid: str, text: str, psid: str = PSID) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": "104857600000001",
                "time": 1700000000000,
                "messaging": [
                    {"sender": {"id": psid}, "recipient": {"id": "104857600000001"}, "timestamp": 1700000000000,
                     "message": {"mid": mid, "text": text}}
                ],
            }
        ],
    }


# --- verification --------------------------------------------------------------------------------

def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"object":"page","entry":[]}'
    good = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verify_signature(APP_SECRET, body, good)
    assert not verify_signature(APP_SECRET, body, None)
    assert not verify_signature(APP_SECRET, body, "")
    assert not verify_signature(APP_SECRET, body + b" ", good)  # tampered body
    assert not verify_signature("another-secret", body, good)
    assert not verify_signature(APP_SECRET, body, "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest())
    assert not verify_signature(APP_SECRET, body, good.upper())


@pytest.mark.asyncio
async def test_handshake_echoes_the_challenge_only_for_the_right_token(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    async with serve(channel, Agent()) as base, aiohttp.ClientSession() as session:
        url = f"{base}/webhooks/messenger/webhook"
        ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
        async with session.get(url, params=ok) as resp:
            assert (resp.status, await resp.text()) == (200, "1158201444")
        async with session.get(url, params={**ok, "hub.verify_token": "wrong"}) as resp:
            assert resp.status == 403
        async with session.get(url, params={**ok, "hub.mode": "unsubscribe"}) as resp:
            assert resp.status == 403
        async with session.get(url) as resp:
            assert resp.status == 403


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["missing", "wrong_secret", "tampered", "sha1", "garbage"])
async def test_unverified_posts_get_403_and_leave_no_trace(tmp_path: Path, case: str) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    payload = fixture("messenger_batch.json")
    body = json.dumps(payload).encode()
    async with serve(channel, agent) as base:
        if case == "missing":
            status, _ = await post(base, payload, sign=False)
        elif case == "wrong_secret":
            status, _ = await post(base, payload, secret="not-the-app-secret")
        elif case == "tampered":
            status, _ = await post(base, None, raw=body.replace(b"6783920011223344", b"6783920011223345"),
                                   signature=signature_for(APP_SECRET, body))
        elif case == "sha1":
            status, _ = await post(base, None, raw=body,
                                   signature="sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest())
        else:
            status, _ = await post(base, None, raw=b"not json", signature="sha256=zz")
        # The positive signal: a genuine event posted afterwards is handled (serve() drains the
        # channel's tasks on exit), so anything the refused post had started would be seen too.
        assert (await post(base, text_event("m_genuine-1", "مرحبا", "9988776655")))[0] == 200
    assert status == 403
    assert [(m.text, m.sender_id) for m in agent.messages] == [("مرحبا", keyed_id("messenger", "9988776655"))]
    assert stored_rows(channel) == (1, 1), "the genuine event's row only"


@pytest.mark.asyncio
async def test_malformed_json_after_verification_is_400_and_oversized_is_413(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    async with serve(channel, agent) as base:
        assert (await post(base, None, raw=b"{not json"))[0] == 400
        assert (await post(base, {"object": "page", "entry": "nope"}))[0] == 400
        big = json.dumps(text_event("m_big", "x" * 300_000)).encode()
        assert (await post(base, None, raw=big))[0] == 413
    assert agent.messages == []
    assert stored_rows(channel) == (0, 0)


# --- parsing -------------------------------------------------------------------------------------

def test_parse_events_keeps_every_event_of_a_batch_and_drops_receipts_and_echoes() -> None:
    events = parse_events(fixture("messenger_batch.json"))
    assert [(e.psid, e.kind, e.mid) for e in events] == [
        ("6783920011223344", "text", "m_batch-1"),
        ("6783920011223344", "text", "m_batch-2"),
        ("5550001112223334", "text", "m_batch-3"),
        ("5550001112223334", "payload", "m_batch-4"),
    ]
    assert events[3].payload == "/greet"


def test_quick_replies_pass_only_our_payloads() -> None:
    events = parse_events(fixture("messenger_quick_reply.json"))
    assert [(e.kind, e.payload, e.text) for e in events] == [
        ("payload", "/complain", "شكوى"),
        ("payload", '/switch_language{"language": "en"}', "English"),
        ("text", None, "عاجل"),  # broken JSON in the payload: read as the typed title
        ("text", None, "نعم"),  # not one of our payloads
    ]


def test_postbacks_get_started_and_foreign_payloads() -> None:
    events = parse_events(fixture("messenger_postback.json"))
    assert [(e.kind, e.payload, e.text) for e in events] == [
        ("payload", "/greet", "Get Started"),
        ("payload", "/complain", "تقديم شكوى"),
        ("text", "OLD_MENU_PAYLOAD", "Old menu item"),
    ]
    # a postback without mid is still de-duplicated (sender + timestamp + payload)
    assert events[1].mid is None and events[1].dedup_key() == parse_events(fixture("messenger_postback.json"))[1].dedup_key()
    assert events[1].dedup_key() != events[0].dedup_key()


def test_attachments_images_and_files_supported_others_not() -> None:
    events = parse_events(fixture("messenger_attachments.json"))
    assert [e.kind for e in events] == ["attachments", "unsupported", "unsupported", "unsupported", "unsupported"]
    assert [a.as_dict() for a in events[0].attachments] == [
        {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/pothole.jpg?_nc_cat=1", "media_type": "image/*"},
        {"url": "https://cdn.fbsbx.com/v/t59.2708-21/receipt.pdf?_nc_cat=1", "media_type": "file"},
    ]


# --- processing ----------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_batch_processes_every_event_with_keyed_ids_and_reply_metadata(tmp_path: Path) -> None:
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url), Agent()
        async with serve(channel, agent) as base:
            status, text = await post(base, fixture("messenger_batch.json"))
    assert (status, text) == (200, "EVENT_RECEIVED")
    assert [m.text for m in agent.messages] == ["مرحبا", "عندي شكوى", "I want to make a suggestion", "/greet"]
    assert [m.message_id for m in agent.messages] == ["m_batch-1", "m_batch-2", "m_batch-3", "m_batch-4"]
    first = agent.messages[0]
    assert first.sender_id == keyed_id("messenger", "6783920011223344") and "6783920011223344" not in first.sender_id
    assert first.input_channel == "messenger"
    assert first.metadata["channel"] == "messenger"
    assert "6783920011223344" not in str(first.metadata), "the PSID travels sealed, never in clear"
    assert open_address(first.metadata["reply_address"]) == "6783920011223344"
    assert len(rec.requests) == 4
    assert {r["json"]["recipient"]["id"] for r in rec.requests} == {"6783920011223344", "5550001112223334"}


@pytest.mark.asyncio
async def test_replayed_delivery_gives_one_turn(tmp_path: Path) -> None:
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url), Agent()
        async with serve(channel, agent) as base:
            statuses = [(await post(base, text_event("m_replay", "عندي شكوى")))[0] for _ in range(5)]
            await channel.drain()
            # the same five deliveries, concurrently this time
            statuses += await asyncio.gather(*[post(base, text_event("m_replay2", "مرحبا")) for _ in range(5)])
    assert statuses[:5] == [200] * 5
    assert [m.text for m in agent.messages] == ["عندي شكوى", "مرحبا"]
    assert len(rec.requests) == 2


@pytest.mark.asyncio
async def test_webhook_answers_fast_while_a_slow_turn_runs(tmp_path: Path) -> None:
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url), Agent(delay=3.0)
        async with serve(channel, agent) as base:
            started = time.monotonic()
            status, _ = await post(base, text_event("m_slow", "مرحبا"))
            elapsed = time.monotonic() - started
            assert status == 200 and elapsed < 1.0
            assert channel._tasks, "the turn runs in a task the channel keeps a reference to"
    assert [m.text for m in agent.messages] == ["مرحبا"] and len(rec.requests) == 1


@pytest.mark.asyncio
async def test_quick_reply_postback_and_attachment_reach_rasa(tmp_path: Path) -> None:
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url), Agent(reply=False)
        async with serve(channel, agent) as base:
            await post(base, fixture("messenger_quick_reply.json"))
            await channel.drain()
            await post(base, fixture("messenger_postback.json"))
            await channel.drain()
            await post(base, fixture("messenger_attachments.json"))
    texts = [m.text for m in agent.messages]
    assert texts[:4] == ["/complain", '/switch_language{"language": "en"}', "عاجل", "نعم"]
    assert texts[4:7] == ["/greet", "/complain", "Old menu item"]
    attachment = agent.messages[7]
    assert attachment.text == "أرسلت مرفقاً"
    assert attachment.metadata["attachment_only"] is True, "the placeholder must not become a description"
    assert attachment.metadata["attachments"] == [
        {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/pothole.jpg?_nc_cat=1", "media_type": "image/*"},
        {"url": "https://cdn.fbsbx.com/v/t59.2708-21/receipt.pdf?_nc_cat=1", "media_type": "file"},
    ]
    assert len(agent.messages) == 8  # audio, sticker, location, link: answered, not passed on
    answers = [r["json"]["message"]["text"] for r in rec.requests]
    assert answers == ["لا يمكنني فتح هذا النوع من المرفقات. يُرجى إرسال صورة أو ملف PDF، أو كتابة رسالتك."] * 4


@pytest.mark.asyncio
async def test_bad_input_gets_a_localised_answer_and_changes_nothing(tmp_path: Path) -> None:
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url), Agent(reply=False)
        async with serve(channel, agent) as base:
            await post(base, text_event("m_long_ar", "شكوى " * 2000))
            await channel.drain()
            await post(base, text_event("m_long_en", "I have a complaint about the water " * 300))
            await channel.drain()
            await post(base, text_event("m_empty", "   "))
            await channel.drain()
            await post(base, text_event("m_slash", '/complain{"entity": "mowe"}'))
    answers = [r["json"]["message"]["text"] for r in rec.requests]
    assert answers[0].startswith("رسالتك طويلة")
    assert answers[1].startswith("Your message is too long")
    assert answers[2] == "لم يصلني أي نص. يُرجى كتابة رسالتك."
    # a typed intent is neutralised to text, not refused
    assert [m.text for m in agent.messages] == ['complain{"entity": "mowe"}']


@pytest.mark.asyncio
async def test_typed_number_picks_an_option_of_a_numbered_list(tmp_path: Path) -> None:
    many = [{"title": f"وزارة رقم {i}", "payload": f'/inform{{"entity": "e{i}"}}'} for i in range(1, 16)]
    async with recorder() as rec:
        channel, agent = make_channel(tmp_path, rec.url), Agent(buttons=many)
        async with serve(channel, agent) as base:
            await post(base, text_event("m_n1", "بدي أقدم شكوى"))
            await channel.drain()
            await post(base, text_event("m_n2", "١٤"))
            await channel.drain()
            await post(base, text_event("m_n3", "99"))
    assert [m.text for m in agent.messages] == ["بدي أقدم شكوى", '/inform{"entity": "e14"}']
    assert rec.requests[-1]["json"]["message"]["text"] == "يُرجى إرسال رقم من 1 إلى 15."
    state = await shared(channel.state_url).get(keyed_id("messenger", PSID))
    assert state["lang"] == "ar" and len(state["choices"]) == 15


# --- rendering -----------------------------------------------------------------------------------

def test_render_short_options_as_quick_replies() -> None:
    rendered = render_reply("كيف بقدر أساعدك؟", MENU)
    assert rendered.choices is None
    assert rendered.messages == [
        {
            "text": "كيف بقدر أساعدك؟",
            "quick_replies": [{"content_type": "text", "title": b["title"], "payload": b["payload"]} for b in MENU],
        }
    ]


def test_render_long_titles_as_numbered_list_with_numbered_quick_replies() -> None:
    buttons = [
        {"title": "جودة الخدمة المقدمة للمواطن", "payload": '/inform{"pillar": "service_quality"}'},
        {"title": "مدة إنجاز المعاملة", "payload": '/inform{"pillar": "delivery_time"}'},
    ]
    rendered = render_reply("شو نوع المشكلة؟", buttons)
    assert rendered.choices == [b["payload"] for b in buttons]
    (message,) = rendered.messages
    assert message["text"] == "شو نوع المشكلة؟\n\n1. جودة الخدمة المقدمة للمواطن\n2. مدة إنجاز المعاملة\n\nأرسل رقم اختيارك."
    assert [q["title"] for q in message["quick_replies"]] == ["1. جودة الخدمة المق…", "2. مدة إنجاز المعام…"]
    assert all(len(q["title"]) <= 20 for q in message["quick_replies"])


def test_render_more_than_13_options() -> None:
    buttons = [{"title": f"Option {i}", "payload": f"/inform{{\"n\": {i}}}"} for i in range(1, 21)]
    rendered = render_reply("Pick one", buttons)
    (message,) = rendered.messages
    assert len(message["quick_replies"]) == 13
    assert "20. Option 20" in message["text"] and message["text"].endswith("Reply with the number of your choice.")
    assert len(rendered.choices or []) == 20


def test_render_splits_text_over_2000_characters_and_keeps_quick_replies_last() -> None:
    text = ("هذه جملة طويلة عن الخدمة. " * 200).strip()
    rendered = render_reply(text, MENU[:2])
    assert len(rendered.messages) >= 3
    assert all(len(m["text"]) <= MAX_TEXT for m in rendered.messages)
    assert "quick_replies" in rendered.messages[-1] and all("quick_replies" not in m for m in rendered.messages[:-1])
    assert " ".join(m["text"] for m in rendered.messages) == text


def test_send_payload_shapes() -> None:
    assert send_payload("123", {"text": "hi"}) == {"recipient": {"id": "123"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
    assert send_payload("123", {"text": "hi"}, notification=True) == {
        "recipient": {"id": "123"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "ACCOUNT_UPDATE",
        "message": {"text": "hi"},
    }


# --- outbound, recorded --------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_send_api_calls_carry_version_token_and_appsecret_proof() -> None:
    async with recorder() as rec:
        bot = GraphClient(PAGE_TOKEN, APP_SECRET, rec.url, "v21.0")
        out = MessengerOutput(bot, PSID)
        await out.send_text_with_buttons("keyed-id-not-a-psid", "How can I help?", MENU[:2])
        await out.send_notification(PSID, "Your request 482 910 3756 was answered.")
    proof = hmac.new(APP_SECRET.encode(), PAGE_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert [(r["method"], r["path"], r["query"]) for r in rec.requests] == [
        ("POST", "/v21.0/me/messages", {"access_token": PAGE_TOKEN, "appsecret_proof": proof})
    ] * 2
    assert rec.requests[0]["json"] == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {
            "text": "How can I help?",
            "quick_replies": [
                {"content_type": "text", "title": "اسأل الحكومة", "payload": "/ask_government"},
                {"content_type": "text", "title": "اقتراح", "payload": "/suggest"},
            ],
        },
    }
    assert rec.requests[1]["json"] == {
        "recipient": {"id": PSID},
        "messaging_type": "MESSAGE_TAG",
        "tag": "ACCOUNT_UPDATE",
        "message": {"text": "Your request 482 910 3756 was answered."},
    }


@pytest.mark.asyncio
async def test_messenger_profile_payload_shape() -> None:
    async with recorder() as rec:
        result = await asyncio.to_thread(messenger_profile.apply, GraphClient(PAGE_TOKEN, APP_SECRET, rec.url, "v21.0"))
    assert result == {"result": "success"}
    (req,) = rec.requests
    assert (req["method"], req["path"]) == ("POST", "/v21.0/me/messenger_profile")
    assert set(req["query"]) == {"access_token", "appsecret_proof"}
    body = req["json"]
    assert body["get_started"] == {"payload": "/greet"}
    assert [g["locale"] for g in body["greeting"]] == ["default", "en_US"]
    assert all(len(g["text"]) <= 160 for g in body["greeting"])
    menus = {m["locale"]: m for m in body["persistent_menu"]}
    assert set(menus) == {"default", "en_US"}
    for locale, other in (("default", "en"), ("en_US", "ar")):
        items = menus[locale]["call_to_actions"]
        assert menus[locale]["composer_input_disabled"] is False
        assert [i["payload"] for i in items] == [
            "/ask_government", "/suggest", "/compliment", "/complain", "/report_violation", "/report_human_rights",
            "/check_status", f'/switch_language{{"language": "{other}"}}',
        ]
        assert all(i["type"] == "postback" and 0 < len(i["title"]) <= 30 for i in items)
    assert menus["default"]["call_to_actions"][3]["title"] == "تقديم شكوى"
    assert menus["en_US"]["call_to_actions"][3]["title"] == "File a complaint"


# --- configuration -------------------------------------------------------------------------------

def test_configuration_is_checked_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEKH_ENV", "production")
    monkeypatch.delenv("MESSENGER_APP_SECRET", raising=False)
    with pytest.raises(Exception, match="MESSENGER_APP_SECRET"):
        MessengerInput.from_credentials({"verify_token": "v", "page_access_token": "p"})
    with pytest.raises(MessengerConfigError, match="MESSENGER_GRAPH_VERSION"):
        MessengerInput.from_credentials({"app_secret": "s", "verify_token": "v", "page_access_token": "p", "graph_version": "21"})
    monkeypatch.setenv("MESSENGER_APP_SECRET", "s")
    monkeypatch.setenv("MESSENGER_VERIFY_TOKEN", "v")
    monkeypatch.setenv("MESSENGER_PAGE_ACCESS_TOKEN", "p")
    monkeypatch.setenv("MESSENGER_GRAPH_URL", "http://127.0.0.1:1")
    channel = MessengerInput.from_credentials(None)
    assert channel.bot.graph_url == "http://127.0.0.1:1/v21.0" and channel.name() == "messenger"
    assert parse_qs(urlsplit("http://x/?" + "&".join(f"{k}={v}" for k, v in channel.bot.auth_args.items())).query)


# --- hostile input (issue 10 items 2 and 5) ---------------------------------------------------

TYPED_COMMANDS = ["/ /affirm", "/\n/human_handoff", '/ /inform{"sector":"health"}', "/\u200b/\u00a0/affirm"]


@pytest.mark.asyncio
async def test_typed_commands_in_any_mix_of_slashes_and_spaces_reach_rasa_as_text(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent(reply=False)
    async with serve(channel, agent) as base:
        for i, typed in enumerate(TYPED_COMMANDS):
            assert (await post(base, text_event(f"m_cmd{i}", typed)))[0] == 200
            await channel.drain()
        # A postback whose payload is not ours is read by its title, which is typed text too.
        postback = text_event("m_pb", "")
        postback["entry"][0]["messaging"][0] = {"sender": {"id": PSID}, "timestamp": 1,
                                                 "postback": {"mid": "m_pb", "title": "/ /affirm", "payload": "nope"}}
        assert (await post(base, postback))[0] == 200
    texts = [m.text or "" for m in agent.messages]
    assert len(texts) == len(TYPED_COMMANDS) + 1
    assert all(not t.strip().startswith("/") for t in texts), texts


@pytest.mark.asyncio
async def test_deeply_nested_json_after_verification_is_400_not_500(tmp_path: Path) -> None:
    channel, agent = make_channel(tmp_path), Agent()
    async with serve(channel, agent) as base:
        assert (await post(base, None, raw=b"[" * 5000 + b"]" * 5000))[0] == 400
        assert (await post(base, None, raw=b'{"entry": ' + b"[" * 5000 + b"]" * 5000 + b"}"))[0] == 400
        assert (await post(base, None, raw=b'"a string"'))[0] == 400
        assert (await post(base, None, raw=b"\xff\xfe"))[0] == 400
    assert agent.messages == []
    assert stored_rows(channel) == (0, 0)
