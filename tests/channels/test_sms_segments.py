"""SMS segment counting (channels.common.sms_segments) and the segment budgets of our replies.

Budgets are per reply as a citizen receives it (the whole rendered SMS body). They are written
against channels.twilio_sms.render_sms with realistic bot texts; when the e2e system runs, the
same budgets are checked on the real bot's replies in tests/e2e/test_sms_e2e.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.common import (
    is_gsm7,
    numbered_lines,
    parse_choice,
    sms_encoding,
    sms_segments,
    split_text,
    truncate,
)
from channels.twilio_sms import render_sms

AR = "ا"  # one Arabic letter: UCS-2


@pytest.mark.parametrize(
    "text, segments",
    [
        ("", 0),
        (AR * 70, 1),
        (AR * 71, 2),
        (AR * 134, 2),
        (AR * 135, 3),
        (AR * 201, 3),
        (AR * 202, 4),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters take two septets
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),
        ("a" * 152 + "€" + "a" * 10, 2),  # the escape pair is not split: 152 + (2 → next part)
        ("a" * 69 + "é", 1),  # é is in the GSM basic set
        ("a" * 69 + "ê", 1),  # ê is not: UCS-2, 70 units
        ("a" * 70 + "ê", 2),
        ("😀" * 35, 1),  # astral characters are two UTF-16 units
        ("😀" * 36, 2),
        ("a" * 66 + "😀" + "a", 1),  # 66 + 2 + 1 = 69 fits one SMS ...
        ("a" * 66 + "😀" + "a" * 3, 2),  # ... 71 units do not, and the pair moves whole: 66 | 2+3
    ],
)
def test_known_segment_counts(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_encoding() -> None:
    assert sms_encoding("Your reference: 482 910 3756") == "GSM-7"
    assert sms_encoding("رقم طلبك 482 910 3756") == "UCS-2"
    assert is_gsm7("{[~]}|^€\\") and not is_gsm7("`")


@given(st.text(max_size=400))
def test_segments_are_monotonic_and_bounded(text: str) -> None:
    n = sms_segments(text)
    assert n >= (1 if text else 0)
    assert sms_segments(text + "x") >= n
    units = len(text.encode("utf-16-le")) // 2
    assert n <= max(1, -(-units * 2 // 67)) if text else n == 0


@given(st.text(min_size=1, max_size=3000), st.integers(min_value=20, max_value=2000))
def test_split_text_respects_the_limit_and_loses_no_words(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    assert "".join("".join(p.split()) for p in parts) == "".join(text.split())


def test_parse_choice_and_helpers() -> None:
    assert [parse_choice(x) for x in ("1", " ٣ ", "2.", "(4)", "۵", "10", "abc", "1 2", "4829103756", "")] == [
        1, 3, 2, 4, 5, 10, None, None, None, None
    ]
    assert numbered_lines(["شكوى", "اقتراح"]) == "1. شكوى\n2. اقتراح"
    assert truncate("short", 20) == "short" and truncate("a" * 21, 20) == "a" * 19 + "…"


# --- budgets on rendered replies ------------------------------------------------------------------

MAIN_MENU_AR = [
    {"title": "اسأل الحكومة", "payload": "/ask_government"},
    {"title": "اقتراح", "payload": "/suggest"},
    {"title": "ثناء", "payload": "/compliment"},
    {"title": "شكوى", "payload": "/complain"},
    {"title": "إبلاغ عن مخالفة", "payload": "/report_violation"},
    {"title": "متابعة طلب", "payload": "/check_status"},
    {"title": "التحدث مع موظف", "payload": "/human_handoff"},
]
MAIN_MENU_EN = [
    {"title": t, "payload": p}
    for t, p in zip(
        ("Ask the Government", "Suggestion", "Compliment", "Complaint", "Report a violation", "Check a request", "Talk to an agent"),
        ("/ask_government", "/suggest", "/compliment", "/complain", "/report_violation", "/check_status", "/human_handoff"),
    )
]
YES_NO_AR = [{"title": "نعم", "payload": "/affirm"}, {"title": "لا", "payload": "/deny"}]


def segments_of(messages: list[dict]) -> int:
    (body,) = render_sms(messages).bodies
    return sms_segments(body)


@pytest.mark.parametrize(
    "name, messages, budget",
    [
        ("main menu ar", [{"text": "أهلاً بك في بخدمتكم. كيف يمكننا خدمتك؟", "buttons": MAIN_MENU_AR}], 3),
        ("main menu en", [{"text": "Welcome to Bekhedmetkom. How can I help?", "buttons": MAIN_MENU_EN}], 2),
        (
            "urgency ar",
            [{"text": "هل الموضوع مستعجل؟", "buttons": [{"title": "عادي", "payload": '/inform{"importance": "normal"}'},
                                                     {"title": "مستعجل", "payload": '/inform{"importance": "urgent"}'}]}],
            1,
        ),
        (
            "confirmation ar",
            [{"text": "ملخص طلبك:\nالنوع: شكوى\nالجهة: وزارة المياه والري\nالمحور: جودة الخدمة\nالأهمية: عادية\n"
                      "الوصف: انقطاع المياه عن الحي منذ ثلاثة أيام\nهل المعلومات صحيحة؟", "buttons": YES_NO_AR}],
            3,
        ),
        ("reference ar", [{"text": "تم تسجيل شكواك. رقم الطلب: 482 910 3756. يصلك الرد خلال 5 أيام عمل."}], 1),
        ("reference en", [{"text": "Your complaint is filed. Reference: 482 910 3756. Expect an answer within 5 working days."}], 1),
        ("status ar", [{"text": "طلبك 482 910 3756 قيد المعالجة لدى وزارة المياه والري. موعد الرد: الخميس، 26 تشرين الثاني."}], 2),
    ],
)
def test_reply_budgets(name: str, messages: list[dict], budget: int) -> None:
    assert segments_of(messages) <= budget, name


# The real bot texts (domain.yml), as Rasa picks them for SMS: tests/replies/test_sms_replies.py.
