"""bot.request_rules: the vocabularies every room shares and the shortest description."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from bot import labels
from bot.request_rules import IMPORTANCE, PILLARS, REQUEST_TYPES, description_too_short, track_of
from case_store import models


@pytest.mark.parametrize("text", ["", "help!!!!!!!!!!", "electricity", "no water", "لا يوجد ماء".replace(" ", "")])
def test_short_or_single_word_descriptions_are_too_short(text: str) -> None:
    assert description_too_short(text)


@pytest.mark.parametrize("text", ["no water yet", "الكهرباء مقطوعة", "the road is full of potholes"])
def test_two_words_of_twelve_characters_are_enough(text: str) -> None:
    assert not description_too_short(text)


def test_every_vocabulary_word_has_an_arabic_label() -> None:
    for kind, words in (("type", REQUEST_TYPES), ("pillar", PILLARS), ("importance", IMPORTANCE)):
        for word in words:
            assert labels.label(kind, word, "ar") != word, (kind, word)


def test_the_case_store_checks_the_same_vocabularies() -> None:
    checks = {c.name: str(c.sqltext) for c in models.Request.__table__.constraints if isinstance(c, sa.CheckConstraint)}
    for name, words in (("type", REQUEST_TYPES), ("pillar", PILLARS), ("importance", IMPORTANCE)):
        assert all(f"'{w}'" in checks[f"ck_requests_{name}"] for w in words), name


@pytest.mark.parametrize(
    ("rtype", "entity", "track"),
    [
        ("report", "nchr", "report_human_rights"),  # a grievance: a report to the National Centre for Human Rights
        ("report", "moh", "report_violation"),
        ("complaint", "nchr", "complain"),  # a complaint about the centre itself stays a complaint
        ("inquiry", "mot", "ask_government"),
        ("report", None, "report_violation"),
    ],
)
def test_a_filed_request_belongs_to_the_menu_entry_of_its_track(rtype: str, entity: str | None, track: str) -> None:
    assert track_of(rtype, entity) == track


def _opinions(diet: tuple[str, float] | None, linear: tuple[str, float] | None) -> dict[str, Any]:
    return {model: {"name": name, "confidence": c} for model, o in (("diet", diet), ("linear", linear)) if o
            for name, c in [o]}


@pytest.mark.parametrize(("diet", "linear", "unsure"), [
    (("suggest", 0.999), ("compliment", 0.59), ["suggestion", "compliment"]),  # the models disagree: asked
    (("suggest", 0.999), ("compliment", 0.40), ["suggestion", "compliment"]),  # at the minimum, an opinion
    (("suggest", 0.999), ("compliment", 0.32), []),         # a near-tie of the linear model is no opinion
    (("suggest", 0.35), ("compliment", 0.9), []),
    (("suggest", 0.9), ("suggest", 0.9), []),               # they agree: the average stands
    (("report_violation", 0.9), ("report_human_rights", 0.8), []),  # both a report
    (("suggest", 0.9), ("greet", 0.8), []),                 # no second type named
    (("suggest", 0.9), None, []),
    (None, None, []),
])
def test_two_models_naming_different_types_leave_the_type_unsure_however_sure_the_average(
        diet: tuple[str, float] | None, linear: tuple[str, float] | None, unsure: list[str]) -> None:
    """A thank-you DIET read as a suggestion at 0.999 and the linear model as a compliment at 0.59
    averaged to 0.72 against 0.23: clear by the margin, wrong, and filed unasked."""
    from bot.request_rules import unsure_types

    ranking = [{"name": "suggest", "confidence": 0.72}, {"name": "compliment", "confidence": 0.23}]
    assert unsure_types(ranking, _opinions(diet, linear)) == unsure
    assert unsure_types(ranking, {"diet": "suggest", "linear": "compliment"}) == []  # not the parse's shape: ignored


@pytest.mark.parametrize(("ranking", "unsure"), [
    ([("complain", 0.9), ("compliment", 0.05)], []),
    ([("complain", 0.63), ("ask_government", 0.24)], ["complaint", "inquiry"]),  # 0.39 apart: asked
    ([("ask_government", 0.65), ("complain", 0.2)], []),                           # 0.45 apart: clear
    ([("report_violation", 0.35), ("report_human_rights", 0.35), ("complain", 0.25)], []),  # both reports add up
    ([("suggest", 0.35), ("out_of_scope", 0.33)], ["suggestion"]),                 # a lone weak type
    ([("nlu_fallback", 0.3), ("complain", 0.47), ("report_violation", 0.45)], ["complaint", "report"]),
    ([("nlu_fallback", 0.3), ("greet", 0.4), ("complain", 0.3)], []),              # no opening at all
    ([("check_status", 0.5), ("complain", 0.4)], []),
    ([], []),
])
def test_the_openings_type_is_unsure_when_two_types_are_close_or_the_only_one_is_weak(
        ranking: list[tuple[str, float]], unsure: list[str]) -> None:
    from bot.request_rules import unsure_types

    assert unsure_types([{"name": name, "confidence": c} for name, c in ranking]) == unsure
