"""action_start_request against the real case store: a fresh request of the type asked for,
keeping what the opening message already said (its description, a body it names confidently)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import FORM_SLOTS
from actions.requests import ActionStartRequest
from tests.support.case_store import RunningCaseStore
from tests.support.trackers import entity, tracker

pytestmark = pytest.mark.usefixtures("store")


def fresh(rtype: str, idem_key: str) -> list[dict[str, Any]]:
    """What every start sets: the form cleared, the type, one new idempotency key."""
    return [SlotSet(s, None) for s in FORM_SLOTS] + [
        SlotSet("request_type", rtype), SlotSet("idem_key", idem_key), SlotSet("submit_pending", False),
        SlotSet("requested_slot", None),
    ]


async def start(text: str, intent: str, entities: list[dict[str, Any]] | None = None, **kw: Any) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await ActionStartRequest().run(dispatcher, tracker(text, intent, entities, **kw), {})
    return events, dispatcher


def idem_key(events: list[dict[str, Any]]) -> str:
    [key] = [e["value"] for e in events if e.get("name") == "idem_key"]
    assert isinstance(key, str) and len(key) == 32 and int(key, 16) >= 0
    return key


@pytest.mark.parametrize(
    ("intent", "rtype"),
    [("ask_government", "inquiry"), ("suggest", "suggestion"), ("compliment", "compliment"), ("complain", "complaint")],
)
async def test_a_bare_opening_starts_an_empty_request_of_its_type(intent: str, rtype: str) -> None:
    events, dispatcher = await start("بدي اقدم شكوى", intent)
    assert events == fresh(rtype, idem_key(events))
    assert dispatcher.messages == []


@pytest.mark.parametrize("text", ["shukran kteer", "thank you", "شكراً جزيلاً", "الله يعطيكم العافية", "ok thanks a lot",
                                  "yislamo", "ma 2assartu"])
async def test_a_thank_you_with_nothing_to_file_is_answered_and_starts_nothing(text: str) -> None:
    """After a status answer, "shukran kteer" (heard as a compliment at 0.98): no compliment form."""
    events, dispatcher = await start(text, "compliment")
    assert [e["event"] for e in events] == ["followup"] and events[0]["name"] == "action_listen"
    assert [m["response"] for m in dispatcher.messages] == ["utter_welcome"]


async def test_thanks_that_name_who_for_what_is_a_compliment() -> None:
    events, dispatcher = await start("shukran la baladiyet irbid 3ala tanzeef el share3 b sor3a", "compliment")
    assert ("request_type", "compliment") in [(e.get("name"), e.get("value")) for e in events]
    assert dispatcher.messages == []


async def test_a_bare_report_opening_first_says_it_is_confidential() -> None:
    events, dispatcher = await start("I want to report a violation", "report_violation")
    assert events == fresh("report", idem_key(events))
    assert [m["response"] for m in dispatcher.messages] == ["utter_report_confidential"]


async def test_each_start_gets_its_own_idempotency_key() -> None:
    first, _ = await start("عندي شكوى", "complain")
    second, _ = await start("عندي شكوى", "complain")
    assert idem_key(first) != idem_key(second)


async def test_an_opening_with_content_prefills_the_description_the_body_and_the_pillar() -> None:
    text = "I want to complain that the Ministry of Health clinic kept me waiting for six hours"
    events, _ = await start(text, "complain", [entity("entity_name", "Ministry of Health")])
    key = idem_key(events)
    assert events == fresh("complaint", key) + [
        SlotSet("description", text), SlotSet("entity_id", "moh"), SlotSet("sector", "health"),
        SlotSet("pillar", "delivery_time"),
    ]


async def test_a_body_named_ambiguously_is_left_for_the_form_to_ask() -> None:
    # "ministry" matches two bodies equally: no guess, the form asks (and offers "did you mean").
    events, _ = await start("عندي شكوى على الوزارة", "complain", [entity("entity_name", "ministry")])
    assert events == fresh("complaint", idem_key(events))


async def test_urgency_and_pillar_entities_are_kept_for_a_complaint_only() -> None:
    tagged = [entity("urgency", "urgent"), entity("pillar", "employee_behaviour")]
    events, _ = await start("شكوى مستعجلة", "complain", tagged)
    assert events == fresh("complaint", idem_key(events)) + [SlotSet("pillar", "employee_behaviour"), SlotSet("importance", "urgent")]
    events, _ = await start("suggestion, urgent", "suggest", tagged)
    assert events == fresh("suggestion", idem_key(events)), "a suggestion has neither pillar nor importance"


async def test_an_opening_with_an_attachment_keeps_only_web_links() -> None:
    meta = {"attachments": [{"url": "https://cdn.example/photo.jpg", "media_type": "image/jpeg"},
                            {"url": "file:///etc/passwd"}, "not a dict"]}
    events, _ = await start("عندي شكوى", "complain", connector="messenger", address="psid-1", metadata=meta)
    assert events[-1] == SlotSet("attachments", [{"url": "https://cdn.example/photo.jpg", "media_type": "image/jpeg"}])


async def test_a_catalogue_outage_still_starts_the_request(store: RunningCaseStore) -> None:
    await store.stop()
    text = "the Ministry of Health clinic kept me waiting for six hours today"
    events, _ = await start(text, "complain", [entity("entity_name", "Ministry of Health")])
    assert events == fresh("complaint", idem_key(events)) + [SlotSet("description", text), SlotSet("pillar", "delivery_time")]


@pytest.mark.parametrize(("text", "name", "value"), [
    ("The Civil Service Bureau never told me the result of the exam I sat in March", "Civil Service Bureau", "csb"),
    ("مكتب البريد في الرصيفة أضاع الطرد الذي أرسلته لأخي", "الرصيفة", "russeifa"),
])
async def test_the_name_of_the_body_or_place_is_not_read_as_the_pillar(text: str, name: str, value: str) -> None:
    """"Service" in a body's name, "رصيف" (pavement) at the start of Russeifa: no pillar is guessed
    from them, so the form asks it."""
    start_at = text.index(name)
    tagged = [{"entity": "entity_name" if value == "csb" else "city", "value": value, "start": start_at,
               "end": start_at + len(name)}]
    events, _ = await start(text, "complain", tagged)
    assert [e["value"] for e in events if e.get("name") == "pillar"] == [None], "cleared, then nothing guessed"
