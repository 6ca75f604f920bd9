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
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common, routing
from backend_client import CaseStoreError
from bot import choices, pillars, request_rules
from bot.choices import parse_choice
from bot.privacy import is_plausible_phone, normalise_phone

log = logging.getLogger(__name__)

INTERRUPTIONS = {"help", "cancel", "switch_language", "human_handoff"}
EDITABLE = ("entity_id", "pillar", "importance", "description", "contact_phone")
SKIP_INTENTS = {"deny"}
PHONE_OPTIONAL = {"suggestion", "compliment", "report"}


FORM_SLOTS = (
    "sector", "entity_id", "pillar", "importance", "description", "contact_phone",
    "confirmed", "edit_field", "attachments", "entity_choices", "pin",
    "campaign", "campaign_answer_1", "campaign_answer_2", "centre_code",
)
# Questions whose answer is a narrative of its own: "stop" or "cancel" there may be the story
# ("the bus did not stop"), so only the NLU's cancel intent cancels them.
NARRATIVE_SLOTS = {"description", "campaign_answer_1", "campaign_answer_2"}
# A message this long where the sector or the body is asked is the story, not a name (the longest
# body name in case_store/data/catalogue.yml is nine words, in English).
STORY_WORDS = 10


def reset_form_slots() -> list[EventType]:
    return [SlotSet(s, None) for s in FORM_SLOTS]


def cancel_events() -> list[EventType]:
    """What cancelling a request (or a follow-up) leaves: no form, nothing half-filled."""
    return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("idem_key", None), SlotSet("request_type", None),
            SlotSet("submit_pending", False)] + reset_form_slots() + [
        SlotSet(s, None) for s in ("status_reference", "status_proof", "rating_reference", "rating_score", "rating_resolved", "rating_comment")
    ]


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
        campaign = await self._campaign(tracker)
        if campaign is not None:
            # A campaign's complaint: its entity and SLA come from the campaign file; its own
            # questions (at most two) replace the pillar and urgency ones.
            if campaign.pillar:
                slots.append("pillar")
            slots += ["campaign_answer_1", "campaign_answer_2"][: len(campaign.questions)]
        elif self._type(tracker) == "complaint":
            slots += ["pillar", "importance"]
        slots += ["description", "contact_phone"]
        if tracker.get_slot("confirmed") == "edit":
            slots.append("edit_field")
        slots.append("confirmed")
        return slots

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if self._typed_cancel(tracker):
            # "please cancel the complaint" at the phone question: the NLU may hear a complaint in
            # it, and the cancel rule keys on its intent. The form ends here, as the rule would end it.
            dispatcher.utter_message(response="utter_cancelled")
            return cancel_events() + [FollowupAction("action_listen")]
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
    def _typed_cancel(tracker: Tracker) -> bool:
        asked = tracker.get_slot("requested_slot")
        if not asked or asked in NARRATIVE_SLOTS or common.intent(tracker) == "cancel":
            return False
        text = common.user_text(tracker)
        return not common.is_payload(text) and choices.says_cancel(text)

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
            if choices.names_nothing(text):
                # "لا", "ok", "shukran" names no sector or body: searched as a body's name it offered
                # five unrelated bodies above the sector list (as at the body question, below).
                dispatcher.utter_message(response="utter_sector_not_found")
                return {"sector": None}
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
        pending = tracker.get_slot("entity_choices") or []
        picked = common.entity_values(tracker, "entity_name")
        text = common.user_text(tracker)
        # A "did you mean" answer can come while the sector is still being asked.
        if not ((self._asked(tracker, "sector") and pending and picked) or self._asked(tracker, "entity_id")):
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
            if self._asked(tracker, "entity_id") and not picked and choices.names_nothing(text):
                # "لا", "ok", "shukran" is no body's name: searched as one it offered five
                # unrelated bodies ("did you mean the Department of Antiquities?").
                dispatcher.utter_message(response="utter_entity_pick")
                return {"entity_id": None}
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
        text = common.user_text(tracker)
        asked = self._asked(tracker, "pillar")
        if common.is_payload(text):
            buttons = [v for v in common.entity_values(tracker, "pillar") if v in request_rules.PILLARS]
            return {"pillar": buttons[0]} if buttons and asked else {}
        if asked and choices.is_short(text):
            # A typed choice (its label, a word for it, its number) is an answer whatever the NLU says.
            picked = pillars.answer(text)
            if picked:
                return {"pillar": picked}
        if self._interrupted(tracker):
            return {}
        if asked:
            picked = pillars.answer(text)
            if picked is None and not pillars.names_several(text):
                picked = common.pillar_in(tracker)  # the words the NLU tagged, if they are clear
            if picked is None and common.channel(tracker) != "sms":
                # "لا", "I don't know", a story: the question comes again, so say why it matters
                # (it was asked again with no word, as if the answer had not arrived). Not over
                # SMS: with the five topics it would be three SMS, and the list says it already.
                dispatcher.utter_message(response="utter_pillar_pick")
            return {"pillar": picked}
        # Asked something else, but the words the NLU tagged say the pillar clearly: keep it.
        if common.entity_values(tracker, "pillar") and tracker.get_slot("pillar") is None:
            clear = common.pillar_in(tracker)
            return {"pillar": clear} if clear else {}
        return {}

    async def extract_importance(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        values = [v for v in common.entity_values(tracker, "urgency") if v in request_rules.IMPORTANCE]
        asked = self._asked(tracker, "importance")
        text = common.user_text(tracker)
        if asked and not common.is_payload(text) and choices.is_short(text, 12):
            # The question is "Is it urgent?": its buttons (1 normal, 2 urgent), their words (with
            # a reason: "مستعجل، ما في نقطة مي"), or yes/no; read before the NLU's tag, which does
            # not see the "not" in "not urgent".
            picked = choices.pick(text, choices.IMPORTANCE)
            if picked:
                return {"importance": picked}
        if asked and not common.is_payload(text) and choices.is_short(text):
            if choices.says_yes(text):
                return {"importance": "urgent"}
            if choices.says_no(text):
                return {"importance": "normal"}
        if values and (asked or tracker.get_slot("importance") is None):
            return {"importance": values[0]}
        if not asked:
            return {}
        if self._interrupted(tracker):
            return {}
        if common.intent(tracker) == "affirm":
            return {"importance": "urgent"}
        if common.intent(tracker) == "deny":
            return {"importance": "normal"}
        return {"importance": None}

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
        if self._interrupted(tracker):
            return {}
        if not self._asked(tracker, "description"):
            told = self._story_at_a_routing_question(tracker)
            return {"description": told} if told else {}
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

    @staticmethod
    def _story_at_a_routing_question(tracker: Tracker) -> str | None:
        """What happened, typed where the sector or the body is asked (people press the menu's
        number, then tell their story: "shukran la markaz el sa7i bel mafraq, el doctor kan ktir
        mne7 ma3 emmi"): kept as the description, so it is not asked for again. A body's name is
        not a story: it takes STORY_WORDS words or more."""
        if tracker.get_slot("requested_slot") not in ("sector", "entity_id") or tracker.get_slot("description"):
            return None
        text = common.user_text(tracker)
        if common.is_payload(text) or len(choices.words(text)) < STORY_WORDS or request_rules.description_too_short(text):
            return None
        return text

    async def extract_contact_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "contact_phone"):
            return {}
        text = common.user_text(tracker)
        rtype = self._type(tracker)
        candidates = common.entity_values(tracker, "phone") + ([] if common.is_payload(text) else [text])
        for value in candidates:
            if is_plausible_phone(value):
                return {"contact_phone": normalise_phone(value)}
        # "No" in any variety ("la2", "مش ضروري", "skip", "ما بدي") is an answer here even when the
        # NLU hears "cancel" in it; the button says /deny.
        typed_no = not common.is_payload(text) and choices.says_no(text, limit=8)
        if not typed_no and self._interrupted(tracker):
            return {}
        typed_yes = not common.is_payload(text) and choices.says_yes(text)
        own = common.reply_address(tracker)
        if (common.intent(tracker) == "affirm" or typed_yes) and not typed_no:
            if own and common.can_use_own_number(tracker) and rtype != "report":
                return {"contact_phone": normalise_phone(own)}
        elif typed_no or common.intent(tracker) in SKIP_INTENTS:
            if rtype not in PHONE_OPTIONAL and own is None:
                # A complaint or question is filed without a number too; say what that costs.
                # (Over SMS and Messenger the updates still come here, and the SMS stays short.)
                dispatcher.utter_message(response="utter_no_contact_phone")
            return {"contact_phone": "none"}
        dispatcher.utter_message(response="utter_invalid_phone")
        return {"contact_phone": None}

    # --- confirmation and corrections ------------------------------------------------------------
    async def extract_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "confirmed"):
            return {}
        text = common.user_text(tracker)
        switched = self._type_change(tracker)
        if switched is not None:
            return switched
        if not common.is_payload(text):
            field = self._field_to_change(text, tracker, at_summary=True)
            if field:
                return self._reopen_field(field, tracker)
            if choices.says_yes(text):
                return {"confirmed": "yes"}
            if choices.asks_to_edit(text):
                return {"confirmed": "edit"}
        if self._interrupted(tracker):
            return {}
        name = common.intent(tracker)
        if name == "affirm":
            return {"confirmed": "yes"}
        if name == "deny":
            return {"confirmed": "edit"}
        return {"confirmed": None}

    async def extract_edit_field(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "edit_field"):
            return {}
        switched = self._type_change(tracker, asked_what_to_change=True)
        if switched is not None:
            return switched
        if self._interrupted(tracker):
            return {}
        fields = [f for f in common.entity_values(tracker, "field") if f in self._editable(tracker)]
        text = common.user_text(tracker)
        if not fields and not common.is_payload(text):
            field = self._field_to_change(text, tracker, at_summary=False)
            fields = [field] if field else []
        if not fields:
            return {"edit_field": None}
        if fields[0] == "request_type":
            # Asked again with the types to switch to (ActionAskEditField offers them).
            return {"edit_field": None}
        return self._reopen_field(fields[0], tracker)

    # --- helpers for the summary -------------------------------------------------------------------
    def _type(self, tracker: Tracker) -> str:
        """The type being filed: the slot (the person may have switched it at the summary)."""
        rtype = tracker.get_slot("request_type")
        return rtype if rtype in request_rules.REQUEST_TYPES else self.request_type

    def _editable(self, tracker: Tracker) -> list[str]:
        return editable_fields(self._type(tracker))

    def _field_to_change(self, text: str, tracker: Tracker, *, at_summary: bool) -> str | None:
        """The field a typed correction names ("change the phone", "غير الوصف", "the body is wrong").

        At the summary a field's name alone is not enough in a longer message ("yes, the number is
        right"): it takes a word of change, or an answer of a few words.
        """
        options = [o for o in choices.FIELDS if o.key in self._editable(tracker)]
        field = choices.pick(text, options, numbered=not at_summary)
        if field is None and "description" in self._editable(tracker):
            # The request's own name is its text: "the question" of a question, "my suggestion".
            own = [o for o in choices.TYPES if o.key == self._type(tracker)]
            if any(not negated for _, _, negated in choices.mentions(text, own)):
                field = "description"
        if field is None:
            return None
        if at_summary and not (choices.says_change(text) or len(choices.words(text)) <= 2):
            return None
        return field

    def _reopen_field(self, field: str, tracker: Tracker) -> dict[str, Any]:
        # Clearing the field makes the form ask it again, then show the summary again.
        changes: dict[str, Any] = {"edit_field": None, "confirmed": None, field: None}
        if field == "entity_id":
            changes["entity_choices"] = None
        return changes

    def _type_change(self, tracker: Tracker, *, asked_what_to_change: bool = False) -> dict[str, Any] | None:
        """Switch the request's type in one step, keeping every answer given ("it's not a complaint,
        it's a compliment", "mish shakwa, iqtira7", the summary's type button), or None if the
        message does not ask for that."""
        current = self._type(tracker)
        if current == "report":
            return None
        text = common.user_text(tracker)
        if common.is_payload(text):
            target = request_rules.INTENT_TO_TYPE.get(common.intent(tracker) or "")
        else:
            found = choices.mentions(text, choices.TYPES)
            named = [key for key, _, negated in found if not negated and key != current]
            negated_current = any(key == current and negated for key, _, negated in found)
            wants_type = any(key == "request_type" for key, _, _ in choices.mentions(text, choices.FIELDS))
            target = named[0] if len(named) == 1 else None
            # A type named at the summary is a switch only with a word of change, the current
            # type denied, or on its own ("compliment"); at "what to change?" it is one anyway.
            if target and not (asked_what_to_change or negated_current or wants_type or choices.says_change(text)
                               or choices.is_short(text, 3)):
                target = None
            if target is None and (negated_current or (wants_type and choices.says_change(text))):
                # The type is wrong but the right one is not said: ask, offering the types.
                return {"confirmed": "edit", "edit_field": None}
        if not target or target == current or target == "report":
            return None
        changes: dict[str, Any] = {"request_type": target, "confirmed": None, "edit_field": None}
        if target == "complaint":
            description = tracker.get_slot("description") or ""
            changes["pillar"] = pillars.infer(description) if description else None
            changes["importance"] = None
        elif current == "complaint":
            changes["pillar"] = None
            changes["importance"] = None
        return changes


def editable_fields(rtype: str | None) -> list[str]:
    """What the summary of a request of this type lets a person change, in the order offered."""
    return [f for f in EDITABLE if rtype == "complaint" or f not in ("pillar", "importance")]


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
