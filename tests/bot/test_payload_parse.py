"""A button's payload is parsed by Rasa's RegexMessageHandler alone (bot/rasa_patches.py): the
result must be the whole NLU graph's, for every payload the assistant sends and for payloads the
handler refuses (which still go through the whole graph)."""

from __future__ import annotations

from typing import Any

import pytest

from bot import rasa_patches
from bot.launcher import MODEL, train_if_needed

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def processor() -> Any:
    from rasa.core.agent import Agent

    rasa_patches.apply()
    train_if_needed()
    return Agent.load(str(MODEL)).processor


def _domain_payloads(processor: Any) -> list[str]:
    """Every button payload of every response, in both languages, its template filled in."""
    import re

    found: set[str] = set()
    for variants in processor.domain.responses.values():
        for variant in variants:
            for button in variant.get("buttons") or []:
                payload = button.get("payload")
                if isinstance(payload, str) and payload.startswith("/"):
                    payload = payload.replace("{{", "\x00").replace("}}", "\x01")
                    payload = re.sub(r"\{\w+\}", "AM01", payload).replace("\x00", "{").replace("\x01", "}")
                    found.add(payload)
    return sorted(found)


# What the connectors and people send beside the domain's buttons: the IVR's keypresses, a typed
# payload with spaces, a confidence, entities of every shape; and what the handler refuses.
OTHERS = [
    '/switch_language{"language":"en"}', '/switch_language{"language":"ar"}',
    '/check_status{"reference": "4829103751"}', '  /affirm', '/deny@0.7', '/inform{"sector": "x", "entity_name": "gam"}',
    '/inform{"sector": ["a", "b"]}', '/inform{"unknown_entity": 1}', '/affirm{"a": }',
    '/inform{"entity_name": "greater_amman_municipality"}', '/inform{"pillar": "delivery_time"}', '/inform{"urgency": "high"}',
    '/inform{"rating": "5"}', '/inform{"field": "description"}', '/rate_request{"reference": "4829103751"}', '/reopen',
    '/nosuchintent', '/', '//', '/affirm extra words', '/ affirm', '/affirm{"language": "en"} trailing',
]


def _run(processor: Any, text: str) -> tuple[dict[str, Any], dict[str, Any], int]:
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.trackers import DialogueStateTracker

    message = UserMessage(text, sender_id="payload-test", metadata={"channel": "rest"})
    tracker = DialogueStateTracker.from_events("payload-test", [])
    runs = 0
    stock_run = processor.graph_runner.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal runs
        runs += 1
        return stock_run(*args, **kwargs)

    processor.graph_runner.run = counted
    try:
        ours = MessageProcessor._parse_message_with_graph(processor, message, tracker)
        graph_runs = runs
    finally:
        processor.graph_runner.run = stock_run
    whole = MessageProcessor._parse_message_with_graph.__wrapped__(processor, message, tracker)  # type: ignore[attr-defined]
    return ours, whole, graph_runs


def test_every_button_payload_parses_as_the_whole_graph_parses_it_without_running_the_graph(processor: Any) -> None:
    payloads = _domain_payloads(processor)
    assert len(payloads) > 20, "the domain's buttons were found"
    for text in payloads:
        ours, whole, graph_runs = _run(processor, text)
        assert ours == whole, text
        assert graph_runs == 0, f"{text}: the NLU graph ran"


@pytest.mark.parametrize("text", OTHERS)
def test_other_payloads_parse_as_the_whole_graph_and_refused_ones_go_through_it(processor: Any, text: str) -> None:
    ours, whole, graph_runs = _run(processor, text)
    assert ours == whole
    handled = whole["intent"].get("confidence") is not None and whole.get("intent_ranking", [None])[:1] == [whole["intent"]] \
        and not whole.get("text_tokens")
    assert graph_runs == (0 if handled else 1), (text, whole)
