"""bot.request_rules: the vocabularies every room shares and the shortest description."""

from __future__ import annotations

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


@pytest.mark.parametrize(("opinions", "unsure"), [
    ({"diet": "suggest", "linear": "compliment"}, ["suggestion", "compliment"]),   # the models disagree: asked
    ({"diet": "suggest", "linear": "suggest"}, []),                                # they agree: the average stands
    ({"diet": "report_violation", "linear": "report_human_rights"}, []),            # both a report
    ({"diet": "suggest", "linear": "greet"}, []),                                  # no second type named
    ({"diet": "suggest"}, []),
    (None, []),
])
def test_two_models_naming_different_types_leave_the_type_unsure_however_sure_the_average(
        opinions: dict[str, str] | None, unsure: list[str]) -> None:
    """A thank-you DIET read as a suggestion at 0.999 and the linear model as a compliment at 0.6
    averaged to 0.72 against 0.23: clear by the margin, wrong, and filed unasked."""
    from bot.request_rules import unsure_types

    ranking = [{"name": "suggest", "confidence": 0.72}, {"name": "compliment", "confidence": 0.23}]
    assert unsure_types(ranking, opinions) == unsure


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
