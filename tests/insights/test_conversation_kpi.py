"""The conversation figures on a small known set of broker events (Rasa's event shapes), and the
SQL broker reader: folded, counted once, deleted from the broker, nothing identifying kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.sql import INSIGHTS, migrate, sync_engine
from insights.analytics import Folder, conversation_key
from insights.broker import SqlBrokerReader
from insights.conversation_kpi import figures

KEY = b"k" * 32
T0 = dt.datetime(2026, 11, 22, 7, 0, tzinfo=dt.timezone.utc)  # Sunday 10:00 in Amman: hours open


def ev(sender: str, minute: float, kind: str, **kw: Any) -> dict[str, Any]:
    return {"sender_id": sender, "event": kind, "timestamp": (T0 + dt.timedelta(minutes=minute)).timestamp(), **kw}


SECRET = "عندي شكوى على البلدية"


def user(sender: str, minute: float, intent: str = "complain", channel: str = "messenger", text: str = "") -> dict[str, Any]:
    return ev(sender, minute, "user", text=text, input_channel=channel, parse_data={"intent": {"name": intent}, "text": text})


def form_steps(sender: str, start: float, rtype: str, steps: list[str]) -> list[dict[str, Any]]:
    out = [ev(sender, start, "active_loop", name=f"{rtype}_form")]
    for i, s in enumerate(steps):
        out.append(ev(sender, start + i + 0.5, "slot", name="requested_slot", value=s))
        out.append(user(sender, start + i + 0.9, intent="inform", text="0791234567"))
    return out


def conversations() -> list[dict[str, Any]]:
    e: list[dict[str, Any]] = []
    # A: Arabic complaint, filed after 10 minutes
    e += [user("A", 0, text=SECRET), ev("A", 0.1, "slot", name="language", value="ar")]
    e += form_steps("A", 1, "complaint", ["sector", "entity_id", "pillar", "importance", "description", "contact_phone", "edit_field", "confirmed"])
    e += [ev("A", 9.5, "active_loop", name=None), ev("A", 10, "action", name="action_submit_request"),
          ev("A", 10, "bot", text="ref 123", metadata={"utter_action": "utter_submitted"})]
    # B: English inquiry, cancelled at the description step
    e += [user("B", 0, intent="ask_government", text="I have a question about my passport"), ev("B", 0.1, "slot", name="language", value="en")]
    e += form_steps("B", 1, "inquiry", ["sector", "entity_id", "importance", "description"])
    e += [ev("B", 6, "action", name="action_cancel_request")]
    # C: English, a fallback turn, an inquiry left quiet at contact_phone (abandoned), then a handoff taken after 90 s
    e += [user("C", 0, intent="nlu_fallback", text="3ndi mushkle kbeere ya5i"), ev("C", 0.1, "slot", name="language", value="ar")]
    e += form_steps("C", 1, "inquiry", ["sector", "entity_id", "importance", "description", "contact_phone"])
    e += [ev("C", 7, "action", name="action_handoff"), ev("C", 8.5, "pause")]
    # D: a voice call: report filed (scrubbed events: text placeholder, no metadata but the utterance)
    e += [user("D", 0, intent="report_violation", channel="twilio_voice", text="[confidential]"),
          ev("D", 0.1, "slot", name="language", value="ar")]
    e += form_steps("D", 1, "report", ["sector", "entity_id"])
    e += [ev("D", 4, "bot", text="[confidential]", metadata={"utter_action": "utter_submitted_report"})]
    # E: a voice call that hangs up at the sector step
    e += [user("E", 0, channel="twilio_voice", text="أريد تقديم شكوى"), ev("E", 0.1, "slot", name="language", value="ar")]
    e += form_steps("E", 1, "complaint", ["sector"])
    return e


def store(tmp_path: Path) -> sa.engine.Engine:
    url = f"sqlite:///{tmp_path / 'insights.db'}"
    migrate(INSIGHTS, url)
    return sync_engine(url)


def test_funnel_completion_fallback_handoffs_ivr_and_time_to_reference(tmp_path: Path) -> None:
    engine = store(tmp_path)
    Folder(engine, KEY).apply(conversations())
    f = figures(engine, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1), now=T0 + dt.timedelta(hours=2))
    assert f["conversations_started"] == 5
    assert f["requests_filed"] == 2
    assert f["completion"]["complaint"] == {"started": 2, "filed": 1, "cancelled": 0, "abandoned": 1, "in_progress": 0, "rate": 0.5}
    assert f["completion"]["inquiry"] == {"started": 2, "filed": 0, "cancelled": 1, "abandoned": 1, "in_progress": 0, "rate": 0.0}
    assert f["completion"]["report"]["filed"] == 1 and f["completion"]["report"]["rate"] == 1.0
    assert f["dropoff"]["description"] == {"cancelled": 1, "abandoned": 0}
    assert f["dropoff"]["contact_phone"] == {"cancelled": 0, "abandoned": 1}
    assert f["dropoff"]["sector"] == {"cancelled": 0, "abandoned": 1}
    assert [s["count"] for s in f["funnel"]] == [5, 5, 4, 4, 4, 4, 3, 2, 2, 2]
    # turns: the first message of each conversation plus one per step asked
    # each turn's language: tagged or detected, else the conversation's; Arabizi told apart
    assert f["fallback"]["en"] == {"turns": 5, "fallbacks": 0, "share": 0.0}
    assert f["fallback"]["ar"] == {"turns": 9 + 5 + 2 + 2, "fallbacks": 0, "share": 0.0}
    assert f["fallback"]["ar_latn"] == {"turns": 1, "fallbacks": 1, "share": 1.0}
    assert f["fallback"]["unknown"]["turns"] == 1  # a scrubbed report message before any language was known
    assert f["handoffs"]["count"] == 1 and f["handoffs"]["median_wait_seconds"] == 90.0 and f["handoffs"]["after_hours"] == 0
    assert f["ivr"] == {"calls": 2, "transfers": 0, "hangups_before_end": 1}
    assert f["median_seconds_to_reference"] == (10 * 60 + 4 * 60) / 2
    # a form still inside its quiet time is in progress, not abandoned
    soon = figures(engine, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1), now=T0 + dt.timedelta(minutes=12))
    assert soon["completion"]["inquiry"]["in_progress"] == 1 and soon["completion"]["complaint"]["in_progress"] == 1


def test_nothing_identifying_is_stored(tmp_path: Path) -> None:
    engine = store(tmp_path)
    Folder(engine, KEY).apply(conversations())
    with engine.connect() as conn:
        dump = json.dumps([[list(map(str, r)) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))]
                           for t in ("ana_conversations", "ana_forms", "ana_turns", "ana_handoffs")])
    assert SECRET not in dump and "passport" not in dump and "0791234567" not in dump and "ref 123" not in dump
    assert conversation_key("A", KEY) in dump and '"A"' not in dump
    assert len(conversation_key("A", KEY)) == 16 and conversation_key("A", KEY) != conversation_key("A", b"x" * 32)


def test_sql_broker_rows_are_folded_once_and_deleted(tmp_path: Path) -> None:
    engine = store(tmp_path)
    broker_url = f"sqlite:///{tmp_path / 'events.db'}"
    from rasa.core.brokers.sql import SQLEventBroker

    broker = SQLEventBroker(db=str(tmp_path / "events.db"))
    for e in conversations():
        broker.publish(e)
    reader = SqlBrokerReader(broker_url, Folder(engine, KEY))
    assert reader.drain_once() == len(conversations())
    with reader.engine.connect() as conn:
        # nothing of the events is left: one emptied row keeps SQLite's ids from starting over
        assert conn.execute(sa.text("SELECT sender_id, data FROM events")).all() == [(None, "{}")]
    assert reader.drain_once() == 0
    # events published after a drain are read too (SQLite would reuse ids of an emptied table)
    broker.publish(user("F", 30))
    assert reader.drain_once() == 1
    f = figures(engine, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1), now=T0 + dt.timedelta(hours=2))
    assert f["conversations_started"] == 6 and f["requests_filed"] == 2
