"""The entity catalogue: sectors and the government entities a request is addressed to.

Loaded once at start-up from data/catalogue.yml and validated with messages that name the bad
item. Search folds Arabic spelling variants and English case through bot.arabic.normalise on
both sides, and ranks exact alias > prefix > substring > fuzzy.

`route(text)` is the other question: which body does a person's sentence address? It finds the
names and aliases *mentioned* in the text (whole words, Arabic clitics like بال/لل folded), keeps
the most specific (a longer name over one inside it, a body over its `parent`), reads generic
words ("the municipality", "the electricity company") as a `group` of bodies that a place
mentioned in the text narrows to one, and recognises a sector named in part, reordered,
singular or plural. It never lets a sector name decide a body.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.arabic import normalise
from bot.lang import LANGUAGES

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "catalogue.yml"
FUZZY_CUTOFF = 0.72
MAX_SECTOR_WORDS = 8  # more words than any sector name with its aliases: not a sector's name

# Rank of each kind of match; the score returned is rank + a closeness fraction in [0, 1).
EXACT, PREFIX, SUBSTRING, FUZZY = 3.0, 2.0, 1.0, 0.0


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Sector:
    id: str
    name_ar: str
    name_en: str
    # What an SMS list shows (the 17 full names are eight SMS in Arabic; issue 15): the catalogue's
    # `short_ar` / `short_en`, else the name.
    short_ar: str = ""
    short_en: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name_ar": self.name_ar, "name_en": self.name_en,
                "short_ar": self.short_ar or self.name_ar, "short_en": self.short_en or self.name_en}


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
    parent: str | None = None  # the body it belongs to (a directorate's ministry): less specific
    serves: tuple[str, ...] = ()  # place ids where it is the local body of its group

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


@dataclass(frozen=True)
class Place:
    id: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    """Generic words that could mean any of several bodies; a place picks one, else ask."""

    id: str
    words: tuple[str, ...]
    bodies: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    """What a text says about where it should go.

    basis: "named" (a body named in the text), "place" (a group's body chosen by the place
    mentioned), "group" (generic words: ask among `choices`), "ambiguous" (several bodies named
    equally specifically: ask among `choices`), "sector" (the text is a sector's name: ask which
    body in it), "none".
    """

    basis: str
    entity: Entity | None = None
    choices: tuple[Entity, ...] = ()
    sectors: tuple[Sector, ...] = ()
    place: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "entity": self.entity.to_json() if self.entity else None,
            "choices": [e.to_json() for e in self.choices],
            "sectors": [s.to_json() for s in self.sectors],
            "place": self.place,
        }


def text_field(item: dict[str, Any], key: str, where: str, error: type[ValueError] = CatalogueError, hint: str = "") -> str:
    """A required non-empty string of a data file's item (the catalogue, centres, campaigns)."""
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise error(f"{where}: '{key}' is missing or empty{hint}")
    return value.strip()


def string_list(item: dict[str, Any], key: str, where: str, error: type[ValueError] = CatalogueError) -> tuple[str, ...]:
    """An optional list of strings of a data file's item, stripped, empty ones dropped."""
    value = item.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise error(f"{where}: '{key}' must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())



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
        channel = text_field(c, "channel", at)
        if channel not in ESCALATION_CHANNELS:
            raise CatalogueError(f"{at}: channel {channel!r} is not one the notifier delivers to ({', '.join(ESCALATION_CHANNELS)})")
        language = str(c.get("language") or "ar")
        if language not in LANGUAGES:
            raise CatalogueError(f"{at}: language must be ar or en, got {language!r}")
        contacts.append(EscalationContact(level, text_field(c, "role", at), channel, text_field(c, "address", at), language))
    return tuple(contacts)




class Catalogue:
    def __init__(
        self, sectors: list[Sector], entities: list[Entity], places: list[Place] | None = None,
        groups: list[Group] | None = None, sector_aliases: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.sectors = sectors
        self.entities = entities
        self.places = places or []
        self.groups = groups or []
        self.sector_by_id = {s.id: s for s in sectors}
        self.entity_by_id = {e.id: e for e in entities}
        # For route(): every name of every body, group word and place as words, indexed by the
        # forms of its first two words, so a text is read once, word by word.
        self._names: dict[tuple[str, ...], list[tuple[str, Any, tuple[str, ...]]]] = {}
        named: list[tuple[str, Any, Iterable[str]]] = [
            *(("entity", e, e.names()) for e in entities),
            *(("group", g, g.words) for g in self.groups),
            *(("place", p, p.names) for p in self.places),
        ]
        for kind, what, texts in named:
            for words in dict.fromkeys(_phrase(x) for x in texts):
                if words:
                    self._names.setdefault(tuple(_key(w) for w in words[:2]), []).append((kind, what, words))
        self._sector_words = {
            s.id: frozenset(_stem(t) for x in (s.name_ar, s.name_en, s.short_ar, s.short_en, *(sector_aliases or {}).get(s.id, ()))
                            for t in _phrase(x))
            for s in sectors
        }
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
        sector_aliases: dict[str, tuple[str, ...]] = {}
        seen: set[str] = set()
        places = _places(doc.get("places"), where)
        place_ids = {p.id for p in places}
        for i, item in enumerate(raw_sectors):
            at = f"{where}: sectors[{i}]"
            if not isinstance(item, dict):
                raise CatalogueError(f"{at}: expected a mapping with id, name_ar, name_en")
            sid = text_field(item, "id", at)
            if sid in seen:
                raise CatalogueError(f"{at}: duplicate sector id {sid!r}")
            seen.add(sid)
            sectors.append(Sector(sid, text_field(item, "name_ar", at), text_field(item, "name_en", at),
                                  *(text_field(item, k, at) if k in item else "" for k in ("short_ar", "short_en"))))
            sector_aliases[sid] = string_list(item, "aliases", at)
        entities: list[Entity] = []
        seen_entities: set[str] = set()
        for i, item in enumerate(raw_entities):
            at = f"{where}: entities[{i}]"
            if not isinstance(item, dict):
                raise CatalogueError(f"{at}: expected a mapping with id, sector, name_ar, name_en")
            eid = text_field(item, "id", at)
            at = f"{at} ({eid})"
            if eid in seen_entities:
                raise CatalogueError(f"{at}: duplicate entity id {eid!r}")
            seen_entities.add(eid)
            sector = text_field(item, "sector", at)
            if sector not in seen:
                raise CatalogueError(f"{at}: sector {sector!r} is not one of the sectors listed under 'sectors:'")
            entities.append(
                Entity(
                    id=eid,
                    sector=sector,
                    name_ar=text_field(item, "name_ar", at),
                    name_en=text_field(item, "name_en", at),
                    aliases_ar=string_list(item, "aliases_ar", at),
                    aliases_en=string_list(item, "aliases_en", at),
                    aliases_latin=string_list(item, "aliases_latin", at),
                    escalation=_escalation(item, at),
                    parent=_optional_id(item, "parent", at),
                    serves=_ids(item, "serves", place_ids, "place", at),
                )
            )
        ids = {e.id for e in entities}
        for e in entities:
            if e.parent is not None and e.parent not in ids:
                raise CatalogueError(f"{where}: entity {e.id!r}: parent {e.parent!r} is not an entity id")
        groups = _groups(doc.get("groups"), ids, where)
        return cls(sectors, entities, places, groups, sector_aliases)

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

    # --- routing a sentence --------------------------------------------------------------------
    def sectors_named(self, text: str) -> list[Sector]:
        """Sectors whose name the whole text is: every word of it (articles, "and", "sector" aside)
        is a word of the sector's name, in any order, singular or plural; best coverage first."""
        words = list(dict.fromkeys(_stem(t) for t in _phrase(text) if t not in _SECTOR_FILLER))
        if not words or len(words) > MAX_SECTOR_WORDS:  # a sentence, not a sector's name
            return []
        found: list[tuple[float, int, Sector]] = []
        for i, s in enumerate(self.sectors):
            own = self._sector_words[s.id]
            if all(any(_close(w, o) for o in own) for w in words):
                covered = sum(1 for o in own if any(_close(w, o) for w in words))
                found.append((-covered / max(len(own), 1), i, s))
        return [s for _, _, s in sorted(found)]

    def route(self, text: str, among: Iterable[str] = ()) -> Routing:
        """Where `text` should go (see Routing). `among`: the bodies just offered, so that a place
        alone ("Irbid") picks the one of them serving it."""
        sectors = self.sectors_named(text)
        if sectors:
            return Routing("sector", sectors=tuple(sectors[:3]))
        tokens = _phrase(text)
        if not tokens:
            return Routing("none")
        spans: list[tuple[int, int, str, Any]] = []  # start, end, kind, what
        for i, word in enumerate(tokens):
            firsts = _keys(word)
            keys = [(k,) for k in firsts]
            if i + 1 < len(tokens):
                keys += [(k, k2) for k in firsts for k2 in _keys(tokens[i + 1])]
            for key in keys:
                for kind, what, name in self._names.get(key, ()):
                    if _at(tokens, i, name):
                        spans.append((i, i + len(name), kind, what))
        places = list(dict.fromkeys(what.id for _, _, kind, what in spans if kind == "place"))
        spans = [span for span in spans if span[2] != "place"]
        # A name inside a longer one is not a mention of its own: "police" in "traffic police".
        by_start: dict[int, list[tuple[int, int, str, Any]]] = {}
        for span in spans:
            by_start.setdefault(span[0], []).append(span)
        longest = max((end - start for start, end, _, _ in spans), default=0)
        kept = [a for a in spans if not any(
            a[1] <= b[1] and b[1] - b[0] > a[1] - a[0]
            for start in range(max(0, a[0] - longest), a[0] + 1) for b in by_start.get(start, ()))]
        named = list(dict.fromkeys(e for _, _, kind, e in kept if kind == "entity"))
        groups = list(dict.fromkeys(g for _, _, kind, g in kept if kind == "group"))
        local = {b for g in groups for b in g.bodies}
        # A body beats the bodies above it (a directorate its ministry, a company its ministry).
        named = [e for e in named if not any(self._is_above(e.id, other.id) for other in named if other is not e)]
        named = [e for e in named if not any(self._is_above(e.id, b) for b in local)]
        place = places[0] if places else None
        if named:
            length = {e.id: max(end - start for start, end, kind, x in kept if x is e) for e in named}
            top = max(length.values())
            best = [e for e in named if length[e.id] == top]
            if len(best) == 1:
                return Routing("named", entity=best[0], place=place)
            return Routing("ambiguous", choices=tuple(best), place=place)
        if groups:
            bodies = [self.entity_by_id[b] for b in dict.fromkeys(b for g in groups for b in g.bodies)]
            return self._by_place(bodies, places, "group")
        offered = [self.entity_by_id[b] for b in among if b in self.entity_by_id]
        if offered and places:
            routed = self._by_place(offered, places, "none")
            if routed.entity is not None:
                return routed
        return Routing("none", place=place)

    def _by_place(self, bodies: list[Entity], places: list[str], otherwise: str) -> Routing:
        for place in places:
            serving = [e for e in bodies if place in e.serves]
            if len(serving) == 1:
                return Routing("place", entity=serving[0], place=place)
            if serving:
                return Routing(otherwise, choices=tuple(serving), place=place)
        return Routing(otherwise, choices=tuple(bodies) if otherwise != "none" else (), place=places[0] if places else None)

    def _is_above(self, upper: str, lower: str) -> bool:
        """Is `upper` an ancestor of `lower` through the parent links?"""
        seen: set[str] = set()
        current = self.entity_by_id.get(lower)
        while current is not None and current.parent is not None and current.parent not in seen:
            if current.parent == upper:
                return True
            seen.add(current.parent)
            current = self.entity_by_id.get(current.parent)
        return False

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


def _places(raw: Any, where: str) -> list[Place]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CatalogueError(f"{where}: 'places' must be a list of {{id, names}}")
    out: list[Place] = []
    for i, item in enumerate(raw):
        at = f"{where}: places[{i}]"
        if not isinstance(item, dict):
            raise CatalogueError(f"{at}: expected a mapping with id and names")
        names = string_list(item, "names", at)
        if not names:
            raise CatalogueError(f"{at}: 'names' is missing or empty")
        out.append(Place(text_field(item, "id", at), names))
    if len({p.id for p in out}) != len(out):
        raise CatalogueError(f"{where}: duplicate place id in 'places'")
    return out


def _groups(raw: Any, entity_ids: set[str], where: str) -> list[Group]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CatalogueError(f"{where}: 'groups' must be a list of {{id, words, bodies}}")
    out: list[Group] = []
    for i, item in enumerate(raw):
        at = f"{where}: groups[{i}]"
        if not isinstance(item, dict):
            raise CatalogueError(f"{at}: expected a mapping with id, words and bodies")
        gid = text_field(item, "id", at)
        words = string_list(item, "words", at)
        bodies = _ids(item, "bodies", entity_ids, "entity", at)
        if not words or len(bodies) < 2:
            raise CatalogueError(f"{at} ({gid}): a group needs words and at least two bodies")
        out.append(Group(gid, words, bodies))
    return out


def _optional_id(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: '{key}' must be an id")
    return value.strip()


def _ids(item: dict[str, Any], key: str, known: set[str], kind: str, where: str) -> tuple[str, ...]:
    values = string_list(item, key, where)
    for v in values:
        if v not in known:
            raise CatalogueError(f"{where}: '{key}' names {v!r}, which is not a {kind} id")
    return values


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


# --- words, for route() ---------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_ARABIC = re.compile(r"[\u0621-\u064a]")
# The article and the clitics written onto it: "بالأحوال", "للبلدية", "والجوازات" -> the noun.
_ARTICLES = ("وال", "بال", "فال", "كال", "لل", "ال")
# Single-letter clitics that a text may put before a name written without the article ("باربد").
_CLITICS = "وبلفك"
# Words that carry no name: articles, "and", "of", Arabizi articles and their clitic forms.
_STOP = frozenset({
    "the", "of", "and", "a", "an", "&", "el", "al", "il", "l", "w", "wel", "wil", "bel", "bil", "fel", "fil",
    "lal", "lel", "3al", "و",
})
# What people put around a sector's name when they answer the sector question.
_SECTOR_FILLER = frozenset({
    "sector", "it", "its", "is", "s", "about", "for", "regarding", "related", "to", "in", "with", "my", "this",
    "قطاع", "عن", "بخصوص", "في", "موضوع", "يتعلق", "متعلق", "على", "هو", "هي", "مجال",
})


def _core(token: str) -> str:
    if _ARABIC.match(token):
        for article in _ARTICLES:
            if token.startswith(article) and len(token) - len(article) >= 2:
                return token[len(article):]
    return token


_LONG_VOWEL = re.compile(r"([aeiou])\1+")
# Arabizi has no spelling: the ways people write a name's common words, to one form each.
_ARABIZI_SPELLINGS = {
    **dict.fromkeys(("wazaret", "wizaret", "wazarat", "wizarat", "wzaret", "wezarat", "wizaarat", "wazart"), "wezaret"),
    **dict.fromkeys(("da2iret", "da2eret", "dayret", "da2irat", "daeret", "da2ert", "da2ret", "da2rat", "dairet"), "da2eret"),
    **dict.fromkeys(("baladiyet", "baladiyyet", "baladiet", "baladeyet", "baladiyat", "baladyat"), "baladiyat"),
    **dict.fromkeys(("mudeeriyet", "mudiriyet", "modeeriyet", "modiriyet", "mudiriyat"), "mudeeriyet"),
    **dict.fromkeys(("idaret", "edaret", "idarat", "edart", "idart"), "edaret"),
    **dict.fromkeys(("sear", "sayr", "seir"), "seer"),
}


def _fold_vowels(word: str) -> str:
    # Only where the folded word keeps 5 letters: "maan" must not become the English "man".
    folded = _LONG_VOWEL.sub(r"\1", word)
    return folded if len(folded) >= 5 else word


# Looked up after a long vowel is folded (_latin), so the spellings are folded the same way.
_ARABIZI_SPELLINGS = {_fold_vowels(k): v for k, v in _ARABIZI_SPELLINGS.items()}


def _latin(word: str) -> str:
    """A Latin word's spelling folded: the common Arabizi words to one form, and a vowel written
    long to one letter ("araadi", "aradi"; "masaa7a"), on the name's side as on the text's."""
    if _ARABIC.match(word):
        return word
    word = _ARABIZI_SPELLINGS.get(_fold_vowels(word), word)
    return _fold_vowels(word)


_APOSTROPHE = re.compile(r"(?<=[A-Za-z])['\u2019\u02bc](?=[A-Za-z])")


def _phrase(text: str) -> tuple[str, ...]:
    """The words of `text` for matching: normalised, articles and clitics off, fillers out."""
    # An apostrophe inside a Latin word is part of it: "Ma'an" is "maan", never "ma" (Arabizi
    # for "not", which named the city in "el baladiyeh ma shalat el zbaleh").
    words = (_core(t) for t in _WORD.findall(_APOSTROPHE.sub("", normalise(text))))
    return tuple(_latin(c) for c in words if c not in _STOP)


def _same(word: str, name_word: str) -> bool:
    if word == name_word:
        return True
    if not _ARABIC.match(word):
        return len(name_word) > 3 and _stem(word) == _stem(name_word)  # "lands" / "land"
    # "باربد" is "ب" + "اربد": a clitic on a word written without the article.
    return len(name_word) >= 3 and word[:1] in _CLITICS and word[1:] == name_word


def _at(tokens: tuple[str, ...], i: int, name: tuple[str, ...]) -> bool:
    return i + len(name) <= len(tokens) and all(_same(tokens[i + k], w) for k, w in enumerate(name))


def _key(name_word: str) -> str:
    """The index key of a name's first word: what _keys() of a matching text word includes."""
    if not _ARABIC.match(name_word) and len(name_word) > 3:
        return _stem(name_word)
    return name_word


def _keys(word: str) -> set[str]:
    """Index keys a text word can match (see _same): itself, its stem, or itself minus a clitic."""
    if _ARABIC.match(word):
        return {word, word[1:]} if word[:1] in _CLITICS else {word}
    return {word, _stem(word)}


def _stem(word: str) -> str:
    """Singular and plural to one form, crudely and only for comparing sector names."""
    if _ARABIC.match(word):
        if len(word) > 4 and word.endswith(("ات", "ين", "ون")):
            word = word[:-2]
        for tail in ("ه", "ي"):
            if len(word) > 3 and word.endswith(tail):
                word = word[:-1]
        return word
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _close(word: str, other: str) -> bool:
    """Same word, one a form of the other ("transport"/"transportation"), or a typo of it."""
    if word == other:
        return True
    shortest = min(len(word), len(other))
    common = next((i for i, (a, b) in enumerate(zip(word, other)) if a != b), shortest)
    if common >= 4 and common >= 0.7 * shortest:
        return True
    # A typo keeps the first letter (and no word of a sector name is longer than 30 letters).
    if shortest < 5 or max(len(word), len(other)) > 30 or word[0] != other[0]:
        return False
    return difflib.SequenceMatcher(None, word, other, autojunk=False).ratio() >= 0.84
