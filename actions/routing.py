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

from actions import common
from backend_client import Entity, Routing

MAX_BUTTONS = 13  # Messenger's quick-reply limit; SMS shows them as a numbered list


async def route(text: str, among: Sequence[str] = ()) -> Routing:
    return await common.client().route(text, among)


async def resolve(text_or_id: str) -> tuple[list[Entity], bool]:
    """(candidates, confident) for an entity id or a name typed with a typo, via the catalogue
    search: the fallback when route() finds no name in the text."""
    entities = await common.all_entities()
    if text_or_id in entities:
        return [entities[text_or_id]], True
    if len(text_or_id) > 100:  # the search takes names, not sentences
        return [], False
    found = await common.client().entities(q=text_or_id, limit=5)
    if not found:
        return [], False
    top = found[0]
    second = found[1].score if len(found) > 1 and found[1].score is not None else 0.0
    confident = (top.score or 0.0) >= 0.9 and (top.score or 0.0) - second >= 0.1
    return found, confident


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
