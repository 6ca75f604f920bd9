"""action_switch_language: a language the person names wins (bot.lang.requested_language)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import ActionSwitchLanguage


def tracker(text: str, language: str, entities: list[dict[str, Any]] | None = None) -> Tracker:
    latest = {"text": text, "intent": {"name": "switch_language"}, "entities": entities or []}
    return Tracker("s1", {"language": language}, latest, [], False, None, {}, "action_listen")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("text", "current", "target"),
    [
        ("engleezi please", "en", "en"),  # named, though already English: no toggle to Arabic
        ("بدي انجليزي", "ar", "en"),
        ("بالعربي لو سمحت", "ar", "ar"),
        ("3arabi", "en", "ar"),
        ("change the language", "ar", "en"),  # names none: toggles
        ("from arabic to english", "en", "ar"),  # names both: toggles
    ],
)
async def test_switch_language_follows_the_named_language(text: str, current: str, target: str) -> None:
    events = await ActionSwitchLanguage().run(CollectingDispatcher(), tracker(text, current), {})
    assert events == [SlotSet("language", target)]


@pytest.mark.asyncio
async def test_a_language_button_wins_over_the_words() -> None:
    t = tracker("english", "en", [{"entity": "language", "value": "ar"}])
    assert await ActionSwitchLanguage().run(CollectingDispatcher(), t, {}) == [SlotSet("language", "ar")]
