"""The centre-rating survey and campaign complaints, against the real case store (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.centres import (
    FAILED,
    ActionStartCentreRating,
    ActionSubmitCentreRating,
    ValidateCentreRatingForm,
)
from actions.requests import ActionStartRequest
from tests.support.case_store import RunningCaseStore
from tests.support.trackers import entity, tracker

pytestmark = pytest.mark.usefixtures("store")
PHONE = "+962791234567"


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m["response"] for m in dispatcher.messages]


async def start(code: str, **kw: Any) -> tuple[dict[str, Any], CollectingDispatcher]:
    d = CollectingDispatcher()
    t = tracker(f'/rate_centre{{"centre_code": "{code}"}}', "rate_centre", [entity("centre_code", code)],
                connector="twilio_sms", address=PHONE, **kw)
    return slots_of(await ActionStartCentreRating().run(d, t, {})), d


async def test_a_known_open_centre_starts_the_survey_with_a_fresh_key() -> None:
    slots, d = await start("1001")
    assert slots["centre_code"] == "1001" and len(slots["centre_rating_key"]) == 32
    assert responses(d) == ["utter_centre_rating_intro"] and d.messages[0]["centre_label"] == "مديرية صحة عمّان"


@pytest.mark.parametrize(("code", "said"), [("9999", "utter_centre_unknown"), ("3001", "utter_centre_closed")])
async def test_unknown_and_closed_centres_end_before_any_question(code: str, said: str) -> None:
    slots, d = await start(code)
    assert slots["centre_code"] == FAILED and slots["centre_rating_key"] is None
    assert responses(d) == [said]
    assert await ValidateCentreRatingForm().required_slots(["centre_code", "centre_score"], d, tracker(slots=slots), {}) == []


def asked(slot: str, text: str, intent: str = "inform", entities: list[dict[str, Any]] | None = None, **slots: Any) -> Any:
    return tracker(text, intent, entities, slots={"requested_slot": slot, "centre_code": "1001", **slots},
                   active_loop="centre_rating_form", connector="twilio_sms", address=PHONE)


@pytest.mark.parametrize(
    ("text", "intent", "entities", "picks", "expected"),
    [
        ("1 3", "inform", [], [], {"centre_pillars": "service_quality,employee_behaviour",
                                   "centre_pillar_picks": ["service_quality", "employee_behaviour"]}),
        ("٢", "inform", [], [], {"centre_pillars": "delivery_time", "centre_pillar_picks": ["delivery_time"]}),
        ("6", "inform", [], [], {"centre_pillars": "none", "centre_pillar_picks": []}),
        ('/inform{"pillar": "procedures"}', "inform", [entity("pillar", "procedures")], [],
         {"centre_pillars": None, "centre_pillar_picks": ["procedures"]}),
        ('/inform{"pillar": "none"}', "inform", [entity("pillar", "none")], ["procedures"], {"centre_pillars": "procedures"}),
        ("no", "deny", [], [], {"centre_pillars": "none"}),
        ("blue elephants", "inform", [], [], {"centre_pillars": None}),
    ],
)
async def test_pillars_one_at_a_time_or_several_numbers_at_once(
    text: str, intent: str, entities: list[dict[str, Any]], picks: list[str], expected: dict[str, Any]
) -> None:
    t = asked("centre_pillars", text, intent, entities, centre_pillar_picks=picks)
    assert await ValidateCentreRatingForm().extract_centre_pillars(CollectingDispatcher(), t, {}) == expected


async def test_a_bad_visit_is_recorded_once_and_offered_as_a_complaint(store: RunningCaseStore) -> None:
    slots, _ = await start("1001")
    survey = {**slots, "centre_score": "2", "centre_pillars": "procedures", "centre_comment": "Three hours in the queue"}
    d = CollectingDispatcher()
    t = tracker("Three hours in the queue", slots=survey, connector="twilio_sms", address=PHONE)
    events = slots_of(await ActionSubmitCentreRating().run(d, t, {}))
    assert responses(d) == ["utter_centre_rating_thanks", "utter_centre_offer_complaint"]
    assert d.messages[1]["centre_code"] == "1001" and d.messages[1]["entity_label"]
    assert events["centre_rating_key"] is None
    # The same submission again (a retried action) counts once; a new survey the same day is refused.
    await ActionSubmitCentreRating().run(CollectingDispatcher(), t, {})
    assert len(store.rows("SELECT id FROM centre_ratings")) == 1
    again, d2 = await start("1001")
    assert again["centre_code"] == FAILED and responses(d2) == ["utter_centre_already_rated"]
    # Taking the offer: a complaint to the centre's entity with what the survey said.
    d3 = CollectingDispatcher()
    offer = tracker('/complain{"centre_code": "1001"}', "complain", [entity("centre_code", "1001")],
                    slots=survey, connector="twilio_sms", address=PHONE)
    started = slots_of(await ActionStartRequest().run(d3, offer, {}))
    assert (started["entity_id"], started["sector"], started["pillar"]) == ("moh", "health", "procedures")
    assert started["description"] == "Three hours in the queue" and started["centre_code"] == "1001"


async def test_a_complaint_naming_a_campaign_trigger_is_the_campaigns() -> None:
    d = CollectingDispatcher()
    t = tracker("I want to complain, people keep smoking shisha inside the hospital cafeteria", "complain",
                connector="twilio_sms", address=PHONE)
    started = slots_of(await ActionStartRequest().run(d, t, {}))
    assert (started["campaign"], started["entity_id"], started["sector"]) == ("smoking_public_places", "moh", "health")
    assert responses(d) == ["utter_campaign_started"]
    plain = slots_of(await ActionStartRequest().run(CollectingDispatcher(), tracker(
        "I want to complain, the clinic lost my file twice this month", "complain"), {}))
    assert plain.get("campaign") is None
