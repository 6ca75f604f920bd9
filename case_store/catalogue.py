"""The entity catalogue: sectors and the government entities a request is addressed to.

Loaded once at start-up from data/catalogue.yml and validated with messages that name the bad
item. Search folds Arabic spelling variants and English case through bot.arabic.normalise on
both sides, and ranks exact alias > prefix > substring > fuzzy.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.arabic import normalise

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "catalogue.yml"
FUZZY_CUTOFF = 0.72

# Rank of each kind of match; the score returned is rank + a closeness fraction in [0, 1).
EXACT, PREFIX, SUBSTRING, FUZZY = 3.0, 2.0, 1.0, 0.0


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Sector:
    id: str
    name_ar: str
    name_en: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name_ar": self.name_ar, "name_en": self.name_en}


ESCALATION_CHANNELS = ("sms", "messenger")  # what the notifier can deliver to


@dataclass(frozen=True)
class EscalationContact:
    """Who hears of a request escalated to `level` (an office, not a person's private number)."""

    level: int
    role: str
    channel: str
    address: str
    language: str = "ar"


@dataclass(frozen=True)
class Entity:
    id: str
    sector: str
    name_ar: str
    name_en: str
    aliases_ar: tuple[str, ...] = ()
    aliases_en: tuple[str, ...] = ()
    aliases_latin: tuple[str, ...] = ()
    escalation: tuple[EscalationContact, ...] = ()

    def names(self) -> Iterable[str]:
        yield self.name_ar
        yield self.name_en
        yield from self.aliases_ar
        yield from self.aliases_en
        yield from self.aliases_latin

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sector": self.sector,
            "name_ar": self.name_ar,
            "name_en": self.name_en,
            "aliases_ar": list(self.aliases_ar),
            "aliases_en": list(self.aliases_en),
            "aliases_latin": list(self.aliases_latin),
        }

    def brief(self) -> dict[str, str]:
        return {"id": self.id, "name_ar": self.name_ar, "name_en": self.name_en}


@dataclass(frozen=True)
class Match:
    entity: Entity
    score: float


def _text(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: '{key}' is missing or empty")
    return value.strip()


def _escalation(item: dict[str, Any], where: str) -> tuple[EscalationContact, ...]:
    raw = item.get("escalation") or []
    if not isinstance(raw, list):
        raise CatalogueError(f"{where}: 'escalation' must be a list of {{level, role, channel, address, language}}")
    contacts: list[EscalationContact] = []
    for i, c in enumerate(raw):
        at = f"{where}: escalation[{i}]"
        if not isinstance(c, dict):
            raise CatalogueError(f"{at}: expected a mapping with level, role, channel, address, language")
        level = c.get("level")
        if not isinstance(level, int) or isinstance(level, bool) or level != len(contacts) + 1:
            raise CatalogueError(f"{at}: 'level' must be {len(contacts) + 1} (levels count up from 1 without gaps), got {level!r}")
        channel = _text(c, "channel", at)
        if channel not in ESCALATION_CHANNELS:
            raise CatalogueError(f"{at}: channel {channel!r} is not one the notifier delivers to ({', '.join(ESCALATION_CHANNELS)})")
        language = str(c.get("language") or "ar")
        if language not in ("ar", "en"):
            raise CatalogueError(f"{at}: language must be ar or en, got {language!r}")
        contacts.append(EscalationContact(level, _text(c, "role", at), channel, _text(c, "address", at), language))
    return tuple(contacts)


def _aliases(item: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{where}: '{key}' must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


class Catalogue:
    def __init__(self, sectors: list[Sector], entities: list[Entity]) -> None:
        self.sectors = sectors
        self.entities = entities
        self.sector_by_id = {s.id: s for s in sectors}
        self.entity_by_id = {e.id: e for e in entities}
        # Pre-normalised names per entity, so a search does no per-request normalisation.
        self._index: list[tuple[Entity, tuple[str, ...]]] = [
            (e, tuple(dict.fromkeys(n for n in (normalise(x) for x in e.names()) if n))) for e in entities
        ]

    @classmethod
    def from_document(cls, doc: Any, where: str = "catalogue.yml") -> Catalogue:
        if not isinstance(doc, dict):
            raise CatalogueError(f"{where}: expected a mapping with 'sectors:' and 'entities:'")
        raw_sectors, raw_entities = doc.get("sectors"), doc.get("entities")
        if not isinstance(raw_sectors, list) or not raw_sectors:
            raise CatalogueError(f"{where}: 'sectors' must be a non-empty list")
        if not isinstance(raw_entities, list) or not raw_entities:
            raise CatalogueError(f"{where}: 'entities' must be a non-empty list")
        sectors: list[Sector] = []
        seen: set[str] = set()
        for i, item in enumerate(raw_sectors):
            at = f"{where}: sectors[{i}]"
            if not isinstance(item, dict):
                raise CatalogueError(f"{at}: expected a mapping with id, name_ar, name_en")
            sid = _text(item, "id", at)
            if sid in seen:
                raise CatalogueError(f"{at}: duplicate sector id {sid!r}")
            seen.add(sid)
            sectors.append(Sector(sid, _text(item, "name_ar", at), _text(item, "name_en", at)))
        entities: list[Entity] = []
        seen_entities: set[str] = set()
        for i, item in enumerate(raw_entities):
            at = f"{where}: entities[{i}]"
            if not isinstance(item, dict):
                raise CatalogueError(f"{at}: expected a mapping with id, sector, name_ar, name_en")
            eid = _text(item, "id", at)
            at = f"{at} ({eid})"
            if eid in seen_entities:
                raise CatalogueError(f"{at}: duplicate entity id {eid!r}")
            seen_entities.add(eid)
            sector = _text(item, "sector", at)
            if sector not in seen:
                raise CatalogueError(f"{at}: sector {sector!r} is not one of the sectors listed under 'sectors:'")
            entities.append(
                Entity(
                    id=eid,
                    sector=sector,
                    name_ar=_text(item, "name_ar", at),
                    name_en=_text(item, "name_en", at),
                    aliases_ar=_aliases(item, "aliases_ar", at),
                    aliases_en=_aliases(item, "aliases_en", at),
                    aliases_latin=_aliases(item, "aliases_latin", at),
                    escalation=_escalation(item, at),
                )
            )
        return cls(sectors, entities)

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        path = path or Path(os.environ.get("CASE_STORE_CATALOGUE") or DEFAULT_PATH)
        if not path.exists():
            raise CatalogueError(f"entity catalogue not found at {path}; set CASE_STORE_CATALOGUE or add the file")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{path.name}: not valid YAML ({exc})") from None
        return cls.from_document(doc, path.name)

    def escalation_contact(self, entity_id: str, level: int) -> EscalationContact | None:
        """The contact for `level`; past the entity's last level, the last one (the top)."""
        entity = self.entity_by_id.get(entity_id)
        if entity is None or not entity.escalation or level < 1:
            return None
        return entity.escalation[min(level, len(entity.escalation)) - 1]

    def entities_in(self, sector: str | None) -> list[Entity]:
        return [e for e in self.entities if sector is None or e.sector == sector]

    def search(self, q: str, sector: str | None = None, limit: int = 10) -> list[Match]:
        """Best matches for `q`, highest score first; ties keep catalogue order."""
        needle = normalise(q)
        if not needle:
            return [Match(e, 0.0) for e in self.entities_in(sector)][:limit]
        matches: list[Match] = []
        for entity, names in self._index:
            if sector is not None and entity.sector != sector:
                continue
            best = max((_score(needle, name) for name in names), default=None)
            if best is not None and best >= 0:
                matches.append(Match(entity, round(best, 4)))
        matches.sort(key=lambda m: -m.score)
        return matches[:limit]


def _score(needle: str, name: str) -> float:
    """-1 when `name` does not match at all."""
    closeness = len(needle) / max(len(name), len(needle))
    if needle == name:
        return EXACT + 0.999
    if name.startswith(needle):
        return PREFIX + closeness * 0.999
    if needle in name:
        return SUBSTRING + closeness * 0.999
    ratio = difflib.SequenceMatcher(None, needle, name, autojunk=False).ratio()
    # Also compare against words of a long name: "amana" should find "greater amman municipality".
    for word in name.split():
        ratio = max(ratio, difflib.SequenceMatcher(None, needle, word, autojunk=False).ratio())
    return FUZZY + ratio * 0.999 if ratio >= FUZZY_CUTOFF else -1.0
