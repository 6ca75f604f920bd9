"""The durable outbox (channels/outbound.py) with Messenger, against the recorder standing in for Graph."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from bot.privacy import keyed_id
from channels import outbound
from channels.messenger import GraphClient, MessengerOutput, graph_sender
from channels.outbound import DEAD, PENDING, DeliveryWorker, Outbox, RetryPolicy
from tests.channels.test_messenger import APP_SECRET, PAGE_TOKEN, make_channel, post, serve, text_event
from tests.support.recorder import Recorder

PSID = "6783920011223344"
FAST = RetryPolicy(max_attempts=5, base_seconds=0.05, max_seconds=0.2)


@pytest.fixture
def rec() -> Iterator[Recorder]:
    recorder = Recorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()


def sends(rec: Recorder) -> list[dict[str, Any]]:
    return [r["json"] for r in rec.snapshot() if r["path"].endswith("/me/messages")]


async def until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


class RasaLikeAgent:
    """What Rasa's MessageProcessor does with a message, reduced to the part that matters here:
    the user event is logged, the bot's replies go through the output channel, and only then is
    the tracker saved. A send that raises (the old MessengerOutput on a Graph outage) loses the
    whole turn, user message included."""

    def __init__(self) -> None:
        self.store = InMemoryTrackerStore(Domain.empty())

    async def __call__(self, message: UserMessage) -> None:
        tracker = await self.store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, message_id=message.message_id))
        await message.output_channel.send_text_message(message.sender_id, f"first reply to {message.text}")
        await message.output_channel.send_text_message(message.sender_id, f"second reply to {message.text}")
        await self.store.save(tracker)

    async def user_texts(self, sender: str) -> list[str]:
        tracker = await self.store.retrieve(sender)
        return [e.text for e in tracker.events if isinstance(e, UserUttered)] if tracker else []


async def test_graph_down_keeps_the_turn_and_delivers_in_order_exactly_once(
    tmp_path: Path, rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOX_RETRY_BASE_SECONDS", "0.05")
    monkeypatch.setenv("OUTBOX_RETRY_MAX_SECONDS", "0.3")
    channel, agent = make_channel(tmp_path, rec.url), RasaLikeAgent()
    rec.go_down()  # Graph API unreachable: connection refused
    async with serve(channel, agent) as base:
        assert (await post(base, text_event("m_out-1", "عندي شكوى", PSID)))[0] == 200
        assert (await post(base, text_event("m_out-2", "على البلدية", PSID)))[0] == 200
        await channel.drain()
        # The turns were kept although nothing could be sent.
        assert await agent.user_texts(keyed_id("messenger", PSID)) == ["عندي شكوى", "على البلدية"]
        assert sends(rec) == []
        rows = channel.worker.box.rows()
        assert [r["status"] for r in rows] == [PENDING] * 4
        assert rows[0]["attempts"] >= 1 and [r["attempts"] for r in rows[1:]] == [0, 0, 0], "later replies wait behind"
        # Neither the PSID nor the reply text is stored in clear.
        raw = b"".join(
            str(row).encode() for row in sqlite3.connect(tmp_path / "state.db").execute("SELECT * FROM channel_outbox")
        )
        assert PSID.encode() not in raw and b"reply" not in raw and "شكوى".encode() not in raw

        rec.come_up()
        await until(lambda: len(sends(rec)) >= 4)
        # No sleep "for a duplicate": drain() ends with the outbox empty (asserted below), and a
        # row leaves the outbox only after its send, so nothing can be sent after this point.
        await channel.drain()
    got = sends(rec)
    assert [m["message"]["text"] for m in got] == [
        "first reply to عندي شكوى", "second reply to عندي شكوى", "first reply to على البلدية", "second reply to على البلدية",
    ]
    assert {m["recipient"]["id"] for m in got} == {PSID} and {m["messaging_type"] for m in got} == {"RESPONSE"}
    assert channel.worker.box.rows() == []


async def test_permanent_4xx_goes_to_dead_letter_without_retrying(
    tmp_path: Path, rec: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    box = Outbox(f"sqlite:///{tmp_path / 'state.db'}")
    worker = DeliveryWorker(box, "messenger", graph_sender(GraphClient(PAGE_TOKEN, APP_SECRET, rec.url, "v21.0")), FAST)
    rec.fail("/me/messages", status=400, times=1)  # Graph: (#100) invalid parameter
    await MessengerOutput(GraphClient(PAGE_TOKEN, APP_SECRET, rec.url, "v21.0"), PSID, worker).send_text_message("x", "hello")
    await worker.run_once()
    await asyncio.sleep(0.3)
    await worker.run_once()
    assert len(sends(rec)) == 1, "a permanent refusal is tried once"
    [row] = box.rows()
    assert (row["status"], row["attempts"]) == (DEAD, 1) and row["last_error"].startswith("permanent: HTTP 400")

    with contextlib.redirect_stdout(io.StringIO()) as out, _env_url(tmp_path):
        assert outbound.main(["list", "--dead"]) == 0
        assert outbound.main(["retry", str(row["id"])]) == 0
    assert "dead" in out.getvalue() and PSID not in out.getvalue() and "hello" not in out.getvalue()
    await worker.run_once()  # the operator re-queued it and Graph accepts it now
    assert [m["message"]["text"] for m in sends(rec)] == ["hello", "hello"] and box.rows() == []


async def test_transient_errors_are_retried_with_backoff_then_parked_at_the_cap(tmp_path: Path, rec: Recorder) -> None:
    box = Outbox(f"sqlite:///{tmp_path / 'state.db'}")
    # The first retry comes no sooner than 0.25 s (equal jitter: half of base): long enough that
    # the back-to-back run_once below is "not due yet" on a busy machine too (0.05 s was not).
    policy = RetryPolicy(max_attempts=3, base_seconds=0.5, max_seconds=1.0)
    worker = DeliveryWorker(box, "messenger", graph_sender(GraphClient(PAGE_TOKEN, APP_SECRET, rec.url, "v21.0")), policy)
    rec.fail("/me/messages", status=503, times=100)
    await box.enqueue("messenger", PSID, [{"messaging_type": "RESPONSE", "message": {"text": "one"}}])
    await worker.run_once()
    await worker.run_once()  # not due yet: backoff
    assert len(sends(rec)) == 1
    deadline = time.monotonic() + 10
    while box.rows()[0]["status"] != DEAD and time.monotonic() < deadline:
        await worker.run_once()
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    await worker.run_once()
    assert len(sends(rec)) == 3 and box.rows()[0]["status"] == DEAD
    assert box.rows()[0]["last_error"].startswith("gave up: HTTP 503")


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(max_attempts=8, base_seconds=2, max_seconds=60)
    for attempt, ceiling in ((1, 2), (2, 4), (3, 8), (6, 60), (9, 60)):
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_two_processes_share_the_outbox_and_send_each_message_once_in_order(
    tmp_path: Path, rec: Recorder, backend: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    first, second = Outbox(url), Outbox(url)  # two engines, as two Rasa processes would have
    send = graph_sender(GraphClient(PAGE_TOKEN, APP_SECRET, rec.url, "v21.0"))
    workers = [DeliveryWorker(first, "messenger", send, FAST), DeliveryWorker(second, "messenger", send, FAST)]
    psids = ["1001", "1002", "1003"]
    for i in range(8):
        for psid in psids:
            await first.enqueue("messenger", psid, [{"messaging_type": "RESPONSE", "message": {"text": f"{psid}-{i}"}}])
    await asyncio.gather(*(w.run_once() for w in workers), *(w.run_once() for w in workers))
    for w in workers:
        await w.run_once()
    got = [m["message"]["text"] for m in sends(rec)]
    assert sorted(got) == sorted(f"{p}-{i}" for p in psids for i in range(8)), "each message exactly once"
    for psid in psids:
        assert [t for t in got if t.startswith(psid)] == [f"{psid}-{i}" for i in range(8)], "in order per recipient"


@contextlib.contextmanager
def _env_url(tmp_path: Path) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHANNEL_STATE_DATABASE_URL", f"sqlite:///{tmp_path / 'state.db'}")
        yield
