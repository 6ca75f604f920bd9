"""Which government body a request goes to: the most specific one the person named.

The rules live in the case store's catalogue (Catalogue.route, POST /v1/catalogue/route); this
module turns its answer into the request forms' slots, for the three moments a body can be
given: the opening message (the form's activation), the sector question, and the body question.

- A body named, or a local body picked by the place mentioned ("the garbage in Zarqa"), fills
  both the sector and the body.
- Generic words ("the municipality", "the electricity company") without a place, or several
  bodies named as specifically, narrow the choice: the body question then offers just those.
- A sector's name narrows to that sector; it never picks a body (the body question offers the
  sector's bodies as buttons, numbered on SMS).
- A number typed at a question picks that item of the list just offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from backend_client import Entity, Routing
from bot import request_rules

MAX_BUTTONS = 13  # Messenger's quick-reply limit; SMS shows them as a numbered list
# The search's score bands (case_store/openapi.yaml): exact 3..4, prefix 2..3, substring 1..2, fuzzy 0..1.
EXACT, PART, FUZZY_CONFIDENT = 3.0, 1.0, 0.9


async def route(text: str, among: Sequence[str] = ()) -> Routing:
    return await common.client().route(text, among)


async def resolve(text_or_id: str) -> tuple[list[Entity], bool]:
    """(candidates, confident) for an entity id, a name, or a text naming one: confident only
    when a body is named (or a place picks one); a sector name or generic words never are."""
    entities = await common.all_entities()
    if text_or_id in entities:
        return [entities[text_or_id]], True
    found = await route(text_or_id)
    if found.entity is not None:
        return [found.entity], True
    if found.choices or found.sectors:
        return list(found.choices), False
    return await search(text_or_id)


async def search(text: str) -> tuple[list[Entity], bool]:
    """The catalogue search, for a name typed with a typo: (candidates, confident). Confident
    only for a whole name (exact) or a near-miss of one (fuzzy >= 0.9) clearly ahead of the
    next; a prefix or a part of a name ("التعليم" of "التعليم العالي") is a "did you mean"."""
    if len(text) > 100:  # the search takes names, not sentences
        return [], False
    found = await common.client().entities(q=text, limit=5)
    if not found:
        return [], False
    top = found[0].score or 0.0
    second = (found[1].score or 0.0) if len(found) > 1 else 0.0
    whole = top >= EXACT or FUZZY_CONFIDENT <= top < PART
    return found, whole and top - second >= 0.1


async def by_name(text: str, tagged: Sequence[str]) -> tuple[Entity | None, list[Entity]]:
    """When route() found nothing in the text: a name the NLU tagged, else the search for a name
    typed with a typo. (the body, or None and the candidates for a "did you mean")."""
    for value in tagged:
        found, confident = await resolve(value)
        if confident:
            return found[0], []
    candidates, confident = await search(text)
    return (candidates[0], []) if confident else (None, candidates)


def offer(dispatcher: CollectingDispatcher, tracker: Tracker, found: Sequence[Entity]) -> list[str]:
    """"Did you mean one of these?" with a button each; the ids, for the entity_choices slot."""
    dispatcher.utter_message(response="utter_entity_did_you_mean", buttons=entity_buttons(found, common.language(tracker)))
    return [e.id for e in found[:MAX_BUTTONS]]


async def offered_entities(tracker: Tracker) -> list[Entity]:
    """The bodies the body question offers: the narrowed choices, else the sector's bodies."""
    choices = tracker.get_slot("entity_choices") or []
    entities = await common.all_entities()
    pool = [entities[c] for c in choices if c in entities]
    return (pool or await common.entities_in_sector(tracker.get_slot("sector") or ""))[:MAX_BUTTONS]


def entity_buttons(found: Sequence[Entity], language: str) -> list[dict[str, str]]:
    return [{"title": e.name(language), "payload": f'/inform{{"entity_name": "{e.id}"}}'} for e in found[:MAX_BUTTONS]]


def picked(number: int | None, offered: Sequence[Any]) -> Any | None:
    return offered[number - 1] if number is not None and 1 <= number <= len(offered) else None


def chose(entity: Entity) -> dict[str, Any]:
    return {"sector": entity.sector, "entity_id": entity.id, "entity_choices": None}


def narrowed(choices: Sequence[Entity]) -> dict[str, Any]:
    """Ask which of `choices`: the sector is theirs (the first one's when they differ), so the
    form moves on to the body question, which offers exactly these."""
    return {"sector": choices[0].sector, "entity_id": None, "entity_choices": [e.id for e in choices]}


async def from_opening(tracker: Tracker) -> dict[str, Any]:
    """Slots from the message that started the request (the form's activation): a body named in
    it beats one the NLU tagged on a shorter span ("police" inside "traffic police")."""
    text = common.user_text(tracker)
    if not text or common.is_payload(text):
        return {}
    if request_rules.PRESET_ENTITY.get(common.intent(tracker) or ""):
        return {}  # the track names its body (a grievance goes to the NCHR whatever office it names)
    found = await route(text)
    if found.entity is not None:
        return chose(found.entity)
    if tracker.get_slot("entity_id"):
        return {}
    if found.choices:
        return narrowed(found.choices)
    if found.sectors:
        return {"sector": found.sectors[0].id, "entity_choices": None}
    return {}
