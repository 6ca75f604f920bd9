"""Language, handoff to a person, and session start."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from rasa_sdk import Action, Tracker, ValidationAction
from rasa_sdk.events import ActionExecuted, ActiveLoop, ConversationPaused, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common
from bot import business_hours, confidential
from bot.lang import LANGUAGES, first_message_language, requested_language
from bot.rasa_patches import ACTION_EVENT_LINES
from bot.settings import env, secret

log = logging.getLogger(__name__)

CARRIED_OVER = ("language", "last_reference")


class ValidatePredefinedSlots(ValidationAction):
    """Runs after every user message: the language the NLU detected becomes the `language` slot."""

    async def extract_language(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if common.entity_values(tracker, "language"):
            return {}  # a language button already set it through the from_entity mapping
        detected = tracker.latest_message.get("language")
        if detected is None and _is_first_message(tracker):
            # "hello" keeps the current language, but a new conversation has none to keep yet
            # (the slot's initial "ar" is a default, not a choice): short English starts it in English.
            text = common.user_text(tracker)
            detected = None if common.is_payload(text) else first_message_language(text)
        if detected in LANGUAGES and detected != tracker.get_slot("language"):
            if common.intent(tracker) == "switch_language":
                return {}  # "بدي انجليزي" is Arabic text asking for English: action_switch_language decides
            return {"language": detected}
        return {}


def _is_first_message(tracker: Tracker) -> bool:
    """The latest message is the first one of the session. The action server gets the session's
    events from the latest few lines on (bot/rasa_patches.py, ACTION_EVENT_LINES_FOR): enough
    to hold an earlier user message whenever the session has one."""
    return sum(1 for e in tracker.events if e.get("event") == "user") <= 1


class ActionSwitchLanguage(Action):
    def name(self) -> str:
        return "action_switch_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        wanted = common.entity_values(tracker, "language")
        text = common.user_text(tracker)
        if wanted and wanted[0] in LANGUAGES:
            target = wanted[0]
        else:
            # A named language wins; none (or both, "from Arabic to English") toggles.
            target = requested_language(text) or ("ar" if tracker.get_slot("language") == "en" else "en")
        return [SlotSet("language", target)]


def _transcript(tracker: Tracker, limit: int = ACTION_EVENT_LINES) -> list[dict[str, Any]]:
    """What the agent sees of the conversation so far. A report's turns never go into the
    handoff queue (the console's tables): a reporter who asks for a person mid-report is
    handed over without the narrative (bot/confidential.py says which turns those are). The
    action server gets the events holding the last `limit` such lines (bot/rasa_patches.py)."""
    lines = []
    secret = confidential.confidential_indices(tracker.events)
    for i, event in enumerate(tracker.events):
        if i in secret:
            continue
        if event.get("event") == "user" and event.get("text"):
            lines.append({"who": "user", "text": event["text"], "at": event.get("timestamp")})
        elif event.get("event") == "bot" and event.get("text"):
            lines.append({"who": "bot", "text": event["text"], "at": event.get("timestamp")})
    return lines[-limit:]


class ActionHandoff(Action):
    """Queue the conversation for the contact center; pause the bot while an agent can answer."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        lang = common.language(tracker)
        open_now = business_hours.is_open()
        url = env("AGENT_CONSOLE_INTERNAL_URL") or f"{env('RASA_URL', 'http://127.0.0.1:5005')}/webhooks/agent_console/internal/handoff"
        body = {
            "sender_id": tracker.sender_id,
            "channel": common.channel(tracker),
            "language": lang,
            "transcript": _transcript(tracker),
            "after_hours": not open_now,
        }
        queued = False
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
                async with session.post(url, json=body, headers={"Authorization": f"Bearer {secret('AGENT_CONSOLE_INTERNAL_TOKEN')}"}) as resp:
                    queued = resp.status < 300
                    if not queued:
                        log.warning("handoff queue answered %s", resp.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            log.warning("handoff queue unreachable: %s", type(err).__name__)
        events: list[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None)]
        if not open_now:
            dispatcher.utter_message(response="utter_handoff_after_hours", hours_text=business_hours.current().describe(lang))
            return events
        if not queued:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return events
        dispatcher.utter_message(response="utter_handoff")
        return events + [ConversationPaused()]


class ActionSessionStart(Action):
    """A new session keeps only the language and the last reference, never a half-filled form."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        for name in CARRIED_OVER:
            value = tracker.get_slot(name)
            if value is not None:
                events.append(SlotSet(name, value))
        events.append(ActionExecuted("action_listen"))
        return events


