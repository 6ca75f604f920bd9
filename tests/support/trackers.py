"""rasa_sdk Trackers as Rasa hands them to the action server, built from a few named parts.

A turn is the latest user message (text, intent, entities, metadata) plus the user event Rasa
logged for it: `input_channel` and `metadata` are what the connector set, which is where
actions.common reads the channel and identity from.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from bot.privacy import phone_identity, seal_address

# The metadata each of our verified connectors puts on a message from `address`.
CONNECTORS = {
    "rest": lambda address: {"channel": "rest"},
    "messenger": lambda address: {"channel": "messenger", "reply_address": seal_address(address)},
    "twilio_sms": lambda address: {"channel": "sms", "reply_address": seal_address(address)},
    "twilio_voice": lambda address: {"channel": "voice", "caller_key": phone_identity(address)},
}


def entity(name: str, value: str) -> dict[str, Any]:
    return {"entity": name, "value": value}


def user_event(text: str, intent: str = "inform", entities: list[dict[str, Any]] | None = None,
               connector: str = "rest", address: str = "", metadata: dict[str, Any] | None = None,
               ranking: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    """A user event; `ranking` is the NLU's intent ranking (the first is the intent, unless the
    fallback's `nlu_fallback` is named as `intent`)."""
    meta = dict(CONNECTORS[connector](address), **(metadata or {}))
    parse: dict[str, Any] = {"intent": {"name": intent, "confidence": 0.99}, "entities": entities or [], "text": text}
    if ranking:
        parse["intent"]["confidence"] = dict(ranking).get(intent, 0.3)
        parse["intent_ranking"] = [{"name": name, "confidence": c} for name, c in ranking]
    return {"event": "user", "text": text, "input_channel": connector, "metadata": meta, "timestamp": 1.0, "parse_data": parse}


def bot_event(response: str, text: str = "", buttons: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """What Rasa logs for a response the bot sent (its name in `metadata.utter_action`)."""
    return {"event": "bot", "text": text or response, "timestamp": 1.0, "metadata": {"utter_action": response},
            "data": {"buttons": buttons}}


def tracker(
    text: str = "",
    intent: str = "inform",
    entities: list[dict[str, Any]] | None = None,
    *,
    slots: dict[str, Any] | None = None,
    sender_id: str = "rest_0123456789abcdef",
    connector: str = "rest",
    address: str = "",
    metadata: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
    language: str | None = None,
    ranking: list[tuple[str, float]] | None = None,
) -> Tracker:
    """A tracker whose latest message is `text`; `history` comes before its user event."""
    event = user_event(text, intent, entities, connector, address, metadata, ranking)
    latest = dict(event["parse_data"], metadata=event["metadata"])
    if language:
        latest["language"] = language
    all_slots = dict(slots or {})
    loop = {"name": active_loop} if active_loop else {}
    return Tracker(sender_id, all_slots, latest, [*(history or []), event], False, None, loop, "action_listen")


_EMPTY: dict[str, Any] = {"text": None, "image": None, "attachment": None, "buttons": [], "elements": [], "custom": {}}


def said(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dispatcher's messages without rasa-sdk's empty defaults (and the `template` alias of
    `response`): what each one says, exactly."""
    out = []
    for m in messages:
        out.append({k: v for k, v in m.items() if k != "template" and not (k in _EMPTY and v == _EMPTY[k])})
    return out
