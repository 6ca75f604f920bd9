"""Which events belong to a report: decided by intents, loops and slots, never by the text."""

from __future__ import annotations

from typing import Any

import pytest

from bot import confidential
from bot.confidential import PLACEHOLDER, Segment, confidential_indices, scrub, segments


def user(intent: str, text: str = "...") -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, "text": text, "entities": []},
            "metadata": {"reply_address": "sealed:x"}}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "text": text, "data": {"buttons": []}, "metadata": {"utter_action": "utter_x", "reference": "1"}}


def test_a_report_runs_from_its_first_message_to_the_slot_that_closes_it() -> None:
    events = [user("greet"), bot("hi"), user("report_violation"), slot("request_type", "report"), user("inform"),
              slot("description", "secret"), user("affirm"), bot("PIN 123456"), slot("request_type", None), action("action_listen")]
    assert segments(events) == [Segment(2, 8, True)]


def test_a_human_rights_grievance_is_a_report_from_its_first_message() -> None:
    # Its opening message is sealed on the intent alone, even before any slot or loop says "report".
    events = [user("greet"), bot("hi"), user("report_human_rights", "they beat my son in custody")]
    assert segments(events) == [Segment(2, 2, False)]
    events += [slot("request_type", "report"), {"event": "active_loop", "name": "report_form"}, user("affirm"),
               bot("PIN 123456"), slot("request_type", None), user("greet")]
    assert segments(events) == [Segment(2, 7, True)]


def test_a_report_opened_by_a_slot_reaches_back_to_the_message_that_asked_for_it() -> None:
    events = [user("greet"), action("action_start_request"), slot("request_type", "report"), user("inform")]
    assert segments(events) == [Segment(0, 3, False)]


def test_cancel_or_another_request_closes_it_and_a_complaint_is_never_confidential() -> None:
    cancelled = [user("report_violation"), slot("request_type", "report"), user("cancel"), slot("request_type", None),
                 user("complain"), slot("request_type", "complaint"), slot("description", "mine"), slot("request_type", None)]
    assert segments(cancelled) == [Segment(0, 3, True)]
    switched = [user("report_violation"), slot("request_type", "report"), user("complain"), slot("request_type", "complaint")]
    assert segments(switched) == [Segment(0, 3, True)]


def test_asking_for_a_person_closes_it_without_the_request_for_a_person() -> None:
    events = [user("report_violation"), {"event": "active_loop", "name": "report_form"}, user("inform"),
              user("human_handoff"), action("action_handoff")]
    assert segments(events) == [Segment(0, 2, True)]
    assert confidential_indices(events) == {0, 1, 2}


def test_a_handoff_as_rasa_logs_it_mid_form_closes_it_before_the_request_for_a_person() -> None:
    # The form is run first and rejects the message; then the handoff rule's action.
    events = [user("report_violation"), {"event": "active_loop", "name": "report_form"}, user("inform"),
              user("human_handoff", "I want an employee"), {"event": "action_execution_rejected", "name": "report_form"},
              {"event": "user_featurization", "use_text_for_featurization": False}]
    # Until the turn runs an action, the message is outside (the handoff action's transcript shows it).
    assert segments(events) == [Segment(0, 2, False)]
    events += [action("action_handoff"), {"event": "active_loop", "name": None}, bot("An agent will answer")]
    assert segments(events) == [Segment(0, 2, True)]


def test_an_answer_the_form_takes_stays_in_the_report_whatever_intent_the_nlu_heard() -> None:
    """"لا أرغب في ترك رقمي" (no, I'd rather not leave my number) heard as human_handoff: the form
    took it as the phone answer, so the report goes on, and its narrative with it (it was once
    scrubbed here, and the report then asked for its narrative again)."""
    events = [user("report_human_rights"), slot("request_type", "report"), {"event": "active_loop", "name": "report_form"},
              slot("description", "secret"), slot("requested_slot", "contact_phone"), user("human_handoff", "no number"),
              {"event": "user_featurization", "use_text_for_featurization": False}]
    assert segments(events) == [Segment(0, 4, False)]
    events += [action("report_form"), slot("contact_phone", "none"), bot("Summary. Send it?"), action("action_listen"),
               user("affirm"), action("report_form"), slot("request_type", None), user("greet")]
    assert segments(events) == [Segment(0, 13, True)]


def test_a_new_session_closes_it() -> None:
    events = [user("report_violation"), user("inform"), {"event": "session_started"}, user("greet")]
    assert segments(events) == [Segment(0, 1, True)]


def test_scrub_keeps_the_shape_and_nothing_else() -> None:
    u = scrub(user("inform", "the clerk took a bribe"))
    assert u["text"] == PLACEHOLDER and u["parse_data"]["text"] == PLACEHOLDER and "metadata" not in u
    assert u["parse_data"]["intent"] == {"name": "inform"}
    b = scrub(bot("PIN 123456"))
    assert b["text"] == PLACEHOLDER and b["data"] == {} and b["metadata"] == {"utter_action": "utter_x"}
    assert scrub(slot("pin", "123456"))["value"] is None and scrub(slot("sector", "health"))["value"] == "health"


# --- follow-ups: status, rating, reopen -----------------------------------------------------------

def loop(name: str | None) -> dict[str, Any]:
    return {"event": "active_loop", "name": name}


def test_a_status_check_is_confidential_from_its_message_through_the_form() -> None:
    # The reference and the PIN typed into the status form, and the status the bot reads out.
    events = [user("greet"), bot("hi"), user("check_status", "status of 482 910 3756"), action("action_start_status"),
              slot("status_reference", "4829103756"), action("status_form"), loop("status_form"), bot("Your PIN?"),
              user("inform", "123456"), slot("status_proof", "123456"), loop(None), action("action_check_status"),
              bot("Request 482 910 3756: answered"), slot("last_reference", "4829103756")]
    assert segments(events) == [Segment(2, 13, False)]
    # Any other message ends it, and stays outside it.
    assert segments(events + [user("greet"), bot("hi")]) == [Segment(2, 13, True)]


def test_a_follow_up_keeps_its_reference_through_the_offers_it_makes() -> None:
    # "Rate it?" -> yes -> the rating form -> "Reopen it?" -> yes: one follow-up, open all along.
    events = [user("check_status"), loop("status_form"), user("inform", "123456"), loop(None), action("action_check_status"),
              bot("rate it?"), user("affirm", "yes"), action("action_answer_offer"), action("action_start_rating"),
              loop("rating_form"), user("inform", "2"), user("complain", "they never answered, useless"), loop(None),
              action("action_submit_rating"), bot("reopen?"), user("affirm", "yes please"), action("action_reopen_request")]
    assert segments(events) == [Segment(0, 16, False)]


def test_a_typed_answer_that_runs_a_follow_up_action_reaches_back_to_its_message() -> None:
    events = [user("greet"), bot("hi"), user("inform", "open 482 910 3756 again"), action("action_answer_offer"),
              action("action_reopen_request"), bot("reopened")]
    assert segments(events) == [Segment(2, 5, False)]


def test_a_request_begun_after_a_follow_up_keeps_its_own_opening_message() -> None:
    # A complaint typed straight after a status check: its opening is the complaint's (prefilled
    # description), not part of the follow-up that is scrubbed.
    events = [user("check_status"), loop("status_form"), user("inform", "123456"), loop(None), action("action_check_status"),
              user("complain", "the garbage was not collected"), action("action_start_request"), slot("request_type", "complaint")]
    assert segments(events) == [Segment(0, 4, True)]
    # Or a message the NLU took for a short answer, which then began a request in the same turn.
    events = [user("check_status"), loop("status_form"), user("inform", "123456"), loop(None), action("action_check_status"),
              user("inform", "no water in my street"), slot("request_type", "complaint")]
    assert segments(events) == [Segment(0, 4, True)]


def test_a_report_after_a_follow_up_is_a_report_of_its_own_and_a_new_session_closes_both() -> None:
    events = [user("check_status"), loop("status_form"), user("inform", "123456"), loop(None),
              user("report_violation", "bribe"), slot("request_type", "report"), user("inform", "details")]
    assert segments(events) == [Segment(0, 3, True), Segment(4, 6, False)]
    events = [user("rate_request"), loop("rating_form"), user("inform", "5"), {"event": "session_started"}, user("greet")]
    assert segments(events) == [Segment(0, 2, True)]
    assert confidential_indices(events) == {0, 1, 2}


def test_asking_for_a_person_during_a_follow_up_hands_over_without_the_pin() -> None:
    events = [user("check_status"), loop("status_form"), user("inform", "123456"), user("human_handoff"), action("action_handoff")]
    assert segments(events) == [Segment(0, 2, True)]


def opening(text: str, ranking: list[tuple[str, float]]) -> dict[str, Any]:
    event = user(ranking[0][0], text)
    event["parse_data"]["intent_ranking"] = [{"name": name, "confidence": c} for name, c in ranking]
    return event


def test_an_opening_that_may_be_a_report_is_one_until_the_person_says_it_is_not() -> None:
    """Its type is asked (actions/requests.py); the opening is sealed meanwhile, and scrubbed once
    the person chooses another type (whose description keeps the text, set after the close)."""
    unsure = opening("the inspector asked me for money to sign the form", [("complain", 0.5), ("report_violation", 0.4)])
    asked = [unsure, action("action_start_request"), bot("which type?"), action("action_listen")]
    assert segments(asked) == [Segment(0, 3, False)]
    chose_complaint = asked + [user("complain"), slot("request_type", "complaint"), slot("description", "the inspector...")]
    assert segments(chose_complaint) == [Segment(0, 5, True)]
    chose_report = asked + [user("report_violation"), slot("request_type", "report"), user("inform")]
    assert segments(chose_report) == [Segment(0, 6, False)]


def test_an_opening_one_model_reads_as_a_report_is_sealed_and_stays_so_once_scrubbed() -> None:
    """The average is sure of a complaint, but the linear model says report: the type is asked
    (bot.request_rules.unsure_types), so the opening is a report until the person says it is not;
    the scrubbed event keeps the two opinions, so the walk over it finds the same segment."""
    sure = opening("the clerk said 20 JD would make the file move faster", [("complain", 0.8), ("report_violation", 0.15)])
    assert segments([sure]) == []
    opinions = {"diet": {"name": "complain", "confidence": 0.97}, "linear": {"name": "report_violation", "confidence": 0.55}}
    sure["parse_data"]["intent_opinions"] = opinions
    events = [sure, action("action_start_request"), bot("which type?"), action("action_listen")]
    assert segments(events) == [Segment(0, 3, False)]
    scrubbed = [scrub(e) for e in events]
    assert scrubbed[0]["parse_data"]["intent_opinions"] == opinions
    assert "20 JD" not in str(scrubbed)
    assert segments(scrubbed) == segments(events)


def test_an_opening_unsure_between_other_types_or_sure_of_a_complaint_is_not_sealed() -> None:
    assert segments([opening("how do I renew it, it took ages", [("ask_government", 0.5), ("complain", 0.4)])]) == []
    assert segments([opening("the clerk shouted at me", [("complain", 0.8), ("report_violation", 0.15)])]) == []


def test_an_answer_inside_another_types_form_is_that_requests_whatever_its_intent() -> None:
    """A complaint's details read as a violation opened a report that closed as the complaint was
    filed, and scrubbed its reference from the tracker; a report begun there still reaches back."""
    events = [user("complain"), {"event": "active_loop", "name": "complaint_form"},
              opening("he wanted a bribe to stamp it", [("report_violation", 0.5), ("complain", 0.4)]),
              slot("description", "he wanted a bribe to stamp it"), slot("last_reference", "4829103756"),
              slot("request_type", None)]
    assert segments(events) == []
    switched = events[:3] + [action("action_start_request"), slot("request_type", "report"),
                             {"event": "active_loop", "name": "report_form"}]
    assert segments(switched) == [Segment(2, 5, False)]
    in_a_report = [user("report_violation"), {"event": "active_loop", "name": "report_form"}, user("report_violation")]
    assert segments(in_a_report) == [Segment(0, 2, False)]


# --- the walk kept on a tracker's events and continued (issue 14) ---------------------------------

_INTENTS = ["report_violation", "report_human_rights", "complaint", "suggestion", "check_status", "rate_request",
            "reopen", "affirm", "deny", "inform", "human_handoff", "greet", "goodbye"]


def _random_objects(rng: Any, length: int) -> list[Any]:
    """Rasa events of conversations that open, continue and close reports and follow-ups in every
    way `segments` knows: the intents, an unsure opening's ranking, the forms, `request_type`,
    handoffs, new sessions, restarts."""
    from rasa.shared.core import events as ev

    out: list[Any] = [ev.ActionExecuted("action_session_start"), ev.SessionStarted(), ev.ActionExecuted("action_listen")]
    while len(out) < length:
        intent = rng.choice(_INTENTS)
        parse: dict[str, Any] = {"intent_ranking": [{"name": intent, "confidence": 0.5}]}
        u = rng.random()
        if u < 0.3:  # an opening the NLU is unsure of, a report among the candidates
            parse["intent_ranking"] = [{"name": "complaint", "confidence": 0.45}, {"name": "report_violation", "confidence": 0.4}]
            intent = "complaint"
        elif u < 0.4:  # sure on average, but one of its two models reads a report
            parse = {"intent_ranking": [{"name": "complain", "confidence": 0.8}],
                     "intent_opinions": {"diet": {"name": "complain", "confidence": 0.97},
                                         "linear": {"name": "report_violation", "confidence": 0.6}}}
            intent = "complain"
        out.append(ev.UserUttered(f"text {len(out)}", {"name": intent, "confidence": 0.5}, parse_data=parse))
        r = rng.random()
        if r < 0.15:
            out += [ev.ActionExecuted("report_form"), ev.ActiveLoop("report_form"), ev.SlotSet("request_type", "report")]
        elif r < 0.25:
            out += [ev.ActionExecuted("complaint_form"), ev.ActiveLoop("complaint_form"), ev.SlotSet("request_type", "complaint")]
        elif r < 0.35:
            out += [ev.ActionExecuted("status_form"), ev.ActiveLoop("status_form")]
        elif r < 0.42:
            out += [ev.ActiveLoop(None), ev.SlotSet("request_type", None)]
        elif r < 0.47:
            if intent == "human_handoff" and rng.random() < 0.5:  # a form rejects it before the handoff rule
                out.append(ev.ActionExecutionRejected(rng.choice(["report_form", "status_form"])))
            out.append(ev.ActionExecuted(rng.choice(["action_handoff", "action_check_status", "action_submit_rating"])))
        elif r < 0.50:
            out += [ev.ActionExecuted("action_session_start"), ev.SessionStarted()]
        elif r < 0.52:
            out += [ev.ActionExecuted("action_restart"), ev.Restarted()]
        elif r < 0.60:
            out.append(ev.SlotSet("description", f"secret {len(out)}"))
        out += [ev.BotUttered(f"reply {len(out)}"), ev.ActionExecuted("action_listen")]
    return out


@pytest.mark.parametrize("seed", range(8))
def test_the_kept_walk_finds_the_segments_a_whole_walk_finds_at_every_step(seed: int) -> None:
    """A tracker's events grow a few at a time; its copies share the event objects; the store
    asks for a prefix (the rows stored before this turn); a tracker read again has new objects."""
    import random
    from collections import deque

    from rasa.shared.core.events import Event

    rng = random.Random(seed)
    history = _random_objects(rng, 400)
    events: deque[Any] = deque()
    copies: list[deque[Any]] = []
    continued = 0
    n = 0
    while n < len(history):
        step = rng.randint(1, 9)
        events.extend(history[n:n + step])
        n += step
        target = events if rng.random() < 0.7 or not copies else rng.choice(copies)
        upto = None if rng.random() < 0.7 else rng.randint(0, len(target))
        whole = confidential.segments([e.as_dict() for e in list(target)[:upto]])
        continued += any(hasattr(e, confidential._KEPT_SCAN) for e in list(target)[:-step])
        assert confidential.scan_of(target, upto).segments() == whole, (seed, n, upto)
        if rng.random() < 0.2:
            copies.append(deque(events))  # a copy: the same objects
        if rng.random() < 0.05:  # read again from the database: new objects, walked whole
            events = deque(Event.from_parameters(e.as_dict()) for e in events)
    assert continued > 20, "the walk was continued, not redone"
    assert any(s.closed for s in confidential.segments([e.as_dict() for e in history])), "reports closed"


def test_a_kept_walk_is_not_taken_at_another_position() -> None:
    from rasa.shared.core.events import ActionExecuted, UserUttered

    def report() -> UserUttered:
        return UserUttered("r", {"name": "report_violation", "confidence": 1.0})

    def chat() -> UserUttered:
        return UserUttered("h", {"name": "greet", "confidence": 1.0})

    shared = ActionExecuted("action_listen")
    one = [report(), shared]
    assert confidential.scan_of(one).segments() == [confidential.Segment(0, 1, False)]
    two = [chat(), ActionExecuted("utter_greet"), shared]  # the same object, elsewhere, after other events
    assert confidential.scan_of(two).segments() == []
