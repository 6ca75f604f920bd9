"""Starting, asking, confirming, submitting and cancelling a request."""

from __future__ import annotations

import logging
import uuid

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common
from actions.forms import EDITABLE, resolve_entity
from backend_client import CaseStoreError, CaseStoreUnavailable
from bot import labels, pillars, privacy, refcode, request_rules
from bot.i18n import format_day
from bot.privacy import normalise_phone, phone_tail

log = logging.getLogger(__name__)

FORM_SLOTS = (
    "sector", "entity_id", "pillar", "importance", "description", "contact_phone",
    "confirmed", "edit_field", "attachments", "entity_choices", "pin",
)


def reset_form_slots() -> list[EventType]:
    return [SlotSet(s, None) for s in FORM_SLOTS]


async def preset_entity_events(entity_id: str) -> list[EventType]:
    """The body an intent names (`request_rules.PRESET_ENTITY`) and its sector, from the catalogue.

    Without the catalogue the form simply asks for the sector and the body."""
    try:
        entity = (await common.all_entities()).get(entity_id)
    except CaseStoreError as err:
        log.warning("catalogue lookup failed: status=%s code=%s", err.status, err.code)
        return []
    if entity is None:
        log.warning("preset entity %s is not in the catalogue", entity_id)
        return []
    return [SlotSet("entity_id", entity.id), SlotSet("sector", entity.sector)]


class ActionStartRequest(Action):
    """Begin a request of the type the person asked for, keeping what they already said."""

    def name(self) -> str:
        return "action_start_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = common.intent(tracker) or ""
        rtype = request_rules.INTENT_TO_TYPE.get(intent, "complaint")
        preset = request_rules.PRESET_ENTITY.get(intent)
        events: list[EventType] = reset_form_slots() + [
            SlotSet("request_type", rtype),
            # Made once per request: a retried or repeated submission reuses it, so the case
            # store creates the request exactly once.
            SlotSet("idem_key", uuid.uuid4().hex),
            SlotSet("submit_pending", False),
            SlotSet("requested_slot", None),
        ]
        if rtype == "report":
            # A human-rights grievance (the one preset report) says where it goes.
            dispatcher.utter_message(response="utter_report_human_rights" if preset else "utter_report_confidential")

        text = common.user_text(tracker)
        if common.has_content(text):
            events.append(SlotSet("description", text))
        if preset:
            events += await preset_entity_events(preset)
        for value in [] if preset else common.entity_values(tracker, "entity_name"):
            try:
                found, confident = await resolve_entity(value)
            except CaseStoreError as err:
                log.warning("catalogue lookup failed: status=%s code=%s", err.status, err.code)
                break
            if confident:
                events += [SlotSet("entity_id", found[0].id), SlotSet("sector", found[0].sector)]
                break
        if rtype == "complaint":
            pillar = common.pillar_in(tracker) or (pillars.infer(text) if common.has_content(text) else None)
            if pillar:
                events.append(SlotSet("pillar", pillar))
            urgency = [v for v in common.entity_values(tracker, "urgency") if v in request_rules.IMPORTANCE]
            if urgency:
                events.append(SlotSet("importance", urgency[0]))
        attachments = common.attachments_in(tracker)
        if attachments:
            events.append(SlotSet("attachments", attachments))
        return events


class ActionAskSector(Action):
    def name(self) -> str:
        return "action_ask_sector"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        lang = common.language(tracker)
        try:
            buttons = [{"title": s.name(lang), "payload": f'/inform{{"sector": "{s.id}"}}'} for s in await common.sectors()]
        except CaseStoreError:
            buttons = []
        dispatcher.utter_message(response="utter_ask_sector", buttons=buttons)
        return []


class ActionAskEntityId(Action):
    def name(self) -> str:
        return "action_ask_entity_id"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        lang = common.language(tracker)
        buttons: list[dict[str, str]] = []
        try:
            choices = tracker.get_slot("entity_choices") or []
            entities = await common.all_entities()
            pool = [entities[c] for c in choices if c in entities] or await common.entities_in_sector(tracker.get_slot("sector") or "")
            buttons = [{"title": e.name(lang), "payload": f'/inform{{"entity_name": "{e.id}"}}'} for e in pool[:12]]
        except CaseStoreError:
            pass
        dispatcher.utter_message(response="utter_ask_entity_id", buttons=buttons)
        return []


class ActionAskContactPhone(Action):
    def name(self) -> str:
        return "action_ask_contact_phone"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        rtype = tracker.get_slot("request_type")
        if rtype == "report":
            dispatcher.utter_message(response="utter_ask_contact_phone_report")
        elif common.can_use_own_number(tracker):
            dispatcher.utter_message(response="utter_ask_contact_phone_channel")
        elif rtype in ("suggestion", "compliment"):
            dispatcher.utter_message(response="utter_ask_contact_phone_optional")
        else:
            dispatcher.utter_message(response="utter_ask_contact_phone")
        return []


async def summary_text(tracker: Tracker) -> str:
    lang = common.language(tracker)
    rtype = tracker.get_slot("request_type")
    entity_label = tracker.get_slot("entity_id") or "-"
    try:
        entity = (await common.all_entities()).get(tracker.get_slot("entity_id") or "")
        if entity:
            entity_label = entity.name(lang)
    except CaseStoreError:
        pass
    rows = [
        (labels.label("field", "entity_id", lang), entity_label),
    ]
    if rtype == "complaint":
        rows.append((labels.label("field", "pillar", lang), labels.label("pillar", tracker.get_slot("pillar"), lang)))
        rows.append((labels.label("field", "importance", lang), labels.label("importance", tracker.get_slot("importance"), lang)))
    description = tracker.get_slot("description") or ""
    # A confidential report's narrative is never echoed back (a shared phone, a shoulder).
    if rtype != "report":
        shown = description if len(description) <= 120 else description[:117] + "…"
        rows.append((labels.label("field", "description", lang), shown))
    phone = tracker.get_slot("contact_phone")
    if phone and phone != "none":
        rows.append((labels.label("field", "contact_phone", lang), "…" + phone_tail(phone)))
    elif rtype == "report":
        rows.append((labels.label("field", "contact_phone", lang), labels.phrase(lang, "none (anonymous)")))
    head = labels.label("type", rtype, lang)
    return head + "\n" + "\n".join(f"{k}: {v}" for k, v in rows)


class ActionAskConfirmed(Action):
    def name(self) -> str:
        return "action_ask_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_confirmed", summary=await summary_text(tracker))
        return []


class ActionAskEditField(Action):
    def name(self) -> str:
        return "action_ask_edit_field"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        lang = common.language(tracker)
        rtype = tracker.get_slot("request_type")
        fields = [f for f in EDITABLE if rtype == "complaint" or f not in ("pillar", "importance")]
        buttons = [{"title": labels.label("field", f, lang), "payload": f'/inform{{"field": "{f}"}}'} for f in fields]
        dispatcher.utter_message(response="utter_ask_edit_field", buttons=buttons)
        return []


class ActionSubmitRequest(Action):
    """Create the request in the case store, exactly once per idempotency key."""

    def name(self) -> str:
        return "action_submit_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        key = tracker.get_slot("idem_key")
        lang = common.language(tracker)
        if not key or tracker.get_slot("confirmed") != "yes":
            last = tracker.get_slot("last_reference")
            if last:
                dispatcher.utter_message(response="utter_already_submitted", reference_display=refcode.format_grouped(last))
            else:
                dispatcher.utter_message(response="utter_main_menu")
            return [SlotSet("submit_pending", False)]

        rtype = tracker.get_slot("request_type") or "complaint"
        phone = tracker.get_slot("contact_phone")
        phone = None if phone in (None, "none") else normalise_phone(phone)
        channel = common.channel(tracker)
        address = common.reply_address(tracker)
        # A reporter who gives a number to be called back on opts out of anonymity.
        who = privacy.requester(
            rtype, anonymous=(phone is None) if rtype == "report" else None, idempotency_key=key,
            requester_id=common.requester_id(tracker), contact_phone=phone,
        )
        notify = None
        if not who.anonymous and address and channel in ("messenger", "sms"):
            notify = {"channel": channel, "address": address}
        elif not who.anonymous and phone and channel in ("voice", "contact_center"):
            notify = {"channel": "sms", "address": phone}
        try:
            created = await common.client().create_request(
                type=rtype,
                sector=tracker.get_slot("sector"),
                entity=tracker.get_slot("entity_id"),
                pillar=tracker.get_slot("pillar") if rtype == "complaint" else None,
                importance=(tracker.get_slot("importance") or "normal") if rtype == "complaint" else None,
                description=tracker.get_slot("description"),
                language=lang,
                channel=channel,
                requester_id=who.requester_id,
                idempotency_key=key,
                contact_phone=who.contact_phone,
                anonymous=who.anonymous if rtype == "report" else None,
                attachments=tracker.get_slot("attachments") or None,
                notify=notify,
            )
        except CaseStoreUnavailable:
            dispatcher.utter_message(response="utter_submit_failed")
            return [SlotSet("submit_pending", True)]
        except CaseStoreError as err:
            log.warning("case store refused a request: status=%s code=%s", err.status, err.code)
            dispatcher.utter_message(response="utter_backend_unavailable")
            return [SlotSet("submit_pending", False)]

        req = created.request
        entity = req.entity.name(lang)
        due = format_day(req.due_at, lang) if req.due_at else "-"
        if rtype == "report":
            # Shown once; the tracker store scrubs this receipt once the turn is saved, and no
            # slot keeps the reference, so nothing in the tracker ties the report to the sender.
            dispatcher.utter_message(response="utter_submitted_report", reference_display=req.reference_display, pin=created.pin or "-")
            return reset_form_slots() + [SlotSet("idem_key", None), SlotSet("submit_pending", False), SlotSet("request_type", None)]
        else:
            dispatcher.utter_message(
                response="utter_submitted",
                type_label=labels.label("type", rtype, lang),
                reference_display=req.reference_display,
                entity_label=entity,
                due_label=due,
                metadata={"reference": req.reference},
            )
        return reset_form_slots() + [
            SlotSet("idem_key", None),
            SlotSet("submit_pending", False),
            SlotSet("last_reference", req.reference),
            SlotSet("request_type", None),
        ]


class ActionCancelRequest(Action):
    def name(self) -> str:
        return "action_cancel_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.active_loop.get("name") or tracker.get_slot("idem_key"):
            dispatcher.utter_message(response="utter_cancelled")
        else:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("idem_key", None), SlotSet("request_type", None),
                SlotSet("submit_pending", False)] + reset_form_slots() + [
            SlotSet(s, None) for s in ("status_reference", "status_proof", "rating_reference", "rating_score", "rating_resolved", "rating_comment")
        ]


