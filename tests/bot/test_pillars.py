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
    assert pillars.mentioned("ما في مي بالحارة") == ["service_quality"]


@pytest.mark.parametrize("text", [
    "انقطع التيار الكهربائي عن الحي ثلاث مرات هذا الأسبوع",
    "المي مقطوعة عن البناية كلها",
    "el mayy ma2too3a 3an el 7ara",
    "we had a power cut every evening this week",
    "الصيدلية قالت إن الدواء مقطوع",
])
def test_an_outage_or_a_shortage_is_the_services_quality_as_nlu_data_annotates_it(text: str) -> None:
    assert infer(text) == "service_quality"


@pytest.mark.parametrize("text", [
    "شركة الكهرباء الأردنية",          # a utility's name is what it is about, not its pillar
    "the traffic light at the roundabout is broken",  # a road's, or the service's?
    "it was a bad experience overall",
    "the water bill came twice as high as last month",  # its amount, or how it was read?
    "رحت على الدائرة الصبح",
])
def test_words_that_say_nothing_of_the_pillar_make_no_guess(text: str) -> None:
    assert infer(text) is None


@pytest.mark.parametrize("text", ["صار لنا شهرين هيك", "this has been going on for months", "منذ سنة"])
def test_a_duration_alone_makes_no_guess(text: str) -> None:
    assert pillars.mentioned(text) == ["delivery_time"] and infer(text) is None and pillars.guess(text, []) is None


def test_a_duration_with_another_pillars_word_is_unclear_and_with_a_delays_word_is_a_delay() -> None:
    assert infer("المياه مقطوعة منذ أربعة أيام") is None
    assert pillars.guess("المياه مقطوعة منذ أربعة أيام", [("مقطوعة", "service_quality")]) is None
    assert infer("قدمت الطلب منذ شهرين ولم يصدر القرار حتى الآن") == "delivery_time"


@pytest.mark.parametrize("text", ["راجعت مكتب البريد في الرصيفة أمس", "I booked an appointment online",
                                  "أضاعوا الطرد الذي أرسلته"])  # a parcel (طرد), not "kicked out"
def test_a_stem_is_not_read_inside_a_place_name_or_a_longer_word(text: str) -> None:
    assert pillars.mentioned(text) == []


@pytest.mark.parametrize(
    ("text", "pillar"),
    [("delivery time", "delivery_time"), ("مدة إنجاز الخدمة", "delivery_time"), ("2", "delivery_time"),
     ("Staff behaviour", "employee_behaviour"), ("البنية التحتية", "infrastructure"), ("the staff and the procedures", None)],
)
def test_an_answer_to_the_pillar_question(text: str, pillar: str | None) -> None:
    assert pillars.answer(text) == pillar
