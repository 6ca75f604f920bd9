"""Rasa graph components for Arabic and English NLU (referenced by name from config.yml).

- NormalizingTokenizer: whitespace tokens whose *text* is Arabic-normalised (bot.arabic), so
  "الأحوال", "الاحوال" and "الاحوال" featurize alike; offsets still point into the original
  text, which is what gets stored.
- LanguageTagger: puts the detected language (bot.lang) on the message as a top-level
  `language` key of the parse output, or nothing when the text does not say.
- ReferenceExtractor: deterministic 10-digit reference extraction (any digits, spaces,
  dashes); replaces whatever a statistical extractor proposed for `reference`.
- CatalogueEntityExtractor: finds government bodies by the lookup table and synonyms generated
  from the case-store catalogue (nlu_data/catalogue_lookup.yml), tolerant of Arabic spelling
  and of the clitics people attach (بالأحوال، للترخيص، والبلدية).
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import lang as langdetect_rules
from bot import refcode
from bot.arabic import normalise

LANGUAGE_KEY = "language"
_MOBILE = re.compile(r"07[789]\d{7}")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class NormalizingTokenizer(WhitespaceTokenizer):
    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            norm = normalise(token.text) or token.text
            token.text = norm
            token.lemma = norm
        return tokens


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class LanguageTagger(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageTagger:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # our own button payloads carry their language explicitly if at all
            detected = langdetect_rules.detect(text, current=None)
            if detected:
                message.set(LANGUAGE_KEY, detected, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ReferenceExtractor(GraphComponent, EntityExtractorMixin):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ReferenceExtractor:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue
            found = []
            for match in refcode.CANDIDATE_RE.finditer(text):
                digits = refcode.canonical_digits(match.group(1))
                if _MOBILE.fullmatch(digits):
                    continue  # 07[789]XXXXXXX is a Jordanian mobile number, not a reference
                found.append(
                    {
                        "entity": "reference",
                        "value": digits,
                        "start": match.start(1),
                        "end": match.end(1),
                        "confidence_entity": 1.0,
                    }
                )
            kept = [e for e in message.get(ENTITIES, []) if e.get("entity") != "reference"]
            message.set(ENTITIES, kept + self.add_extractor_name(found), add_to_output=True)
        return messages


_CLITICS = ("و", "ب", "ل", "ف", "ك")


def _variants(token: str) -> list[str]:
    """The token as typed and without the particles people glue on: و ب ل ف ك, "لل" for "لال",
    and the Jordanian "ع"/"عال" for على ("عالأحوال"). A variant only matters if it is a
    catalogue name, so stripping too much never invents a match."""
    out = [token]
    if token.startswith("لل") and len(token) > 3:
        out.append("ال" + token[2:])
    if token.startswith("عال") and len(token) > 4:
        out.append(token[1:])
    rest = token
    for _ in range(2):  # at most two particles: "وبال..."
        if len(rest) > 3 and rest[0] in _CLITICS:
            rest = rest[1:]
            out.append(rest)
    return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class CatalogueEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Longest match of catalogue names over normalised tokens; value = the entity's id."""

    MAX_NGRAM = 7
    FILE = "catalogue_index.json"

    def __init__(self, index: dict[str, str], model_storage: ModelStorage, resource: Resource) -> None:
        self.index = index  # "normalised alias tokens joined by space" -> entity id
        self._model_storage = model_storage
        self._resource = resource

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CatalogueEntityExtractor:
        return cls({}, model_storage, resource)

    _tokenizer: WhitespaceTokenizer | None = None

    @classmethod
    def _key(cls, text: str) -> str:
        if cls._tokenizer is None:
            cls._tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
        tokens = cls._tokenizer.tokenize(Message({TEXT: text}), TEXT)
        return " ".join(normalise(t.text) for t in tokens)

    def train(self, training_data: TrainingData) -> Resource:
        synonyms = {k.lower(): v for k, v in training_data.entity_synonyms.items()}
        index: dict[str, str] = {}
        for table in training_data.lookup_tables:
            if table.get("name") != "entity_name":
                continue
            for element in table.get("elements", []):
                target = synonyms.get(str(element).lower())
                if target:
                    index[self._key(str(element))] = target
        self.index = index
        import json

        with self._model_storage.write_to(self._resource) as directory:
            (directory / self.FILE).write_text(json.dumps(index, ensure_ascii=False))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> CatalogueEntityExtractor:
        import json

        try:
            with model_storage.read_from(resource) as directory:
                index = json.loads((directory / cls.FILE).read_text())
        except (ValueError, FileNotFoundError):
            index = {}
        return cls(index, model_storage, resource)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def _match(self, tokens: list[Token]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        i = 0
        while i < len(tokens):
            hit: tuple | None = None
            for n in range(min(self.MAX_NGRAM, len(tokens) - i), 0, -1):
                first_variants = _variants(tokens[i].text)
                rest = " ".join(t.text for t in tokens[i + 1 : i + n])
                for first in first_variants:
                    key = (first + (" " + rest if rest else "")).strip()
                    if key in self.index:
                        hit = (n, self.index[key])
                        break
                if hit:
                    break
            if hit:
                n, entity_id = hit
                found.append(
                    {
                        "entity": "entity_name",
                        "value": entity_id,
                        "start": tokens[i].start,
                        "end": tokens[i + n - 1].end,
                        "confidence_entity": 1.0,
                    }
                )
                i += n
            else:
                i += 1
        return found

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            tokens = message.get(TOKENS_NAMES[TEXT]) or []
            if not tokens or (message.get(TEXT) or "").startswith("/"):
                continue
            ours = self._match(tokens)
            if not ours:
                continue
            spans = [(e["start"], e["end"]) for e in ours]
            kept = [
                e
                for e in message.get(ENTITIES, [])
                if not (e.get("entity") == "entity_name" and any(s < e.get("end", 0) and e.get("start", 0) < t for s, t in spans))
            ]
            message.set(ENTITIES, kept + self.add_extractor_name(ours), add_to_output=True)
        return messages
