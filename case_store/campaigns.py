"""Focused complaint campaigns (issue 13): data read at start-up, not code, not training data.

`Campaigns.load()` is the one reader of the campaign files (case_store/data/campaigns.yml, or the
files named in CASE_STORE_CAMPAIGNS, separated by os.pathsep). Each entry is validated with a
message that names the bad item; entities are checked against the catalogue. The bot gets the
campaigns from `GET /v1/campaigns` and matches a complaint's opening text itself
(backend_client.Campaign.matches), so a new campaign file needs a case-store restart and
nothing else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.arabic import normalise
from bot.request_rules import PILLARS
from case_store.catalogue import Catalogue, string_list, text_field

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "campaigns.yml"
MAX_QUESTIONS = 2
MAX_SLA_DAYS = 60
_ID = re.compile(r"[a-z0-9_]{2,64}")


class CampaignError(ValueError):
    pass


MAX_LABEL = 30  # a short name of what a question asks, shown before its answer in the summary


@dataclass(frozen=True)
class Question:
    id: str
    ar: str
    en: str
    label_ar: str | None = None
    label_en: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"id": self.id, "ar": self.ar, "en": self.en}
        if self.label_ar:
            out["label_ar"] = self.label_ar
        if self.label_en:
            out["label_en"] = self.label_en
        return out


@dataclass(frozen=True)
class Campaign:
    id: str
    name_ar: str
    name_en: str
    entity: str
    sector: str
    sla_days: int
    pillar: str | None
    triggers_ar: tuple[str, ...]
    triggers_en: tuple[str, ...]
    questions: tuple[Question, ...]
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name_ar": self.name_ar,
            "name_en": self.name_en,
            "entity": self.entity,
            "sector": self.sector,
            "sla_days": self.sla_days,
            "pillar": self.pillar,
            "active": self.active,
            "triggers_ar": list(self.triggers_ar),
            "triggers_en": list(self.triggers_en),
            "questions": [q.to_json() for q in self.questions],
        }


def _text(item: dict[str, Any], key: str, where: str) -> str:
    return text_field(item, key, where, CampaignError)


def _phrases(item: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    out = string_list(item, key, where, CampaignError)
    for phrase in out:
        if len(normalise(phrase)) < 3:
            raise CampaignError(f"{where}: trigger {phrase!r} is too short to match safely (3+ letters)")
    return out


def _label(q: dict[str, Any], key: str, where: str) -> str | None:
    """An optional short name of the question (label_ar / label_en), e.g. "place": one line, 30 characters."""
    value = q.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\n" in value.strip() or len(value.strip()) > MAX_LABEL:
        raise CampaignError(f"{where}: {key} must be a short name of what the question asks, one line of at most {MAX_LABEL} characters")
    return value.strip()


def _campaign(item: Any, where: str, catalogue: Catalogue) -> Campaign:
    if not isinstance(item, dict):
        raise CampaignError(f"{where}: expected a mapping with id, name_ar, name_en, entity, sla_days, triggers")
    cid = _text(item, "id", where)
    if not _ID.fullmatch(cid):
        raise CampaignError(f"{where}: id {cid!r} must be 2-64 characters of a-z, 0-9 and _")
    where = f"{where} ({cid})"
    entity_id = _text(item, "entity", where)
    entity = catalogue.entity_by_id.get(entity_id)
    if entity is None:
        raise CampaignError(f"{where}: entity {entity_id!r} is not in the catalogue")
    days = item.get("sla_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_SLA_DAYS:
        raise CampaignError(f"{where}: sla_days must be a whole number of working days 1..{MAX_SLA_DAYS}, got {days!r}")
    pillar = item.get("pillar")
    if pillar is not None and pillar not in PILLARS:
        raise CampaignError(f"{where}: pillar {pillar!r} is not one of {', '.join(PILLARS)}")
    active = item.get("active", True)
    if not isinstance(active, bool):
        raise CampaignError(f"{where}: active must be true or false")
    triggers_ar, triggers_en = _phrases(item, "triggers_ar", where), _phrases(item, "triggers_en", where)
    if not triggers_ar and not triggers_en:
        raise CampaignError(f"{where}: give at least one trigger phrase (triggers_ar / triggers_en)")
    raw_questions = item.get("questions") or []
    if not isinstance(raw_questions, list) or len(raw_questions) > MAX_QUESTIONS:
        raise CampaignError(f"{where}: questions must be a list of at most {MAX_QUESTIONS}")
    questions: list[Question] = []
    for i, q in enumerate(raw_questions):
        at = f"{where}: questions[{i}]"
        if not isinstance(q, dict):
            raise CampaignError(f"{at}: expected a mapping with id, ar, en")
        qid = _text(q, "id", at)
        if not _ID.fullmatch(qid) or qid in {x.id for x in questions}:
            raise CampaignError(f"{at}: id {qid!r} must be unique, a-z, 0-9 and _")
        questions.append(Question(qid, _text(q, "ar", at), _text(q, "en", at), _label(q, "label_ar", at), _label(q, "label_en", at)))
    return Campaign(
        id=cid,
        name_ar=_text(item, "name_ar", where),
        name_en=_text(item, "name_en", where),
        entity=entity.id,
        sector=entity.sector,
        sla_days=days,
        pillar=pillar,
        triggers_ar=triggers_ar,
        triggers_en=triggers_en,
        questions=tuple(questions),
        active=active,
    )


class Campaigns:
    def __init__(self, campaigns: list[Campaign]) -> None:
        self.campaigns = campaigns
        self.by_id = {c.id: c for c in campaigns}

    @classmethod
    def from_document(cls, doc: Any, catalogue: Catalogue, where: str = "campaigns.yml") -> Campaigns:
        if not isinstance(doc, dict) or not isinstance(doc.get("campaigns"), list):
            raise CampaignError(f"{where}: expected a mapping with a 'campaigns:' list")
        return cls([_campaign(item, f"{where}: campaigns[{i}]", catalogue) for i, item in enumerate(doc["campaigns"])])

    @classmethod
    def load(cls, catalogue: Catalogue, paths: list[Path] | None = None) -> Campaigns:
        if paths is None:
            raw = os.environ.get("CASE_STORE_CAMPAIGNS")
            paths = [Path(p) for p in raw.split(os.pathsep) if p] if raw else [DEFAULT_PATH]
        found: list[Campaign] = []
        for path in paths:
            if not path.exists():
                raise CampaignError(f"campaign file not found at {path}; fix CASE_STORE_CAMPAIGNS or add the file")
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise CampaignError(f"{path.name}: not valid YAML ({exc})") from None
            for c in cls.from_document(doc, catalogue, path.name).campaigns:
                if c.id in {x.id for x in found}:
                    raise CampaignError(f"{path.name}: campaign id {c.id!r} is defined twice")
                found.append(c)
        return cls(found)
