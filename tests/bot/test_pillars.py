from __future__ import annotations

import pytest

from bot import pillars
from bot.pillars import infer


@pytest.mark.parametrize(
    ("text", "pillar"),
    [
        ("الموظف بدائرة الترخيص صرخ علي قدام الناس", "employee_behaviour"),
        ("el mowazafeh sar5at 3alay", "employee_behaviour"),
        ("the clerk was very rude to me", "employee_behaviour"),
        ("صرلي شهر بستنى الهوية", "delivery_time"),
        ("sarli usbu3ain mistanni", "delivery_time"),
        ("I have been waiting for three weeks", "delivery_time"),
        ("الشارع كله حفر", "infrastructure"),
        ("the street lights are off", "infrastructure"),
        ("كل مرة بطلبوا ورقة جديدة", "procedures"),
        ("they keep asking for the same documents", "procedures"),
        ("الموقع الالكتروني ما بشتغل", "service_quality"),
        ("the website is not working", "service_quality"),
    ],
)
def test_pillar_inferred_from_what_people_say(text: str, pillar: str) -> None:
    assert infer(text) == pillar


def test_nothing_when_nothing_is_said() -> None:
    assert infer("عندي شكوى") is None
    assert infer("I want to complain") is None
    assert infer("translate") is None


@pytest.mark.parametrize(
    "text",
    [
        "the rubbish bins on our street have not been emptied for ten days",  # the service, or the delay?
        "الزبالة ما انشالت من اسبوعين",
        "the website is slow and the staff were rude",
    ],
)
def test_a_message_that_points_to_two_pillars_guesses_none(text: str) -> None:
    assert len(pillars.mentioned(text)) >= 2
    assert infer(text) is None
    assert pillars.guess(text, []) is None


def test_what_the_nlu_tagged_counts_only_where_the_lexicon_has_no_word() -> None:
    # DIET's annotated value for words the lexicon does not know ...
    assert pillars.guess("he made me feel small", [("made me feel small", "employee_behaviour")]) == "employee_behaviour"
    # ... but never against words the lexicon reads otherwise.
    assert pillars.guess("الزبالة ما انشالت من اسبوعين", [("ما انشالت", "employee_behaviour")]) is None
    assert pillars.guess("the road is full of holes", [("full of holes", "employee_behaviour")]) is None


def test_two_letter_arabic_stems_are_whole_words() -> None:
    assert pillars.mentioned("الميزانية الحكومية") == []
    assert pillars.mentioned("ما في مي بالحارة") == ["infrastructure"]


@pytest.mark.parametrize(
    ("text", "pillar"),
    [("delivery time", "delivery_time"), ("مدة إنجاز الخدمة", "delivery_time"), ("2", "delivery_time"),
     ("Staff behaviour", "employee_behaviour"), ("البنية التحتية", "infrastructure"), ("the staff and the procedures", None)],
)
def test_an_answer_to_the_pillar_question(text: str, pillar: str | None) -> None:
    assert pillars.answer(text) == pillar
