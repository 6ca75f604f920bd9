"""Waiting handoffs expire (channels/agent_console/expiry.py) and the operator's view of the queue
(`python -m channels.agents handoffs`). Same harness as test_agent_console.py: the real case store,
the recorder for Twilio and Graph, and an injected clock that the tests move by hand."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import ConfigError
from channels import agents as agents_mod
from channels.agent_console import AgentConsoleInput, load_config
from channels.agents import AgentStore
from tests.channels.test_agent_console import API, Clock, Console, login, queue, seed_conversation, start_console

SUNDAY_9 = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.timezone.utc)  # a working day, agents on duty
FRIDAY_20 = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.timezone.utc)  # the weekend: closed until Sunday 08:00
AR_NOTICE = (
    "نعتذر، لم يتمكن أيٌّ من موظفينا من استلام محادثتك هذه المرة. يمكن لمساعد بخدمتكم أن يكمل معك هنا، "
    "أو يمكنك الاتصال بمركز الاتصال على 06 5008080."
)
EN_NOTICE = (
    "No agent could take your conversation this time, sorry. The Bekhedmetkom assistant can carry on "
    "with you here, or you can call the contact center on 06 5008080."
)


@pytest.fixture(autouse=True)
def hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACT_CENTER_HOURS", "sun-thu 08:00-15:00")
    monkeypatch.setenv("CONTACT_CENTER_HOLIDAYS", "none")
    monkeypatch.setenv("BEKH_TIMEZONE", "UTC")
    monkeypatch.delenv("HANDOFF_WAIT_MINUTES", raising=False)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    c, stop = await start_console(tmp_path, clock=Clock(SUNDAY_9))
    yield c
    await stop()


async def test_a_waiting_handoff_expires_after_the_wait_and_the_person_is_told(console: Console) -> None:
    from rasa.shared.core.events import BotUttered, ConversationResumed

    sender = "messenger_" + "a" * 32
    await seed_conversation(console, sender, "messenger", "PSID-31")
    hid = await queue(console, sender)
    console.clock.advance(minutes=29)
    assert await console.channel.expire_waiting(console.agent) == []
    assert [h["id"] for h in console.store.open_handoffs()] == [hid]
    console.clock.advance(minutes=2)
    assert await console.channel.expire_waiting(console.agent) == [hid]

    sent = console.backend.messenger()
    assert [m["json"]["message"]["text"] for m in sent] == [AR_NOTICE]
    assert sent[0]["json"]["recipient"] == {"id": "PSID-31"}
    tracker = await console.agent.tracker_store.retrieve(sender)
    assert not tracker.is_paused()
    assert isinstance(tracker.events[-2], ConversationResumed)
    assert isinstance(tracker.events[-1], BotUttered) and tracker.events[-1].text == AR_NOTICE
    assert console.store.open_handoffs() == []
    assert console.store.get_handoff(hid)["state"] == "expired"
    (row,) = [r for r in console.store.audit_rows() if r["action"] == "handoff_expired"]
    assert row["target"] == hid and row["agent_id"] is None and '"notice_delivered": true' in row["detail"]
    # Gone from the queue for agents too, and a second sweep tells nobody again.
    async with console.client() as c:
        csrf = await login(c)
        async with c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 409 and (await r.json())["error"] == "closed"
        async with c.get(f"{API}/handoffs/{hid}") as r:
            assert r.status == 404
    assert await console.channel.expire_waiting(console.agent) == []
    assert len(console.backend.messenger()) == 1


async def test_two_processes_sweeping_tell_the_person_once(console: Console) -> None:
    sender = "sms_" + "b" * 32
    await seed_conversation(console, sender, "sms", "+962781110000")
    hid = await queue(console, sender, channel="sms", language="en")
    # A second Rasa process: its own channel and its own connection pool on the same database.
    other = AgentConsoleInput(console.channel.config, store=AgentStore(console.store.url, clock=console.clock), clock=console.clock)
    console.clock.advance(minutes=31)
    first, second = await asyncio.gather(console.channel.expire_waiting(console.agent), other.expire_waiting(console.agent))
    assert sorted(first + second) == [hid]
    assert [(m["To"], m["Body"]) for m in console.backend.sms()] == [("+962781110000", EN_NOTICE)]
    other.store.engine.dispose()


async def test_a_taken_handoff_does_not_expire(console: Console) -> None:
    sender = "messenger_" + "c" * 32
    await seed_conversation(console, sender, "messenger", "PSID-32")
    hid = await queue(console, sender)
    console.store.take_handoff(hid, console.amal_id)
    console.clock.advance(hours=3)
    assert await console.channel.expire_waiting(console.agent) == []
    assert console.store.get_handoff(hid)["state"] == "taken"
    assert console.backend.messenger() == []


async def test_an_after_hours_handoff_waits_from_the_next_opening(tmp_path: Path) -> None:
    console, stop = await start_console(tmp_path, clock=Clock(FRIDAY_20))
    try:
        sender = "messenger_" + "d" * 32
        await seed_conversation(console, sender, "messenger", "PSID-33")
        hid = await queue(console, sender)
        console.clock.now = dt.datetime(2026, 11, 22, 8, 29, tzinfo=dt.timezone.utc)  # 29 minutes into Sunday
        assert await console.channel.expire_waiting(console.agent) == []
        console.clock.now = dt.datetime(2026, 11, 22, 8, 31, tzinfo=dt.timezone.utc)
        assert await console.channel.expire_waiting(console.agent) == [hid]
        # 36 hours after the person's last message: Messenger allows no automatic message (the
        # HUMAN_AGENT tag is for people), so the notice stays in the conversation, unsent.
        assert console.backend.messenger() == []
        tracker = await console.agent.tracker_store.retrieve(sender)
        assert not tracker.is_paused() and tracker.events[-1].text == AR_NOTICE
        (row,) = [r for r in console.store.audit_rows() if r["action"] == "handoff_expired"]
        assert '"notice_delivered": false' in row["detail"]
    finally:
        await stop()


async def test_the_wait_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_WAIT_MINUTES", "5")
    console, stop = await start_console(tmp_path, clock=Clock(SUNDAY_9))
    try:
        hid = await queue(console, "messenger_" + "e" * 32)
        console.clock.advance(minutes=4)
        assert await console.channel.expire_waiting(console.agent) == []
        console.clock.advance(minutes=2)
        assert await console.channel.expire_waiting(console.agent) == [hid]
    finally:
        await stop()


@pytest.mark.parametrize("bad", ["0", "-5", "ten", "99999"])
def test_a_bad_wait_is_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("HANDOFF_WAIT_MINUTES", bad)
    with pytest.raises(ConfigError, match="HANDOFF_WAIT_MINUTES"):
        load_config({"internal_token": "x", "page_access_token": "p", "app_secret": "s", "account_sid": "a", "auth_token": "t"})


async def test_the_sweeper_runs_on_its_own_timer(tmp_path: Path) -> None:
    console, stop = await start_console(tmp_path, clock=Clock(SUNDAY_9), handoff_sweep_seconds="0.05")
    try:
        sender = "messenger_" + "f" * 32
        await seed_conversation(console, sender, "messenger", "PSID-34")
        hid = await queue(console, sender)
        console.clock.advance(minutes=31)
        for _ in range(200):  # wait for the positive signal: the notice reaching Graph
            if console.backend.messenger():
                break
            await asyncio.sleep(0.05)
        assert [m["json"]["message"]["text"] for m in console.backend.messenger()] == [AR_NOTICE]
        assert console.store.get_handoff(hid)["state"] == "expired"
    finally:
        await stop()


def test_operator_view_lists_states_and_ages_without_personal_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock(SUNDAY_9)
    url = f"sqlite:///{tmp_path / 'console.db'}"
    store = AgentStore(url, clock=clock)
    amal = store.create_agent("amal", "Amal Haddad", "correct horse battery")
    secret_words = "my address is 12 Rainbow Street"
    ids = [store.enqueue_handoff(f"messenger_{n}" * 4, "messenger", "ar", [{"who": "user", "text": secret_words, "at": ""}]) for n in range(3)]
    clock.advance(minutes=10)
    store.take_handoff(ids[1], amal.id)
    clock.advance(minutes=35)
    assert store.expire_handoff(ids[2]) and not store.expire_handoff(ids[2])
    store.engine.dispose()
    assert agents_mod.main(["--database-url", url, "handoffs"], clock=clock) == 0
    out = capsys.readouterr().out
    lines = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:-1]}
    assert lines[ids[0]][3:] == ["waiting", "45m", "45m", "-"]
    assert lines[ids[1]][3:] == ["taken", "45m", "35m", "amal"]
    assert lines[ids[2]][3:] == ["expired", "45m", "0m", "-"]
    assert out.splitlines()[-1] == "1 waiting, 1 taken, 0 resumed, 1 expired"
    assert secret_words not in out and "messenger_0" not in out


async def test_two_processes_expire_once_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The compare-and-set on PostgreSQL, the database of the scaled set-up: two stores, one winner."""
    console, stop = await start_console(tmp_path, clock=Clock(SUNDAY_9), database_url=postgres_url)
    other = AgentStore(postgres_url, clock=console.clock)
    try:
        hid = console.store.enqueue_handoff("messenger_" + "9" * 32, "messenger", "en", [])
        results = await asyncio.gather(*(s.run(s.expire_handoff, hid) for s in (console.store, other, console.store, other)))
        assert sorted(results) == [False, False, False, True]
    finally:
        other.engine.dispose()
        await stop()
