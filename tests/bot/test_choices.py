"""bot.choices: which offered choice a typed answer names."""

from __future__ import annotations

import pytest

from bot import choices
from bot.choices import option, pick

COLOURS = [option("red", "red", "أحمر"), option("green", "green", "light green", "أخضر"), option("blue", "blue", "أزرق")]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("green", "green"), ("GREEN!", "green"), ("the green one please", "green"), ("الأخضر", "green"),
        ("بالأحمر", "red"), ("2", "green"), ("٣", "blue"), ("۱", "red"), ("3.", "blue"),
        ("light green", "green"), ("not red, blue", "blue"), ("مش أحمر، أزرق", "blue"),
    ],
)
def test_a_typed_choice_by_label_word_or_number(text: str, key: str) -> None:
    assert pick(text, COLOURS) == key


@pytest.mark.parametrize("text", ["", "purple", "red or blue", "4", "0", "redness", "not red"])
def test_nothing_or_two_named_is_no_answer(text: str) -> None:
    assert pick(text, COLOURS) is None


def test_a_number_counts_only_when_the_list_was_numbered() -> None:
    assert pick("2", COLOURS, numbered=False) is None


@pytest.mark.parametrize("text", ["no", "No.", "لا", "la", "la2", "مش ضروري", "skip", "بدون", "ما بدي", "nope, skip it",
                                  "لا شكراً", "la2 shukran", "not needed", "I don’t want to", "ليس ضرورياً", "mish darori"])
def test_a_plain_no_in_every_variety(text: str) -> None:
    assert choices.says_no(text) and not choices.says_yes(text)


@pytest.mark.parametrize("text", ["yes", "Yes please", "نعم", "ايوه", "aywa", "akeed", "تمام", "ok", "أكيد"])
def test_a_plain_yes_in_every_variety(text: str) -> None:
    assert choices.says_yes(text) and not choices.says_no(text)


@pytest.mark.parametrize("text", ["ok no", "no yes", "my number is 0791234567", "nobody told me anything about this for weeks",
                                  "laila", "nothing works in the office and the staff shout at us every day"])
def test_neither_yes_nor_no(text: str) -> None:
    assert not choices.says_yes(text) or not choices.says_no(text)
    assert not (choices.says_no(text) and choices.says_yes(text))
    if len(text.split()) > 5:
        assert not choices.says_no(text) and not choices.says_yes(text), "a long message is not an answer to a choice"


def test_every_vocabulary_keeps_its_options_apart() -> None:
    """No phrase names two options of one question (a tie would leave the answer unread)."""
    for vocabulary in (choices.IMPORTANCE, choices.TYPES, choices.OPENING_TYPES, choices.FIELDS, [choices.YES, choices.NO]):
        seen: dict[tuple[str, ...], str] = {}
        for opt in vocabulary:
            for form in opt.forms():
                assert seen.setdefault(tuple(form), opt.key) == opt.key, (form, opt.key, seen[tuple(form)])


def test_every_button_title_the_domain_shows_is_understood_when_typed() -> None:
    """A person who types the button's title gets what the button gives (pillar, urgency)."""
    import json
    from pathlib import Path

    import yaml

    from bot import pillars

    domain = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text(encoding="utf-8"))
    vocabularies = {"pillar": pillars.OPTIONS, "urgency": choices.IMPORTANCE}
    checked = 0
    for name in ("utter_ask_pillar", "utter_ask_importance"):
        for variant in domain["responses"][name]:
            for button in variant["buttons"]:
                slot, value = next(iter(json.loads(button["payload"].replace("{{", "{").replace("}}", "}")[7:]).items()))
                assert pick(button["title"], vocabularies[slot], numbered=False) == value, button
                checked += 1
    assert checked == 14


@pytest.mark.parametrize(("text", "negated"), [
    ("no, it's a complaint", False), ("No this is a complaint", False), ("لا، هذا ثناء", False), ("لا هي شكوى", False),
    ("no complaint", True), ("it's not a complaint", True), ("مش شكوى", True), ("ليست شكوى", True), ("mish shakwa", True),
])
def test_no_before_other_words_answers_and_names_the_choice_while_not_denies_it(text: str, negated: bool) -> None:
    [(_, _, found)] = [m for m in choices.mentions(text, choices.TYPES) if m[0] in ("complaint", "compliment")]
    assert found is negated


@pytest.mark.parametrize(("text", "intent"), [
    ("la2, shakwa", "complain"), ("a question", "ask_government"), ("اقتراح", "suggest"), ("thana2", "compliment"),
    ("a report", "report_violation"), ("بلاغ عن مخالفة", "report_violation"), ("7u2u2 el insan", "report_human_rights"),
])
def test_the_openings_type_typed_names_the_intent_that_starts_it(text: str, intent: str) -> None:
    assert pick(text, choices.OPENING_TYPES, numbered=False) == intent


@pytest.mark.parametrize("text", ["أفضّل ألا أترك رقمي", "I'd rather not say", "i prefer not to give it", "لا أود ذلك",
                                  "bfaddel la", "keep it private please"])
def test_a_polite_no_is_a_no(text: str) -> None:
    assert choices.says_no(text, limit=8) and not choices.says_yes(text, limit=8)


@pytest.mark.parametrize(("text", "resolved"), [
    ("لم تُحلّ بعد", "no"), ("ما انحلت للأسف", "no"), ("still waiting for them", "no"), ("not fixed at all", "no"),
    ("lessa ma n7allat", "no"), ("لسا نفس الشي", "no"), ("nope", "no"),
    ("yes it got fixed", "yes"), ("تم حلها والحمد لله", "yes"), ("in7allat shukran", "yes"), ("ايوه", "yes"),
    ("I called them twice and the man at the desk was rude to me", None),
])
def test_was_it_solved_typed_in_words(text: str, resolved: str | None) -> None:
    assert choices.says_resolved(text) == resolved


@pytest.mark.parametrize(("text", "change"), [
    ("no I have to fix something first", True), ("wait, something is wrong", True), ("بدي أعدّل شغلة قبل الإرسال", True),
    ("la2 fi ghalat", True), ("لا، يوجد خطأ", True),
    ("nothing to change, send it", False), ("yes that's right", False), ("no changes needed", False),
    ("ما بدي أغير شي", False), ("the clinic changed its hours and nobody told us about it at all", False),
])
def test_asking_for_a_change_at_the_summary_without_naming_it(text: str, change: bool) -> None:
    assert choices.wants_a_change(text) is change


def test_the_solved_question_keeps_its_options_apart() -> None:
    seen: dict[tuple[str, ...], str] = {}
    for opt in choices.RESOLVED:
        for form in opt.forms():
            assert seen.setdefault(tuple(form), opt.key) == opt.key, form


@pytest.mark.parametrize("text", ["لا، ما بدي أعطيكم إياه", "la2 ma bdi", "no, not needed", "لأ مش لازم", "nope, no need"])
def test_a_no_said_twice_is_still_a_no(text: str) -> None:
    assert choices.says_no(text, limit=8) and not choices.says_yes(text, limit=8)


@pytest.mark.parametrize(("text", "edit"), [
    ("no", True), ("لا", True), ("la2", True), ("no, wait", True), ("لا، في خطأ بدي أصححه", True),
    ("no I have to fix something first", True), ("بدي أعدّل شغلة قبل الإرسال", True),
    ("yes", False), ("نعم أرسله", False), ("no changes, send it", False), ("لا تغيير، أرسله", False),
    ("ma bdi ghayer", False),
])
def test_the_summary_answer_that_asks_to_edit(text: str, edit: bool) -> None:
    """One rule for the summary's "edit": a no of up to ten words or a request for a change, and
    never "nothing to change"."""
    assert choices.asks_to_edit(text) is edit


@pytest.mark.parametrize("text", ["shukran", "thanks", "thank you very much", "شكراً جزيلاً", "يعطيكم العافية",
                                  "yislamo", "ok shukran", "ma 2assartu", "merci"])
def test_a_bare_thank_you(text: str) -> None:
    assert choices.is_bare_thanks(text)


@pytest.mark.parametrize("text", ["ok", "tamam", "great", "", "thank you to the civil defence", "شكرا لبلدية اربد",
                                  "shukran bas lessa el mayy maqtou3a", "thanks but the street is still dark"])
def test_thanks_with_something_more_or_no_thanks_at_all(text: str) -> None:
    assert not choices.is_bare_thanks(text)
