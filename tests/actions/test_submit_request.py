"""Asking, confirming, submitting and cancelling a request, against the real case store: the
summary each type shows, one request per idempotency key, an outage kept for a retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.forms import FORM_SLOTS
from actions.requests import (
    ActionAskConfirmed,
    ActionAskContactPhone,
    ActionAskEditField,
    ActionAskEntityId,
    ActionAskSector,
    ActionCancelRequest,
    ActionSubmitRequest,
)
from bot import refcode
from bot.i18n import format_day
from bot.privacy import phone_identity
from channels.common import sms_encoding, sms_segments
from channels.twilio_sms import render_sms
from tests.support.case_store import RunningCaseStore, start_case_store
from tests.support.trackers import said, tracker

PHONE = "+962791234567"
DESCRIPTION = "the clinic kept me waiting for six hours without seeing a doctor"
FILLED: dict[str, dict[str, Any]] = {
    "complaint": {"sector": "health", "entity_id": "moh", "pillar": "delivery_time", "importance": "urgent",
                  "description": DESCRIPTION, "contact_phone": PHONE},
    "inquiry": {"sector": "transport", "entity_id": "mot", "description": "how do I renew a public transport licence?",
                "contact_phone": PHONE},
    "suggestion": {"sector": "municipal", "entity_id": "gam", "description": "more shaded bus stops on the airport road",
                   "contact_phone": "none"},
    "compliment": {"sector": "health", "entity_id": "jfda", "description": "the inspector was quick and very helpful",
                   "contact_phone": "none"},
    "report": {"sector": "health", "entity_id": "moh", "description": "the director asks for a bribe to sign licences kanari",
               "contact_phone": "none"},
}


def slots(rtype: str, language: str = "en", **over: Any) -> dict[str, Any]:
    return {**FILLED[rtype], "request_type": rtype, "language": language, "idem_key": "k" * 32, "confirmed": "yes", **over}


async def run(action: Any, t: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return events, said(dispatcher.messages)


def cleared(**after: Any) -> list[dict[str, Any]]:
    return [SlotSet(s, None) for s in FORM_SLOTS] + [SlotSet(k, v) for k, v in after.items()]


# --- the questions --------------------------------------------------------------------------------


async def test_the_sector_question_offers_the_catalogues_sectors_in_the_persons_language(store: RunningCaseStore) -> None:
    _, messages = await run(ActionAskSector(), tracker(slots={"language": "en"}))
    assert messages == [{"response": "utter_ask_sector", "buttons": [
        {"title": "Health", "payload": '/inform{"sector": "health"}'},
        {"title": "Transport", "payload": '/inform{"sector": "transport"}'},
        {"title": "Municipal affairs", "payload": '/inform{"sector": "municipal"}'},
    ]}]


@pytest.mark.parametrize("connector, municipal", [("twilio_sms", "Municipal"), ("twilio_voice", "Municipal"),
                                                  ("messenger", "Municipal affairs")])
async def test_sms_and_the_phone_line_list_the_sectors_short_names(store: RunningCaseStore, connector: str,
                                                                   municipal: str) -> None:
    """A list is paid for in SMS segments and in seconds of a spoken menu: the catalogue's short
    name where it has one, the name where it has none."""
    _, messages = await run(ActionAskSector(), tracker(slots={"language": "en"}, connector=connector))
    assert [b["title"] for b in messages[0]["buttons"]] == ["Health", "Transport", municipal]


async def test_the_sector_question_without_the_catalogue_is_still_asked(store: RunningCaseStore) -> None:
    await store.stop()
    assert await run(ActionAskSector(), tracker()) == ([], [{"response": "utter_ask_sector"}])


async def test_the_entity_question_offers_the_sectors_bodies_or_the_did_you_mean_choices(store: RunningCaseStore) -> None:
    _, messages = await run(ActionAskEntityId(), tracker(slots={"sector": "transport"}))
    assert messages == [{"response": "utter_ask_entity_id", "buttons": [
        {"title": "هيئة تنظيم النقل البري", "payload": '/inform{"entity_name": "ltrc"}'},
        {"title": "وزارة النقل", "payload": '/inform{"entity_name": "mot"}'},
    ]}]
    _, messages = await run(ActionAskEntityId(), tracker(slots={"sector": "transport", "entity_choices": ["moh", "gone"]}))
    assert messages == [{"response": "utter_ask_entity_id", "buttons": [{"title": "وزارة الصحة", "payload": '/inform{"entity_name": "moh"}'}]}]


@pytest.mark.parametrize(
    ("rtype", "connector", "response"),
    [
        ("report", "twilio_sms", "utter_ask_contact_phone_report"),  # never "use this number" for a report
        ("complaint", "twilio_sms", "utter_ask_contact_phone_channel"),
        ("complaint", "twilio_voice", "utter_ask_contact_phone_channel"),
        ("suggestion", "rest", "utter_ask_contact_phone_optional"),
        ("compliment", "messenger", "utter_ask_contact_phone_optional"),
        ("inquiry", "messenger", "utter_ask_contact_phone"),
        ("complaint", "rest", "utter_ask_contact_phone"),
    ],
)
async def test_the_phone_question_fits_the_type_and_channel(rtype: str, connector: str, response: str) -> None:
    t = tracker(slots={"request_type": rtype}, connector=connector, address=PHONE)
    assert await run(ActionAskContactPhone(), t) == ([], [{"response": response}])


async def test_only_a_complaint_offers_its_pillar_and_importance_for_editing() -> None:
    _, [complaint] = await run(ActionAskEditField(), tracker(slots={"request_type": "complaint", "language": "en"}))
    assert [b["title"] for b in complaint["buttons"]] == [
        "entity", "topic", "importance", "details", "phone", "Make it a question", "Make it a suggestion", "Make it a compliment",
    ]
    _, [inquiry] = await run(ActionAskEditField(), tracker(slots={"request_type": "inquiry", "language": "en"}))
    assert inquiry["buttons"] == [
        {"title": "entity", "payload": '/inform{"field": "entity_id"}'},
        {"title": "details", "payload": '/inform{"field": "description"}'},
        {"title": "phone", "payload": '/inform{"field": "contact_phone"}'},
        {"title": "Make it a suggestion", "payload": "/suggest"},
        {"title": "Make it a compliment", "payload": "/compliment"},
        {"title": "Make it a complaint", "payload": "/complain"},
    ]


async def test_a_report_is_never_offered_another_type() -> None:
    _, [report] = await run(ActionAskEditField(), tracker(slots={"request_type": "report", "language": "ar"}))
    assert [b["payload"] for b in report["buttons"]] == [
        '/inform{"field": "entity_id"}', '/inform{"field": "description"}', '/inform{"field": "contact_phone"}',
    ]


# --- the summary ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rtype", "summary"),
    [
        ("complaint", "You are filing a complaint about Ministry of Health\ntopic: time to deliver\nimportance: urgent\n"
                      f"details: {DESCRIPTION}\nphone: …4567"),
        ("inquiry", "You are asking Ministry of Transport a question\n"
                    "details: how do I renew a public transport licence?\nphone: …4567"),
        ("suggestion", "You are sending a suggestion to Greater Amman Municipality\n"
                       "details: more shaded bus stops on the airport road"),
        ("compliment", "You are sending a compliment to Jordan Food and Drug Administration\n"
                       "details: the inspector was quick and very helpful"),
        # A report never echoes its narrative, and says it stays anonymous without a number.
        ("report", "You are filing a confidential report of a violation at Ministry of Health\nphone: none (anonymous)"),
    ],
)
async def test_the_summary_names_the_type_and_the_body_first(store: RunningCaseStore, rtype: str, summary: str) -> None:
    events, [message] = await run(ActionAskConfirmed(), tracker(slots=slots(rtype)))
    assert events == [] and message["response"] == "utter_ask_confirmed" and message["summary"] == summary
    assert "kanari" not in summary


@pytest.mark.parametrize(("rtype", "switch"), [("complaint", ("Make it a compliment", "/compliment")),
                                              ("compliment", ("Make it a complaint", "/complain"))])
async def test_the_summary_of_a_complaint_or_compliment_offers_the_other_in_one_tap(
    store: RunningCaseStore, rtype: str, switch: tuple[str, str],
) -> None:
    _, [message] = await run(ActionAskConfirmed(), tracker(slots=slots(rtype)))
    assert [(b["title"], b["payload"]) for b in message["buttons"]] == [switch]


async def test_the_summary_in_arabic_shortens_a_long_description(store: RunningCaseStore) -> None:
    long = "انتظرت " + "طويلا " * 40
    _, [message] = await run(ActionAskConfirmed(), tracker(slots=slots("suggestion", "ar", description=long)))
    shown = ("انتظرت " + "طويلا " * 18).strip() + "…"
    assert message["summary"] == f"ستقدّم اقتراحاً إلى أمانة عمّان الكبرى\nالتفاصيل: {shown}"


STORY = "الزبالة ما انشالت من قدام البيت من أسبوعين والريحة صارت قوية"


@pytest.mark.parametrize(
    ("rtype", "summary"),
    [
        ("complaint", "ستقدّم شكوى بحق وزارة الصحة\nوقت إنجاز الخدمة، مستعجل"),
        ("suggestion", "ستقدّم اقتراحاً إلى أمانة عمّان الكبرى\n«الزبالة ما انشالت…»"),
        ("report", "ستقدّم بلاغاً سرياً عن مخالفة في وزارة الصحة\nلا يوجد (بلاغ سري)"),
    ],
)
async def test_the_summary_over_sms_is_short_and_fits_two_segments(store: RunningCaseStore, rtype: str, summary: str) -> None:
    t = tracker(slots=slots(rtype, "ar", description=STORY), connector="twilio_sms", address=PHONE)
    _, [message] = await run(ActionAskConfirmed(), t)
    assert message["summary"] == summary
    assert "buttons" not in message, "no extra choice line over SMS"
    # The whole SMS as the channel renders it, with the domain's response around the summary.
    variants = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text(encoding="utf-8"))["responses"]["utter_ask_confirmed"]
    # The variant Rasa picks for an Arabic SMS conversation: the SMS one when there is one.
    [response, *_] = [v for v in variants if v.get("channel") == "twilio_sms" and {"name": "language", "type": "slot", "value": "ar"} in v.get("condition", [])] or variants
    body = render_sms([{"text": response["text"].replace("{summary}", summary), "buttons": response["buttons"]}]).bodies
    assert len(body) == 1 and sms_segments(body[0]) <= 2, (len(body[0]), body[0])


# --- a campaign's complaint: its answers in the summary (issue 13) ---------------------------------

PLACE = {"ar": "مقهى الربوة في جبل عمّان، الطابق الأرضي", "en": "Rabweh Cafe, Jabal Amman, ground floor"}
WHEN = {"ar": "مساء الجمعة", "en": "Friday evening around 9"}
SMOKE = {"ar": "الزبائن يدخنون الأرجيلة داخل المقهى المغلق", "en": "customers smoke shisha inside the closed cafe"}


def smoking(language: str, **over: Any) -> dict[str, Any]:
    """The slots at the summary of the shipped smoking campaign's complaint (no pillar, no urgency asked)."""
    values = {"campaign": "smoking_public_places", "pillar": None, "importance": None, "campaign_answer_1": PLACE[language],
              "campaign_answer_2": WHEN[language], "description": SMOKE[language], **over}
    return slots("complaint", language, **values)


def whole_sms(summary: str, language: str) -> list[str]:
    """The SMS bodies of the summary question as Rasa picks its variant for an SMS conversation."""
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain

    nlg = TemplatedNaturalLanguageGenerator(Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml")).responses)
    message = nlg.generate_from_slots("utter_ask_confirmed", {"language": language}, "twilio_sms", summary=summary)
    return render_sms([message]).bodies


@pytest.mark.parametrize(
    ("language", "summary"),
    [
        ("en", "You are filing a complaint about Ministry of Health\nplace: Rabweh Cafe, Jabal Amman, ground floor\n"
               f"when: Friday evening around 9\ndetails: {SMOKE['en']}\nphone: …4567"),
        ("ar", "ستقدّم شكوى بحق وزارة الصحة\nالمكان: مقهى الربوة في جبل عمّان، الطابق الأرضي\nالوقت: مساء الجمعة\n"
               f"التفاصيل: {SMOKE['ar']}\nرقم الهاتف: …4567"),
    ],
)
async def test_a_campaign_complaints_summary_shows_its_answers(store: RunningCaseStore, language: str, summary: str) -> None:
    """Where and when (the smoking campaign's questions), named by the campaign file's labels; no
    topic or urgency row, since a campaign asks neither (once "topic: -" and "importance: -")."""
    _, [message] = await run(ActionAskConfirmed(), tracker(slots=smoking(language)))
    assert message["summary"] == summary


@pytest.mark.parametrize(
    ("language", "summary"),
    [
        # English has room to name them and add the description.
        ("en", "You are filing a complaint about Ministry of Health\nplace: Rabweh Cafe, Jabal Amman, ground floor\n"
               'when: Friday evening around 9\n"customers smoke shisha inside the closed cafe"'),
        # Arabic (UCS-2, 134 characters in two SMS): the values alone, the longer one cut.
        ("ar", "ستقدّم شكوى بحق وزارة الصحة\nمقهى الربوة في جبل…\nمساء الجمعة"),
    ],
)
async def test_a_campaign_complaints_sms_summary_shows_its_answers_in_two_segments(
    store: RunningCaseStore, language: str, summary: str,
) -> None:
    t = tracker(slots=smoking(language), connector="twilio_sms", address=PHONE)
    _, [message] = await run(ActionAskConfirmed(), t)
    assert message["summary"] == summary
    [body] = whole_sms(summary, language)
    assert sms_segments(body) <= 2, (len(body), body)


@pytest.mark.parametrize("language", ["ar", "en"])
@pytest.mark.parametrize("length", [1, 12, 40, 500])
async def test_any_campaign_answers_keep_the_sms_summary_in_two_segments(store: RunningCaseStore, language: str, length: int) -> None:
    word = "حرف " if language == "ar" else "word "
    long = (word * length)[: max(length, 1)].strip() or "x"
    t = tracker(slots=smoking(language, campaign_answer_1=long, campaign_answer_2=long, description=long * 3),
                connector="twilio_sms", address=PHONE)
    _, [message] = await run(ActionAskConfirmed(), t)
    [body] = whole_sms(message["summary"], language)
    assert sms_segments(body) <= 2, (len(body), body)


async def test_an_english_sms_summary_stays_gsm7_whatever_the_phone_typed(store: RunningCaseStore) -> None:
    """« », … and a phone's curly quotes made the whole SMS UCS-2: 70 characters a segment, four SMS."""
    typed = {"campaign_answer_1": "McDonald’s – Mecca Street", "description": "they’re smoking “everywhere” inside… " * 6}
    summaries = []
    for filled in (smoking("en", **typed), slots("complaint", "en", description=typed["description"])):
        _, [message] = await run(ActionAskConfirmed(), tracker(slots=filled, connector="twilio_sms", address=PHONE))
        [body] = whole_sms(message["summary"], "en")
        assert sms_encoding(body) == "GSM-7" and sms_segments(body) <= 2, body
        summaries.append(message["summary"])
    assert "place: McDonald's - Mecca Street" in summaries[0] and summaries[1].endswith('..."')


async def test_a_skipped_campaign_question_has_no_row(store: RunningCaseStore) -> None:
    _, [message] = await run(ActionAskConfirmed(), tracker(slots=smoking("en", campaign_answer_2="-")))
    assert "place: Rabweh Cafe" in message["summary"] and "when:" not in message["summary"]


async def test_a_campaign_question_without_a_label_is_named_by_its_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign file may leave the labels out (the potholes fixture): the question's first sentence names the answer."""
    from case_store.campaigns import DEFAULT_PATH
    from tests.actions.conftest import point_actions_at
    from tests.support.case_store import Clock, migrated_sqlite

    potholes = Path(__file__).resolve().parents[1] / "case_store" / "fixtures" / "campaign_potholes.yml"
    running = await start_case_store(migrated_sqlite(tmp_path), Clock(), campaign_paths=[DEFAULT_PATH, potholes])
    client = point_actions_at(running.url, running.token, monkeypatch)
    try:
        t = tracker(slots=slots("complaint", "en", campaign="potholes_amman", sector="municipal", entity_id="gam",
                                pillar="infrastructure", importance=None, campaign_answer_1="Wasfi Al Tal Street",
                                description="a deep pothole broke my wheel"))
        _, [message] = await run(ActionAskConfirmed(), t)
    finally:
        await client.close()
        await running.stop()
    assert message["summary"] == ("You are filing a complaint about Greater Amman Municipality\ntopic: infrastructure\n"
                                  "Which street is the pothole on: Wasfi Al Tal Street\n"
                                  "details: a deep pothole broke my wheel\nphone: …4567")


async def test_a_complaint_moved_off_the_campaigns_entity_is_summarised_as_an_ordinary_one(store: RunningCaseStore) -> None:
    _, [message] = await run(ActionAskConfirmed(), tracker(slots=smoking("en", entity_id="jfda", pillar="procedures",
                                                                         importance="normal")))
    assert "place:" not in message["summary"] and "topic: procedures\nimportance: normal" in message["summary"]


async def test_a_reporter_who_leaves_a_number_sees_its_last_digits_not_the_story(store: RunningCaseStore) -> None:
    _, [message] = await run(ActionAskConfirmed(), tracker(slots=slots("report", "ar", contact_phone=PHONE)))
    assert message["summary"] == "ستقدّم بلاغاً سرياً عن مخالفة في وزارة الصحة\nرقم الهاتف: …4567"


# --- submitting -----------------------------------------------------------------------------------


async def test_a_complaint_is_filed_once_with_everything_the_form_collected(store: RunningCaseStore) -> None:
    t = tracker("yes", "affirm", slots=slots("complaint"), connector="messenger", address="psid-777", sender_id="messenger_abc")
    events, messages = await run(ActionSubmitRequest(), t)
    [row] = store.requests()
    req = await common.client().get_request(row["reference"], requester_id="messenger_abc")
    assert messages == [{
        "response": "utter_submitted", "type_label": "complaint", "reference_display": refcode.format_grouped(row["reference"]),
        "entity_label": "Ministry of Health", "due_label": format_day(req.due_at, "en"), "metadata": {"reference": row["reference"]},
    }]
    assert events == cleared(idem_key=None, submit_pending=False, last_reference=row["reference"], request_type=None)
    assert (row["type"], row["sector"], row["entity"], row["pillar"], row["importance"], row["description"]) == (
        "complaint", "health", "moh", "delivery_time", "urgent", DESCRIPTION)
    assert (row["channel"], row["requester_id"], row["language"], row["idempotency_key"]) == ("messenger", "messenger_abc", "en", "k" * 32)
    assert (row["notify_channel"], row["anonymous"], row["confidential"]) == ("messenger", 0, 0)


async def test_the_same_key_twice_files_one_request(store: RunningCaseStore) -> None:
    t = tracker("yes", "affirm", slots=slots("inquiry"))
    _, first = await run(ActionSubmitRequest(), t)
    _, second = await run(ActionSubmitRequest(), t)
    assert len(store.requests()) == 1
    assert first == second and first[0]["response"] == "utter_submitted"


async def test_an_sms_filer_is_one_phone_identity_and_gets_the_updates_by_sms(store: RunningCaseStore) -> None:
    t = tracker("نعم", "affirm", slots=slots("complaint", "ar"), connector="twilio_sms", address="+962781112233")
    await run(ActionSubmitRequest(), t)
    [row] = store.requests()
    assert (row["channel"], row["requester_id"], row["notify_channel"]) == ("sms", phone_identity("+962781112233"), "sms")


async def test_a_report_is_anonymous_and_shows_its_pin_once(store: RunningCaseStore) -> None:
    t = tracker("yes", "affirm", slots=slots("report"), connector="twilio_sms", address="+962781112233")
    events, [message] = await run(ActionSubmitRequest(), t)
    [row] = store.requests()
    assert message["response"] == "utter_submitted_report"
    assert message["reference_display"] == refcode.format_grouped(row["reference"])
    assert len(message["pin"]) == 6 and message["pin"].isdigit()
    # Nothing in the tracker ties the report to the sender: no last_reference.
    assert events == cleared(idem_key=None, submit_pending=False, request_type=None)
    assert (row["anonymous"], row["confidential"], row["contact_phone_enc"], row["notify_channel"]) == (1, 1, None, None)
    assert row["requester_id"] != phone_identity("+962781112233")
    assert "kanari" not in row["description"], "the narrative is stored encrypted"


async def test_a_case_store_outage_keeps_the_request_for_a_retry_that_files_once(
    store: RunningCaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.actions.conftest import point_actions_at

    t = tracker("yes", "affirm", slots=slots("complaint"))
    await store.stop()
    events, messages = await run(ActionSubmitRequest(), t)
    assert (events, messages) == ([SlotSet("submit_pending", True)], [{"response": "utter_submit_failed"}])

    back = await start_case_store(store.database_url, store.clock)  # same database, new port
    try:
        point_actions_at(back.url, back.token, monkeypatch)
        _, first = await run(ActionSubmitRequest(), t)
        _, again = await run(ActionSubmitRequest(), t)
        assert [m["response"] for m in first + again] == ["utter_submitted", "utter_submitted"]
        assert len(back.requests()) == 1
    finally:
        await common.client().close()
        await back.stop()


async def test_a_request_the_store_refuses_is_not_kept_pending(store: RunningCaseStore) -> None:
    # The store checks the body belongs to the sector (400 entity_not_in_sector).
    t = tracker("yes", "affirm", slots=slots("complaint", sector="transport"))
    events, messages = await run(ActionSubmitRequest(), t)
    assert (events, messages) == ([SlotSet("submit_pending", False)], [{"response": "utter_backend_unavailable"}])
    assert store.requests() == []


async def test_submit_without_a_confirmed_request_files_nothing(store: RunningCaseStore) -> None:
    events, messages = await run(ActionSubmitRequest(), tracker(slots=slots("complaint", confirmed=None)))
    assert (events, messages) == ([SlotSet("submit_pending", False)], [{"response": "utter_main_menu"}])
    ref = refcode.generate()
    _, messages = await run(ActionSubmitRequest(), tracker(slots={"last_reference": ref}))
    assert messages == [{"response": "utter_already_submitted", "reference_display": refcode.format_grouped(ref)}]
    assert store.requests() == []


# --- cancelling -----------------------------------------------------------------------------------


STATUS_AND_RATING = ("status_reference", "status_proof", "rating_reference", "rating_score", "rating_resolved", "rating_comment")


@pytest.mark.parametrize(
    ("active_loop", "have", "response"),
    [("complaint_form", {"idem_key": "k" * 32}, "utter_cancelled"), (None, {"idem_key": "k" * 32}, "utter_cancelled"),
     ("status_form", {}, "utter_cancelled"), (None, {}, "utter_nothing_to_cancel")],
)
async def test_cancel_clears_every_form(active_loop: str | None, have: dict[str, Any], response: str) -> None:
    t = tracker("cancel", "cancel", slots=dict(have, last_reference="x"), active_loop=active_loop)
    events, messages = await run(ActionCancelRequest(), t)
    assert messages == [{"response": response}]
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("idem_key", None),
                      SlotSet("request_type", None), SlotSet("submit_pending", False)] + cleared() + [
        SlotSet(s, None) for s in STATUS_AND_RATING]
