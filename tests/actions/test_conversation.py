"""Language following, handoff to a person and session start (actions/conversation.py).

The handoff action posts to the agent console's internal endpoint: a small real aiohttp server
records exactly what arrives (and answers as told), and one test hands over to the real console
and reads the queue as an agent."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from rasa_sdk.events import ActionExecuted, ActiveLoop, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import ActionHandoff, ActionSessionStart, ValidatePredefinedSlots
from tests.support.trackers import entity, said, tracker, user_event

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def run(action: Any, t: Any, domain: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, domain or {})
    return events, said(dispatcher.messages)


# --- language -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detected", "current", "intent", "entities", "events"),
    [
        ("en", "ar", "inform", [], [SlotSet("language", "en")]),  # an English message switches
        ("ar", "en", "complain", [], [SlotSet("language", "ar")]),
        ("en", "en", "inform", [], []),  # already English
        ("en", "ar", "switch_language", [], []),  # "bdi 3arabi" decides in action_switch_language
        ("en", "ar", "inform", [entity("language", "ar")], []),  # a language button already set it
        ("fr", "ar", "inform", [], []),  # not one of ours
    ],
)
async def test_the_language_slot_follows_the_detected_language(
    domain: dict[str, Any], detected: str, current: str, intent: str, entities: list[dict[str, Any]], events: list[Any]
) -> None:
    t = tracker("text", intent, entities, slots={"language": current}, language=detected)
    assert await run(ValidatePredefinedSlots(), t, domain) == (events, [])


@pytest.mark.parametrize(
    ("text", "history", "events"),
    [
        ("hello", [], [SlotSet("language", "en")]),  # the first message: nothing to keep yet
        ("ok?", [], [SlotSet("language", "en")]),
        ("/greet", [], []),  # a button says nothing about the person's language
        ("123", [], []),
        ("hello", [user_event("مرحبا", "greet")], []),  # later on, "hello" keeps Arabic
    ],
)
async def test_short_english_sets_english_only_on_the_first_message(
    domain: dict[str, Any], text: str, history: list[dict[str, Any]], events: list[Any]
) -> None:
    t = tracker(text, "greet", slots={"language": "ar"}, history=history)  # the NLU tagger found no language
    assert await run(ValidatePredefinedSlots(), t, domain) == (events, [])


# --- session start --------------------------------------------------------------------------------


async def test_a_new_session_keeps_only_the_language_and_the_last_reference() -> None:
    t = tracker(slots={"language": "en", "last_reference": "4829103756", "description": "half a complaint",
                       "idem_key": "k" * 32, "request_type": "complaint"})
    events, messages = await run(ActionSessionStart(), t)
    assert messages == []
    assert events == [SessionStarted(), SlotSet("language", "en"), SlotSet("last_reference", "4829103756"),
                      ActionExecuted("action_listen")]
    events, _ = await run(ActionSessionStart(), tracker())
    assert events == [SessionStarted(), ActionExecuted("action_listen")]


# --- handoff --------------------------------------------------------------------------------------


@dataclass
class FakeConsole:
    """The console's internal endpoint, answering `status` and recording each request."""

    url: str = ""
    status: int = 201
    seen: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def console(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeConsole]:
    fake = FakeConsole()

    async def handoff(request: web.Request) -> web.Response:
        fake.seen.append({"path": request.path, "authorization": request.headers.get("Authorization"),
                          "body": await request.json()})
        return web.json_response({"id": "h1"}, status=fake.status)

    app = web.Application()
    app.router.add_post("/webhooks/agent_console/internal/handoff", handoff)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}/webhooks/agent_console/internal/handoff"
    monkeypatch.setenv("AGENT_CONSOLE_INTERNAL_URL", fake.url)
    monkeypatch.setenv("AGENT_CONSOLE_INTERNAL_TOKEN", "internal-test-token")
    monkeypatch.setenv("CONTACT_CENTER_HOLIDAYS", "none")
    monkeypatch.setenv("BEKH_TIMEZONE", "Asia/Amman")
    try:
        yield fake
    finally:
        await runner.cleanup()


def open_all_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACT_CENTER_HOURS", "sun-sat 00:00-23:59")


def closed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open only on a day three days from today (Amman time): closed whatever the hour."""
    other = DAYS[(dt.datetime.now(ZoneInfo("Asia/Amman")).weekday() + 3) % 7]
    monkeypatch.setenv("CONTACT_CENTER_HOURS", f"{other} 08:00-15:00")


PSID = "2468013579"


def handoff_tracker() -> Any:
    history = [
        user_event("مرحبا", "greet", connector="messenger", address=PSID),
        {"event": "bot", "text": "أهلا، كيف بقدر أساعدك؟", "timestamp": 2.0},
    ]
    return tracker("بدي احكي مع موظف", "human_handoff", sender_id="messenger_abc", connector="messenger",
                   address=PSID, history=history, slots={"language": "ar"}, active_loop="complaint_form")


async def test_handoff_queues_the_conversation_and_pauses_the_bot(console: FakeConsole, monkeypatch: pytest.MonkeyPatch) -> None:
    open_all_day(monkeypatch)
    events, messages = await run(ActionHandoff(), handoff_tracker())
    assert messages == [{"response": "utter_handoff"}]
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), ConversationPaused()]
    assert console.seen == [{
        "path": "/webhooks/agent_console/internal/handoff", "authorization": "Bearer internal-test-token",
        "body": {"sender_id": "messenger_abc", "channel": "messenger", "language": "ar", "after_hours": False,
                 "transcript": [{"who": "user", "text": "مرحبا", "at": 1.0},
                                {"who": "bot", "text": "أهلا، كيف بقدر أساعدك؟", "at": 2.0},
                                {"who": "user", "text": "بدي احكي مع موظف", "at": 1.0}]},
    }]


async def test_after_hours_the_conversation_is_queued_and_the_hours_are_said(console: FakeConsole, monkeypatch: pytest.MonkeyPatch) -> None:
    closed_today(monkeypatch)
    events, [message] = await run(ActionHandoff(), handoff_tracker())
    assert message["response"] == "utter_handoff_after_hours" and message["hours_text"]
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None)], "the bot keeps answering"
    assert [s["body"]["after_hours"] for s in console.seen] == [True]


async def test_a_refused_handoff_does_not_pause_the_bot(console: FakeConsole, monkeypatch: pytest.MonkeyPatch) -> None:
    open_all_day(monkeypatch)
    console.status = 503
    events, messages = await run(ActionHandoff(), handoff_tracker())
    assert messages == [{"response": "utter_backend_unavailable"}]
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None)]
    assert len(console.seen) == 1


async def test_an_unreachable_console_does_not_pause_the_bot(console: FakeConsole, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.launcher import free_port

    open_all_day(monkeypatch)
    monkeypatch.setenv("AGENT_CONSOLE_INTERNAL_URL", f"http://127.0.0.1:{free_port()}/webhooks/agent_console/internal/handoff")
    events, messages = await run(ActionHandoff(), handoff_tracker())
    assert messages == [{"response": "utter_backend_unavailable"}]
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None)]


async def test_the_real_console_queues_what_the_action_hands_over(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same action against the agent console itself: the body it posts is one the console
    accepts, and an agent sees the conversation waiting with its transcript."""
    from tests.channels.test_agent_console import API, login, start_console

    console, stop = await start_console(tmp_path)
    try:
        monkeypatch.setenv("AGENT_CONSOLE_INTERNAL_URL", f"{console.url}/webhooks/agent_console/internal/handoff")
        monkeypatch.setenv("AGENT_CONSOLE_INTERNAL_TOKEN", console.internal_token)
        monkeypatch.setenv("CONTACT_CENTER_HOLIDAYS", "none")
        open_all_day(monkeypatch)
        events, messages = await run(ActionHandoff(), handoff_tracker())
        assert messages == [{"response": "utter_handoff"}]
        assert events[-1] == ConversationPaused()
        async with console.client() as agent:
            await login(agent)
            async with agent.get(f"{API}/handoffs") as r:
                [item] = (await r.json())["handoffs"]
            assert (item["state"], item["channel"]) == ("waiting", "messenger")
            async with agent.get(f"{API}/handoffs/{item['id']}") as r:
                detail = await r.json()
        assert [line["text"] for line in detail["transcript"]] == ["مرحبا", "أهلا، كيف بقدر أساعدك؟", "بدي احكي مع موظف"]
    finally:
        await stop()
