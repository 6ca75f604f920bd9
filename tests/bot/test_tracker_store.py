"""The tracker store seals a report while it is open and scrubs it once filed (SQLite and
PostgreSQL); other requests are stored exactly as Rasa stores them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.confidential import PLACEHOLDER
from bot.privacy import seal_address
from bot.settings import get_settings
from bot.tracker_store import ConfidentialSQLTrackerStore

ROOT = Path(__file__).resolve().parents[2]
PIN = "804215"
REFERENCE = "4829103756"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, domain: Domain) -> Iterator[ConfidentialSQLTrackerStore]:
    if request.param == "sqlite":
        yield ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "tracker.db"))
        return
    url = sa.engine.make_url(request.getfixturevalue("postgres_url"))
    s = ConfidentialSQLTrackerStore(domain=domain, dialect="postgresql", host=url.host, port=url.port or 5432,
                                    db=url.database, username=url.username, password=url.password)
    yield s
    s.engine.dispose()


def _user(text: str, intent: str, **slots: Any) -> UserUttered:
    entities = [{"entity": k, "value": v, "start": 0, "end": 1} for k, v in slots.items()]
    return UserUttered(text, intent={"name": intent, "confidence": 0.99}, entities=entities,
                       parse_data={"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities},
                       input_channel="twilio_sms", metadata={"channel": "sms", "reply_address": seal_address("+962791234567")})


async def _turn(store: ConfidentialSQLTrackerStore, sender: str, events: list[Event]) -> DialogueStateTracker:
    """One turn as Rasa runs it: retrieve, append, save."""
    tracker = await store.retrieve(sender) or DialogueStateTracker(sender, store.domain.slots)
    for e in events:
        tracker.update(e)
    await store.save(tracker)
    return tracker


def _twin(store: ConfidentialSQLTrackerStore) -> ConfidentialSQLTrackerStore:
    """Another process's store on the same database (its own memory)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        return ConfidentialSQLTrackerStore(domain=store.domain, dialect="sqlite", db=url.database)
    return ConfidentialSQLTrackerStore(domain=store.domain, dialect="postgresql", host=url.host, port=url.port or 5432,
                                       db=url.database, username=url.username, password=url.password)


def _rows(store: ConfidentialSQLTrackerStore, sender: str) -> list[str]:
    with store.engine.connect() as c:
        return [r[0] for r in c.execute(sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender})]


def _opening(canary: str, intent: str, rtype: str, form: str) -> list[Event]:
    return [
        ActionExecuted("action_listen"),
        _user(f"I want to report {canary}", intent),
        ActionExecuted("action_start_request"),
        BotUttered("Your report is confidential.", metadata={"utter_action": "utter_report_confidential"}),
        SlotSet("request_type", rtype),
        SlotSet("idem_key", "idem-" + canary),
        SlotSet("description", f"the clerk took a bribe {canary}"),
        ActionExecuted(form),
        ActiveLoop(form),
        SlotSet("requested_slot", "contact_phone"),
        BotUttered("Can we contact you?"),
        ActionExecuted("action_listen"),
    ]


def _deny_phone(form: str) -> list[Event]:
    return [
        _user("no", "deny"),
        ActionExecuted(form),
        SlotSet("contact_phone", "none"),
        SlotSet("requested_slot", "confirmed"),
        BotUttered("Summary: report, anonymous. Send it?"),
        ActionExecuted("action_listen"),
    ]


def _submit(form: str, canary: str) -> list[Event]:
    return [
        _user("yes", "affirm"),
        ActionExecuted(form),
        SlotSet("confirmed", "yes"),
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        ActionExecuted("action_submit_request"),
        BotUttered(f"Received. Reference: 482 910 3756 PIN: {PIN}", data={"custom": {"pin": PIN}},
                   metadata={"utter_action": "utter_submitted_report", "reference": REFERENCE}),
        SlotSet("description", None),
        SlotSet("idem_key", None),
        SlotSet("last_reference", REFERENCE),
        SlotSet("request_type", None),
        ActionExecuted("action_listen"),
    ]


def _secrets(canary: str) -> list[str]:
    return [canary, PIN, REFERENCE, "482 910 3756", "sealed:", "+962791234567"]


async def test_an_open_report_is_sealed_at_rest_yet_readable_next_turn(store: ConfidentialSQLTrackerStore) -> None:
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    await _turn(store, sender, _deny_phone("report_form"))

    raw = "\n".join(_rows(store, sender))
    assert canary not in raw and "sealed:" not in raw
    tracker = await store.retrieve(sender)
    assert tracker is not None
    assert tracker.get_slot("description") == f"the clerk took a bribe {canary}"
    assert tracker.active_loop_name == "report_form"
    assert tracker.latest_message is not None and tracker.latest_message.text == "no"


async def test_a_filed_report_is_scrubbed_for_good(store: ConfidentialSQLTrackerStore) -> None:
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, [ActionExecuted("action_listen"), _user("hello", "greet"), BotUttered("Hi"), ActionExecuted("action_listen")])
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    await _turn(store, sender, _deny_phone("report_form"))
    await _turn(store, sender, _submit("report_form", canary))

    rows = _rows(store, sender)
    raw = "\n".join(rows)
    for secret in _secrets(canary)[:4]:
        assert secret not in raw, secret
    assert "bekh_sealed" not in raw
    # Nothing of the report carries the reply address; the greeting before it still does.
    assert [json.loads(r)["text"] for r in rows if "sealed:" in r] == ["hello"]
    tracker = await store.retrieve(sender)
    assert tracker is not None
    assert tracker.get_slot("description") is None and tracker.get_slot("last_reference") is None
    users = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert [u.intent_name for u in users] == ["greet", "report_violation", "deny", "affirm"]
    assert [u.text for u in users[1:]] == [PLACEHOLDER] * 3
    bots = [e for e in tracker.events if isinstance(e, BotUttered)]
    assert bots[-1].text == PLACEHOLDER and bots[-1].metadata == {"utter_action": "utter_submitted_report"}
    # The row count is unchanged, so Rasa's append-only bookkeeping still lines up.
    assert len(rows) == len(tracker.events)


def _status_check() -> list[list[Event]]:
    """A reporter follows up from the same chat: the reference, then the PIN; the status is read out."""
    return [
        [_user("status of 482 910 3756", "check_status", reference="482 910 3756"), ActionExecuted("action_start_status"),
         SlotSet("status_reference", REFERENCE), SlotSet("status_proof", None), ActionExecuted("status_form"),
         ActiveLoop("status_form"), SlotSet("requested_slot", "status_proof"), BotUttered("Your PIN?"), ActionExecuted("action_listen")],
        [_user(PIN, "inform"), ActionExecuted("status_form"), SlotSet("status_proof", PIN), ActiveLoop(None),
         SlotSet("requested_slot", None), ActionExecuted("action_check_status"),
         BotUttered("Request 482 910 3756: answered. Reply: the clerk was suspended"), SlotSet("last_reference", REFERENCE),
         BotUttered("Would you like to rate the answer?"), ActionExecuted("action_listen")],
    ]


async def test_following_up_a_report_by_reference_and_pin_is_sealed_then_scrubbed(store: ConfidentialSQLTrackerStore) -> None:
    """The reference and PIN typed into a status check would tie an anonymous report to this chat."""
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    await _turn(store, sender, _deny_phone("report_form"))
    await _turn(store, sender, _submit("report_form", canary))
    for turn in _status_check():
        await _turn(store, sender, turn)

    secrets = [PIN, REFERENCE, "482 910 3756", "suspended", "sealed:"]
    raw = "\n".join(_rows(store, sender))
    assert [s for s in secrets if s in raw] == []
    # Sealed, not lost: "rate it?" -> "yes" still has the reference and the proof next turn.
    tracker = await _twin(store).retrieve(sender)
    assert tracker is not None
    assert (tracker.get_slot("status_reference"), tracker.get_slot("status_proof")) == (REFERENCE, PIN)
    await _turn(store, sender, [_user("yes", "affirm"), ActionExecuted("action_answer_offer"), ActionExecuted("action_start_rating"),
                                SlotSet("rating_reference", REFERENCE), ActionExecuted("rating_form"), ActiveLoop("rating_form"),
                                BotUttered("Your score?"), ActionExecuted("action_listen")])
    # Anything else ends the follow-up: scrubbed for good, the new message in clear.
    await _turn(store, sender, [ActiveLoop(None), _user("hello", "greet"), BotUttered("Hi"), ActionExecuted("action_listen")])
    rows = _rows(store, sender)
    raw = "\n".join(rows)
    assert [s for s in secrets[:-1] if s in raw] == [] and "bekh_sealed" not in raw
    # Of the whole conversation, only the greeting after it keeps its (sealed) reply address.
    assert [json.loads(r)["text"] for r in rows if "sealed:" in r] == ["hello"]
    tracker = await _twin(store).retrieve(sender)
    assert tracker is not None
    assert tracker.get_slot("status_reference") is None and tracker.get_slot("rating_reference") is None
    users = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert [u.text for u in users][-5:] == [PLACEHOLDER, PLACEHOLDER, PLACEHOLDER, PLACEHOLDER, "hello"]
    assert len(rows) == len(tracker.events)


async def test_an_ordinary_complaint_is_stored_as_rasa_stores_it(store: ConfidentialSQLTrackerStore) -> None:
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, _opening(canary, "complain", "complaint", "complaint_form"))
    await _turn(store, sender, _deny_phone("complaint_form"))
    filed = await _turn(store, sender, _submit("complaint_form", canary))

    rows = _rows(store, sender)
    assert [json.loads(r) for r in rows] == [e.as_dict() for e in filed.events]
    assert canary in "\n".join(rows)


async def test_asking_for_a_person_mid_report_drops_the_narrative_but_keeps_the_reply_route(
    store: ConfidentialSQLTrackerStore,
) -> None:
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    await _turn(store, sender, [_user("agent please", "human_handoff"), ActionExecuted("action_handoff"), ActiveLoop(None),
                                BotUttered("An agent will answer."), ActionExecuted("action_listen")])

    raw = "\n".join(_rows(store, sender))
    assert canary not in raw and "bekh_sealed" not in raw
    tracker = await store.retrieve(sender)
    assert tracker is not None and tracker.get_slot("description") is None
    assert tracker.latest_message is not None and tracker.latest_message.text == "agent please"
    assert tracker.latest_message.metadata.get("reply_address", "").startswith("sealed:")


async def test_an_answer_heard_as_asking_for_a_person_that_the_form_takes_keeps_the_report(
    store: ConfidentialSQLTrackerStore,
) -> None:
    """The phone question answered "no, I'd rather not leave my number", which the NLU heard as
    human_handoff: the form took it, so the narrative stays (sealed) and the report can be filed."""
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, _opening(canary, "report_human_rights", "report", "report_form"))
    deny = _deny_phone("report_form")
    deny[0] = _user("no, I'd rather not leave my number", "human_handoff")
    await _turn(store, sender, deny)

    assert canary not in "\n".join(_rows(store, sender))
    for read in (store, _twin(store)):  # this process's kept tracker, and another's read of the rows
        tracker = await read.retrieve(sender)
        assert tracker is not None and tracker.get_slot("description") == f"the clerk took a bribe {canary}"
        assert tracker.get_slot("request_type") == "report" and tracker.active_loop_name == "report_form"
        await read.save(tracker)
    await _turn(store, sender, _submit("report_form", canary))
    raw = "\n".join(_rows(store, sender))
    for secret in _secrets(canary)[:4]:
        assert secret not in raw, secret
    assert "bekh_sealed" not in raw


async def test_a_report_left_open_when_a_new_session_starts_is_scrubbed(store: ConfidentialSQLTrackerStore) -> None:
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    await _turn(store, sender, [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
                                _user("hello", "greet"), BotUttered("Hi"), ActionExecuted("action_listen")])

    raw = "\n".join(_rows(store, sender))
    assert canary not in raw and "bekh_sealed" not in raw
    full = await store.retrieve_full_tracker(sender)
    assert full is not None and PLACEHOLDER in [e.text for e in full.events if isinstance(e, UserUttered)]


async def test_the_event_broker_never_gets_a_reports_content(tmp_path: Path, domain: Domain) -> None:
    """Analytics read Rasa's event broker: a report's events reach it scrubbed, even while open."""
    from rasa.core.brokers.sql import SQLEventBroker

    broker = SQLEventBroker(dialect="sqlite", db=str(tmp_path / "broker.db"))
    store = ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "tracker.db"), event_broker=broker)
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, [ActionExecuted("action_listen"), _user(f"hello {canary}-greet", "greet"), ActionExecuted("action_listen")])
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    await _turn(store, sender, _submit("report_form", canary))

    with broker.engine.connect() as c:
        published = [json.loads(r[0]) for r in c.execute(sa.text("SELECT data FROM events ORDER BY id"))]
    raw = json.dumps(published)
    assert f"{canary}-greet" in raw  # an ordinary message is published as Rasa publishes it
    assert f"bribe {canary}" not in raw and f"report {canary}" not in raw and PIN not in raw and REFERENCE not in raw
    assert "report_violation" in raw  # the shape (intents, actions) still reaches analytics


async def test_the_event_broker_gets_every_event_once_without_the_session_being_read_back(
        tmp_path: Path, domain: Domain) -> None:
    """The broker gets each turn's new events, once, in one commit, also when another process
    served the previous turn; and a save reads row ids only, never the stored events (Rasa rebuilt
    the whole session from the database on every save to tell which events were new)."""
    from rasa.core.brokers.sql import SQLEventBroker

    broker = SQLEventBroker(dialect="sqlite", db=str(tmp_path / "broker.db"))
    store = ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "tracker.db"), event_broker=broker)
    other = ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "tracker.db"), event_broker=broker)
    sender = "sms_" + uuid.uuid4().hex
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    commits: list[int] = []
    sa.event.listen(broker.engine, "commit", lambda *a: commits.append(1))
    sent = []
    for n, s in enumerate([store, store, other, store]):
        turn = [ActionExecuted("action_listen"), _user(f"message {n}", "greet"), BotUttered(f"reply {n}")]
        sent += [e.as_dict() for e in turn]
        tracker = await s.retrieve(sender) or DialogueStateTracker(sender, domain.slots)
        for e in turn:
            tracker.update(e)
        statements.clear()
        commits.clear()
        await s.save(tracker)
        assert len(commits) == 1  # the turn's events in one commit (Rasa's broker: one each)
        # Only the sealed rows' data may be read (to scrub them), never the session's.
        reads = [q for q in statements if q.lstrip().upper().startswith("SELECT") and "data" in q.split("FROM")[0]]
        assert all("data LIKE" in q for q in reads), reads

    with broker.engine.connect() as c:
        published = [json.loads(r[0]) for r in c.execute(sa.text("SELECT data FROM events ORDER BY id"))]
    assert [(e["event"], e.get("text")) for e in published] == [(e["event"], e.get("text")) for e in sent]


async def test_scrubbing_leaves_no_sealed_bytes_behind_in_the_sqlite_file(tmp_path: Path, domain: Domain) -> None:
    path = tmp_path / "tracker.db"
    store = ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    sealed = [json.loads(r)["bekh_sealed"] for r in _rows(store, sender) if "bekh_sealed" in r]
    assert sealed
    await _turn(store, sender, _submit("report_form", canary))

    def left(tokens: list[str]) -> list[str]:
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("tracker.db*"))
        # Any stretch of an old token would do; the middle is ciphertext, not the shared header.
        return [token for token in tokens if any(token[i:i + 24].encode() in raw for i in range(0, len(token) - 24, 24))]

    assert not left(sealed), "gone while the store is open (the write-ahead log too)"
    store.engine.dispose()
    assert not left(sealed)


async def test_a_conversation_still_loads_when_the_key_changed_mid_report(tmp_path: Path, domain: Domain) -> None:
    from bot.privacy import FieldCipher

    store = ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "tracker.db"))
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    store = _twin(store)  # the process restarted with the new key
    store._cipher = FieldCipher(b"a-rotated-sender-id-key-0123456789", purpose="tracker-events")
    tracker = await store.retrieve(sender)
    assert tracker is not None and tracker.get_slot("description") is None
    assert [e.intent_name for e in tracker.events if isinstance(e, UserUttered)] == ["report_violation"]
    await _turn(store, sender, _submit("report_form", canary))
    assert "bekh_sealed" not in "\n".join(_rows(store, sender))


# The per-process tracker cache (bot/tracker_store.py): a turn gets the tracker this process saved
# last only while the stored session is unchanged, and always exactly what a read would give.

def _state(tracker: DialogueStateTracker | None) -> dict[str, Any]:
    from rasa.shared.core.trackers import EventVerbosity

    assert tracker is not None
    return tracker.current_state(EventVerbosity.ALL)


def _greeting(text: str) -> list[Event]:
    return [_user(text, "greet"), BotUttered("Hi"), ActionExecuted("action_listen")]


async def _read(store: ConfidentialSQLTrackerStore, sender: str) -> DialogueStateTracker | None:
    """What the database holds: a fresh process's read."""
    other = _twin(store)
    try:
        return await other.retrieve(sender)
    finally:
        other.engine.dispose()


async def test_the_next_turn_gets_the_saved_tracker_as_a_read_would_give_it(store: ConfidentialSQLTrackerStore) -> None:
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, [ActionExecuted("action_listen"), *_greeting("hello")])
    await _turn(store, sender, _greeting("hello again"))  # read from the database (a session started in turn 1)
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    saved = await _turn(store, sender, _deny_phone("report_form"))

    again = await store.retrieve(sender)
    assert again is saved, "an unchanged session is not read and replayed again"
    assert _state(again) == _state(await _read(store, sender))
    assert again.get_slot("description") == f"the clerk took a bribe {canary}"  # the open report, unsealed
    assert await store.retrieve(sender) is not saved, "handed out once: the caller owns it until it saves"


async def test_a_turn_served_by_another_process_is_seen_by_the_next_turn_here(store: ConfidentialSQLTrackerStore) -> None:
    other = _twin(store)
    sender = "sms_" + uuid.uuid4().hex
    await _turn(store, sender, [ActionExecuted("action_listen"), *_greeting("hello")])
    await _turn(store, sender, _greeting("from A"))
    await _turn(other, sender, [*_greeting("from B"), SlotSet("language", "ar")])
    here = await store.retrieve(sender)
    assert here is not None and here.get_slot("language") == "ar"
    assert [e.text for e in here.events if isinstance(e, UserUttered)][-2:] == ["from A", "from B"]
    await _turn(store, sender, _greeting("from A again"))  # and the other way round
    there = await other.retrieve(sender)
    assert there is not None and [e.text for e in there.events if isinstance(e, UserUttered)][-1] == "from A again"
    assert _state(there) == _state(await _read(store, sender))
    other.engine.dispose()


async def test_a_filed_report_is_not_kept_in_memory(store: ConfidentialSQLTrackerStore) -> None:
    sender, canary = "sms_" + uuid.uuid4().hex, "CANARY-" + uuid.uuid4().hex
    await _turn(store, sender, [ActionExecuted("action_listen"), *_greeting("hello")])
    await _turn(store, sender, _opening(canary, "report_violation", "report", "report_form"))
    await _turn(store, sender, _deny_phone("report_form"))
    filed = await _turn(store, sender, _submit("report_form", canary))

    tracker = await store.retrieve(sender)
    assert tracker is not filed
    dump = json.dumps(_state(tracker))
    for secret in _secrets(canary)[:4]:
        assert secret not in dump, secret
    # Later turns of the same session are kept again, scrubbed as the database has them.
    assert tracker is not None
    for e in _greeting("thanks"):
        tracker.update(e)
    await store.save(tracker)
    kept = await store.retrieve(sender)
    assert kept is tracker and canary not in json.dumps(_state(kept))
    assert _state(kept) == _state(await _read(store, sender))


async def test_a_new_session_is_read_back_as_the_new_session_only(store: ConfidentialSQLTrackerStore) -> None:
    sender = "sms_" + uuid.uuid4().hex
    await _turn(store, sender, [ActionExecuted("action_listen"), *_greeting("hello")])
    await _turn(store, sender, _greeting("yesterday"))
    await _turn(store, sender, [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
                                *_greeting("today")])
    tracker = await store.retrieve(sender)
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["today"]  # type: ignore[union-attr]
    assert _state(tracker) == _state(await _read(store, sender))


async def test_a_tracker_mutated_after_its_save_is_not_handed_out(store: ConfidentialSQLTrackerStore) -> None:
    sender = "sms_" + uuid.uuid4().hex
    await _turn(store, sender, [ActionExecuted("action_listen"), *_greeting("hello")])
    saved = await _turn(store, sender, _greeting("again"))
    saved.update(UserUttered("never saved", intent={"name": "greet"}))
    tracker = await store.retrieve(sender)
    assert tracker is not saved and _state(tracker) == _state(await _read(store, sender))


@pytest.fixture
def cache_size(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def set_size(n: int) -> None:
        monkeypatch.setenv("TRACKER_CACHE_SIZE", str(n))
        get_settings.cache_clear()

    yield set_size
    get_settings.cache_clear()


async def test_the_cache_is_bounded_and_can_be_turned_off(tmp_path: Path, domain: Domain, cache_size: Any) -> None:
    cache_size(2)
    store = ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "tracker.db"))
    senders = ["sms_" + uuid.uuid4().hex for _ in range(3)]
    saved = {}
    for s in senders:
        await _turn(store, s, [ActionExecuted("action_listen"), *_greeting("hello")])
        saved[s] = await _turn(store, s, _greeting("again"))
    assert await store.retrieve(senders[0]) is not saved[senders[0]], "the least recently saved went first"
    assert await store.retrieve(senders[2]) is saved[senders[2]]

    cache_size(0)
    off = ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "tracker.db"))
    kept = await _turn(off, senders[1], _greeting("once more"))
    tracker = await off.retrieve(senders[1])
    assert tracker is not kept and _state(tracker) == _state(kept)
