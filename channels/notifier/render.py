"""Render: an outbox event -> the text the citizen reads (or None), with the `notify` Babel catalog.

A pure function of the event. A confidential report never carries its narrative or the entity's
answer: only "there is an update on your report <ref>, check it with your PIN".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.i18n import N_, gettext, lang_or_default
from bot.labels import label
from bot.refcode import canonical_digits, format_grouped

DOMAIN = "notify"
ANSWER_EXCERPT = 250  # characters of the entity's answer quoted in the notification
CONFIDENTIAL_TYPES = frozenset({"report"})  # case_store: a report is always confidential

# The one-line notice for each event that carries no answer (msgids: the English text).
_NOTICES = {
    "escalated": N_("Bekhedmetkom: your request {reference} is overdue, so we escalated it."),
    "reopened": N_("Bekhedmetkom: your request {reference} was reopened. We will tell you when it is answered."),
}


# To the official at the next level (the catalogue's escalation contact), in the contact's language.
OFFICIAL_NOTICE = N_("Bekhedmetkom: request {reference} to {entity} is overdue and was escalated to you (level {level}).")


def _text(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, language, message, **params)


def excerpt(answer: str, language: str, limit: int = ANSWER_EXCERPT) -> tuple[str, bool]:
    """The answer on as few lines as it needs, cut near `limit` at a word; (text, was_cut)."""
    text = re.sub(r"[ \t\r\f\v]+", " ", answer.strip())
    text = re.sub(r"\s*\n\s*", "\n", text)
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= limit * 0.8:  # end on a whole word unless that throws away too much
        cut = cut[:space]
    return cut.rstrip(" \n،,.;:-") + _text(language, "..."), True


def render_event(event: Mapping[str, Any]) -> str | None:
    """The text for one outbox event, or None when the citizen is not told about it.

    `created` is not notified: the conversation that filed the request already gave the
    reference (and the IVR texts it on request).
    """
    kind = event.get("event")
    payload: Mapping[str, Any] = event.get("payload") or {}
    language = lang_or_default(payload.get("language"))
    reference = format_grouped(str(payload.get("reference") or event.get("reference") or ""))
    if kind == "official_notice":  # to an official: which request and how high, never its content
        entity = str(payload.get("entity_name") or payload.get("entity") or "")
        return _text(language, OFFICIAL_NOTICE, reference=reference, entity=entity, level=payload.get("escalation_level"))
    if kind not in ("status_changed", "answered", "escalated", "reopened"):
        return None
    if payload.get("type") in CONFIDENTIAL_TYPES:
        return _text(language, "Bekhedmetkom: there is an update on your report {reference}. Check it with your PIN.", reference=reference)
    if kind == "answered" and str(payload.get("answer") or "").strip():
        answer, cut = excerpt(str(payload["answer"]), language)
        text = _text(language, "Bekhedmetkom: the entity answered your request {reference}:\n{answer}", reference=reference, answer=answer)
        if cut:
            # The SMS keyword (and the Messenger NLU) read the reference with or without spaces.
            text += "\n" + _text(language, "For the full answer, send: STATUS {reference}", reference=canonical_digits(reference))
        return text
    if kind in _NOTICES:
        return _text(language, _NOTICES[kind], reference=reference)
    status = label("status", payload.get("status"), language)
    return _text(language, "Bekhedmetkom: your request {reference} is now {status}.", reference=reference, status=status)
