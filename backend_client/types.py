"""Typed results of the case-store API, parsed once here so actions never touch raw JSON."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from bot.arabic import normalise


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Sector:
    id: str
    name_ar: str
    name_en: str
    short_ar: str = ""
    short_en: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Sector:
        return cls(d["id"], d["name_ar"], d["name_en"], d.get("short_ar") or "", d.get("short_en") or "")

    def name(self, language: str) -> str:
        return self.name_ar if language == "ar" else self.name_en

    def short(self, language: str) -> str:
        """The name an SMS list shows (the case store's catalogue), else the full name."""
        return (self.short_ar if language == "ar" else self.short_en) or self.name(language)


@dataclass(frozen=True)
class Entity:
    id: str
    name_ar: str
    name_en: str
    sector: str | None = None
    score: float | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Entity:
        return cls(d["id"], d.get("name_ar") or "", d.get("name_en") or "", d.get("sector"), d.get("score"))

    def name(self, language: str) -> str:
        return self.name_ar if language == "ar" else self.name_en


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    status: str
    actor: str
    note: str | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TimelineEntry:
        at = _time(d["at"])
        assert at is not None
        return cls(at, d["status"], d["actor"], d.get("note"))


@dataclass(frozen=True)
class Rating:
    score: int
    resolved: bool
    comment: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Rating | None:
        return None if not d else cls(int(d["score"]), bool(d["resolved"]), d.get("comment"))


@dataclass(frozen=True)
class Attachment:
    url: str
    media_type: str


@dataclass(frozen=True)
class CaseRequest:
    reference: str
    reference_display: str
    type: str
    status: str
    sector: str
    entity: Entity
    pillar: str | None
    importance: str
    language: str
    channel: str
    created_at: dt.datetime | None
    due_at: dt.datetime | None
    escalation_level: int
    confidential: bool
    anonymous: bool
    answer: str | None = None
    rating: Rating | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    description: str | None = None
    attachments: tuple[Attachment, ...] = ()
    campaign: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CaseRequest:
        return cls(
            reference=d["reference"],
            reference_display=d.get("reference_display") or d["reference"],
            type=d["type"],
            status=d["status"],
            sector=d["sector"],
            entity=Entity.from_json(d["entity"]),
            pillar=d.get("pillar"),
            importance=d.get("importance", "normal"),
            language=d["language"],
            channel=d["channel"],
            created_at=_time(d.get("created_at")),
            due_at=_time(d.get("due_at")),
            escalation_level=int(d.get("escalation_level", 0)),
            confidential=bool(d.get("confidential")),
            anonymous=bool(d.get("anonymous")),
            answer=d.get("answer"),
            rating=Rating.from_json(d.get("rating")),
            timeline=tuple(TimelineEntry.from_json(t) for t in d.get("timeline") or ()),
            description=d.get("description"),
            attachments=tuple(Attachment(a["url"], a["media_type"]) for a in d.get("attachments") or ()),
            campaign=d.get("campaign"),
        )


@dataclass(frozen=True)
class Created:
    request: CaseRequest
    created: bool  # False when the idempotency key was seen before (a replay)
    pin: str | None  # only for confidential reports


@dataclass(frozen=True)
class Routing:
    """POST /v1/catalogue/route: where a text should go (basis: named, place, group, ambiguous,
    sector or none)."""

    basis: str
    entity: Entity | None
    choices: tuple[Entity, ...]
    sectors: tuple[Sector, ...]
    place: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Routing:
        return cls(
            str(d.get("basis") or "none"),
            Entity.from_json(d["entity"]) if d.get("entity") else None,
            tuple(Entity.from_json(e) for e in d.get("choices") or []),
            tuple(Sector.from_json(s) for s in d.get("sectors") or []),
            d.get("place"),
        )


# --- service centres and campaigns (issue 13) ----------------------------------------------------

@dataclass(frozen=True)
class Centre:
    id: str
    code: str
    name_ar: str
    name_en: str
    status: str
    entity: Entity
    sector: str
    governorate: str
    rated_today: bool = False

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Centre:
        return cls(d["id"], d["code"], d["name_ar"], d["name_en"], d["status"], Entity.from_json(d["entity"]),
                   d["sector"], d.get("governorate") or "", bool(d.get("rated_today")))

    @property
    def open(self) -> bool:
        return self.status == "open"

    def name(self, language: str) -> str:
        return self.name_ar if language == "ar" else self.name_en


@dataclass(frozen=True)
class CampaignQuestion:
    id: str
    ar: str
    en: str
    label_ar: str | None = None
    label_en: str | None = None

    @classmethod
    def from_json(cls, q: dict[str, Any]) -> CampaignQuestion:
        return cls(q["id"], q["ar"], q["en"], q.get("label_ar"), q.get("label_en"))

    def text(self, language: str) -> str:
        return self.ar if language == "ar" else self.en

    def label(self, language: str) -> str:
        """What the summary calls the answer: the file's short label, else the question's first
        sentence without its question mark ("Which street is the pothole on")."""
        own = self.label_ar if language == "ar" else self.label_en
        if own:
            return own
        first = re.split(r"(?<=[?؟.])\s", self.text(language).strip(), maxsplit=1)[0]
        return first.rstrip("?؟.").strip()


@dataclass(frozen=True)
class Campaign:
    """A focused complaint campaign as the case store serves it (case_store/campaigns.py)."""

    id: str
    name_ar: str
    name_en: str
    entity: str
    sector: str
    pillar: str | None
    triggers: tuple[str, ...]  # normalised (bot.arabic.normalise), both languages
    questions: tuple[CampaignQuestion, ...]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Campaign:
        phrases = [*(d.get("triggers_ar") or ()), *(d.get("triggers_en") or ())]
        return cls(
            d["id"], d["name_ar"], d["name_en"], d["entity"], d["sector"], d.get("pillar"),
            tuple(dict.fromkeys(p for p in (normalise(x) for x in phrases) if p)),
            tuple(CampaignQuestion.from_json(q) for q in d.get("questions") or ()),
        )

    def name(self, language: str) -> str:
        return self.name_ar if language == "ar" else self.name_en

    def matches(self, text: str) -> bool:
        """The campaign's rule: a trigger phrase anywhere in the text, both sides normalised
        (alef forms, ta marbuta, alef maqsura, diacritics, digits and case folded)."""
        folded = normalise(text or "")
        return bool(folded) and any(t in folded for t in self.triggers)


def campaign_for(text: str, campaigns: list[Campaign]) -> Campaign | None:
    """The first campaign (in file order) whose trigger is in `text`, or None."""
    return next((c for c in campaigns if c.matches(text)), None)
