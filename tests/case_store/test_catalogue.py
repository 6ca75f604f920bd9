"""Catalogue loading, validation and search."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from service_fixtures import CATALOGUE

from case_store.catalogue import DEFAULT_PATH, Catalogue, CatalogueError


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(CATALOGUE)


def ids(matches: list) -> list[str]:
    return [m.entity.id for m in matches]


def test_arabic_spelling_variants_match(catalogue: Catalogue) -> None:
    assert ids(catalogue.search("وزاره الصحه"))[0] == "moh"  # ta marbuta written as ha
    assert ids(catalogue.search("امانة عمان"))[0] == "gam"  # bare alef for hamza
    assert ids(catalogue.search("أمانةُ عمّان"))[0] == "gam"  # diacritics


def test_english_is_case_insensitive(catalogue: Catalogue) -> None:
    assert ids(catalogue.search("ministry of HEALTH"))[0] == "moh"
    assert ids(catalogue.search("jfda"))[0] == "jfda"


def test_ranking_exact_prefix_substring_fuzzy(catalogue: Catalogue) -> None:
    exact = catalogue.search("GAM")[0]
    prefix = catalogue.search("greater am")[0]
    substring = catalogue.search("transport regulatory")[0]
    fuzzy = catalogue.search("ministri of helth")[0]
    assert [exact.entity.id, prefix.entity.id, substring.entity.id, fuzzy.entity.id] == ["gam", "gam", "ltrc", "moh"]
    assert exact.score >= 3 > prefix.score >= 2 > substring.score >= 1 > fuzzy.score > 0


def test_search_within_a_sector_and_no_match(catalogue: Catalogue) -> None:
    assert ids(catalogue.search("النقل", sector="transport"))[:1] == ["mot"]
    assert catalogue.search("النقل", sector="health") == []
    assert catalogue.search("zzzzqqq") == []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"sectors": [{"id": "a", "name_ar": "أ", "name_en": "A"}] * 2, "entities": [{}]}, "duplicate sector id 'a'"),
        (
            {"sectors": [{"id": "a", "name_ar": "أ", "name_en": "A"}], "entities": [{"id": "e", "sector": "b", "name_ar": "x", "name_en": "x"}]},
            "sector 'b' is not one of the sectors",
        ),
        (
            {"sectors": [{"id": "a", "name_ar": "أ", "name_en": "A"}], "entities": [{"id": "e", "sector": "a", "name_ar": "x", "name_en": "x"}] * 2},
            "duplicate entity id 'e'",
        ),
        ({"sectors": [{"id": "a", "name_en": "A"}], "entities": [{}]}, "'name_ar' is missing"),
    ],
)
def test_validation_names_the_problem(doc: dict, message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        Catalogue.from_document(doc)


@pytest.mark.skipif(not DEFAULT_PATH.exists(), reason="the real catalogue has not been written yet")
def test_real_catalogue_is_valid_and_large_enough() -> None:
    real = Catalogue.load(DEFAULT_PATH)
    assert len(real.entities) >= 60
    assert len(real.sectors) >= 12
    for entity in real.entities[:10]:  # every entity is found by its own English name
        assert entity.id in ids(real.search(entity.name_en, limit=5))


async def test_catalogue_endpoints(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/catalogue/sectors") as resp:
        assert [s["id"] for s in (await resp.json())["sectors"]] == ["health", "transport", "municipal"]
    async with http.get("/v1/catalogue/entities", params={"sector": "health"}) as resp:
        assert [e["id"] for e in (await resp.json())["entities"]] == ["moh", "jfda", "bashir"]
    async with http.get("/v1/catalogue/entities", params={"q": "الصحه", "limit": "1"}) as resp:
        rows = (await resp.json())["entities"]
        assert [e["id"] for e in rows] == ["moh"] and rows[0]["score"] >= 3
    async with http.get("/v1/catalogue/entities", params={"sector": "nope"}) as resp:
        assert resp.status == 400 and (await resp.json())["field"] == "sector"
    async with http.get("/v1/catalogue/entities", params={"limit": "x"}) as resp:
        assert resp.status == 400


def test_broken_yaml_is_reported(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("sectors: [", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid YAML"):
        Catalogue.load(tmp_path / "c.yml")


def test_every_sector_has_a_short_name_for_sms_lists_and_is_found_by_it() -> None:
    """The sector question over SMS lists the short names (channels/twilio_sms.py pages the list):
    each is shorter than the full name, they are distinct, and typing one finds its sector."""
    from channels.common import sms_segments

    catalogue = Catalogue.load(DEFAULT_PATH)
    for language in ("ar", "en"):
        shorts = [s.to_json()[f"short_{language}"] for s in catalogue.sectors]
        assert len(set(shorts)) == len(shorts)
        for sector, short in zip(catalogue.sectors, shorts):
            assert getattr(sector, f"short_{language}") == short, f"{sector.id} has no short_{language}"
            assert short and len(short) <= len(sector.to_json()[f"name_{language}"])
            assert catalogue.sectors_named(short)[:1] == [sector], short
    # The whole Arabic list in short names is at most three SMS pages of two segments each.
    listed = "\n".join(f"{i}. {s.short_ar}" for i, s in enumerate(catalogue.sectors, start=1))
    assert sms_segments(listed) <= 6
