"""What a request is made of: the platform's closed vocabularies and the shortest description.

The one home of these rules (DESIGN.md "Contracts"): the case store's CHECK constraints and API
validation, the SLA table, the forms and the agent console all import them from here. Their
names in both languages are `bot.labels`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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


# --- the opening's type: taken when the NLU is clear, asked when it is not (issue 15) ------------
# The type decides the form, the SLA and whether the request is confidential, so an opening whose
# likeliest request type is not ahead of every other by this much (in the NLU's combined
# confidence, config.yml) is asked with the five types as buttons, its text kept. Measured on the
# held-out sets (tests/nlu/heldout.yml and heldout_blind2.yml, 469 texts read as a request type,
# 15 of them wrongly; 2026-11-30): 0.4 asks 7 of the 15 wrong ones and 16 of the 454 right ones
# (0.3: 6 and 8; 0.5: 8 and 20). A right one asked costs a tap; a wrong one filed costs the
# person their request (the wrong form, SLA or confidentiality), so the margin leans to asking.
TYPE_MARGIN = 0.4


def type_scores(ranking: Iterable[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """The request types in an NLU intent ranking, likeliest first, each with the confidence of
    the intents that start it (a violation and a human-rights grievance are both a `report`)."""
    scores: dict[str, float] = {}
    for item in ranking:
        rtype = INTENT_TO_TYPE.get(str(item.get("name")))
        if rtype is not None:
            scores[rtype] = scores.get(rtype, 0.0) + float(item.get("confidence") or 0.0)
    return sorted(scores.items(), key=lambda kv: -kv[1])


# The NLU's two models (DIET and the linear one, bot/intent_ensemble.py) each name their likeliest
# intent and its probability in the parse (`intent_opinions`). When both name, with at least
# OPINION_MIN, openings of different types, the average can still look sure (DIET's suggestion at
# 0.999 against the linear model's compliment at 0.59 averaged 0.72 to 0.23), so the opening is
# asked too, with both types. A model whose first choice is under OPINION_MIN has no opinion ("I want
# to complain about X": the linear model 0.32 compliment, 0.30 complaint). Measured on the held-out
# sets (2026-12-01, the model of round 10, 475 texts read as a request type, 15 of them wrongly):
# OPINION_MIN 0.4 files 10 wrong ones unasked against 12 and asks 18 of the 460 right ones against
# 15 (no minimum: 8 and 20, but "complain about X" asked; 0.5: 11 and 16; 0.6: no change).
OPINIONS_KEY = "intent_opinions"
OPINION_MIN = 0.4


def _opinion_types(opinions: Mapping[str, Any] | None) -> list[str | None]:
    out: list[str | None] = []
    for opinion in (opinions or {}).values():
        sure = isinstance(opinion, Mapping) and float(opinion.get("confidence") or 0.0) >= OPINION_MIN
        out.append(INTENT_TO_TYPE.get(str(opinion.get("name"))) if sure else None)
    return out


def unsure_types(ranking: Sequence[Mapping[str, Any]], opinions: Mapping[str, Any] | None = None) -> list[str]:
    """The request types a message could be, likeliest first, when its ranking does not settle
    which: the top type and every type within TYPE_MARGIN of it (a lone type under TYPE_MARGIN
    is unsure too), and when the NLU's two models each name a different type (`opinions`, the
    parse's OPINIONS_KEY), both of those. Empty when the top type stands clear, or when the
    likeliest intent (below the fallback's `nlu_fallback`) starts no request: a greeting or a
    status check is no opening."""
    first = next((str(item.get("name")) for item in ranking if item.get("name") != "nlu_fallback"), None)
    if first not in INTENT_TO_TYPE:
        return []
    scores = type_scores(ranking)
    top = scores[0][1]
    second = scores[1][1] if len(scores) > 1 else 0.0
    split = _opinion_types(opinions)
    disagree = len(split) == 2 and None not in split and split[0] != split[1]
    if top - second >= TYPE_MARGIN and not disagree:
        return []
    return [rtype for rtype, score in scores if top - score < TYPE_MARGIN or (disagree and rtype in split)]


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
