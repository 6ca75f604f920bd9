"""Status lookup and rating, by reference number, never disclosing a request without proof."""

from __future__ import annotations

import abc
import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecuted, EventType, FollowupAction, SlotSet, UserUtteranceReverted, UserUttered
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common
from actions.forms import cancel_events
from actions.requests import ask_type, type_unsure
from backend_client import (
    CaseRequest,
    CaseStoreError,
    CaseStoreUnavailable,
    Conflict,
    InvalidReference,
    NotFoundOrUnverified,
    RateLimited,
)
from bot import choices, labels, refcode
from bot.arabic import fold_digits
from bot.i18n import format_day, format_number
from bot.inbound import is_button_payload

log = logging.getLogger(__name__)

OWNER = "owner"
FAILED = "failed"
INTERRUPTIONS = {"help", "cancel", "switch_language", "human_handoff"}


def parse_reference(dispatcher: CollectingDispatcher, value: str) -> str | None:
    """Canonical reference, or None after telling the person what is wrong (in their language)."""
    try:
        return refcode.parse(value)
    except refcode.BadCheckDigit:
        dispatcher.utter_message(response="utter_reference_bad_digit")
    except refcode.MalformedReference:
        dispatcher.utter_message(response="utter_reference_malformed")
    return None


def _proof(tracker: Tracker, proof: str | None) -> dict[str, Any]:
    if proof == OWNER or not proof:
        return {"requester_id": common.requester_id(tracker)}
    return {"pin": proof} if len(proof) == 6 else {"phone_tail": proof}


async def owner_can_see(tracker: Tracker, reference: str) -> bool:
    try:
        await common.client().get_request(reference, requester_id=common.requester_id(tracker))
        return True
    except (NotFoundOrUnverified, InvalidReference, RateLimited, CaseStoreUnavailable):
        return False


def _reference_candidates(tracker: Tracker) -> list[str]:
    values = common.entity_values(tracker, "reference")
    text = common.user_text(tracker)
    if not values and not common.is_payload(text) and any(ch.isdigit() for ch in refcode.canonical_digits(text)):
        values = [text]
    return values


def _typed_references(tracker: Tracker) -> list[str]:
    """References said alongside another request ("reopen request 482 910 3756"): tagged by the
    NLU or a 10-digit run in the text; never the digits of an Arabizi word."""
    text = common.user_text(tracker)
    return common.entity_values(tracker, "reference") or ([] if common.is_payload(text) else refcode.find_candidates(text))


# A number standing on its own: not the digits of an Arabizi word ("ar2am", "3ashan").
_DIGIT_RUN = re.compile(r"(?<![^\W\d_])\d+(?![^\W\d_])")


def proof_digits(text: str) -> str | None:
    """The phone's last 4 digits or the 6-digit PIN in an answer: all its digits when they make
    4 or 6 ("33 06"), else the one run of 4 or 6 said among other numbers ("the last 4 are 3306",
    "اخر ٤ ارقام 6072"), else the last 4 of a whole mobile number typed instead ("0782143306")."""
    runs = [r for r in _DIGIT_RUN.findall(fold_digits(text)) if r.isascii()]
    whole = "".join(runs)
    if len(whole) in (4, 6):
        return whole
    picks = {r for r in runs if len(r) in (4, 6)}
    if len(picks) == 1:
        return picks.pop()
    phones = {r for r in runs if (len(r) == 10 and r.startswith("07")) or (len(r) == 12 and r.startswith("9627"))}
    if not picks and len(phones) == 1:
        return phones.pop()[-4:]
    return None


class ReferenceFormValidation(FormValidationAction, metaclass=abc.ABCMeta):
    """Shared by the status and rating forms: reference first, then proof when needed.
    Abstract, so rasa-sdk does not register it as an action of its own."""

    @property
    @abc.abstractmethod
    def reference_slot(self) -> str:
        """The slot holding the reference (a class attribute in subclasses)."""

    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return [SlotSet(name, value) for name, value in tracker.slots_to_validate().items()]

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if self._leaving(tracker):
            # "la2 shukran", "thanks", "bye", "ما معي الرقم" where the reference or the proof is
            # asked, and none typed: the person has none to hand. Asking again would hold them in
            # the form (only "cancel" let them out); they are told how to come back instead.
            dispatcher.utter_message(response="utter_reference_later")
            return cancel_events() + [FollowupAction("action_listen")]
        return await super().run(dispatcher, tracker, domain)

    def _leaving(self, tracker: Tracker) -> bool:
        if tracker.get_slot("requested_slot") not in (self.reference_slot, "status_proof"):
            return False
        text = common.user_text(tracker)
        if common.is_payload(text) or _typed_references(tracker) or proof_digits(text):
            return False
        return common.intent(tracker) == "goodbye" or choices.says_no(text) or choices.is_bare_thanks(text)

    async def _extract_reference(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != self.reference_slot or common.intent(tracker) in INTERRUPTIONS:
            return {}
        values = _reference_candidates(tracker)
        if not values:
            dispatcher.utter_message(response="utter_reference_malformed")
            return {self.reference_slot: None}
        reference = parse_reference(dispatcher, values[0])
        if reference is None:
            return {self.reference_slot: None}
        out: dict[str, Any] = {self.reference_slot: reference}
        if await owner_can_see(tracker, reference):
            out["status_proof"] = OWNER
        return out

    async def extract_status_proof(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "status_proof" or common.intent(tracker) in INTERRUPTIONS:
            return {}
        digits = proof_digits(common.user_text(tracker))
        if digits:
            return {"status_proof": digits}
        dispatcher.utter_message(response="utter_ask_status_proof")
        return {"status_proof": None}


class ValidateStatusForm(ReferenceFormValidation):
    reference_slot = "status_reference"

    def name(self) -> str:
        return "validate_status_form"

    async def extract_status_reference(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return await self._extract_reference(dispatcher, tracker)


class ValidateRatingForm(ReferenceFormValidation):
    reference_slot = "rating_reference"

    def name(self) -> str:
        return "validate_rating_form"

    async def extract_rating_reference(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return await self._extract_reference(dispatcher, tracker)

    async def extract_rating_score(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "rating_score" or common.intent(tracker) in INTERRUPTIONS:
            return {}
        text = common.user_text(tracker)
        values = common.entity_values(tracker, "rating")
        if not values and not common.is_payload(text):
            # "4", "٤", "4/5", "4 stars", "أربعة", "arba3a"
            typed = choices.score(text)
            values = [typed] if typed else []
        if values and values[0] in {"1", "2", "3", "4", "5"}:
            return {"rating_score": values[0]}
        return {"rating_score": None}

    async def extract_rating_resolved(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "rating_resolved":
            return {}
        text = common.user_text(tracker)
        name = common.intent(tracker)
        # "لا، ما زالت المشكلة قائمة" answers the question even when the NLU hears "help" in it;
        # a cancel, a request for a person or another language still interrupts.
        if not common.is_payload(text) and (name not in INTERRUPTIONS or name == "help"):
            typed = choices.says_resolved(text)
            if typed:
                return {"rating_resolved": typed}
        if name in INTERRUPTIONS:
            return {}
        if name in ("affirm", "deny"):
            return {"rating_resolved": "yes" if name == "affirm" else "no"}
        return {"rating_resolved": None}

    async def extract_rating_comment(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "rating_comment":
            return {}
        text = common.user_text(tracker)
        # "no" / "بدون" / "skip" (the button says /deny) is no comment, even where the NLU heard "cancel".
        if common.is_payload(text) or choices.says_no(text):
            return {"rating_comment": "-"}
        if common.intent(tracker) in INTERRUPTIONS:
            return {}
        if common.intent(tracker) == "deny":
            return {"rating_comment": "-"}
        return {"rating_comment": text[:1000]}


def _prefill_reference(dispatcher: CollectingDispatcher, tracker: Tracker, fallback: str | None) -> str | None:
    values = common.entity_values(tracker, "reference")
    if values:
        return parse_reference(dispatcher, values[0])
    return fallback


class ActionStartStatus(Action):
    def name(self) -> str:
        return "action_start_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        reference = _prefill_reference(dispatcher, tracker, None)
        events: list[EventType] = [SlotSet("status_reference", reference), SlotSet("status_proof", None), SlotSet("requested_slot", None)]
        if reference and await owner_can_see(tracker, reference):
            events.append(SlotSet("status_proof", OWNER))
        return events


class ActionStartRating(Action):
    def name(self) -> str:
        return "action_start_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        reference = _prefill_reference(dispatcher, tracker, tracker.get_slot("status_reference") or tracker.get_slot("last_reference"))
        proof = tracker.get_slot("status_proof") if reference and reference == tracker.get_slot("status_reference") else None
        events: list[EventType] = [
            SlotSet("rating_reference", reference),
            SlotSet("status_proof", proof),
            SlotSet("rating_score", None),
            SlotSet("rating_resolved", None),
            SlotSet("rating_comment", None),
            SlotSet("requested_slot", None),
        ]
        if reference and not proof and await owner_can_see(tracker, reference):
            events.append(SlotSet("status_proof", OWNER))
        return events


def status_message(req: CaseRequest, lang: str) -> dict[str, Any]:
    escalation = ""
    if req.escalation_level:
        escalation = "\n" + labels.phrase(lang, "Escalated (level {level})", level=format_number(req.escalation_level, lang))
    answer = ""
    if req.answer:
        answer = "\n" + labels.phrase(lang, "Reply: {answer}", answer=req.answer)
    return {
        "reference_display": req.reference_display,
        "status_label": labels.label("status", req.status, lang),
        "entity_label": req.entity.name(lang),
        "due_label": format_day(req.due_at, lang) if req.due_at else "-",
        "escalation_text": escalation,
        "answer_text": answer,
    }


class ActionCheckStatus(Action):
    def name(self) -> str:
        return "action_check_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        reference = tracker.get_slot("status_reference")
        lang = common.language(tracker)
        done: list[EventType] = [SlotSet("requested_slot", None)]
        if not reference:
            return done
        try:
            req = await common.client().get_request(reference, **_proof(tracker, tracker.get_slot("status_proof")))
        except NotFoundOrUnverified:
            dispatcher.utter_message(response="utter_status_not_found")
            return done + [SlotSet("status_reference", None), SlotSet("status_proof", None)]
        except RateLimited:
            dispatcher.utter_message(response="utter_rate_limited")
            return done + [SlotSet("status_reference", None), SlotSet("status_proof", None)]
        except (InvalidReference, CaseStoreError):
            dispatcher.utter_message(response="utter_backend_unavailable")
            return done + [SlotSet("status_reference", None), SlotSet("status_proof", None)]
        dispatcher.utter_message(response="utter_status", **status_message(req, lang))
        if req.status in ("answered", "closed") and req.rating is None:
            dispatcher.utter_message(response="utter_status_rate_offer")
        return done + [SlotSet("last_reference", req.reference)]


class ActionSubmitRating(Action):
    def name(self) -> str:
        return "action_submit_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        reference = tracker.get_slot("rating_reference")
        score = tracker.get_slot("rating_score")
        resolved = tracker.get_slot("rating_resolved") == "yes"
        comment = tracker.get_slot("rating_comment")
        clear = [SlotSet(s, None) for s in ("rating_score", "rating_resolved", "rating_comment", "requested_slot")]
        if not reference or not score:
            return clear
        try:
            await common.client().rate(
                reference, int(score), resolved, None if comment in (None, "-") else comment,
                **_proof(tracker, tracker.get_slot("status_proof")),
            )
        except Conflict:
            dispatcher.utter_message(response="utter_not_ratable")
            return clear
        except (NotFoundOrUnverified, InvalidReference):
            dispatcher.utter_message(response="utter_status_not_found")
            return clear
        except RateLimited:
            dispatcher.utter_message(response="utter_rate_limited")
            return clear
        except CaseStoreError:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return clear
        dispatcher.utter_message(response="utter_rating_thanks")
        if not resolved:
            dispatcher.utter_message(response="utter_offer_reopen")
            return clear + [SlotSet("reopen_offered", True), SlotSet("last_reference", reference)]
        return clear + [SlotSet("reopen_offered", False)]


class ActionReopenRequest(Action):
    def name(self) -> str:
        return "action_reopen_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        known = tracker.get_slot("rating_reference") or tracker.get_slot("last_reference")
        lang = common.language(tracker)
        typed = _typed_references(tracker)
        reference = parse_reference(dispatcher, typed[0]) if typed else known
        if typed and reference is None:
            return [SlotSet("reopen_offered", False)]
        if not reference:
            dispatcher.utter_message(response="utter_ask_status_reference")
            return [SlotSet("reopen_offered", False)]
        # The proof given for the request being discussed; another number needs its owner.
        proof = tracker.get_slot("status_proof") if reference == known else OWNER
        try:
            req = await common.client().reopen(reference, **_proof(tracker, proof))
        except (NotFoundOrUnverified, Conflict, InvalidReference, RateLimited):
            dispatcher.utter_message(response="utter_reopen_failed")
            return [SlotSet("reopen_offered", False)]
        except CaseStoreError:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return [SlotSet("reopen_offered", False)]
        dispatcher.utter_message(
            response="utter_reopened",
            reference_display=req.reference_display,
            due_label=format_day(req.due_at, lang) if req.due_at else "-",
        )
        return [SlotSet("reopen_offered", False), SlotSet("rating_reference", None)]


# --- typed answers to an offer outside a form -----------------------------------------------------

# Fallback replies when a message answers no offer: what the rule used to say for each intent.
# What a message that answers no offer gets, by its intent (as the rules gave it before they sent
# these intents here); a typed "yes, open it again" heard as out of scope still reopens.
_NO_OFFER_REPLY = {"nlu_fallback": "utter_default", "inform": "utter_main_menu", "out_of_scope": "utter_out_of_scope"}


def _offered_buttons(tracker: Tracker) -> list[dict[str, Any]]:
    """The buttons of the bot's last message before the person's latest one."""
    seen_user = False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                return []
            seen_user = True
        elif kind == "bot" and seen_user:
            buttons = (event.get("data") or {}).get("buttons") or []
            if buttons:
                return [b for b in buttons if isinstance(b, dict) and is_button_payload(str(b.get("payload") or ""))]
    return []


def _intent_of(payload: str) -> str:
    return payload[1:].split("{", 1)[0]


def typed_offer_answer(tracker: Tracker) -> str | None:
    """The payload of the offered button a typed answer means: its title or words for it
    (bot.choices.OFFERS), or a plain yes (the offer's one positive choice) or no (its /deny)."""
    text = common.user_text(tracker)
    buttons = _offered_buttons(tracker)
    if not buttons or common.is_payload(text):
        return None
    options = []
    for b in buttons:
        payload = str(b["payload"])
        words = (str(b.get("title") or ""), *choices.OFFERS.get(_intent_of(payload), ()))
        options.append(choices.Option(payload, tuple(w for w in words if w)))
    # No numbers here: over SMS the channel itself turns "2" into the listed button's payload.
    # The reference typed with it is read on its own (_typed_references); without it, the words
    # around it make the phrase ("open 482 910 3756 again please").
    picked = choices.pick(refcode.without_candidates(text), options, numbered=False)
    if picked:
        return picked
    positive = [str(b["payload"]) for b in buttons if _intent_of(str(b["payload"])) not in ("deny", "cancel")]
    if choices.says_yes(text) and len(positive) == 1 and len(buttons) == 2:
        return positive[0]
    if choices.says_no(text):
        return next((str(b["payload"]) for b in buttons if _intent_of(str(b["payload"])) == "deny"), None)
    return None


class ActionAnswerOffer(Action):
    """A message outside a form that Rasa's rules would otherwise meet with "anything else?" or
    "sorry, I didn't understand": if it answers the buttons just offered ("yes" to "Shall we
    reopen the request?", "reopen request 482 910 3756", "la2 shukran" to "rate the answer?"),
    it becomes that button's message, as if pressed, and the rules take it from there."""

    def name(self) -> str:
        return "action_answer_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name = common.intent(tracker) or ""
        payload = typed_offer_answer(tracker)
        if payload and _intent_of(payload) != name:
            wanted = _typed_references(tracker) if _intent_of(payload) == "reopen" else []
            entities = [{"entity": "reference", "value": v} for v in wanted[:1]]
            pressed = UserUttered(payload, parse_data={
                "intent": {"name": _intent_of(payload), "confidence": 1.0},
                "entities": entities,
                "text": payload,
            }, input_channel=tracker.get_latest_input_channel())
            # The connector's metadata (channel, sealed address) stays with the message.
            pressed["metadata"] = common.latest_metadata(tracker)
            # As Rasa's two-stage fallback does: the typed message is replaced by the button's.
            return [UserUtteranceReverted(), ActionExecuted("action_listen"), pressed]
        if name == "nlu_fallback" and type_unsure(tracker) and common.has_content(common.user_text(tracker)):
            # An opening the NLU could not place between request types (a complaint or a report?):
            # ask which, keeping what it says, rather than "sorry, I didn't understand".
            return ask_type(dispatcher, tracker)
        reply = _NO_OFFER_REPLY.get(name, "utter_anything_else")
        if choices.is_bare_thanks(common.user_text(tracker)):
            reply = "utter_welcome"  # "shokran", "merci", "yislamo": heard as nothing the NLU knows
        elif name == "affirm" and len(_offered_buttons(tracker)) > 2:
            # "yes" to "anything else we can help with?" (its buttons are the services): which
            # one, rather than the same question again.
            reply = "utter_main_menu"
        dispatcher.utter_message(response=reply)
        return [SlotSet("reopen_offered", False)] if tracker.get_slot("reopen_offered") else []
