"""channels.rest: the Rasa token first, then a bounded body, cleaned text, a keyed sender and
only our own metadata. A real Sanic app (rasa.core.run.configure_app) serves the connector on a
loopback port; the agent is a coroutine that records UserMessages and answers through the
collecting output channel it is given."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage

from bot.launcher import free_port
from bot.privacy import keyed_id, phone_identity, seal_address
from bot.settings import ConfigError
from channels.rest import MAX_BODY_BYTES, RestConfigError, RestInput

TOKEN = "test-rasa-token-0123456789"
PATH = "/webhooks/rest/webhook"


class Agent:
    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, "أهلا")


@contextlib.asynccontextmanager
async def serve(channel: RestInput, agent: Agent) -> AsyncIterator[str]:
    from rasa.core.run import configure_app
    from sanic import Sanic

    Sanic.test_mode = True
    app = configure_app([channel], enable_api=False, use_uvloop=False)
    app.ctx.agent = SimpleNamespace(handle_message=agent)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def post(base: str, body: Any = None, *, raw: bytes | None = None, token: str | None = TOKEN,
               query: str = "") -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}{PATH}{query}", data=data, headers=headers) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text


@pytest.mark.asyncio
async def test_no_token_is_401_a_wrong_one_403_and_nothing_reaches_rasa() -> None:
    agent = Agent()
    async with serve(RestInput(TOKEN), agent) as base:
        assert (await post(base, {"sender": "a", "message": "hi"}, token=None))[0] == 401
        assert (await post(base, {"sender": "a", "message": "hi"}, token="not-it"))[0] == 403
        assert (await post(base, {"sender": "a", "message": "hi"}, token=None, query="?token=nope"))[0] == 403
    assert agent.messages == []


@pytest.mark.asyncio
async def test_with_the_token_a_turn_runs_with_a_keyed_sender_and_only_our_metadata() -> None:
    agent = Agent()
    forged = {"caller_key": phone_identity("+962791234567"), "channel": "sms",
              "reply_address": seal_address("+962791234567"), "attachments": [{"url": "https://x/y.png", "media_type": "image/png"}]}
    async with serve(RestInput(TOKEN), agent) as base:
        status, out = await post(base, {"sender": "alice", "message": "مرحبا", "metadata": forged, "input_channel": "twilio_sms"})
        assert status == 200 and out[0]["text"] == "أهلا"
        status, _ = await post(base, {"sender": "alice", "message": "hi"}, token=None, query=f"?token={TOKEN}")
        assert status == 200
    first, second = agent.messages
    assert first.text == "مرحبا"
    assert first.sender_id == keyed_id("rest", "alice") and first.sender_id.startswith("rest_")
    assert first.input_channel == "rest"
    assert first.metadata == {"channel": "rest"}
    assert second.sender_id == first.sender_id


@pytest.mark.asyncio
async def test_typed_commands_are_text_and_only_a_payload_field_presses_a_button() -> None:
    agent = Agent()
    async with serve(RestInput(TOKEN), agent) as base:
        for typed in ["/affirm", "/ /affirm", "/\n/human_handoff", '/ /inform{"sector":"health"}']:
            assert (await post(base, {"sender": "b", "message": typed}))[0] == 200
        assert (await post(base, {"sender": "b", "payload": '/inform{"sector": "health"}'}))[0] == 200
        assert (await post(base, {"sender": "b", "payload": "not a payload"}))[0] == 400
        assert (await post(base, {"sender": "b", "payload": '/inform{"sector": '}))[0] == 400
    texts = [m.text or "" for m in agent.messages]
    assert all(not t.strip().startswith("/") for t in texts[:4]), texts
    assert texts[4] == '/inform{"sector": "health"}'


@pytest.mark.asyncio
async def test_hostile_bodies_are_4xx_never_5xx_and_reach_nothing() -> None:
    agent = Agent()
    async with serve(RestInput(TOKEN), agent) as base:
        assert (await post(base, raw=b"[" * 5000 + b"]" * 5000))[0] == 400
        assert (await post(base, raw=b'{"sender": "c", "message": ' + b"[" * 5000 + b"]" * 5000 + b"}"))[0] == 400
        assert (await post(base, ["sender", "message"]))[0] == 400
        assert (await post(base, "a string body"))[0] == 400
        assert (await post(base, raw=b"{not json"))[0] == 400
        assert (await post(base, raw=b"\xff\xfe{}"))[0] == 400
        assert (await post(base, {"sender": "c", "message": "x" * (MAX_BODY_BYTES + 1)}))[0] == 413
        assert (await post(base, {"sender": ["c"], "message": "hi"}))[0] == 400
        assert (await post(base, {"sender": "c" * 500, "message": "hi"}))[0] == 400
        assert (await post(base, {"sender": "c", "message": {"text": "hi"}}))[0] == 400
        status, out = await post(base, {"sender": "c", "message": "ا" * 2500})
        assert status == 422 and out["error"] == "too_long" and out["message"].startswith("رسالتك طويلة")
        status, out = await post(base, {"sender": "c", "message": "  / / "})
        assert status == 422 and out["error"] == "empty"
    assert agent.messages == []


@pytest.mark.asyncio
async def test_off_in_production_unless_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEKH_ENV", "production")
    monkeypatch.delenv("REST_CHANNEL_ENABLED", raising=False)
    monkeypatch.setenv("RASA_TOKEN", TOKEN)
    channel, agent = RestInput.from_credentials(None), Agent()
    assert not channel.enabled
    async with serve(channel, agent) as base:
        assert (await post(base, {"sender": "d", "message": "hi"}))[0] == 404
    assert agent.messages == []
    monkeypatch.setenv("REST_CHANNEL_ENABLED", "true")
    assert RestInput.from_credentials(None).enabled
    monkeypatch.delenv("RASA_TOKEN")
    with pytest.raises(ConfigError, match="RASA_TOKEN"):
        RestInput.from_credentials(None)
    monkeypatch.setenv("REST_CHANNEL_ENABLED", "maybe")
    with pytest.raises(RestConfigError, match="REST_CHANNEL_ENABLED"):
        RestInput.from_credentials(None)
    monkeypatch.setenv("BEKH_ENV", "dev")
    monkeypatch.delenv("REST_CHANNEL_ENABLED")
    monkeypatch.setenv("RASA_TOKEN", TOKEN)
    assert RestInput.from_credentials(None).enabled  # on by default outside production
