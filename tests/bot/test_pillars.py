from __future__ import annotations

import pytest

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
