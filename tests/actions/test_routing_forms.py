"""The request forms route to the most specific body (issue 15, items 2-4), against the real case
store with the test catalogue: the opening names it, a place picks the municipality, a sector
answer only narrows, and a typed number picks from the list just offered."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.requests import ActionAskEntityId
from tests.actions.test_request_forms import answer, responses
from tests.support.trackers import entity, tracker

pytestmark = pytest.mark.usefixtures("store")


def slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


# --- the opening (the form starting: nothing asked yet) -----------------------------------------------

async def test_an_opening_with_a_place_files_to_that_municipality(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, None, "the garbage in Zarqa has piled up by the school for days", intent="complain")
    assert slots(events) == {"sector": "municipal", "entity_id": "zarqa_municipality", "entity_choices": None,
                             "requested_slot": "pillar"}
    assert said == []


async def test_an_opening_body_beats_the_ministry_the_nlu_tagged(domain: dict[str, Any]) -> None:
    # The NLU tagged only "وزارة الصحة", so the request started with the ministry; the hospital is named too.
    events, _ = await answer(domain, None, "أشكو قسم الطوارئ في مستشفى البشير التابع لوزارة الصحة", intent="complain",
                             entities=[entity("entity_name", "وزارة الصحة")], slots={"sector": "health", "entity_id": "moh"})
    assert slots(events)["entity_id"] == "bashir"


async def test_an_opening_without_a_place_asks_which_municipality(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, None, "nobody has picked up the garbage on our street since the feast",
                                intent="complain")
    assert said == []
    assert slots(events) == {"sector": "municipal", "entity_id": None, "entity_choices": ["gam", "zarqa_municipality"],
                             "requested_slot": "entity_id"}
    asked = CollectingDispatcher()
    t = tracker("", slots={"sector": "municipal", "entity_choices": ["gam", "zarqa_municipality"], "language": "en"})
    await ActionAskEntityId().run(asked, t, domain)
    assert [b["payload"] for b in asked.messages[0]["buttons"]] == [
        '/inform{"entity_name": "gam"}', '/inform{"entity_name": "zarqa_municipality"}']


async def test_an_opening_naming_nothing_leaves_the_sector_to_ask(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, None, "I waited all morning and nobody helped me at all", intent="complain")
    assert slots(events) == {"requested_slot": "sector"}


# --- the sector question: a sector narrows, never decides ----------------------------------------------

@pytest.mark.parametrize(("text", "sector"), [
    ("الصحة", "health"),  # also an alias of the ministry: still only the sector
    ("health", "health"),
    ("transportation", "transport"),
    ("municipalities", "municipal"),
    ("البلديات", "municipal"),
    ("2", "transport"),
    ("٣", "municipal"),
])
async def test_a_sector_answer_asks_which_body(domain: dict[str, Any], text: str, sector: str) -> None:
    events, said = await answer(domain, "sector", text)
    assert slots(events) == {"sector": sector, "entity_choices": None, "requested_slot": "entity_id"}
    assert said == []


async def test_a_number_past_the_list_is_not_a_sector(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "sector", "9")
    assert slots(events)["sector"] is None and responses(said) == ["utter_sector_not_found"]


async def test_generic_words_at_the_sector_question_narrow_to_the_group(domain: dict[str, Any]) -> None:
    events, _ = await answer(domain, "sector", "البلدية")
    assert slots(events) == {"sector": "municipal", "entity_choices": None, "requested_slot": "entity_id"}
    events, _ = await answer(domain, "sector", "the garbage")
    assert slots(events) == {"sector": "municipal", "entity_id": None, "entity_choices": ["gam", "zarqa_municipality"],
                             "requested_slot": "entity_id"}


# --- the body question -------------------------------------------------------------------------------

async def test_a_place_answers_which_municipality(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "entity_id", "الزرقاء",
                                slots={"sector": "municipal", "entity_choices": ["gam", "zarqa_municipality"]})
    assert slots(events)["entity_id"] == "zarqa_municipality" and said == []


async def test_a_number_picks_the_body_offered(domain: dict[str, Any]) -> None:
    # The health bodies as ActionAskEntityId lists them (by English name): Al-Bashir, JFDA, Ministry of Health.
    events, _ = await answer(domain, "entity_id", "2")
    assert slots(events)["entity_id"] == "jfda"
    events, _ = await answer(domain, "entity_id", "2", slots={"sector": "municipal", "entity_choices": ["zarqa_municipality", "gam"]})
    assert slots(events)["entity_id"] == "gam"


async def test_another_sector_at_the_body_question_offers_its_bodies(domain: dict[str, Any]) -> None:
    events, said = await answer(domain, "entity_id", "transport")
    assert slots(events) == {"sector": "transport", "entity_id": None, "entity_choices": None, "requested_slot": "entity_id"}
    assert said == []


async def test_a_sector_word_the_nlu_tagged_in_the_opening_picks_no_body() -> None:
    # "النقل" is the transport sector's name (and an alias of the ministry): the form asks which body.
    from actions.requests import ActionStartRequest

    events = await ActionStartRequest().run(CollectingDispatcher(), tracker("عندي اقتراح بخصوص النقل", "suggest",
                                                                            [entity("entity_name", "النقل")]), {})
    assert "entity_id" not in {e["name"] for e in events if e.get("value") is not None}
