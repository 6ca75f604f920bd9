"""Catalogue.route on the real catalogue (issue 15, items 2-4): the most specific body named wins,
a place picks the local body, a sector names only a sector; and POST /v1/catalogue/route."""

from __future__ import annotations

import aiohttp
import pytest

from case_store.catalogue import Catalogue, CatalogueError


@pytest.fixture(scope="module")
def real() -> Catalogue:
    return Catalogue.load()  # case_store/data/catalogue.yml


def where(catalogue: Catalogue, text: str, among: tuple[str, ...] = ()) -> tuple[str, str | None, list[str]]:
    r = catalogue.route(text, among)
    return r.basis, r.entity.id if r.entity else None, [e.id for e in r.choices] or [s.id for s in r.sectors]


# --- the named body beats its parent ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "entity"), [
    ("an ambulance of the civil defense took forty minutes to reach my father", "civil_defence"),
    ("سيارة الدفاع المدني وصلت بعد ساعة من الاتصال", "civil_defence"),
    ("a traffic police officer was rude to me at the roundabout", "central_traffic"),
    ("شرطي من شرطة السير خالفني ظلما", "central_traffic"),
    ("el seer 3amalouli mukhalafa ghalat", "central_traffic"),
    ("وزارة الداخلية والدفاع المدني لم يردوا على اتصالاتي", "civil_defence"),  # both named: the lower one
    ("the Ministry of Energy says the Jordan Electric Power Company must fix my bill", "jepco"),
    ("مستشفى البشير التابع لوزارة الصحة", "al_bashir_hospital"),
    ("بدي اطلع هوية من دائرة الأراضي", "dls"),  # "دائرة الأراضي" named
    ("I need a paper from the lands department", "dls"),
    ("I went to the land department twice", "dls"),  # singular of the alias
])
def test_the_most_specific_body_named_wins(real: Catalogue, text: str, entity: str) -> None:
    assert where(real, text)[:2] == ("named", entity)


def test_a_ministry_alone_is_the_ministry(real: Catalogue) -> None:
    assert where(real, "the ministry of interior delayed my file")[:2] == ("named", "moi")
    assert where(real, "police")[:2] == ("named", "psd")


def test_articles_and_clitics_are_folded(real: Catalogue) -> None:
    assert where(real, "تأخرت معاملتي بالأحوال المدنية والجوازات كثيرا")[:2] == ("named", "cspd")
    assert where(real, "شكوى للدفاع المدني")[:2] == ("named", "civil_defence")


# --- local bodies: the place picks, or ask ----------------------------------------------------------

@pytest.mark.parametrize(("text", "entity"), [
    ("the municipality of Jerash left the street lights off", "jerash_municipality"),
    ("الحاويات في حي المعصوم بالزرقاء ممتلئة منذ أسبوع", "zarqa_municipality"),
    ("nobody collects the trash in our neighbourhood in Mafraq", "mafraq_municipality"),
    ("el zbaleh bel karak ma btenshal", "karak_municipality"),
    ("بلدية في عمان", "gam"),
    ("garbage everywhere in Aqaba", "aseza"),  # Aqaba's municipal body
    ("the electricity company in Ajloun cut us off without notice", "ideco"),
    ("انقطاع الكهرباء في معان منذ يومين", "edco"),
    ("no water reached our tank in Madaba this week", "miyahuna"),
])
def test_a_place_picks_the_local_body(real: Catalogue, text: str, entity: str) -> None:
    assert where(real, text)[:2] == ("place", entity)


def test_generic_words_without_a_place_ask_among_the_group(real: Catalogue) -> None:
    basis, entity, choices = where(real, "البلدية ما بتلم الزبالة من عنا")
    assert (basis, entity) == ("group", None)
    assert choices[0] == "gam" and "irbid_municipality" in choices and "mola" not in choices
    assert where(real, "the power company sent me a huge bill") == ("group", None, ["jepco", "ideco", "edco"])


def test_a_ministry_above_the_group_loses_to_it(real: Catalogue) -> None:
    # Local Administration is above every municipality: the municipality in Irbid is meant.
    assert where(real, "وزارة الإدارة المحلية لم تحاسب البلدية في إربد")[:2] == ("place", "irbid_municipality")


def test_a_place_alone_picks_among_the_bodies_just_offered(real: Catalogue) -> None:
    municipalities = ("gam", "irbid_municipality", "zarqa_municipality", "salt_municipality")
    assert where(real, "in Salt", municipalities)[:2] == ("place", "salt_municipality")
    assert where(real, "السلط", municipalities)[:2] == ("place", "salt_municipality")
    assert where(real, "Salt")[:2] == ("none", None)  # nothing offered: a place names no body


# --- sectors: in part, reordered, singular or plural; never a body -----------------------------------

@pytest.mark.parametrize(("text", "sector"), [
    ("traffic and transport", "transport_licensing"),
    ("licensing", "transport_licensing"),
    ("lands, housing", "housing_public_works"),
    ("public work", "housing_public_works"),
    ("Municipality services", "municipal_services"),
    ("بلديات", "municipal_services"),
    ("الخدمات المحلية", "municipal_services"),
    ("it is about education", "education"),
    ("التعليم", "education"),
    ("الصحة", "health"),
    ("hospitals", "health"),
    ("water & irrigation", "water"),
    ("الضرائب والجمارك", "finance_tax"),
    ("telecom", "digital_telecom"),
    ("tourism and culture", "tourism_culture_religion"),
    ("tranport", "transport_licensing"),  # a typo
])
def test_a_sector_name_is_a_sector_not_a_body(real: Catalogue, text: str, sector: str) -> None:
    basis, entity, sectors = where(real, text)
    assert (basis, entity, sectors[0]) == ("sector", None, sector)


def test_words_beyond_the_sector_name_are_a_body(real: Catalogue) -> None:
    assert where(real, "وزارة الصحة")[:2] == ("named", "moh")
    assert where(real, "ministry of higher education")[:2] == ("named", "mohe")
    assert where(real, "traffic police")[:2] == ("named", "central_traffic")


def test_nothing_recognisable_is_none(real: Catalogue) -> None:
    assert where(real, "qwerty asdf")[:2] == ("none", None)
    assert where(real, "") == ("none", None, [])
    assert where(real, "!!! ???") == ("none", None, [])


def test_every_group_body_serves_a_place_and_every_parent_exists(real: Catalogue) -> None:
    for group in real.groups:
        for body in group.bodies:
            assert real.entity_by_id[body].serves, f"{group.id}: {body} serves no place"
    assert all(e.parent in real.entity_by_id for e in real.entities if e.parent)


@pytest.mark.parametrize(("extra", "message"), [
    ({"groups": [{"id": "g", "words": ["x"], "bodies": ["a", "nope"]}]}, "'bodies' names 'nope', which is not a entity id"),
    ({"groups": [{"id": "g", "words": ["x"], "bodies": ["a"]}]}, "at least two bodies"),
    ({"places": [{"id": "p", "names": []}]}, "'names' is missing or empty"),
    ({"places": "amman"}, "'places' must be a list"),
], ids=["unknown body", "one body", "place without names", "places not a list"])
def test_routing_data_is_validated(extra: dict, message: str) -> None:
    doc = {"sectors": [{"id": "s", "name_ar": "س", "name_en": "S"}],
           "entities": [{"id": "a", "sector": "s", "name_ar": "أ", "name_en": "A"},
                        {"id": "b", "sector": "s", "name_ar": "ب", "name_en": "B"}], **extra}
    with pytest.raises(CatalogueError, match=message):
        Catalogue.from_document(doc)


def test_a_parent_or_place_that_does_not_exist_is_named() -> None:
    doc = {"sectors": [{"id": "s", "name_ar": "س", "name_en": "S"}],
           "entities": [{"id": "a", "sector": "s", "name_ar": "أ", "name_en": "A", "parent": "z"}]}
    with pytest.raises(CatalogueError, match="parent 'z' is not an entity id"):
        Catalogue.from_document(doc)
    doc["entities"] = [{"id": "a", "sector": "s", "name_ar": "أ", "name_en": "A", "serves": ["mars"]}]
    with pytest.raises(CatalogueError, match="'serves' names 'mars', which is not a place id"):
        Catalogue.from_document(doc)


# --- the endpoint (test catalogue) -------------------------------------------------------------------

async def test_route_endpoint(http: aiohttp.ClientSession) -> None:
    async with http.post("/v1/catalogue/route", json={"text": "the garbage in Zarqa is everywhere"}) as resp:
        body = await resp.json()
    assert resp.status == 200
    assert (body["basis"], body["entity"]["id"], body["place"], body["choices"]) == ("place", "zarqa_municipality", "zarqa", [])
    async with http.post("/v1/catalogue/route", json={"text": "مستشفى البشير ووزارة الصحة"}) as resp:
        assert (await resp.json())["entity"]["id"] == "bashir"
    async with http.post("/v1/catalogue/route", json={"text": "garbage"}) as resp:
        assert [e["id"] for e in (await resp.json())["choices"]] == ["gam", "zarqa_municipality"]
    async with http.post("/v1/catalogue/route", json={"text": "Zarqa", "among": ["gam", "zarqa_municipality"]}) as resp:
        assert (await resp.json())["entity"]["id"] == "zarqa_municipality"
    async with http.post("/v1/catalogue/route", json={"text": "municipal"}) as resp:
        body = await resp.json()
    assert (body["basis"], [s["id"] for s in body["sectors"]], body["entity"]) == ("sector", ["municipal"], None)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "text"),
    ({"text": 5}, "text"),
    ({"text": "x" * 2001}, "text"),
    ({"text": "a\x00b"}, "text"),
    ({"text": "garbage", "among": "gam"}, "among"),
    ({"text": "garbage", "among": ["x"] * 51}, "among"),
    ({"text": "garbage", "among": [1]}, "among"),
])
async def test_route_endpoint_refuses_bad_bodies(http: aiohttp.ClientSession, body: dict, field: str) -> None:
    async with http.post("/v1/catalogue/route", json=body) as resp:
        assert resp.status == 400 and (await resp.json())["field"] == field


# --- Arabizi has no spelling -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "entity"), [
    ("wazaret el 3amal", "mol"), ("wizaret el siya7a", "mota"), ("baladiyet el zar2a", "zarqa_municipality"),
    ("da2iret mura2abet el sharikat", "ccd"), ("idaret el sear", "central_traffic"),
    # a vowel written long, and "da2ret" for "da2eret"
    ("daa2ret el araadi", "dls"), ("wizaaret el 3amal", "mol"), ("idaaret el seer", "central_traffic"),
])
def test_a_body_typed_in_arabizi_as_people_spell_it(real: Catalogue, text: str, entity: str) -> None:
    assert where(real, text)[:2] == ("named", entity)


@pytest.mark.parametrize(("text", "sector"), [
    ("sear", "transport_licensing"), ("tijara", "economy_trade_investment"), ("siya7a", "tourism_culture_religion"),
    ("3amal", "labour_social"), ("daman", "labour_social"), ("الضرائب", "finance_tax"), ("zira3a", "agriculture_environment"),
    ("jawazat", "civil_status_identity"), ("ittisalat", "digital_telecom"),
])
def test_a_sector_answered_in_arabizi_or_dialect_names_only_the_sector(real: Catalogue, text: str, sector: str) -> None:
    assert where(real, text) == ("sector", None, [sector])


def test_an_english_sir_is_not_the_traffic_department(real: Catalogue) -> None:
    assert where(real, "thank you sir, the clerk was very helpful")[1] is None


@pytest.mark.parametrize("text", ["el baladiyeh ma shalat el zbaleh min jom3a", "ro7na 3al baladiyeh w ma 7ada rad 3alaina",
                                  "the man at the municipality shouted at my father"])
def test_arabizi_ma_or_english_man_is_no_city(real: Catalogue, text: str) -> None:
    """"Ma'an" is one word: its apostrophe once split it into "ma" (Arabizi for "not"), so every
    Arabizi municipal complaint with a "ma" in it went to Greater Ma'an Municipality unasked."""
    basis, entity, choices = where(real, text)
    assert (basis, entity) == ("group", None) and "maan_municipality" in choices


@pytest.mark.parametrize("text", ["baladiyet ma'an ma shalat el zbaleh", "the municipality in Ma'an left the road broken",
                                  "Maan municipality", "بلدية معان"])
def test_maan_written_any_way_is_still_maan(real: Catalogue, text: str) -> None:
    assert where(real, text)[1] == "maan_municipality"
