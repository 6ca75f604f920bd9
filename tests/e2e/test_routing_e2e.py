"""Filing to the right body, end to end (issue 15, items 2-4), through the running Rasa server,
action server and case store: the most specific body named wins over its ministry, a place
picks the municipality (or the bot asks which), a sector answer only narrows the choice, and
sectors typed in part, in the plural or as a number are recognised. The texts are not the
issue's (nor bench/dialogs'), so these stay a test of the rule, not of those sentences."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import RunningSystem
from tests.e2e.test_dialog_e2e import Chat, finish_to_summary, reference_in, rows_for
from tests.e2e.test_sms_e2e import SmsUser


def filed(chat: Chat, system: RunningSystem, description: str = "") -> dict[str, Any]:
    finish_to_summary(chat, description or "They have not answered my calls for two whole weeks now", "0791234567")
    chat.press("/affirm")
    return rows_for(system, reference_in(chat.text))[0]


def payloads(chat: Chat) -> list[str]:
    return [b["payload"] for b in chat.buttons()]


# --- the named body beats its parent ministry --------------------------------------------------------

def test_an_agency_named_in_the_opening_is_not_filed_to_its_ministry(system: RunningSystem) -> None:
    chat = Chat(system, "en-fire-brigade")
    chat.say("I want to complain: the fire brigade took over an hour to reach the warehouse fire on our street")
    slots = chat.slots()
    assert (slots["sector"], slots["entity_id"]) == ("interior_security", "civil_defence"), chat.text
    row = filed(chat, system)
    assert row["entity"]["id"] == "civil_defence"


def test_arabic_traffic_police_named_is_not_the_public_security_directorate(system: RunningSystem) -> None:
    chat = Chat(system, "ar-traffic")
    chat.say("أرغب في تقديم شكوى لأن دورية شرطة السير أوقفتني نصف ساعة على طريق المطار دون أي مخالفة")
    assert chat.slots()["entity_id"] == "central_traffic", chat.text
    assert filed(chat, system)["entity"]["id"] == "central_traffic"


# --- local bodies: the place mentioned, or "which municipality?" ---------------------------------------

def test_the_place_mentioned_picks_the_municipality(system: RunningSystem) -> None:
    chat = Chat(system, "en-madaba-bins")
    chat.say("I want to complain that the rubbish bins near the Madaba bus station have not been emptied for ten days")
    assert chat.slots()["entity_id"] == "madaba_municipality", chat.text
    assert filed(chat, system)["entity"]["id"] == "madaba_municipality"


def test_without_a_place_the_bot_asks_which_municipality_and_a_typed_town_answers(system: RunningSystem) -> None:
    chat = Chat(system, "ar-which-municipality")
    chat.say("أود تقديم شكوى بشأن تراكم القمامة أمام منزلي منذ أسبوعين")
    slots = chat.slots()
    assert slots["requested_slot"] == "entity_id" and slots["entity_id"] is None, chat.text
    offered = payloads(chat)
    assert '/inform{"entity_name": "gam"}' in offered and '/inform{"entity_name": "tafileh_municipality"}' in offered
    assert not any("mola" in p for p in offered), "the ministry is not one of the municipalities"
    chat.say("في الطفيلة")
    assert chat.slots()["entity_id"] == "tafileh_municipality", chat.text
    assert filed(chat, system)["entity"]["id"] == "tafileh_municipality"


def test_an_arabizi_not_is_no_town_and_the_bot_asks_which_municipality(system: RunningSystem) -> None:
    """"ma" (not) was once read as the city of Ma'an, and the complaint filed there unasked."""
    chat = Chat(system, "arabizi-which-municipality")
    chat.say("bdi a2adem shakwa, el baladiyeh ma ballashat b shaghl el shari3 ele wa3adat fi")
    slots = chat.slots()
    assert slots["entity_id"] is None and slots["requested_slot"] in ("entity_id", "sector"), chat.text
    if slots["requested_slot"] == "sector":  # the NLU may leave the sector to ask first
        chat.say("baladiyat")
    assert chat.slots()["requested_slot"] == "entity_id", chat.text
    chat.say("irbid")
    assert chat.slots()["entity_id"] == "irbid_municipality", chat.text


# --- a sector answer narrows; it never picks the body ---------------------------------------------------

def test_a_sector_answer_asks_which_body_in_it(system: RunningSystem) -> None:
    chat = Chat(system, "en-sector-narrows")
    chat.say("I would like to make a suggestion")
    assert chat.slots()["requested_slot"] == "sector"
    chat.say("education")
    slots = chat.slots()
    assert (slots["sector"], slots["entity_id"], slots["requested_slot"]) == ("education", None, "entity_id"), chat.text
    assert {'/inform{"entity_name": "moe"}', '/inform{"entity_name": "mohe"}'} <= set(payloads(chat))
    chat.say("the ministry of education")
    assert chat.slots()["entity_id"] == "moe"


def test_an_arabic_sector_in_the_plural_then_a_number_from_the_list(system: RunningSystem) -> None:
    chat = Chat(system, "ar-sector-number")
    chat.say("عندي اقتراح")
    assert chat.slots()["requested_slot"] == "sector"
    chat.say("المستشفيات")
    slots = chat.slots()
    assert (slots["sector"], slots["entity_id"]) == ("health", None), chat.text
    offered = payloads(chat)
    chat.say("٢")  # the second body offered
    assert f'"entity_name": "{chat.slots()["entity_id"]}"' in offered[1]


# --- sectors typed in part or reordered; the opening's body resolved without the sector question ---------

def test_sectors_typed_in_part_and_reordered_are_recognised(system: RunningSystem) -> None:
    for text, sector in (("licensing and traffic", "transport_licensing"), ("lands", "housing_public_works"),
                         ("Municipal services", "municipal_services")):
        chat = Chat(system, "en-sector-words")
        chat.say("I have a question for the government")
        chat.say(text)
        assert (chat.slots()["sector"], chat.slots()["requested_slot"]) == (sector, "entity_id"), (text, chat.text)


def test_a_sector_typed_as_its_number_over_the_web(system: RunningSystem) -> None:
    chat = Chat(system, "en-sector-number")
    chat.say("I have a question for the government")
    sectors = [p for p in payloads(chat) if '"sector"' in p]
    chat.say("7")
    assert f'"sector": "{chat.slots()["sector"]}"' in sectors[6]


def test_the_opening_names_the_body_and_the_sector_is_never_asked(system: RunningSystem) -> None:
    chat = Chat(system, "ar-opening-body")
    chat.say("لدي استفسار لدائرة الأراضي والمساحة عن رسوم نقل ملكية شقة")
    slots = chat.slots()
    assert (slots["entity_id"], slots["sector"]) == ("dls", "housing_public_works"), chat.text
    assert slots["requested_slot"] != "sector"


def test_over_sms_a_sector_number_then_a_body_number(system: RunningSystem) -> None:
    user = SmsUser(system)
    first = user.say("I have a suggestion")
    assert "1." in first
    sectors = [b["payload"] for b in user.offered()]
    education = next(i for i, p in enumerate(sectors, start=1) if '"education"' in p)
    asked = user.say(str(education))
    bodies = [b["payload"] for b in user.offered()]
    assert '/inform{"entity_name": "moe"}' in bodies, asked
    user.say(str(bodies.index('/inform{"entity_name": "moe"}') + 1))
    slots = system.tracker(user.sender_id)["slots"]
    assert (slots["sector"], slots["entity_id"]) == ("education", "moe")
