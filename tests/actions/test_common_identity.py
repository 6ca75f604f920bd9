"""actions.common: channel and identity come only from what our verified connectors set.

The events are shaped as Rasa hands them to the action server (UserUttered.as_dict: `input_channel`
and `metadata` set by the connector that built the UserMessage)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions import common
from bot.privacy import keyed_id, phone_identity, seal_address

PHONE = "+962791234567"


def user(input_channel: str | None, metadata: dict[str, Any], text: str = "hi") -> dict[str, Any]:
    return {"event": "user", "text": text, "input_channel": input_channel, "metadata": metadata,
            "parse_data": {"intent": {"name": "greet"}, "entities": []}}


def tracker(sender_id: str, *events: dict[str, Any]) -> Tracker:
    latest = dict(events[-1]["parse_data"], text=events[-1]["text"], metadata=events[-1]["metadata"]) if events else {}
    return Tracker(sender_id, {}, latest, list(events), False, None, {}, "action_listen")


def test_forged_rest_metadata_gives_neither_a_channel_nor_an_identity() -> None:
    forged = {"channel": "sms", "caller_key": phone_identity(PHONE), "reply_address": seal_address(PHONE)}
    for input_channel in ("rest", None, "callback", "socketio"):
        t = tracker("rest_0123", user(input_channel, forged))
        assert common.channel(t) == "web"
        assert common.reply_address(t) is None
        assert common.caller_key(t) is None
        assert common.requester_id(t) == "rest_0123", "a REST chat is only itself, never the phone it names"
        assert not common.can_use_own_number(t)


def test_our_rest_channel_is_web_even_with_a_sender_id_that_looks_like_sms() -> None:
    t = tracker("sms_4f2a", user("rest", {"channel": "rest"}))
    assert common.channel(t) == "web"
    assert tracker("sms_4f2a").sender_id == "sms_4f2a" and common.channel(tracker("sms_4f2a")) == "web"


def test_a_connector_tag_must_agree_with_the_connector() -> None:
    # Messenger cannot carry a caller_key, nor say it is SMS.
    t = tracker("messenger_x", user("messenger", {"channel": "sms", "reply_address": seal_address(PHONE)}))
    assert common.channel(t) == "web" and common.reply_address(t) is None
    t = tracker("messenger_x", user("messenger", {"channel": "messenger", "caller_key": phone_identity(PHONE)}))
    assert common.channel(t) == "messenger" and common.caller_key(t) is None
    assert common.requester_id(t) == "messenger_x"


def test_verified_connectors_give_channel_and_identity() -> None:
    sms = tracker(keyed_id("twilio_sms", PHONE), user("twilio_sms", {"channel": "sms", "reply_address": seal_address(PHONE)}))
    assert common.channel(sms) == "sms"
    assert common.reply_address(sms) == PHONE
    assert common.requester_id(sms) == phone_identity(PHONE)
    assert common.can_use_own_number(sms)
    voice = tracker("voice_x", user("twilio_voice", {"channel": "voice", "caller_key": phone_identity(PHONE)}))
    assert common.channel(voice) == "voice" and common.requester_id(voice) == phone_identity(PHONE)
    assert common.can_use_own_number(voice)


def test_a_later_forged_event_does_not_borrow_an_earlier_verified_one() -> None:
    # The latest connector event decides: a REST turn after an SMS turn in the same tracker is web.
    t = tracker("x", user("twilio_sms", {"channel": "sms", "reply_address": seal_address(PHONE)}),
                user("rest", {"channel": "rest"}))
    assert common.channel(t) == "web" and common.reply_address(t) is None
