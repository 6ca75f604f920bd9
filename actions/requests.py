"""Starting, asking, confirming, submitting and cancelling a request."""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, FollowupAction, SlotSet, UserUtteranceReverted, UserUttered
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common, routing
from actions.forms import cancel_events, editable_fields, reset_form_slots, resolve_entity
from backend_client import (
    Campaign,
    CampaignQuestion,
    CaseStoreError,
    CaseStoreUnavailable,
    NotFoundOrUnverified,
    campaign_for,
)
from bot import choices, confidential, labels, privacy, refcode, request_rules
from bot.i18n import format_day
from bot.privacy import normalise_phone, phone_tail

log = logging.getLogger(__name__)

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


# --- the opening's type, asked when the NLU cannot tell (issue 15) --------------------------------
TYPE_QUESTION = "utter_ask_request_type"
# The type question's buttons, in the menus' order; the report's is the report intent ranked higher.
TYPE_BUTTONS = {
    "ask_government": "Question",
    "suggest": "Suggestion",
    "compliment": "Compliment",
    "complain": "Complaint",
    "report_violation": "Report a violation",
    "report_human_rights": "Human rights",
}
# Marks the opening replayed with the type the person chose, so it is not read as an answer again.
CHOSEN = "type_chosen"


def ask_type(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Ask which type the latest message is, with the five types as buttons. Nothing is set: the
    answer replays the message as that type's opening (`answer_to_type_question`), and until then
    an opening that may be a report stays confidential (bot.confidential)."""
    lang = common.language(tracker)
    confidence = {str(i.get("name")): float(i.get("confidence") or 0) for i in tracker.latest_message.get("intent_ranking") or []}
    report = max(("report_violation", "report_human_rights"), key=lambda name: confidence.get(name, 0.0))
    buttons = [{"title": labels.phrase(lang, TYPE_BUTTONS[name]), "payload": "/" + name}
               for name in ("ask_government", "suggest", "compliment", "complain", report)]
    dispatcher.utter_message(response=TYPE_QUESTION, buttons=buttons)
    return []


def type_unsure(tracker: Tracker) -> bool:
    """Is the latest message an opening typed outside a form whose type the NLU leaves unsure?
    (Not read from its words: "مخالفة" is a violation and a traffic ticket, "report" a police one.)"""
    text = common.user_text(tracker)
    return (not tracker.active_loop.get("name") and not common.is_payload(text) and not tracker.latest_message.get(CHOSEN)
            and bool(request_rules.unsure_types(tracker.latest_message.get("intent_ranking") or [],
                                                tracker.latest_message.get(request_rules.OPINIONS_KEY))))


def _opening_asked_about(tracker: Tracker) -> dict[str, Any] | None:
    """The opening the type question was about, when the latest message is the next one after it."""
    events = tracker.applied_events()
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if len(users) < 2:
        return None
    for e in reversed(events[users[-2] + 1:users[-1]]):
        if e.get("event") == "bot":
            if (e.get("metadata") or {}).get("utter_action") != TYPE_QUESTION:
                return None
            return events[users[-2]]
    return None


def chosen_type(tracker: Tracker) -> str | None:
    """The intent of the type the latest message picks at the type question: a type's button, the
    type a short answer names ("la2, shakwa", "a question", "it's a compliment"), or the NLU's type
    for a short answer naming none; None for anything longer (a new message of its own)."""
    text = common.user_text(tracker)
    name = common.intent(tracker) or ""
    own = name if name in request_rules.INTENT_TO_TYPE else None
    if common.is_payload(text):
        return own
    if not choices.is_short(text):
        return None
    return choices.pick(text, choices.OPENING_TYPES, numbered=False) or own


def answer_to_type_question(tracker: Tracker) -> list[EventType] | None:
    """When the latest message answers the type question: the events that replay the opening as
    the chosen type's (the answer reverted, as Rasa's two-stage fallback does), so the opening is
    read once more with everything it said, the type now certain. A report chosen for an opening
    that was not kept confidential starts empty: its narrative is asked again, never copied."""
    if tracker.latest_message.get(CHOSEN):
        return None
    opening = _opening_asked_about(tracker)
    intent = chosen_type(tracker) if opening is not None else None
    if opening is None or intent is None:
        return None
    parse = dict(opening.get("parse_data") or {})
    text = str(opening.get("text") or "")
    secret = confidential.confidential_indices(tracker.events)
    kept = any(e is opening for i, e in enumerate(tracker.events) if i in secret)
    if request_rules.INTENT_TO_TYPE[intent] == "report" and not kept:
        text, parse = "/" + intent, {"entities": []}
    parse.update({"text": text, "intent": {"name": intent, "confidence": 1.0},
                  "intent_ranking": [{"name": intent, "confidence": 1.0}], CHOSEN: True})
    replayed = UserUttered(text, parse_data=parse, input_channel=tracker.get_latest_input_channel())
    replayed["metadata"] = common.latest_metadata(tracker)  # the connector's (channel, sealed address)
    return [UserUtteranceReverted(), ActionExecuted("action_listen"), replayed]


async def _answer_to_offer(dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType] | None:
    """A short message that answers the buttons just offered is that button, whatever request the
    NLU heard in it: "yes, open it again" to "Shall we reopen the request?" reopens it (it was
    once read as a human-rights grievance and filed as one)."""
    from actions.tracking import ActionAnswerOffer, typed_offer_answer  # tracking imports this module

    text = common.user_text(tracker)
    # A reference typed with it is not words of its own ("open 482 910 3756 again please").
    if common.is_payload(text) or not choices.is_short(refcode.without_candidates(text)):
        return None
    payload = typed_offer_answer(tracker)
    if not payload or payload[1:].split("{", 1)[0] == common.intent(tracker):
        return None
    return list(await ActionAnswerOffer().run(dispatcher, tracker, domain))


class ActionStartRequest(Action):
    """Begin a request of the type the person asked for, keeping what they already said; ask the
    type first when the NLU cannot tell it."""

    def name(self) -> str:
        return "action_start_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        replay = answer_to_type_question(tracker) or await _answer_to_offer(dispatcher, tracker, domain)
        if replay is not None:
            return replay
        text = common.user_text(tracker)
        if not common.is_payload(text) and choices.is_bare_thanks(text):
            # "shukran", "thanks a lot" after an answer: the NLU hears a compliment, but there is
            # nothing to file; a courteous reply, and no form.
            dispatcher.utter_message(response="utter_welcome")
            return [FollowupAction("action_listen")]
        if type_unsure(tracker):
            # The rule's form must not start: listen for the answer instead.
            return ask_type(dispatcher, tracker) + [FollowupAction("action_listen")]
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
            # Guessed only when the words are clear (the pillar decides the SLA); otherwise asked.
            pillar = common.pillar_in(tracker) if common.has_content(text) or common.entity_values(tracker, "pillar") else None
            if pillar:
                events.append(SlotSet("pillar", pillar))
            urgency = [v for v in common.entity_values(tracker, "urgency") if v in request_rules.IMPORTANCE]
            if urgency:
                events.append(SlotSet("importance", urgency[0]))
        attachments = common.attachments_in(tracker)
        if attachments:
            events.append(SlotSet("attachments", attachments))
        if rtype == "complaint":
            events += await _centre_or_campaign(dispatcher, tracker, text)
        return events


async def _centre_or_campaign(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> list[EventType]:
    """A complaint from a bad service-centre rating (the offer's button carries the centre code)
    is prefilled from the rating; otherwise an opening text that names a campaign's trigger
    makes it that campaign's complaint (issue 13). Both are our own data, no NLU involved."""
    lang = common.language(tracker)
    code = next((v for v in common.entity_values(tracker, "centre_code") if v.isdigit()), None)
    if code:
        try:
            centre = await common.client().centre(code)
        except (NotFoundOrUnverified, CaseStoreError):
            return []
        found: list[EventType] = [
            SlotSet("centre_code", centre.code), SlotSet("entity_id", centre.entity.id), SlotSet("sector", centre.sector),
        ]
        # Prefilled only from the rating of this same centre, still in the slots.
        if tracker.get_slot("centre_code") == centre.code:
            pillar, description = request_rules.complaint_from_visit(
                (tracker.get_slot("centre_pillars") or "").split(","), tracker.get_slot("centre_comment"))
            if pillar:
                found.append(SlotSet("pillar", pillar))
            if description:
                found.append(SlotSet("description", description))
        return found
    events: list[EventType] = []
    if not text or common.is_payload(text):
        return events
    try:
        campaign = campaign_for(text, list((await common.campaigns()).values()))
    except CaseStoreError as err:
        log.warning("campaigns unavailable: status=%s code=%s", err.status, err.code)
        return events
    if campaign is None:
        return events
    dispatcher.utter_message(
        response="utter_campaign_started", campaign_label=campaign.name(lang),
        entity_label=await _entity_label(campaign.entity, lang),
    )
    events += [SlotSet("campaign", campaign.id), SlotSet("entity_id", campaign.entity), SlotSet("sector", campaign.sector),
               SlotSet("pillar", campaign.pillar)]
    return events


async def _entity_label(entity_id: str, lang: str) -> str:
    try:
        entity = (await common.all_entities()).get(entity_id)
    except CaseStoreError:
        entity = None
    return entity.name(lang) if entity else entity_id


class ActionAskCampaignAnswer1(Action):
    """Asks a campaign's extra question, its text read from the campaign file (via the API)."""

    index = 0

    def name(self) -> str:
        return f"action_ask_campaign_answer_{self.index + 1}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            campaign = (await common.campaigns()).get(tracker.get_slot("campaign") or "")
        except CaseStoreError:
            campaign = None
        if campaign is None or len(campaign.questions) <= self.index:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return []
        dispatcher.utter_message(response="utter_ask_campaign_answer",
                                 question=campaign.questions[self.index].text(common.language(tracker)))
        return []


class ActionAskCampaignAnswer2(ActionAskCampaignAnswer1):
    index = 1


class ActionAskSector(Action):
    def name(self) -> str:
        return "action_ask_sector"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        lang = common.language(tracker)
        # The short names where a list costs: 17 full names are eight SMS, or minutes of a spoken menu.
        short = common.channel(tracker) in ("sms", "voice")
        try:
            buttons = [{"title": s.short(lang) if short else s.name(lang), "payload": f'/inform{{"sector": "{s.id}"}}'}
                       for s in await common.sectors()]
        except CaseStoreError:
            buttons = []
        dispatcher.utter_message(response="utter_ask_sector", buttons=buttons)
        return []


class ActionAskEntityId(Action):
    def name(self) -> str:
        return "action_ask_entity_id"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        buttons: list[dict[str, str]] = []
        # The narrowed choices (a group, a municipality to pick), else the sector's bodies; a
        # number typed at this question picks from the same list (actions/routing.py).
        with contextlib.suppress(CaseStoreError):
            buttons = routing.entity_buttons(await routing.offered_entities(tracker), common.language(tracker))
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


# How the summary names what is being filed, in words no one can miss (bot/locale labels.po).
HEADLINES = {
    "inquiry": "You are asking {entity} a question",
    "suggestion": "You are sending a suggestion to {entity}",
    "compliment": "You are sending a compliment to {entity}",
    "complaint": "You are filing a complaint about {entity}",
    "report": "You are filing a confidential report of a violation at {entity}",
}
# The summary's one-tap switch to the type most often meant instead (issue 15: narratives of a
# bad experience read as compliments and thank-yous as complaints), and the other types offered
# at "what would you like to change?". Each button presses the intent that starts that type.
SWITCH_TITLES = {
    "inquiry": "Make it a question",
    "suggestion": "Make it a suggestion",
    "compliment": "Make it a compliment",
    "complaint": "Make it a complaint",
}
SWITCH_AT_SUMMARY = {"complaint": "compliment", "compliment": "complaint"}
EXCERPT = 120
# Over SMS the whole answer (this summary, the response around it, the numbered Send / Change /
# Cancel and the channel's "reply with a number") must fit two segments: 134 characters of
# Arabic (UCS-2), 306 of English (GSM-7). The response and the list take about 70 of them in
# Arabic and 85 in English, so the summary gets the rest: the headline, a complaint's topic and
# urgency, a campaign's answers (sms_answers), and as much of the description as still fits
# (nothing when under a dozen characters would be left).
SMS_SUMMARY_BUDGET = {"ar": 60, "en": 200}
SMS_MIN_EXCERPT = 12
# An English SMS stays GSM-7 (160 characters a segment) only if every character is in its alphabet:
# the summary quotes and cuts with ASCII there (« » and … are not in it, and one of them made the
# whole message UCS-2, 70 a segment: four SMS), and folds the typographic punctuation phones type
# ("don’t", “smart quotes”). Arabic is UCS-2 anyway.
SMS_MARKS = {"ar": ("«", "»", "…"), "en": ('"', '"', "...")}
_ASCII_PUNCTUATION = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "})


def excerpt(text: str, limit: int, mark: str = "…") -> str:
    """The first `limit` characters of a description, cut at a word where one is near."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - len(mark)]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.،") + mark


def sms_text(text: str, lang: str) -> str:
    """What a person typed, as an SMS summary shows it (English folded to ASCII punctuation)."""
    return " ".join((text.translate(_ASCII_PUNCTUATION) if lang == "en" else text).split())


def switch_button(rtype: str, language: str) -> dict[str, str]:
    return {"title": labels.phrase(language, SWITCH_TITLES[rtype]), "payload": "/" + request_rules.TYPE_TO_INTENT[rtype]}


async def summary_text(tracker: Tracker) -> str:
    lang = common.language(tracker)
    rtype = tracker.get_slot("request_type") or "complaint"
    entity_label = tracker.get_slot("entity_id") or "-"
    try:
        entity = (await common.all_entities()).get(tracker.get_slot("entity_id") or "")
        if entity:
            entity_label = entity.name(lang)
    except CaseStoreError:
        pass
    head = labels.phrase(lang, HEADLINES[rtype], entity=entity_label)
    description = tracker.get_slot("description") or ""
    phone = tracker.get_slot("contact_phone")
    # A campaign's complaint (issue 13) shows its answers ("place: ..."); it asks no urgency, and
    # a topic only when the campaign file gives one.
    campaign, answered = await _campaign_answers(tracker) if rtype == "complaint" else (None, [])
    if common.channel(tracker) == "sms":
        return _sms_summary(tracker, lang, rtype, head, description, campaign is not None, answered)
    rows: list[tuple[str, str]] = []
    if rtype == "complaint" and campaign is None:
        rows.append((labels.label("field", "pillar", lang), labels.label("pillar", tracker.get_slot("pillar"), lang)))
        rows.append((labels.label("field", "importance", lang), labels.label("importance", tracker.get_slot("importance"), lang)))
    elif campaign is not None and tracker.get_slot("pillar"):
        rows.append((labels.label("field", "pillar", lang), labels.label("pillar", tracker.get_slot("pillar"), lang)))
    rows += [(question.label(lang), excerpt(answer, EXCERPT)) for question, answer in answered]
    # A confidential report's narrative is never echoed back (a shared phone, a shoulder).
    if rtype != "report":
        rows.append((labels.label("field", "description", lang), excerpt(description, EXCERPT)))
    if phone and phone != "none":
        rows.append((labels.label("field", "contact_phone", lang), "…" + phone_tail(phone)))
    elif rtype == "report":
        rows.append((labels.label("field", "contact_phone", lang), labels.phrase(lang, "none (anonymous)")))
    return head + "\n" + "\n".join(f"{k}: {v}" for k, v in rows)


def _sms_summary(
    tracker: Tracker, lang: str, rtype: str, head: str, description: str,
    in_campaign: bool = False, answered: list[tuple[CampaignQuestion, str]] | None = None,
) -> str:
    """The summary over SMS: the same headline, then values without their labels (the person
    is texting from the phone the updates go to, so no phone line); a campaign's answers before
    the description, which gets what room is left."""
    lines = [head]
    comma = "، " if lang == "ar" else ", "
    if rtype == "complaint" and not in_campaign:
        lines.append(labels.label("pillar", tracker.get_slot("pillar"), lang) + comma
                     + labels.label("importance", tracker.get_slot("importance"), lang))
    elif rtype == "complaint" and tracker.get_slot("pillar"):
        lines.append(labels.label("pillar", tracker.get_slot("pillar"), lang))
    elif rtype == "report" and tracker.get_slot("contact_phone") in (None, "none"):
        lines.append(labels.phrase(lang, "none (anonymous)"))
    if answered:
        lines += sms_answers(answered, lang, SMS_SUMMARY_BUDGET[lang] - len("\n".join(lines)))
    left = SMS_SUMMARY_BUDGET[lang] - len("\n".join(lines)) - 3  # a new line and the quotes
    if rtype != "report" and description and left >= SMS_MIN_EXCERPT:
        opening, closing, cut = SMS_MARKS[lang]
        lines.append(opening + excerpt(sms_text(description, lang), left, cut) + closing)
    return "\n".join(lines)


def sms_answers(answered: list[tuple[CampaignQuestion, str]], lang: str, room: int) -> list[str]:
    """A campaign's answers in `room` characters (a new line before each): named ("place: ...")
    when they all fit so, else their values alone, the shortest first, each cut to a fair share of
    what is left; an answer whose share would be under a dozen characters is left out."""
    values = [sms_text(answer, lang) for _, answer in answered]
    named = [f"{question.label(lang)}: {value}" for (question, _), value in zip(answered, values)]
    if sum(len(line) + 1 for line in named) <= room:
        return named
    shown: dict[int, str] = {}
    left = room
    order = sorted(range(len(values)), key=lambda i: len(values[i]))
    for n, i in enumerate(order):
        share = left // (len(order) - n) - 1
        if share >= SMS_MIN_EXCERPT:
            shown[i] = excerpt(values[i], share, SMS_MARKS[lang][2])
            left -= len(shown[i]) + 1
    return [shown[i] for i in sorted(shown)]


class ActionAskConfirmed(Action):
    def name(self) -> str:
        return "action_ask_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        rtype = tracker.get_slot("request_type") or "complaint"
        # Not over SMS, where each choice is a line of the two segments; typing the type works there.
        other = None if common.channel(tracker) == "sms" else SWITCH_AT_SUMMARY.get(rtype)
        summary = await summary_text(tracker)
        if other:
            # Appended after the domain's Send / Change / Cancel.
            dispatcher.utter_message(response="utter_ask_confirmed", summary=summary,
                                     buttons=[switch_button(other, common.language(tracker))])
        else:
            dispatcher.utter_message(response="utter_ask_confirmed", summary=summary)
        return []


class ActionAskEditField(Action):
    def name(self) -> str:
        return "action_ask_edit_field"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        lang = common.language(tracker)
        rtype = tracker.get_slot("request_type")
        buttons = [{"title": labels.label("field", f, lang), "payload": f'/inform{{"field": "{f}"}}'} for f in editable_fields(rtype)]
        # The type too, one tap to each other type (a report is begun as one, never switched to).
        if rtype in SWITCH_TITLES:
            buttons += [switch_button(t, lang) for t in SWITCH_TITLES if t != rtype]
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
        description = tracker.get_slot("description")
        campaign, answers = await _campaign_fields(tracker) if rtype == "complaint" else (None, None)
        if rtype == "complaint" and tracker.get_slot("centre_code"):
            description = await _with_centre(tracker.get_slot("centre_code"), description or "", lang)
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
                description=description,
                language=lang,
                channel=channel,
                requester_id=who.requester_id,
                idempotency_key=key,
                contact_phone=who.contact_phone,
                anonymous=who.anonymous if rtype == "report" else None,
                attachments=tracker.get_slot("attachments") or None,
                notify=notify,
                campaign=campaign,
                campaign_answers=answers,
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


async def _campaign_answers(tracker: Tracker) -> tuple[Campaign | None, list[tuple[CampaignQuestion, str]]]:
    """The campaign a complaint is filed under and its answered questions, in the file's order,
    only while the request still goes to the campaign's entity (a person who changed the entity in
    the summary files an ordinary complaint). A skipped question ("-") has no answer."""
    try:
        campaign = (await common.campaigns()).get(tracker.get_slot("campaign") or "")
    except CaseStoreError:
        return None, []
    if campaign is None or campaign.entity != tracker.get_slot("entity_id"):
        return None, []
    answered = []
    for question, slot in zip(campaign.questions, ("campaign_answer_1", "campaign_answer_2")):
        value = tracker.get_slot(slot)
        if value and value != "-":
            answered.append((question, value))
    return campaign, answered


async def _campaign_fields(tracker: Tracker) -> tuple[str | None, dict[str, str] | None]:
    """The campaign tag and answers the request is filed with."""
    campaign, answered = await _campaign_answers(tracker)
    if campaign is None:
        return None, None
    return campaign.id, {question.id: value for question, value in answered} or None


async def _with_centre(code: str, description: str, lang: str) -> str:
    """A complaint made from a centre rating names the centre, so the entity knows which branch."""
    try:
        centre = await common.client().centre(code)
    except CaseStoreError:
        return description
    return labels.visit_complaint(lang, centre.name(lang), description)


class ActionCancelRequest(Action):
    def name(self) -> str:
        return "action_cancel_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.active_loop.get("name") or tracker.get_slot("idem_key"):
            dispatcher.utter_message(response="utter_cancelled")
        else:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
        return cancel_events()


