"""One SMS sender for every path (channels/sms_sender.py): opt-out, length, the outbox.

The four paths that text a citizen: the SMS channel's REST replies (late turns), the notifier,
the agent console (replies and new-call receipts) and the IVR's texted reference. Twilio is the
recorder; the opt-out is made the way a citizen makes it, by texting STOP to the real webhook.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.channel_state import ChannelState
from channels.notifier import Notifier, Outcome
from channels.sms_sender import MAX_SMS_BODY, SmsSender, SmsTooLong, queued_sender
from channels.twilio_sms import TwilioSmsOutput, make_client
from channels.twilio_voice import make_sms_sender
from tests.channels.test_agent_console import API, complaint, file_request, login, queue, seed_conversation, start_console
from tests.channels.test_twilio_sms import ACCOUNT_SID, AUTH_TOKEN, Agent, make_channel, post, serve, sms
from tests.support.recorder import Recorder

PHONE = "+962791234567"
SMS_FROM = "+15017122661"


def texts(rec: Recorder) -> list[str]:
    return [r["form"]["Body"] for r in rec.snapshot() if r["path"].endswith("/Messages.json")]


async def arrived(rec: Recorder, count: int, timeout: float = 15.0) -> list[str]:
    """The SMS texts Twilio got, once there are `count` of them (or the timeout passed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(texts(rec)) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # and nothing more than that: a late duplicate would show here
    return texts(rec)


@pytest.fixture
def rec() -> Any:
    recorder = Recorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()


def answered_event(eid: int) -> dict[str, Any]:
    return {"id": eid, "event": "status_changed", "reference": "4829103756",
            "payload": {"language": "ar", "reference": "4829103756", "type": "complaint", "status": "in_progress",
                        "notify": {"channel": "sms", "address": PHONE}}}


async def test_opted_out_number_gets_nothing_from_any_path_and_start_lifts_it(
    tmp_path: Path, rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("CHANNEL_STATE_DATABASE_URL", state_url)  # the console reads opt-outs from here
    channel = make_channel(tmp_path, rec.url)
    state = ChannelState(state_url)
    notifier = Notifier(sms=TwilioSmsOutput(make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url), SMS_FROM, state))
    ivr = make_sms_sender(ACCOUNT_SID, AUTH_TOKEN, rec.url, SMS_FROM, state)
    console, stop = await start_console(tmp_path)
    sender_id = "sms_" + "f" * 32
    await seed_conversation(console, sender_id, "sms", PHONE)
    hid = await queue(console, sender_id, channel="sms", language="en")
    try:
        async with console.client() as c:
            csrf = await login(c)
            await c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf})

            async def every_path(n: int) -> dict[str, Any]:
                out: dict[str, Any] = {
                    "bot": await channel.get_output_channel().send_sms(PHONE, f"late reply {n}"),
                    "notifier": await notifier.deliver(answered_event(n)),
                    "ivr": await ivr.send_sms(PHONE, f"your reference {n}"),
                }
                async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": f"agent reply {n}"},
                                  headers={"X-CSRF-Token": csrf}) as r:
                    out["console_reply"] = (r.status, (await r.json()).get("error"))
                _status, filed = await file_request(c, csrf, complaint())
                out["console_receipt"] = filed["sms"]
                return out

            async with serve(channel, Agent()) as base:
                await post(base, sms("STOP", sid="SM-stop", From=PHONE))
                assert await every_path(1) == {
                    "bot": [], "notifier": Outcome.REFUSED, "ivr": [],
                    "console_reply": (409, "sms_opted_out"), "console_receipt": "skipped_opted_out",
                }
                assert texts(rec) == [] and console.backend.sms() == [], "nothing reaches Twilio"

                await post(base, sms("START", sid="SM-start", From=PHONE))
                after = await every_path(2)
                # A queued SMS usually goes out before send() returns, but the outbox worker may
                # have claimed the row first and send it a moment later: wait for it to arrive.
                got = await arrived(rec, 3)
        assert after["bot"] and after["ivr"] and after["notifier"] is Outcome.SENT
        assert after["console_reply"] == (200, None) and after["console_receipt"] == "sent"
        assert "late reply 2" in got and "your reference 2" in got and len(got) == 3  # + the notification
        assert [m["To"] for m in console.backend.sms()] == [PHONE, PHONE]
        assert console.backend.sms()[0]["Body"] == "agent reply 2"
    finally:
        await notifier.close()
        await stop()


async def test_arabic_stop_opts_out_too(tmp_path: Path, rec: Recorder) -> None:
    channel = make_channel(tmp_path, rec.url)
    async with serve(channel, Agent()) as base:
        await post(base, sms("توقف", sid="SM-ar-stop", From=PHONE))
        assert await channel.get_output_channel().send_sms(PHONE, "تحديث على طلبك") == []
        await post(base, sms("ابدأ", sid="SM-ar-start", From=PHONE))
        assert await channel.get_output_channel().send_sms(PHONE, "تحديث على طلبك")
    assert [t for t in texts(rec) if t == "تحديث على طلبك"] == ["تحديث على طلبك"]


async def test_agent_reply_over_1600_characters_is_a_clear_422_and_nothing_is_sent(tmp_path: Path) -> None:
    console, stop = await start_console(tmp_path)
    try:
        sender = "sms_" + "e" * 32
        await seed_conversation(console, sender, "sms", "+962781112244")
        hid = await queue(console, sender, channel="sms", language="en")
        async with console.client() as c:
            csrf = await login(c)
            await c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf})
            async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": "ب" * 2000}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 422
                assert await r.json() == {"error": "too_long_for_sms", "max_length": MAX_SMS_BODY}
            assert console.backend.sms() == []
            async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": "ب" * 1600}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
        assert [len(m["Body"]) for m in console.backend.sms()] == [1600]
    finally:
        await stop()


async def test_long_bot_text_is_split_at_most_1600_characters_per_message(tmp_path: Path, rec: Recorder) -> None:
    state = ChannelState(f"sqlite:///{tmp_path / 'state.db'}")
    sender = queued_sender(make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url), SMS_FROM, state)
    text = "\n\n".join(f"فقرة {i}: " + "كلمة " * 60 for i in range(10))
    assert len(text) > 3000
    parts = await sender.send(PHONE, text)
    sizes = [len(t) for t in texts(rec)]
    assert len(parts) == len(sizes) == 2 and max(sizes) <= MAX_SMS_BODY
    assert all(t.endswith("كلمة") for t in texts(rec)), "cut between paragraphs, never inside a word"
    assert "".join(texts(rec)).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    with pytest.raises(SmsTooLong, match="at most 1600"):
        await sender.send(PHONE, "x" * 1601, split=False)


async def test_twilio_down_queues_the_sms_and_sends_it_when_back(tmp_path: Path, rec: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_RETRY_BASE_SECONDS", "0.05")
    monkeypatch.setenv("OUTBOX_RETRY_MAX_SECONDS", "0.2")
    state = ChannelState(f"sqlite:///{tmp_path / 'state.db'}")
    sender: SmsSender = queued_sender(make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url), SMS_FROM, state)
    rec.go_down()
    assert len(await sender.send(PHONE, "رقم طلبك 482 910 3756")) == 1  # queued, no exception
    rec.come_up()
    assert sender.worker is not None
    for _ in range(100):
        await sender.worker.run_once()
        if texts(rec):
            break
        await asyncio.sleep(0.05)
    assert texts(rec) == ["رقم طلبك 482 910 3756"]
    await sender.worker.stop()



async def test_each_send_is_out_before_it_returns_while_the_worker_runs(tmp_path: Path, rec: Recorder) -> None:
    """The caller's own attempt never races the background worker for the claim (it used to lose
    now and then, and answer before its SMS had gone out)."""
    state = ChannelState(f"sqlite:///{tmp_path / 'state.db'}")
    sender = queued_sender(make_client(ACCOUNT_SID, AUTH_TOKEN, rec.url), SMS_FROM, state)
    assert sender.worker is not None
    for i in range(30):
        await sender.worker.stop()  # send() starts it again: its first round is when the race was
        await sender.send(PHONE, f"update {i}")
        assert texts(rec)[-1:] == [f"update {i}"]
    await sender.worker.stop()
