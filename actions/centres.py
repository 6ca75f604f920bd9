"""Rating a visit to a service centre (issue 13): start, the survey form, submission.

The survey starts only from our own connectors (`/rate_centre{"centre_code": "4127"}`: a
Messenger referral, the SMS keyword, the IVR menu, the agent console). A rating is not a
request: no reference, one per person per centre per day (the case store decides, on the keyed
requester id, never a phone number). A bad visit (score 1 or 2) is offered as a complaint to the
centre's entity, prefilled (actions/requests.py ActionStartRequest).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common
from backend_client import CaseStoreError, Conflict, NotFoundOrUnverified
from bot import labels, pillars, request_rules
from bot.arabic import digits_only, fold_digits

log = logging.getLogger(__name__)

INTERRUPTIONS = {"help", "cancel", "switch_language", "human_handoff"}
SURVEY_SLOTS = ("centre_score", "centre_pillars", "centre_pillar_picks", "centre_comment")
NONE = "none"
# The survey's numbering of the pillars on every channel (buttons, SMS numbers, IVR keys):
# 1..5 in the vocabulary's order, 6 for "nothing (else) fell short".
DONE_CHOICE = str(len(request_rules.PILLARS) + 1)
_NUMBERS = re.compile(r"^[\s0-9,،.\-&+]+$")


def centre_code_in(tracker: Tracker) -> str | None:
    values = [digits_only(v) for v in common.entity_values(tracker, "centre_code")]
    return next((v for v in values if v), None)


FAILED = "-"  # centre_code when the centre cannot be rated: the form asks nothing more


async def check_centre(dispatcher: CollectingDispatcher, tracker: Tracker, code: str) -> tuple[str, dict[str, Any]]:
    """(outcome, slots) for a centre code. ok: the code and a fresh survey key; unknown, closed,
    rated (already today) or down: centre_code FAILED, after telling the person why."""
    lang = common.language(tracker)
    try:
        centre = await common.client().centre(code, requester_id=common.requester_id(tracker))
    except NotFoundOrUnverified:
        dispatcher.utter_message(response="utter_centre_unknown", code=code)
        return "unknown", {"centre_code": FAILED}
    except CaseStoreError as err:
        log.warning("centre lookup failed: status=%s code=%s", err.status, err.code)
        dispatcher.utter_message(response="utter_backend_unavailable")
        return "down", {"centre_code": FAILED}
    if not centre.open:
        dispatcher.utter_message(response="utter_centre_closed", centre_label=centre.name(lang))
        return "closed", {"centre_code": FAILED}
    if centre.rated_today:
        dispatcher.utter_message(response="utter_centre_already_rated", centre_label=centre.name(lang))
        return "rated", {"centre_code": FAILED}
    dispatcher.utter_message(response="utter_centre_rating_intro", centre_label=centre.name(lang))
    # Made once per survey: a retried submission is the same rating, never a second one.
    return "ok", {"centre_code": centre.code, "centre_rating_key": uuid.uuid4().hex}


class ActionStartCentreRating(Action):
    """From a referral, keyword, IVR menu or agent entry with the code, the survey starts at
    once; from the main menu (no code) the form asks the code first."""

    def name(self) -> str:
        return "action_start_centre_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = [SlotSet(s, None) for s in SURVEY_SLOTS] + [
            SlotSet("requested_slot", None), SlotSet("centre_rating_key", None), SlotSet("centre_code", None),
        ]
        code = centre_code_in(tracker)
        if not code:
            return events
        _, slots = await check_centre(dispatcher, tracker, code)
        return events + [SlotSet(k, v) for k, v in slots.items()]


def _pillar_buttons(lang: str, picked: list[str]) -> list[dict[str, str]]:
    buttons = [{"title": labels.label("pillar", p, lang), "payload": f'/inform{{"pillar": "{p}"}}'}
               for p in request_rules.PILLARS]
    last = labels.phrase(lang, "Done") if picked else labels.phrase(lang, "Nothing fell short")
    return buttons + [{"title": last, "payload": f'/inform{{"pillar": "{NONE}"}}'}]


class ActionAskCentrePillars(Action):
    def name(self) -> str:
        return "action_ask_centre_pillars"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        picked = list(tracker.get_slot("centre_pillar_picks") or [])
        response = "utter_ask_centre_pillars_more" if picked else "utter_ask_centre_pillars"
        dispatcher.utter_message(response=response, buttons=_pillar_buttons(common.language(tracker), picked))
        return []


def _numbered_pillars(text: str) -> list[str] | None:
    """"1 3", "2,5", "١ ٣" -> those pillars; "6" -> []; None when the text is not numbers."""
    folded = fold_digits(text)
    if not _NUMBERS.match(folded):
        return None
    digits = [d for d in folded if d.isdigit()]
    if not digits or any(d == "0" or int(d) > int(DONE_CHOICE) for d in digits):
        return None
    return [request_rules.PILLARS[int(d) - 1] for d in digits if d != DONE_CHOICE]


class ValidateCentreRatingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_centre_rating_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        # An unknown, closed or already-rated centre: nothing to ask, the form ends at once and
        # the submit action files nothing.
        return [] if tracker.get_slot("centre_code") == FAILED else list(domain_slots)

    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return [SlotSet(name, value) for name, value in tracker.slots_to_validate().items()]

    @staticmethod
    def _asked(tracker: Tracker, slot: str) -> bool:
        return tracker.get_slot("requested_slot") == slot and common.intent(tracker) not in INTERRUPTIONS

    async def extract_centre_code(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "centre_code"):
            return {}
        code = centre_code_in(tracker) or digits_only(common.user_text(tracker))
        if not code or len(code) > 8:
            dispatcher.utter_message(response="utter_centre_unknown", code=code[:8] or "-")
            return {"centre_code": None}
        outcome, slots = await check_centre(dispatcher, tracker, code)
        # A mistyped code is asked again; a closed or already-rated centre ends the survey.
        return {"centre_code": None} if outcome == "unknown" else slots

    async def extract_centre_score(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "centre_score"):
            return {}
        values = common.entity_values(tracker, "rating") or [digits_only(common.user_text(tracker))]
        if values and values[0] in {"1", "2", "3", "4", "5"}:
            return {"centre_score": values[0]}
        return {"centre_score": None}

    async def extract_centre_pillars(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "centre_pillars"):
            return {}
        picked = list(tracker.get_slot("centre_pillar_picks") or [])
        text = common.user_text(tracker)
        chosen = [v for v in common.entity_values(tracker, "pillar") if v in (*request_rules.PILLARS, NONE)]
        if not chosen and common.is_payload(text):
            return {"centre_pillars": None}
        if NONE in chosen or (not chosen and common.intent(tracker) == "deny"):
            return {"centre_pillars": ",".join(picked) or NONE}
        if chosen:
            picked += [p for p in chosen if p not in picked]
        else:
            numbered = _numbered_pillars(text)
            if numbered is not None:
                # Several numbers at once ("1 3") answer the whole question.
                picked += [p for p in numbered if p not in picked]
                return {"centre_pillars": ",".join(picked) or NONE, "centre_pillar_picks": picked}
            guess = pillars.infer(text)
            if guess is None:
                return {"centre_pillars": None}
            picked += [guess] if guess not in picked else []
        if len(picked) == len(request_rules.PILLARS):
            return {"centre_pillars": ",".join(picked), "centre_pillar_picks": picked}
        # One at a time: ask again ("anything else?") until Done.
        return {"centre_pillars": None, "centre_pillar_picks": picked}

    async def extract_centre_comment(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not self._asked(tracker, "centre_comment"):
            return {}
        text = common.user_text(tracker)
        if common.intent(tracker) == "deny" or common.is_payload(text) or common.latest_metadata(tracker).get("attachment_only"):
            return {"centre_comment": "-"}
        return {"centre_comment": text[:1000]}


def short_pillars(tracker: Tracker) -> list[str]:
    value = tracker.get_slot("centre_pillars") or ""
    return [p for p in value.split(",") if p in request_rules.PILLARS]


class ActionSubmitCentreRating(Action):
    def name(self) -> str:
        return "action_submit_centre_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        code, score, key = tracker.get_slot("centre_code"), tracker.get_slot("centre_score"), tracker.get_slot("centre_rating_key")
        done: list[EventType] = [SlotSet("requested_slot", None), SlotSet("centre_rating_key", None)]
        if not code or code == FAILED or not score or not key:
            return done
        lang = common.language(tracker)
        comment = tracker.get_slot("centre_comment")
        meta = common.last_user_metadata(tracker)
        agent = meta.get("entered_by") if isinstance(meta.get("entered_by"), str) else None
        try:
            centre = await common.client().centre(code)
            await common.client().rate_centre(
                code, score=int(score), pillars=short_pillars(tracker), language=lang,
                channel=common.channel(tracker), rater_id=common.requester_id(tracker), idempotency_key=key,
                comment=None if comment in (None, "-") else comment, entered_by=agent,
            )
        except NotFoundOrUnverified:
            dispatcher.utter_message(response="utter_centre_unknown", code=code)
            return done + [SlotSet("centre_code", None)]
        except Conflict as err:
            # Only rate_centre raises Conflict, so the centre is known here.
            label = centre.name(lang)
            if err.code == "centre_closed":
                dispatcher.utter_message(response="utter_centre_closed", centre_label=label)
            else:
                dispatcher.utter_message(response="utter_centre_already_rated", centre_label=label)
            return done + [SlotSet("centre_code", None)]
        except CaseStoreError as err:
            log.warning("centre rating failed: status=%s code=%s", err.status, err.code)
            dispatcher.utter_message(response="utter_backend_unavailable")
            return done
        dispatcher.utter_message(response="utter_centre_rating_thanks", centre_label=centre.name(lang))
        if int(score) <= request_rules.BAD_VISIT_SCORE:
            dispatcher.utter_message(
                response="utter_centre_offer_complaint", entity_label=centre.entity.name(lang), centre_code=centre.code
            )
        # centre_code, the pillars and the comment stay for the complaint offer's prefill.
        return done + [SlotSet("centre_score", None)]
