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
