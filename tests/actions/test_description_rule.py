"""The complaint form and the agent console apply one description rule (bot.request_rules)."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import ValidateComplaintForm
from channels.agent_console import BadInput, parse_new_request

TEXTS = ["Streetlights", "no water", "help!!!!!!!!!!!", "no water yet", "الكهرباء مقطوعة", "مقطوعةالكهرباء"]


def console_accepts(description: str) -> bool:
    body = {
        "idempotency_key": "console-0123456789", "caller_phone": "0791234567", "caller_language": "ar",
        "type": "complaint", "sector": "health", "entity": "moh", "pillar": "delivery_time",
        "description": description,
    }
    try:
        parse_new_request(body)
    except BadInput as e:
        assert set(e.fields) == {"description"}
        return False
    return True


@pytest.mark.asyncio
@pytest.mark.parametrize("text", TEXTS)
async def test_form_and_console_accept_the_same_descriptions(text: str) -> None:
    latest = {"text": text, "intent": {"name": "inform"}, "entities": []}
    tracker = Tracker("s1", {"requested_slot": "description"}, latest, [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    result = await ValidateComplaintForm().extract_description(dispatcher, tracker, {})
    form_accepts = result == {"description": text}
    assert form_accepts == console_accepts(text)
    assert form_accepts == (dispatcher.messages == [])
