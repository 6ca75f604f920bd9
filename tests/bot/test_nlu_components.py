"""The project's Rasa graph components, run the way Rasa runs them (train, persist, load, process)."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu_components import (
    CatalogueEntityExtractor,
    LanguageTagger,
    NormalizingTokenizer,
    ReferenceExtractor,
)


def _tokenized(text: str) -> Message:
    msg = Message({TEXT: text})
    NormalizingTokenizer(NormalizingTokenizer.get_default_config()).process([msg])
    return msg


def test_tokens_are_normalised_but_offsets_point_into_the_original() -> None:
    msg = _tokenized("الأحوال المدنية")
    tokens = msg.get("text_tokens")
    assert [t.text for t in tokens] == ["الاحوال", "المدنيه"]
    assert msg.get(TEXT)[tokens[0].start : tokens[0].end] == "الأحوال"


@pytest.mark.parametrize(
    ("text", "value"),
    [("رقم طلبي 482 910 3751", "4829103751"), ("٠٤٦-٤٤٩-٢٣٠٨ شو صار فيها", "0464492308"), ("٤٨٢-٩١٠-٣٧٥١ شو صار فيه", "4829103751"), ("status 4829103751", "4829103751")],
)
def test_references_are_extracted_in_any_form(text: str, value: str, storage: LocalModelStorage, context: ExecutionContext) -> None:
    msg = _tokenized(text)
    ReferenceExtractor.create({}, storage, Resource("ref"), context).process([msg])
    refs = [e for e in msg.get(ENTITIES) if e["entity"] == "reference"]
    assert [e["value"] for e in refs] == [value]
    assert refcode_span(msg, refs[0])


def refcode_span(msg: Message, entity: dict) -> bool:
    return any(ch.isdigit() for ch in msg.get(TEXT)[entity["start"] : entity["end"]])


def test_a_mobile_number_is_not_a_reference(storage: LocalModelStorage, context: ExecutionContext) -> None:
    msg = _tokenized("رقمي 0791234567")
    ReferenceExtractor.create({}, storage, Resource("ref"), context).process([msg])
    assert not [e for e in msg.get(ENTITIES, []) if e["entity"] == "reference"]


def test_language_is_a_top_level_parse_key_only_when_the_text_says(storage: LocalModelStorage, context: ExecutionContext) -> None:
    tagger = LanguageTagger.create({}, storage, Resource("lang"), context)
    ar, en, ok = Message({TEXT: "3ndi shakwa 3al baladiyeh"}), Message({TEXT: "I want to complain"}), Message({TEXT: "ok"})
    tagger.process([ar, en, ok])
    assert ar.get("language") == "ar" and "language" in ar.output_properties
    assert en.get("language") == "en"
    assert ok.get("language") is None


def test_catalogue_extractor_trains_persists_loads_and_matches_variants(storage: LocalModelStorage, context: ExecutionContext) -> None:
    td = TrainingData(
        lookup_tables=[{"name": "entity_name", "elements": ["الأحوال المدنية", "civil status", "إدارة الترخيص"]}],
        entity_synonyms={"الأحوال المدنية": "cspd", "civil status": "cspd", "إدارة الترخيص": "dvld"},
    )
    resource = Resource("catalogue")
    CatalogueEntityExtractor.create({}, storage, resource, context).train(td)
    loaded = CatalogueEntityExtractor.load({}, storage, resource, context)
    cases = {
        "رحت عالاحوال المدنيه امبارح": "cspd",
        "ولادارة الترخيص": "dvld",
        "الإدارة": None,
        "رحت بالأحوال المدنية امبارح": "cspd",
        "الموظف بادارة الترخيص صرخ علي": "dvld",
        "Civil Status office in Irbid": "cspd",
    }
    for text, want in cases.items():
        msg = _tokenized(text)
        loaded.process([msg])
        got = [e["value"] for e in msg.get(ENTITIES, []) if e["entity"] == "entity_name"]
        assert got == ([want] if want else []), text
