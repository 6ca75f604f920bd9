"""action_start_request for a human-rights grievance (issue 13): a `report` whose body is preset to
the National Centre for Human Rights, against the real case store with the shipped catalogue (the
test catalogue has no such body)."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet

from tests.actions.test_start_request import fresh, idem_key, start
from tests.support.trackers import entity

pytestmark = pytest.mark.usefixtures("real_store")


async def test_a_human_rights_grievance_is_a_report_preset_to_the_national_centre() -> None:
    # The body the person names (the police) is whom the grievance is about, not where it goes.
    text = "الشرطة احتجزوا أخي عشرة أيام ولم يسمحوا له بمقابلة محام"
    events, dispatcher = await start(text, "report_human_rights", [entity("entity_name", "الشرطة")])
    assert events == fresh("report", idem_key(events)) + [
        SlotSet("description", text), SlotSet("entity_id", "nchr"), SlotSet("sector", "justice_integrity"),
    ]
    assert [m["response"] for m in dispatcher.messages] == ["utter_report_human_rights"]


async def test_a_bare_human_rights_opening_presets_only_the_body() -> None:
    events, _ = await start("human rights please", "report_human_rights")
    assert events == fresh("report", idem_key(events)) + [SlotSet("entity_id", "nchr"), SlotSet("sector", "justice_integrity")]
