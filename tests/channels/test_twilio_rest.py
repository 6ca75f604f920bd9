"""Twilio's REST API on twilio's async HTTP client (channels/twilio_rest.py).

Twilio is the recorder (tests/support/recorder.py), or a loopback server that never answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException

from bot.launcher import free_port
from channels import twilio_rest
from channels.twilio_rest import NETWORK_ERRORS, TwilioRest
from channels.twilio_sms import make_client
from tests.support.recorder import Recorder

ACCOUNT_SID, AUTH_TOKEN = "AC" + "7" * 32, "twilio-rest-test-token"


@pytest.fixture
def rec() -> Any:
    recorder = Recorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()


async def test_a_message_goes_out_on_the_loop_not_in_a_worker_thread(rec: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_threads(*_: Any, **__: Any) -> Any:
        raise AssertionError("sending must not need a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    client = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, rec.url + "/")
    try:
        sid = await client.send_message(to="+962791234567", body="مرحبا", from_="+15017122661")
    finally:
        await client.close()
    (hit,) = rec.snapshot()
    assert sid.startswith("SM")
    assert hit["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert hit["form"] == {"To": "+962791234567", "Body": "مرحبا", "From": "+15017122661"}


async def test_the_sms_sender_never_touches_twilios_sync_client(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from twilio.http.http_client import TwilioHttpClient

    from bot.channel_state import ChannelState
    from channels.sms_sender import SmsSender

    def sync_request(*_: Any, **__: Any) -> Any:
        raise AssertionError("the blocking `requests` client was used")

    monkeypatch.setattr(TwilioHttpClient, "request", sync_request)
    sender = SmsSender(make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url), "+15017122661", ChannelState(f"sqlite:///{tmp_path / 's.db'}"))
    try:
        assert [sid[:2] for sid in await sender.send("0791234567", "one\n\n" + "x" * 1700)] == ["SM", "SM"]
    finally:
        await twilio_rest.close_all()
    assert [r["form"]["To"] for r in rec.snapshot()] == ["+962791234567"] * 2


async def test_twilio_refusals_raise_twilio_rest_exception(rec: Recorder) -> None:
    rec.fail("/Messages.json", status=400)
    client = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, rec.url)
    try:
        with pytest.raises(TwilioRestException) as info:
            await client.send_message(to="+962791234567", body="x", from_="+15017122661")
    finally:
        await client.close()
    assert info.value.status == 400


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """Accepts the request and never answers (a hung Twilio)."""

    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_timeout_applies(silent_server: str) -> None:
    # twilio's AsyncTwilioHttpClient takes a timeout and hands aiohttp `timeout=None` (none at all).
    client = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, silent_server, timeout=0.5)
    start = time.monotonic()
    try:
        with pytest.raises(NETWORK_ERRORS):
            await client.send_message(to="+962791234567", body="x", from_="+15017122661")
    finally:
        await client.close()
    assert time.monotonic() - start < 5


async def test_unreachable_twilio_raises_a_network_error() -> None:
    client = TwilioRest(ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(NETWORK_ERRORS):
            await client.send_message(to="+962791234567", body="x", from_="+15017122661")
    finally:
        await client.close()


async def test_one_client_per_account_per_process_and_closing_it_is_not_final(rec: Recorder) -> None:
    client = make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url)
    assert client is make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url + "/") is twilio_rest.shared(ACCOUNT_SID, AUTH_TOKEN, rec.url)
    assert client is not make_client("AC" + "8" * 32, AUTH_TOKEN, rec.url)
    await client.send_message(to="+962791234567", body="1", from_="+15017122661")
    session = client._http.session if client._http else None
    await twilio_rest.close_all()
    assert session is not None and session.closed
    await client.send_message(to="+962791234567", body="2", from_="+15017122661")  # a new session
    await twilio_rest.close_all()
    assert [r["form"]["Body"] for r in rec.snapshot()] == ["1", "2"]
