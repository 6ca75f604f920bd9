"""What a request is made of: the platform's closed vocabularies and the shortest description.

The one home of these rules (DESIGN.md "Contracts"): the case store's CHECK constraints and API
validation, the SLA table, the forms and the agent console all import them from here. Their
names in both languages are `bot.labels`'.
"""

from __future__ import annotations

from collections.abc import Sequence

REQUEST_TYPES = ("inquiry", "suggestion", "compliment", "complaint", "report")
PILLARS = ("service_quality", "delivery_time", "employee_behaviour", "procedures", "infrastructure")
IMPORTANCE = ("normal", "urgent")

# The intents that start each request type (nlu_data) and back.
INTENT_TO_TYPE = {
    "ask_government": "inquiry",
    "suggest": "suggestion",
    "compliment": "compliment",
    "complain": "complaint",
    "report_violation": "report",
    # The human-rights track (issue 13): a grievance about how officials treated a person is a
    # `report` (anonymous by default, encrypted, reference + PIN) whose body is preset below.
    "report_human_rights": "report",
}
# Each type's own intent (the menus' buttons); a type started by several intents keeps the first.
TYPE_TO_INTENT = {v: k for k, v in reversed(INTENT_TO_TYPE.items())}
# Intents that also name the body the request goes to, so the form skips sector and entity. The
# entity is an id of case_store/data/catalogue.yml; its sector comes from the catalogue.
PRESET_ENTITY = {
    "report_human_rights": "nchr",  # المركز الوطني لحقوق الإنسان, National Centre for Human Rights
}


def track_of(request_type: str, entity_id: str | None) -> str:
    """The menu entry a filed request belongs to, as an intent: a request of a preset track's type
    addressed to its body is that track's (a report to the National Centre for Human Rights is a
    human-rights grievance), any other the type's own (a report elsewhere: `report_violation`).
    Pages that name a request's type name it by this, so a grievance is never shown as a violation."""
    for intent, entity in PRESET_ENTITY.items():
        if entity == entity_id and INTENT_TO_TYPE[intent] == request_type:
            return intent
    return TYPE_TO_INTENT.get(request_type, request_type)

# A service-centre visit scored this or lower (1..5) is offered, in one step, as a complaint to
# the centre's entity (issue 13): in the chat (actions/centres.py) and on the agent console.
BAD_VISIT_SCORE = 2

# A description the entity can act on says at least two words; "help!!!!!!!!" or a lone word
# ("electricity") sends the person back with a question instead of filing an empty request.
MIN_DESCRIPTION_CHARS = 12
MIN_DESCRIPTION_WORDS = 2


def description_too_short(text: str) -> bool:
    """True when a typed description is too short to file (the form and the console ask again)."""
    text = text.strip()
    return len(text) < MIN_DESCRIPTION_CHARS or len(text.split()) < MIN_DESCRIPTION_WORDS


def complaint_from_visit(pillars: Sequence[str], comment: str | None) -> tuple[str | None, str | None]:
    """What a bad visit's rating prefills in the complaint it is offered as: the pillar when exactly
    one fell short (several leave the question to the person), the comment as the description
    when it is long enough to file."""
    short = [p for p in pillars if p in PILLARS]
    text = (comment or "").strip()
    usable = text and text != "-" and not description_too_short(text)
    return (short[0] if len(short) == 1 else None), (text if usable else None)
