"""Names of the platform's fixed vocabularies, and the fragments actions put inside responses.

Used by actions to fill response templates ("{type_label}", "{summary}") and by channels and
the notifier to show the same words. The vocabularies themselves are `bot.request_rules`'; the
words are in the `labels` catalogs (bot/locale/<lang>/LC_MESSAGES/labels.po), with the English
name as msgid and the vocabulary (`type`, `pillar`, ...) as msgctxt, since one English word can
name two things ("answered" the status, "importance" the field). The Arabic type names are the
platform's own.
"""

from __future__ import annotations

from bot.i18n import gettext, pgettext

DOMAIN = "labels"

# key -> English source text (the msgid), per vocabulary (the msgctxt).
SOURCE: dict[str, dict[str, str]] = {
    "type": {
        "inquiry": "question to the government",
        "suggestion": "suggestion",
        "compliment": "compliment",
        "complaint": "complaint",
        "report": "report of a violation",
    },
    "pillar": {
        "service_quality": "service quality",
        "delivery_time": "time to deliver",
        "employee_behaviour": "staff behaviour",
        "procedures": "procedures",
        "infrastructure": "infrastructure",
    },
    "importance": {
        "normal": "normal",
        "urgent": "urgent",
    },
    "status": {
        "submitted": "received",
        "in_progress": "in progress",
        "answered": "answered",
        "closed": "closed",
        "rejected": "rejected",
        "reopened": "reopened",
    },
    "field": {
        "entity_id": "entity",
        "pillar": "topic",
        "importance": "importance",
        "description": "details",
        "contact_phone": "phone",
    },
}


def label(kind: str, key: str | None, language: str) -> str:
    """The name of `key` in vocabulary `kind`; "-" for no value, the key itself if unknown."""
    if key is None:
        return "-"
    source = SOURCE[kind].get(key)
    if source is None:
        return key
    return pgettext(DOMAIN, language, kind, source)


def phrase(language: str, message: str, **params: object) -> str:
    """A fragment an action puts inside a response (a summary row's value, a status line)."""
    return gettext(DOMAIN, language, message, **params)


def visit_complaint(language: str, centre: str, text: str) -> str:
    """The description of a complaint made from a bad service-centre rating: it names the centre,
    so the entity knows which branch (the chat's and the agent console's)."""
    return phrase(language, "Visit to {centre}: {text}", centre=centre, text=text)
