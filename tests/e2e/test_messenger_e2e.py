"""Messenger end to end: signed webhooks into the running system, replies read from the recorder
standing in for the Graph API, requests read from the case store.

The conversation follows the bot's buttons (it picks the quick reply whose payload matches what
it wants) instead of hard-coding wording, so it survives edits to domain.yml.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.privacy import keyed_id
from bot.refcode import find_candidates, is_valid_digits

ROOT = Path(__file__).resolve().parents[2]
PAGE_ID = "104857600000001"
DESCRIPTION_AR = "المي مقطوعة عن حارتنا بجبل الحسين من ثلاث أيام وما حدا رد علينا بالسلطة، وبدنا حل بسرعة"


class MessengerUser:
    """A person on Messenger: sends signed events as Meta does, reads replies from the recorder."""

    def __init__(self, system: Any, psid: str | None = None) -> None:
        self.system = system
        self.psid = psid or str(uuid.uuid4().int)[:16]
        self.url = f"{system.rasa_url}/webhooks/messenger/webhook"
        self.seen = 0

    @property
    def sender_id(self) -> str:
        return keyed_id("messenger", self.psid, key=self.system.env["SENDER_ID_KEY"].encode())

    def event(self, text: str | None = None, payload: str | None = None, mid: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"mid": mid or f"m_{uuid.uuid4().hex}", "text": text or ""}
        if payload:
            message["quick_reply"] = {"payload": payload}
        now = int(time.time() * 1000)
        return {"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [
            {"sender": {"id": self.psid}, "recipient": {"id": PAGE_ID}, "timestamp": now, "message": message}]}]}

    def signed(self, event: dict[str, Any], secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(event, ensure_ascii=False).encode()
        key = (secret or self.system.env["MESSENGER_APP_SECRET"]).encode()
        return body, {"Content-Type": "application/json",
                      "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()}

    def post(self, event: dict[str, Any]) -> int:
        body, headers = self.signed(event)
        self.users_before = self._user_events()
        return requests.post(self.url, data=body, headers=headers, timeout=10).status_code

    def _events(self) -> list[dict[str, Any]] | None:
        """The tracker's events, or None (no tracker yet, or Rasa busy)."""
        try:
            return self.system.tracker(self.sender_id).get("events") or []
        except Exception:
            return None

    def _user_events(self) -> int | None:
        events = self._events()
        return None if events is None else sum(1 for e in events if e.get("event") == "user")

    def _turn_saved(self) -> bool:
        """Rasa saves a turn when it is over: one more user message than before the post, and
        the bot listening again, or the conversation paused (handed over to an agent). (Messenger
        replies leave as they are made, so the first one can arrive long before the turn's last
        on a busy machine.)"""
        before = getattr(self, "users_before", None)
        if before is None:
            return True
        events = self._events()
        if not events:
            return False
        users = sum(1 for e in events if e.get("event") == "user")
        last = events[-1]
        return users > before and (last.get("event") == "pause" or (last.get("event") == "action" and last.get("name") == "action_listen"))

    def replies(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.system.recorder.snapshot()
                if r["path"].endswith("/me/messages") and (r["json"] or {}).get("recipient", {}).get("id") == self.psid]

    def wait_turn(self, timeout: float = 30.0, quiet: float = 0.8) -> list[dict[str, Any]]:
        """The messages of the next turn: wait for the first, then until none come for `quiet` s."""
        deadline = time.monotonic() + timeout
        while len(self.replies()) <= self.seen:
            if time.monotonic() > deadline:
                raise TimeoutError("no reply from the bot")
            time.sleep(0.05)
        saved_by = min(deadline, time.monotonic() + 20.0)
        while not self._turn_saved() and time.monotonic() < saved_by:
            time.sleep(0.1)
        count = len(self.replies())
        settle = time.monotonic() + quiet
        while time.monotonic() < settle:
            time.sleep(0.05)
            if len(self.replies()) != count:
                count, settle = len(self.replies()), time.monotonic() + quiet
        new = self.replies()[self.seen:]
        self.seen = len(self.replies())
        return [m["message"] for m in new]

    def say(self, text: str) -> list[dict[str, Any]]:
        assert self.post(self.event(text=text)) == 200
        return self.wait_turn()

    def tap(self, payload: str, title: str = "") -> list[dict[str, Any]]:
        assert self.post(self.event(text=title, payload=payload)) == 200
        return self.wait_turn()


def quick_replies(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    for m in reversed(messages):
        if m.get("quick_replies"):
            return m["quick_replies"]
    return []


def references(messages: list[dict[str, Any]]) -> list[str]:
    return [d for m in messages for d in find_candidates(m.get("text", "")) if is_valid_digits(d)]


PREFERENCES = (  # what a person filing a complaint picks, in order of preference
    "/complain",
    '/inform{"sector"',
    '/inform{"entity',
    '/inform{"pillar": "service_quality"}',
    '/inform{"urgency": "normal"}',
    '/inform{"importance": "normal"}',
    "/affirm",
)


def pick(options: list[dict[str, str]]) -> dict[str, str]:
    for wanted in PREFERENCES:
        for option in options:
            if option["payload"].startswith(wanted):
                return option
    return options[0]


def file_complaint(user: MessengerUser, stop_before_confirm: bool = False) -> tuple[str | None, list[dict[str, Any]]]:
    """Jordanian Arabic, from hello to a reference, following the bot's buttons."""
    messages = user.say("مرحبا، عندي شكوى")
    described = False
    for _ in range(25):
        refs = references(messages)
        if refs:
            return refs[0], messages
        options = quick_replies(messages)
        if options:
            choice = pick(options)
            if stop_before_confirm and choice["payload"] == "/affirm" and described:
                return None, messages
            messages = user.tap(choice["payload"], choice["title"])
        elif any("0791234567" in m.get("text", "") for m in messages):
            messages = user.say("0791234567")
        else:
            messages = user.say(DESCRIPTION_AR if not described else DESCRIPTION_AR + " والله تعبنا")
            described = True
    raise AssertionError(f"no reference after 25 turns; last: {messages}")


def requests_with(system: Any, reference: str) -> list[dict[str, Any]]:
    return [r for r in system.case_store_requests() if r.get("reference") == reference]


def user_events(system: Any, sender_id: str) -> list[dict[str, Any]]:
    return [e for e in system.tracker(sender_id).get("events", []) if e.get("event") == "user"]


def test_jordanian_arabic_complaint_gets_a_reference(system: Any) -> None:
    user = MessengerUser(system)
    reference, messages = file_complaint(user)
    assert reference
    (row,) = requests_with(system, reference)
    assert row["channel"] == "messenger" and row["type"] == "complaint"
    assert any(m.get("text", "").count(" ") for m in messages)
    # Messenger limits held on every reply of the conversation
    for reply in user.replies():
        message = reply["message"]
        assert reply["messaging_type"] == "RESPONSE"
        assert len(message.get("text", "")) <= 2000
        assert len(message.get("quick_replies", [])) <= 13
        assert all(len(q["title"]) <= 20 for q in message.get("quick_replies", []))
    # the tracker knows a keyed id only
    assert user.psid not in json.dumps(system.tracker(user.sender_id).get("sender_id"))


def test_replayed_confirmation_gives_one_turn_one_request_one_reply(system: Any) -> None:
    user = MessengerUser(system)
    reference, messages = file_complaint(user, stop_before_confirm=True)
    assert reference is None
    confirm = next(o for o in quick_replies(messages) if o["payload"] == "/affirm")
    delivery = user.event(text=confirm["title"], payload=confirm["payload"], mid=f"m_{uuid.uuid4().hex}")
    before = len(user_events(system, user.sender_id))
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        statuses = list(pool.map(lambda _: user.post(delivery), range(5)))
    assert statuses == [200] * 5
    turn = user.wait_turn(quiet=2.0)
    (reference,) = set(references(turn))
    # A later message's reply is the positive signal that the replays were dealt with: one
    # sender's events are processed, and their replies sent, in order, so a duplicate turn
    # would have been answered before this one (a sleep would pass on a slow machine).
    marker = user.tap("/greet", "مرحبا")
    assert marker and references(marker) == []
    assert len([m for m in (r["message"] for r in user.replies()) if reference in references([m])]) == 1, "one receipt"
    assert len(requests_with(system, reference)) == 1
    assert len(user_events(system, user.sender_id)) == before + 2  # the confirmation once, then the marker


@pytest.mark.parametrize("case", ["unsigned", "wrong_secret", "tampered"])
def test_unverified_deliveries_leave_no_trace(system: Any, case: str) -> None:
    user = MessengerUser(system)
    rows_before = len(system.case_store_requests())
    body, headers = user.signed(user.event(text="مرحبا، عندي شكوى"),
                                secret="not-the-app-secret" if case == "wrong_secret" else None)
    if case == "unsigned":
        headers.pop("X-Hub-Signature-256")
    if case == "tampered":
        body = body.replace("شكوى".encode(), "ثناء".encode())
    assert requests.post(user.url, data=body, headers=headers, timeout=10).status_code == 403
    # The positive signal: a genuine message from the same person, sent afterwards, is answered;
    # by then anything the forged delivery had set going would have reached the tracker first.
    marker = user.tap("/greet", "مرحبا")
    assert marker, "the genuine message after the forged one was answered"
    assert [e["text"] for e in user_events(system, user.sender_id)] == ["/greet"]
    assert len(user.replies()) == len(marker), "no reply to the forged delivery"
    assert len(system.case_store_requests()) == rows_before


def test_graph_outage_keeps_the_turn_and_the_reply_arrives_when_meta_is_back(system: Any) -> None:
    """Issue 10 item 7: with the Graph API unreachable the citizen's message is still in the
    tracker, and the bot's reply is delivered once, in order, when the API is back."""
    user = MessengerUser(system)
    user.say("مرحبا")  # a first turn, so the second one below is not the conversation's start
    system.recorder.go_down()
    try:
        assert user.post(user.event(text="عندي شكوى")) == 200
        deadline = time.monotonic() + 30
        while not any(e.get("text") == "عندي شكوى" for e in user_events(system, user.sender_id)):
            assert time.monotonic() < deadline, "the turn was lost while the Graph API was down"
            time.sleep(0.2)
    finally:
        system.recorder.come_up()
    turn = user.wait_turn(timeout=60.0, quiet=2.0)
    assert turn, "the reply queued during the outage arrived"
    # "Only once", waited for positively: replies to one person leave the outbox in order, so
    # once the reply to a later message has arrived, a duplicate of the queued one would have too.
    marker = user.tap("/cancel", "إلغاء")
    assert marker and not [m for m in marker if m in turn], "and only once"
    assert [e["text"] for e in user_events(system, user.sender_id)] == ["مرحبا", "عندي شكوى", "/cancel"]
