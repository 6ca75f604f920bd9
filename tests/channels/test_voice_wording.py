"""What the IVR says, read from the TwiML of the domain's own responses as Rasa picks them for the
voice channel (`TemplatedNaturalLanguageGenerator`, output channel `twilio_voice`) and
`channels.twilio_voice.render` builds them: whole sentences a caller can follow, in both languages.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rasa.core.nlg.generator import ResponseVariationFilter
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain

from channels.twilio_voice import VoiceSettings, render
from channels.twilio_voice.render import OPTION_PHRASES
from channels.twilio_voice.settings import CHANNEL
from channels.twilio_voice.turn import payload_key

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(str(ROOT / "domain.yml"))
NLG = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
SETTINGS = VoiceSettings(public_base_url="https://ivr.example.jo", hours_text={"ar": "-", "en": "-"})


def spoken(response: str, language: str, page: int = 0, **values: Any) -> list[str]:
    """Every <Say> of the TwiML for one domain response, in order."""
    message = NLG.generate_from_slots(response, {"language": language}, CHANNEL, **values)
    assert message is not None, response
    xml = render([message], {"mode": "bot", "lang": language, "step": 3, "page": page}, SETTINGS)
    return [say.text or "" for say in ET.fromstring(xml.split("?>", 1)[1]).iter("Say")]


def gather_digits(response: str, language: str) -> str | None:
    message = NLG.generate_from_slots(response, {"language": language}, CHANNEL)
    xml = render([message], {"mode": "bot", "lang": language, "step": 3}, SETTINGS)
    gather = ET.fromstring(xml.split("?>", 1)[1]).find("Gather")
    return None if gather is None else gather.get("numDigits")


@pytest.mark.parametrize(
    ("response", "language", "said"),
    [
        ("utter_ask_centre_score", "ar", ["ما تقييمك لزيارتك؟", "اضغط رقمًا من ١، سيئ جدًا، إلى ٥، ممتاز."]),
        ("utter_ask_centre_score", "en", ["How would you rate your visit?", "Press a number from 1, very bad, to 5, excellent."]),
        ("utter_ask_rating_score", "ar", ["ما تقييمك للرد على طلبك؟", "اضغط رقمًا من ١، سيئ جدًا، إلى ٥، ممتاز."]),
        ("utter_ask_rating_score", "en",
         ["How would you rate the answer to your request?", "Press a number from 1, very bad, to 5, excellent."]),
    ],
)
def test_a_score_question_is_read_as_one_scale_not_five_options(response: str, language: str, said: list[str]) -> None:
    """Once "1، اضغط ١. 2، اضغط ٢ ..." and "For 1, press 1": the key is the score, so say it once."""
    assert spoken(response, language) == said
    assert gather_digits(response, language) == "1"  # one key press answers


def test_the_chat_keeps_its_written_scale() -> None:
    """The voice variants are the IVR's only: Messenger and SMS still say what 5 means."""
    for channel in ("messenger", "twilio_sms"):
        assert "5" in NLG.generate_from_slots("utter_ask_centre_score", {"language": "en"}, channel)["text"]


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "To ask the government, press 1. For a suggestion, press 2. For a compliment, press 3. "
               "For a complaint, press 4. To report a violation, press 5. For a human-rights grievance, press 6. "
               "To follow up on a request, press 7. To rate the answer to a request, press 8. For more choices, press 9."),
        ("ar", "لسؤال الحكومة اضغط ١. للاقتراح اضغط ٢. للثناء اضغط ٣. للشكوى اضغط ٤. للإبلاغ عن مخالفة اضغط ٥. "
               "لتظلم يتعلق بحقوق الإنسان اضغط ٦. لمتابعة طلب سابق اضغط ٧. لتقييم الرد على طلب سابق اضغط ٨. "
               "لخيارات أخرى اضغط ٩."),
    ],
)
def test_the_main_menu_reads_rate_an_answer_as_a_phrase(language: str, said: str) -> None:
    """Once "For Rate an answer, press 8": the button's title dropped into "For {title}"."""
    assert spoken("utter_main_menu", language)[-1] == said


def test_the_bad_visit_offer_reads_its_complaint_button_as_the_complaint_option() -> None:
    values = {"entity_label": "Civil Status and Passports Department", "centre_code": "4127"}
    assert spoken("utter_centre_offer_complaint", "en", **values)[-1] == "For a complaint, press 1. For no, press 2."
    assert spoken("utter_centre_offer_complaint", "ar", **values)[-1] == "للشكوى اضغط ١. لعدم الموافقة اضغط ٢."


def test_every_button_that_starts_something_has_its_own_voice_phrase() -> None:
    """Only data buttons (a sector, a body, a pillar: `/inform`) may be read as "For {title}, press n";
    an intent's button (a menu entry, an offer) gets a sentence of its own, and a score menu is a scale."""
    selection = ResponseVariationFilter(DOMAIN.responses)
    missing = set()
    for name in DOMAIN.responses:
        for language in ("ar", "en"):
            for variant in selection.responses_for_utter_action(name, CHANNEL, {"language": language}):
                values = {k: "4127" for k in re.findall(r"(?<!\{)\{(\w+)\}", str(variant))}
                filled = NLG._fill_response(dict(variant), {"language": language}, **values)
                for button in filled.get("buttons") or []:
                    key = payload_key(str(button["payload"]))
                    intent = key.split("{", 1)[0]
                    if intent == "/inform":
                        continue
                    # A language button is read by its full payload; an intent, with entities or not, by its name.
                    if key not in OPTION_PHRASES and (intent == "/switch_language" or intent not in OPTION_PHRASES):
                        missing.add((name, key))
    assert sorted(missing) == []
