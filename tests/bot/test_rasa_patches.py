"""bot.rasa_patches: the action-response validator is built once and still refuses bad responses."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot import rasa_patches

GOOD = {
    "events": [{"event": "slot", "name": "sector", "value": "health", "timestamp": None},
               {"event": "active_loop", "name": "complaint_form"}],
    "responses": [{"response": "utter_ask_sector", "buttons": []}],
}
BAD = [
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"events": [{"event": "no_such_event"}]},
    {"events": "not a list"},
    {"responses": [1, 2]},
]


def _action() -> RemoteAction:
    return RemoteAction("action_x", None)


def test_patch_is_installed_by_importing_the_channels() -> None:
    import channels  # noqa: F401 - the import applies the patch, as in the Rasa process

    assert RemoteAction._validate_action_result is rasa_patches._validate_action_result


def test_valid_response_passes() -> None:
    rasa_patches.apply()
    assert _action()._validate_action_result(dict(GOOD)) is True


@pytest.mark.parametrize("bad", BAD)
def test_invalid_response_is_still_refused_like_stock(bad: dict) -> None:
    rasa_patches.apply()
    with pytest.raises(jsonschema.ValidationError) as patched:
        _action()._validate_action_result(bad)
    with pytest.raises(jsonschema.ValidationError) as stock:
        jsonschema.validate(bad, RemoteAction.action_response_format_spec())
    assert patched.value.message.startswith(stock.value.message)
    assert "Failed to validate Action server response" in patched.value.message


def test_validator_is_built_once() -> None:
    rasa_patches.apply()
    rasa_patches._action_response_validator.cache_clear()
    for _ in range(3):
        _action()._validate_action_result(dict(GOOD))
    assert rasa_patches._action_response_validator.cache_info().misses == 1


async def test_unreachable_action_server_gets_one_localised_answer_per_turn() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import EndpointConfig

    from bot.launcher import free_port
    ROOT = Path(__file__).resolve().parents[2]

    rasa_patches.apply()
    domain = Domain.load(str(ROOT / "domain.yml"))
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    action = RemoteAction("action_start_request", EndpointConfig(url=f"http://127.0.0.1:{free_port()}/webhook"))
    expected = {"en": domain.responses["utter_backend_unavailable"][1]["text"],
                "ar": domain.responses["utter_backend_unavailable"][0]["text"]}
    for lang in ("en", "ar"):
        out = CollectingOutputChannel()
        tracker = DialogueStateTracker.from_events(
            f"s-{lang}", [SlotSet("language", lang), UserUttered("hi", message_id=f"m-{lang}")], slots=domain.slots)
        for _ in range(3):  # Rasa may try several actions in one turn: one answer only
            with pytest.raises(RasaException):
                await action.run(out, nlg, tracker, domain)
        assert [m["text"] for m in out.messages] == [expected[lang]]
