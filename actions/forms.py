"""One form per request type, asking only what that type needs.

All form slots use custom mappings extracted here, so a message that answers nothing
(help, cancel, switch language, talk to a person) extracts nothing, the form rejects, and the
interruption rules in nlu_data/rules.yml take over; afterwards the form re-asks.
"""

from __future__ import annotations

import abc
import logging
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common
from backend_client import CaseStoreError
from bot import pillars, request_rules
from bot.arabic import normalise
from bot.privacy import is_plausible_phone, normalise_phone

log = logging.getLogger(__name__)

INTERRUPTIONS = {"help", "cancel", "switch_language", "human_handoff"}
EDITABLE = ("entity_id", "pillar", "importance", "description", "contact_phone")
SKIP_INTENTS = {"deny"}
PHONE_OPTIONAL = {"suggestion", "compliment", "report"}


async def resolve_entity(text_or_id: str) -> tuple[list[Any], bool]:
    """(candidates, confident) for an entity id or free text, via the case-store catalogue."""
    entities = await common.all_entities()
    if text_or_id in entities:
        return [entities[text_or_id]], True
    found = await common.client().entities(q=text_or_id, limit=5)
    if not found:
        return [], False
    top = found[0]
    second = found[1].score if len(found) > 1 and found[1].score is not None else 0.0
    confident = (top.score or 0.0) >= 0.9 and (top.score or 0.0) - second >= 0.1
    return found, confident


class RequestFormValidation(FormValidationAction, metaclass=abc.ABCMeta):
    """Shared by the five request forms; abstract, so rasa-sdk does not register it itself."""

    @property
    @abc.abstractmethod
    def request_type(self) -> str:
        """inquiry, suggestion, compliment, complaint or report (a class attribute in subclasses)."""

    def name(self) -> str:
        return f"validate_{self.request_type}_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        slots = ["sector", "entity_id"]
        campaign = await self._campaign(tracker)
        if campaign is not None:
            # A campaign's complaint: its entity and SLA come from the campaign file; its own
            # questions (at most two) replace the pillar and urgency ones.
            if campaign.pillar:
                slots.append("pillar")
            slots += ["campaign_answer_1", "campaign_answer_2"][: len(campaign.questions)]
        elif self.request_type == "complaint":
            slots += ["pillar", "importance"]
        slots += ["description", "contact_phone"]
        if tracker.get_slot("confirmed") == "edit":
            slots.append("edit_field")
        slots.append("confirmed")
        return slots

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        new = common.attachments_in(tracker)
        if new:
            have = list(tracker.get_slot("attachments") or [])
            events.insert(0, SlotSet("attachments", have + [a for a in new if a not in have]))
        return events

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # Validation happens in the extract_<slot> methods (they see the whole message); keep every
        # slot they set, including helpers outside required_slots such as entity_choices.
        return [SlotSet(name, value) for name, value in tracker.slots_to_validate().items()]

    # --- helpers -------------------------------------------------------------------------------
    async def _campaign(self, tracker: Tracker) -> Any:
        name = tracker.get_slot("campaign")
        if self.request_type != "complaint" or not name:
            return None
        try:
            return (await common.campaigns()).get(name)
        except CaseStoreError:
            return None

    @staticmethod
    def _asked(tracker: Tracker, slot: str) -> bool:
        return tracker.get_slot("requested_slot") == slot

    @staticmethod
    def _interrupted(tracker: Tracker) -> bool:
        return common.intent(tracker) in INTERRUPTIONS

    # --- sector and entity -----------------------------------------------------------------------
    async def extract_sector(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "sector") or self._interrupted(tracker):
            return {}
        try:
            sectors = {s.id: s for s in await common.sectors()}
            chosen = [v for v in common.entity_values(tracker, "sector") if v in sectors]
            if chosen:
                return {"sector": chosen[0]}
            text = common.user_text(tracker)
            if common.is_payload(text) and not common.entity_values(tracker, "entity_name"):
                return {}
            # A body named directly ("الأحوال المدنية") answers both questions at once.
            for value in common.entity_values(tracker, "entity_name") + [text]:
                found, confident = await resolve_entity(value)
                if confident:
                    return {"sector": found[0].sector, "entity_id": found[0].id, "entity_choices": None}
            norm = normalise(text)
            for s in sectors.values():
                if norm and (norm in (normalise(s.name_ar), normalise(s.name_en)) or normalise(s.name_ar) in norm):
                    return {"sector": s.id}
            found, _ = await resolve_entity(text)
            if found:
                dispatcher.utter_message(response="utter_entity_did_you_mean", buttons=_entity_buttons(found, common.language(tracker)))
                return {"sector": None, "entity_choices": [e.id for e in found]}
        except CaseStoreError:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return {"sector": None}
        dispatcher.utter_message(response="utter_sector_not_found")
        return {"sector": None}

    async def extract_entity_id(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        choices = tracker.get_slot("entity_choices") or []
        picked = [v for v in common.entity_values(tracker, "entity_name")]
        # A "did you mean" answer can come while the sector is still being asked.
        if (self._asked(tracker, "sector") and choices and picked) or self._asked(tracker, "entity_id"):
            if self._interrupted(tracker):
                return {}
            try:
                for value in picked + ([] if common.is_payload(common.user_text(tracker)) else [common.user_text(tracker)]):
                    found, confident = await resolve_entity(value)
                    if confident:
                        return {"entity_id": found[0].id, "sector": found[0].sector, "entity_choices": None}
                    if found and value == common.user_text(tracker):
                        dispatcher.utter_message(
                            response="utter_entity_did_you_mean", buttons=_entity_buttons(found, common.language(tracker))
                        )
                        return {"entity_id": None, "entity_choices": [e.id for e in found]}
            except CaseStoreError:
                dispatcher.utter_message(response="utter_backend_unavailable")
                return {"entity_id": None}
            if self._asked(tracker, "entity_id"):
                dispatcher.utter_message(response="utter_entity_not_found")
                return {"entity_id": None}
        return {}

    # --- complaint specifics -------------------------------------------------------------------
    async def extract_pillar(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        tagged = common.pillar_in(tracker)
        if tagged and (self._asked(tracker, "pillar") or tracker.get_slot("pillar") is None):
            return {"pillar": tagged}
        if self._asked(tracker, "pillar") and not self._interrupted(tracker):
            text = common.user_text(tracker)
            guess = None if common.is_payload(text) else pillars.infer(text)
            return {"pillar": guess}
        return {}

    async def extract_importance(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        values = [v for v in common.entity_values(tracker, "urgency") if v in request_rules.IMPORTANCE]
        if values and (self._asked(tracker, "importance") or tracker.get_slot("importance") is None):
            return {"importance": values[0]}
        if self._asked(tracker, "importance") and not self._interrupted(tracker):
            if common.intent(tracker) == "affirm":
                return {"importance": "urgent"}
            if common.intent(tracker) == "deny":
                return {"importance": "normal"}
            return {"importance": None}
        return {}

    # --- a campaign's extra questions (issue 13) ---------------------------------------------
    def _campaign_answer(self, tracker: Tracker, slot: str) -> dict[str, Any]:
        if not self._asked(tracker, slot) or self._interrupted(tracker):
            return {}
        text = common.user_text(tracker)
        if common.intent(tracker) in SKIP_INTENTS:
            return {slot: "-"}
        if common.is_payload(text) or common.latest_metadata(tracker).get("attachment_only"):
            return {}
        return {slot: text[:500]}

    async def extract_campaign_answer_1(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._campaign_answer(tracker, "campaign_answer_1")

    async def extract_campaign_answer_2(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._campaign_answer(tracker, "campaign_answer_2")

    # --- description and phone -------------------------------------------------------------------
    async def extract_description(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "description") or self._interrupted(tracker):
            return {}
        meta = common.latest_metadata(tracker)
        text = common.user_text(tracker)
        if meta.get("attachment_only"):
            return {}  # the run() override keeps the attachment; the question stays open
        if common.is_payload(text):
            return {}
        if request_rules.description_too_short(text):
            dispatcher.utter_message(response="utter_description_too_short")
            return {"description": None}
        return {"description": text}

    async def extract_contact_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "contact_phone") or self._interrupted(tracker):
            return {}
        own = common.reply_address(tracker)
        if common.intent(tracker) == "affirm" and own and common.can_use_own_number(tracker) and self.request_type != "report":
            return {"contact_phone": normalise_phone(own)}
        if common.intent(tracker) in SKIP_INTENTS and self.request_type in PHONE_OPTIONAL:
            return {"contact_phone": "none"}
        candidates = common.entity_values(tracker, "phone") + [common.user_text(tracker)]
        for value in candidates:
            if is_plausible_phone(value):
                return {"contact_phone": normalise_phone(value)}
        dispatcher.utter_message(response="utter_invalid_phone")
        return {"contact_phone": None}

    # --- confirmation and corrections ------------------------------------------------------------
    async def extract_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "confirmed") or self._interrupted(tracker):
            return {}
        name = common.intent(tracker)
        if name == "affirm":
            return {"confirmed": "yes"}
        if name == "deny":
            return {"confirmed": "edit"}
        return {"confirmed": None}

    async def extract_edit_field(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "edit_field") or self._interrupted(tracker):
            return {}
        fields = [f for f in common.entity_values(tracker, "field") if f in EDITABLE]
        if not fields:
            return {"edit_field": None}
        field = fields[0]
        # Clearing the field makes the form ask it again, then show the summary again.
        changes: dict[str, Any] = {"edit_field": None, "confirmed": None, field: None}
        if field == "entity_id":
            changes["entity_choices"] = None
        return changes


def _entity_buttons(found: list[Any], language: str) -> list[dict[str, str]]:
    return [{"title": e.name(language), "payload": f'/inform{{"entity_name": "{e.id}"}}'} for e in found[:5]]


class ValidateInquiryForm(RequestFormValidation):
    request_type = "inquiry"


class ValidateSuggestionForm(RequestFormValidation):
    request_type = "suggestion"


class ValidateComplimentForm(RequestFormValidation):
    request_type = "compliment"


class ValidateComplaintForm(RequestFormValidation):
    request_type = "complaint"


class ValidateReportForm(RequestFormValidation):
    request_type = "report"
