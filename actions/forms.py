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

from actions import common, routing
from backend_client import CaseStoreError
from bot import pillars, request_rules
from bot.choices import parse_choice
from bot.privacy import is_plausible_phone, normalise_phone

log = logging.getLogger(__name__)

INTERRUPTIONS = {"help", "cancel", "switch_language", "human_handoff"}
EDITABLE = ("entity_id", "pillar", "importance", "description", "contact_phone")
SKIP_INTENTS = {"deny"}
PHONE_OPTIONAL = {"suggestion", "compliment", "report"}


async def resolve_entity(text_or_id: str) -> tuple[list[Any], bool]:
    """(candidates, confident) for an entity id or a name, via the case-store catalogue search."""
    return await routing.resolve(text_or_id)


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
        if self.request_type == "complaint":
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
    @staticmethod
    def _asked(tracker: Tracker, slot: str) -> bool:
        return tracker.get_slot("requested_slot") == slot

    @staticmethod
    def _interrupted(tracker: Tracker) -> bool:
        return common.intent(tracker) in INTERRUPTIONS

    # --- sector and entity -----------------------------------------------------------------------
    # The rules (most specific body named, place picks the local body, a sector never picks a
    # body) are the catalogue's: actions/routing.py asks it and maps its answer to slots.
    async def extract_sector(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") is None:
            # The form is starting (nothing asked yet): the opening may already say where it goes.
            try:
                return await routing.from_opening(tracker)
            except CaseStoreError as err:
                log.warning("catalogue routing failed: status=%s code=%s", err.status, err.code)
                return {}
        if not self._asked(tracker, "sector") or self._interrupted(tracker):
            return {}
        try:
            sectors = await common.sectors()
            by_id = {s.id: s for s in sectors}
            chosen = [v for v in common.entity_values(tracker, "sector") if v in by_id]
            if chosen:
                return {"sector": chosen[0], "entity_choices": None}
            text = common.user_text(tracker)
            if common.is_payload(text):
                return {}
            number = routing.picked(parse_choice(text), sectors)
            if number is not None:
                return {"sector": number.id, "entity_choices": None}
            found = await routing.route(text)
            if found.entity is not None:
                return routing.chose(found.entity)
            if found.sectors:
                return {"sector": found.sectors[0].id, "entity_choices": None}
            if found.choices:
                return routing.narrowed(found.choices)
            # A name the NLU tagged, or one typed with a typo: the catalogue search.
            decided, candidates = await routing.by_name(text, common.entity_values(tracker, "entity_name"))
            if decided is not None:
                return routing.chose(decided)
            if candidates:
                return {"sector": None, "entity_choices": routing.offer(dispatcher, tracker, candidates)}
        except CaseStoreError:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return {"sector": None}
        dispatcher.utter_message(response="utter_sector_not_found")
        return {"sector": None}

    async def extract_entity_id(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        choices = tracker.get_slot("entity_choices") or []
        picked = common.entity_values(tracker, "entity_name")
        text = common.user_text(tracker)
        # A "did you mean" answer can come while the sector is still being asked.
        if not ((self._asked(tracker, "sector") and choices and picked) or self._asked(tracker, "entity_id")):
            return {}
        if self._interrupted(tracker):
            return {}
        try:
            entities = await common.all_entities()
            for value in picked:
                if value in entities:  # our own button
                    return routing.chose(entities[value])
            if common.is_payload(text):
                return {}
            offered = await routing.offered_entities(tracker)
            number = routing.picked(parse_choice(text), offered)
            if number is not None:
                return routing.chose(number)
            found = await routing.route(text, among=[e.id for e in offered])
            if found.entity is not None:
                return routing.chose(found.entity)
            if found.choices:
                return {"entity_id": None, "entity_choices": routing.offer(dispatcher, tracker, found.choices)}
            if found.sectors:
                # Another sector named: its bodies are offered next.
                return {"sector": found.sectors[0].id, "entity_id": None, "entity_choices": None}
            decided, candidates = await routing.by_name(text, picked)
            if decided is not None:
                return routing.chose(decided)
            if candidates:
                return {"entity_id": None, "entity_choices": routing.offer(dispatcher, tracker, candidates)}
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
