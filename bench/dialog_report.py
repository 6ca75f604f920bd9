"""Conversation-level benchmark: scripted citizens, typed the way people type, through the real
channels, counted by what the case store filed.

Each conversation in bench/dialogs/*.yml (written blind to nlu_data/ and tests/nlu/) has an
opening message and a free-text answer for every question the bot might ask, keyed by the slot
the form requests. The driver sends the opening through the conversation's channel (Rasa's REST
channel, SMS as a Twilio-signed form post, Messenger as a Meta-signed webhook), then after every
turn reads the tracker to see which slot is being asked and answers from the script. When an
answer is not understood (the same slot is asked again, or the conversation falls out of the
form) it counts as a free-text failure and the person presses a button instead, at most
RESCUES times. At the end the case store says what was filed.

    python bench/dialog_report.py                 # start the system, run everything, print a table
    python bench/dialog_report.py --json          # figures for machines
    python bench/dialog_report.py --variety arabizi --only arabizi-07 --show-misses
    python bench/dialog_report.py --rasa-url http://127.0.0.1:5005 ...   # attach to a running system

Message texts of failing conversations are printed only with --show-misses, so the set can stay
unseen by whoever improves the bot next. Never part of the pass/fail suite.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DIALOGS = ROOT / "bench" / "dialogs"
CATALOGUE = ROOT / "case_store" / "data" / "catalogue.yml"

VARIETIES = ("msa", "dialect", "arabizi", "english")
CHANNELS = ("rest", "sms", "messenger")
TYPES = ("inquiry", "suggestion", "compliment", "complaint", "report")
OUTCOMES = ("filed", "status", "rated", "reopened", "cancelled")
FORM_SLOTS = ("sector", "entity_id", "pillar", "importance", "description", "contact_phone", "confirmed", "edit_field")
REFERENCE_SLOTS = ("status_reference", "status_proof", "rating_reference", "rating_score", "rating_resolved", "rating_comment")
ANSWER_KEYS = FORM_SLOTS + REFERENCE_SLOTS + ("reopen",)
EDITABLE = ("entity_id", "pillar", "importance", "description", "contact_phone")
PILLARS = ("service_quality", "delivery_time", "employee_behaviour", "procedures", "infrastructure")
TYPE_INTENT = {"inquiry": "/ask_government", "suggestion": "/suggest", "compliment": "/compliment",
               "complaint": "/complain", "report": "/report_violation"}
SEED_KEYS = ("type", "entity", "phone", "status", "answer", "language")
OUTCOME_INTENT = {"status": "/check_status", "rated": "/rate_request", "reopened": "/rate_request"}
FORM_OF_TYPE = {t: f"{t}_form" for t in TYPES}

MAX_TURNS = 24
RESCUES = 4
PAGE_ID = "104857600000001"


# --- the scripts -----------------------------------------------------------------------------------

def catalogue() -> tuple[set[str], dict[str, str]]:
    """(entity ids, entity id -> sector id)."""
    data = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    return {e["id"] for e in data["entities"]}, {e["id"]: e["sector"] for e in data["entities"]}


def load_conversations(folder: Path = DIALOGS) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conv in data.get("conversations") or []:
            conv = dict(conv)
            conv["_file"] = path.name
            out.append(conv)
    return out


def _texts(value: Any) -> list[str] | None:
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return list(value)
    return None


def validate(conv: dict[str, Any], entity_ids: set[str]) -> list[str]:
    """What is wrong with one scripted conversation (empty when nothing is)."""
    cid = conv.get("id", "?")
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(f"{cid}: {msg}")

    if not isinstance(conv.get("id"), str) or not conv["id"]:
        bad("missing id")
    if conv.get("variety") not in VARIETIES:
        bad(f"variety must be one of {VARIETIES}")
    if conv.get("channel") not in CHANNELS:
        bad(f"channel must be one of {CHANNELS}")
    if not _texts(conv.get("opening")) or isinstance(conv.get("opening"), list):
        bad("opening must be a non-empty string")
    answers = conv.get("answers") or {}
    if not isinstance(answers, dict):
        bad("answers must be a mapping of slot -> text or list of texts")
        answers = {}
    for key, value in answers.items():
        if key not in ANSWER_KEYS:
            bad(f"unknown answer key {key!r} (known: {ANSWER_KEYS})")
        if not _texts(value):
            bad(f"answer {key!r} must be a non-empty text or list of texts")
    expect = conv.get("expect") or {}
    outcome = expect.get("outcome")
    if outcome not in OUTCOMES:
        bad(f"expect.outcome must be one of {OUTCOMES}")
    if outcome in ("filed", "cancelled"):
        if expect.get("type") not in TYPES:
            bad(f"expect.type must be one of {TYPES}")
        if expect.get("entity") not in entity_ids:
            bad(f"expect.entity {expect.get('entity')!r} is not in the catalogue")
    if outcome == "filed":
        needed = ["sector", "entity_id", "description", "contact_phone", "confirmed"]
        if expect.get("type") == "complaint":
            needed += ["pillar", "importance"]
        for key in needed:
            if key not in answers:
                bad(f"a filing needs an answer for {key!r}")
        if expect.get("pillar") is not None and expect["pillar"] not in PILLARS:
            bad(f"expect.pillar must be one of {PILLARS}")
        if expect.get("importance") is not None and expect["importance"] not in ("normal", "urgent"):
            bad("expect.importance must be normal or urgent")
    if outcome in ("status", "rated", "reopened"):
        from bot.privacy import is_plausible_phone

        seed = conv.get("seed") or {}
        if seed.get("type") not in TYPES or seed.get("entity") not in entity_ids:
            bad("seed needs a known type and a catalogue entity")
        unknown = sorted(str(k) for k in seed if k not in SEED_KEYS)
        if unknown:
            # An unquoted comma in a flow mapping ("answer: Thanks, we will...") makes a key of the rest.
            bad(f"unknown seed keys {unknown} (known: {SEED_KEYS}); quote a value that holds a comma")
        if not isinstance(seed.get("phone"), str) or not seed["phone"].startswith("07"):
            bad("seed.phone must be a Jordanian mobile (07...)")
        elif not is_plausible_phone(seed["phone"]):
            # The case store refuses it (HTTP 400) before the first turn.
            bad(f"seed.phone {seed['phone']} is not an allocated Jordanian mobile (bot.privacy.is_plausible_phone)")
        if "{reference}" not in conv.get("opening", "") + " ".join(
                t for v in answers.values() for t in (_texts(v) or [])):
            bad("a follow-up conversation must mention {reference} somewhere")
        if "status_proof" not in answers:
            bad("a follow-up needs an answer for 'status_proof'")
    if outcome in ("rated", "reopened"):
        if str(expect.get("score")) not in {"1", "2", "3", "4", "5"}:
            bad("expect.score must be 1..5")
        if not isinstance(expect.get("resolved"), bool):
            bad("expect.resolved must be true or false")
        for key in ("rating_score", "rating_resolved", "rating_comment"):
            if key not in answers:
                bad(f"a rating needs an answer for {key!r}")
    if "edit_field" in answers and conv.get("edit") not in EDITABLE:
        bad(f"a correction names the field it changes: edit must be one of {EDITABLE}")
    if outcome == "reopened" and "reopen" not in answers:
        bad("a reopen needs an answer for 'reopen'")
    return problems


# --- talking to the system -------------------------------------------------------------------------

@dataclass
class Target:
    rasa_url: str
    rasa_token: str
    case_store_url: str
    case_store_token: str
    sender_key: str
    twilio_token: str
    twilio_account: str
    twilio_from: str
    public_base_url: str
    messenger_secret: str
    rows: Any  # () -> every request row the case store holds (the admin CLI, as an operator looks)
    recorder: Any = None  # the harness's recorder, when we started the system


def _http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
          timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class Channel:
    """One citizen on one channel: send text, press a button, read the tracker."""

    name = ""

    def __init__(self, target: Target) -> None:
        self.target = target

    @property
    def sender_id(self) -> str:
        raise NotImplementedError

    def say(self, text: str) -> list[str]:
        raise NotImplementedError

    def press(self, index: int, button: dict[str, str]) -> list[str]:
        raise NotImplementedError

    def tracker(self) -> dict[str, Any]:
        status, raw = _http("GET", f"{self.target.rasa_url}/conversations/{self.sender_id}/tracker?token={self.target.rasa_token}")
        if status != 200:
            raise RuntimeError(f"tracker: HTTP {status}")
        return json.loads(raw)


class RestChannel(Channel):
    name = "rest"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._sender = f"bench-{uuid.uuid4().hex[:12]}"

    @property
    def sender_id(self) -> str:
        from bot.privacy import keyed_id

        return keyed_id("rest", self._sender, key=self.target.sender_key.encode())  # what channels/rest.py keys it to

    def _send(self, field: str, text: str) -> list[str]:
        body = json.dumps({"sender": self._sender, field: text}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.target.rasa_token}"}
        status, raw = _http("POST", f"{self.target.rasa_url}/webhooks/rest/webhook", body, headers)
        if status != 200:
            raise RuntimeError(f"rest: HTTP {status}")
        return [m.get("text") or "" for m in json.loads(raw)]

    def say(self, text: str) -> list[str]:
        return self._send("message", text)

    def press(self, index: int, button: dict[str, str]) -> list[str]:
        return self._send("payload", button["payload"])  # the channel takes a typed "/..." as text


class SmsChannel(Channel):
    """Form posts signed as Twilio signs them; replies read from the TwiML answer."""

    name = "sms"
    PATH = "/webhooks/twilio_sms/webhook"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.phone = "+96279" + str(uuid.uuid4().int)[:7]

    @property
    def sender_id(self) -> str:
        from bot.privacy import keyed_id

        return keyed_id("twilio_sms", self.phone, key=self.target.sender_key.encode())

    def say(self, text: str) -> list[str]:
        from twilio.request_validator import RequestValidator

        sid = "SM" + uuid.uuid4().hex
        params = {"ToCountry": "JO", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
                  "Body": text, "FromCountry": "JO", "To": self.target.twilio_from, "NumSegments": "1",
                  "MessageSid": sid, "AccountSid": self.target.twilio_account, "From": self.phone, "ApiVersion": "2010-04-01"}
        url = self.target.public_base_url.rstrip("/") + self.PATH
        signature = RequestValidator(self.target.twilio_token).compute_signature(url, params)
        status, raw = _http("POST", f"{self.target.rasa_url}{self.PATH}", urlencode(params).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
        if status != 200:
            raise RuntimeError(f"sms: HTTP {status}")
        return [m.text or "" for m in ET.fromstring(raw.decode()).iter("Message")]

    def press(self, index: int, button: dict[str, str]) -> list[str]:
        return self.say(str(index + 1))  # SMS shows buttons as a numbered list


class MessengerChannel(Channel):
    """Events signed as Meta signs them; processing is in the background, so wait for the turn
    on the tracker, then read the replies from the recorder standing in for the Graph API."""

    name = "messenger"
    PATH = "/webhooks/messenger/webhook"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.psid = str(uuid.uuid4().int)[:16]
        self.users = 0
        self.seen = 0

    @property
    def sender_id(self) -> str:
        from bot.privacy import keyed_id

        return keyed_id("messenger", self.psid, key=self.target.sender_key.encode())

    def _post(self, text: str, payload: str | None = None) -> list[str]:
        message: dict[str, Any] = {"mid": f"m_{uuid.uuid4().hex}", "text": text}
        if payload:
            message["quick_reply"] = {"payload": payload}
        now = int(time.time() * 1000)
        event = {"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [
            {"sender": {"id": self.psid}, "recipient": {"id": PAGE_ID}, "timestamp": now, "message": message}]}]}
        body = json.dumps(event, ensure_ascii=False).encode()
        sig = "sha256=" + hmac.new(self.target.messenger_secret.encode(), body, hashlib.sha256).hexdigest()
        status, _ = _http("POST", f"{self.target.rasa_url}{self.PATH}", body,
                          {"Content-Type": "application/json", "X-Hub-Signature-256": sig})
        if status != 200:
            raise RuntimeError(f"messenger: HTTP {status}")
        self.users += 1
        self._wait_turn()
        return self._new_replies()

    def _wait_turn(self, timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                events = self.tracker().get("events") or []
            except RuntimeError:
                events = []
            # A typed answer replayed as its button, or an opening replayed as the chosen type, is
            # a user event Rasa rewinds and replaces: count the person's messages, not the events.
            users = sum(1 for e in events if e.get("event") == "user") - sum(1 for e in events if e.get("event") == "rewind")
            if users >= self.users and events and events[-1].get("event") == "action" and events[-1].get("name") == "action_listen":
                time.sleep(0.3)  # the send to the Graph API follows the tracker update
                return
            time.sleep(0.1)
        raise TimeoutError("messenger: the turn did not finish")

    def _new_replies(self) -> list[str]:
        if self.target.recorder is None:
            return []
        mine = [r["json"]["message"].get("text") or "" for r in self.target.recorder.snapshot()
                if r["path"].endswith("/me/messages") and (r["json"] or {}).get("recipient", {}).get("id") == self.psid
                and "message" in (r["json"] or {})]
        new, self.seen = mine[self.seen:], len(mine)
        return new

    def say(self, text: str) -> list[str]:
        return self._post(text)

    def press(self, index: int, button: dict[str, str]) -> list[str]:
        return self._post(button["title"], button["payload"])


CHANNEL_CLASSES: dict[str, type[Channel]] = {"rest": RestChannel, "sms": SmsChannel, "messenger": MessengerChannel}


# --- seeding requests for follow-ups ----------------------------------------------------------------

def _case_store(target: Target, method: str, path: str, body: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {target.case_store_token}", **(extra or {})}
    status, raw = _http(method, f"{target.case_store_url}{path}", json.dumps(body).encode(), headers)
    if status not in (200, 201):
        raise RuntimeError(f"case store {path}: HTTP {status}")
    return json.loads(raw)


def seed_request(target: Target, seed: dict[str, Any], sector_of: dict[str, str]) -> str:
    """A request filed earlier by someone else's device (proof is the phone's last 4 digits), moved
    to the status the follow-up needs."""
    created = _case_store(target, "POST", "/v1/requests", {
        "type": seed["type"], "sector": sector_of[seed["entity"]], "entity": seed["entity"],
        "pillar": "service_quality" if seed["type"] == "complaint" else None,
        "importance": "normal" if seed["type"] == "complaint" else None,
        "description": "Seeded by bench/dialog_report.py for a follow-up conversation.",
        "language": seed.get("language", "ar"), "channel": "web", "requester_id": f"bench-seed-{uuid.uuid4().hex[:12]}",
        "contact_phone": seed["phone"], **({"anonymous": False} if seed["type"] == "report" else {}),
    }, {"Idempotency-Key": uuid.uuid4().hex})
    reference = created.get("reference") or created["request"]["reference"]
    status = seed.get("status", "submitted")
    if status in ("in_progress", "answered", "closed"):
        _case_store(target, "POST", f"/v1/requests/{reference}/status", {"status": "in_progress", "actor": "bench"})
    if status in ("answered", "closed"):
        _case_store(target, "POST", f"/v1/requests/{reference}/status",
                    {"status": "answered", "actor": "bench", "answer": seed.get("answer", "Done.")})
    return str(reference)


# --- driving one conversation ----------------------------------------------------------------------

@dataclass
class Result:
    id: str
    variety: str
    channel: str
    outcome: str
    completed: bool = False
    filed_type: str | None = None
    filed_entity: str | None = None
    filed_pillar: str | None = None
    type_ok: bool = False
    entity_ok: bool = False
    pillar_ok: bool | None = None
    outcome_ok: bool = False
    turns: int = 0
    turns_to_reference: int | None = None
    understood: int = 0
    failed: int = 0
    failure_classes: list[str] = field(default_factory=list)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    decided_by: Counter[str] = field(default_factory=Counter)  # policy -> actions it chose
    learned_chose: Counter[str] = field(default_factory=Counter)  # action -> times a policy other than the rules chose it

    @property
    def correct(self) -> bool:
        return self.outcome_ok if self.outcome != "filed" else (self.type_ok and self.entity_ok)

    @property
    def clean(self) -> bool:
        return self.correct and self.failed == 0


def _since_last_user(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") == "user":
            return events[i + 1:]
    return events


def _receipt_reference(transcript: list[tuple[str, str]]) -> str | None:
    """The valid reference in the bot's replies of the last turn, if any."""
    from bot import refcode

    last: list[str] = []
    for who, text in transcript:
        last = [] if who == "user" else last + [text]
    found = [c for t in last for c in refcode.find_candidates(t) if refcode.is_valid_digits(c)]
    return found[-1] if found else None


def _uttered(events: list[dict[str, Any]]) -> list[str]:
    return [(e.get("metadata") or {}).get("utter_action") or "" for e in _since_last_user(events) if e.get("event") == "bot"]


def _buttons(events: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every button of the bot's last turn, in order: SMS numbers two lists of one turn as one."""
    found: list[dict[str, str]] = []
    for e in _since_last_user(events):
        if e.get("event") == "bot" and (e.get("data") or {}).get("buttons"):
            found = [*found, *e["data"]["buttons"]]
    return found


def _bot_texts(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("text") or "" for e in _since_last_user(events) if e.get("event") == "bot"]


def _intended_button(key: str | None, buttons: list[dict[str, str]], conv: dict[str, Any], sector_of: dict[str, str],
                     pointer: dict[str, int], policy: str) -> int | None:
    """The button a person with this aim presses when their typed answer was not understood;
    None when nothing on offer fits a person who is past filing (they give up)."""
    if policy == "first" or not buttons:
        return 0
    expect = conv["expect"]
    wanted: list[str] = []
    if key is None:
        wanted = [TYPE_INTENT.get(expect.get("type", ""), ""), OUTCOME_INTENT.get(expect["outcome"], "")]
        if expect.get("type") == "report":
            # The type question offers the report intent the NLU ranked higher: either will do.
            both = ["/report_human_rights", "/report_violation"]
            wanted = (both if expect.get("entity") == "nchr" else both[::-1]) + wanted[1:]
        if expect["outcome"] == "cancelled":
            wanted = ["/cancel"]
    elif key == "sector" and expect.get("entity"):
        wanted = [f'"entity_name": "{expect["entity"]}"', f'"sector": "{sector_of.get(expect["entity"], "")}"']
    elif key == "entity_id" and expect.get("entity"):
        wanted = [f'"entity_name": "{expect["entity"]}"']
    elif key == "pillar" and expect.get("pillar"):
        wanted = [f'"pillar": "{expect["pillar"]}"']
    elif key == "importance":
        wanted = [f'"urgency": "{expect.get("importance", "normal")}"']
    elif key == "confirmed":
        # A correction script says "no" first: the person then wants "Change", not "Send".
        more = pointer.get("confirmed", 0) < len(_texts((conv.get("answers") or {}).get("confirmed")) or [])
        wanted = ["/deny" if more else "/affirm"]
    elif key == "edit_field" and conv.get("edit"):
        wanted = [f'"field": "{conv["edit"]}"']
    elif key in ("contact_phone", "rating_comment"):
        wanted = ["/deny"]
    elif key == "rating_score":
        wanted = [f'"rating": "{expect.get("score")}"']
    elif key == "rating_resolved":
        wanted = ["/affirm" if expect.get("resolved") else "/deny"]
    elif key == "reopen":
        wanted = ["/reopen"]
    elif key == "offer:rate":
        wanted = ["/rate_request"]
    for w in wanted:
        for i, b in enumerate(buttons):
            if w and (b["payload"] == w or (w.startswith('"') and w in b["payload"])):
                return i
    if key in (None, "reopen", "offer:rate") and expect["outcome"] != "filed":
        return None  # a person following up does not start a new request instead
    return 0


def run_conversation(conv: dict[str, Any], target: Target, sector_of: dict[str, str], policy: str) -> Result:
    expect = conv["expect"]
    res = Result(conv["id"], conv["variety"], conv["channel"], expect["outcome"])
    reference = seed_request(target, conv["seed"], sector_of) if conv.get("seed") else None
    fill = (lambda s: s.replace("{reference}", reference)) if reference else (lambda s: s)
    answers = {k: [fill(t) for t in (_texts(v) or [])] for k, v in (conv.get("answers") or {}).items()}
    pointer: Counter[str] = Counter()
    chan = CHANNEL_CLASSES[conv["channel"]](target)

    def send(text: str, button: tuple[int, dict[str, str]] | None = None) -> None:
        replies = chan.press(*button) if button else chan.say(text)
        res.transcript.append(("user", button[1]["title"] + " [button]" if button else text))
        res.transcript.extend(("bot", r) for r in replies)
        res.turns += 1

    last_reference = None
    send(fill(conv["opening"]))
    last_key: str | None = "opening"
    rescues = 0
    form_seen = False
    asked: set[str] = set()
    editing = False  # after the person asked to change a field, the corrected answers (last items) apply
    while True:
        tr = chan.tracker()
        events, slots = tr.get("events") or [], tr.get("slots") or {}
        uttered = _uttered(events)
        loop = (tr.get("active_loop") or {}).get("name")
        form_seen = form_seen or bool(loop)
        # --- terminal states
        # A report's receipt is scrubbed from the tracker as it is filed (bot/confidential.py): its
        # slots are null and its text a placeholder, so its reference is read from what the person got.
        report_ref = _receipt_reference(res.transcript) if "utter_submitted_report" in uttered else None
        if report_ref:
            slots = {**slots, "last_reference": report_ref}
        done = (
            (res.outcome == "filed" and slots.get("last_reference") and slots.get("last_reference") != last_reference)
            or (res.outcome == "status" and "utter_status" in uttered)
            or (res.outcome == "cancelled" and "utter_cancelled" in uttered)
            or (res.outcome == "rated" and "utter_rating_thanks" in uttered)
            or (res.outcome == "reopened" and "utter_reopened" in uttered)
        )
        if done:
            res.completed = True
            if last_key != "rescue":
                res.understood += 1  # the answer that finished it was understood
            if res.outcome == "filed":
                reference = slots["last_reference"]
                res.turns_to_reference = res.turns
            res.outcome_ok = res.outcome == "status"
            break
        if "utter_not_ratable" in uttered or "utter_status_not_found" in uttered or "utter_reopen_failed" in uttered:
            res.failure_classes.append("followup_refused")
        if res.turns >= MAX_TURNS:
            res.failure_classes.append("turn_limit")
            break
        # --- what is being asked
        key: str | None = slots.get("requested_slot") if loop else None
        if key is None and slots.get("reopen_offered") and "reopen" in answers:
            key = "reopen"
        understood_last = key is not None and key != last_key
        if key is None and "utter_status" in uttered and res.outcome in ("rated", "reopened"):
            # The request was shown and a rating offered: pressing "Rate" is what the bot asks for.
            understood_last, key = last_key != "opening", "offer:rate"
        if key is not None:
            asked.add(key)
        if loop and last_key == "opening":
            want = (FORM_OF_TYPE.get(expect.get("type", "")) if res.outcome in ("filed", "cancelled")
                    else "status_form" if res.outcome == "status" else "rating_form")
            if loop != want:
                res.failure_classes.append(f"opening_wrong_form:{loop}")
                understood_last = False
        if last_key is not None and last_key != "rescue":
            if understood_last:
                res.understood += 1
            else:
                res.failed += 1
                if last_key == "opening":
                    if "utter_ask_request_type" in uttered:
                        res.failure_classes.append("opening_type_asked")  # the NLU could not tell the type
                    elif not loop:
                        res.failure_classes.append("opening_not_understood")
                else:
                    res.failure_classes.append(f"not_understood:{last_key}" if key == last_key else f"fell_out:{last_key}")
        if key is None or key == last_key or key not in answers:
            if key is not None and key not in answers and key != last_key and not key.startswith("offer:"):
                res.failure_classes.append(f"unscripted:{key}")
            buttons = _buttons(events)
            remaining = answers.get(key or "", [])[pointer[key or ""]:] if key else []
            if not buttons and remaining:
                text = remaining[0]
                pointer[key or ""] += 1
                send(text)
                last_key = key
                continue
            i = _intended_button(key, buttons, conv, sector_of, dict(pointer), policy) if buttons else None
            if i is None or rescues >= RESCUES:
                res.failure_classes.append("stuck")
                break
            rescues += 1
            send("", (i, buttons[i]))
            last_key = "rescue"
            continue
        texts = answers[key]
        editing = editing or key == "edit_field"
        corrected = editing and key in (conv.get("edit"), "confirmed")
        text = texts[-1] if corrected else texts[min(pointer[key], len(texts) - 1)]
        pointer[key] += 1
        send(text)
        last_key = key

    _count_policies(res, events)  # the tracker as the loop last read it: nothing was sent after

    # --- what the case store holds
    if res.outcome == "filed" and res.completed and reference:
        rows = [r for r in case_store_rows(target) if r.get("reference") == reference]
        if rows:
            row = rows[0]
            res.filed_type, res.filed_entity, res.filed_pillar = row.get("type"), (row.get("entity") or {}).get("id"), row.get("pillar")
            res.type_ok = res.filed_type == expect["type"]
            res.entity_ok = res.filed_entity == expect["entity"]
            if expect.get("pillar") and res.type_ok:
                res.pillar_ok = res.filed_pillar == expect["pillar"]
            res.outcome_ok = res.type_ok and res.entity_ok
            if not res.type_ok:
                res.failure_classes.append(f"type:{expect['type']}->{res.filed_type}")
            if not res.entity_ok:
                same = sector_of.get(res.filed_entity or "") == sector_of.get(expect["entity"])
                res.failure_classes.append("entity_wrong_same_sector" if same else "entity_wrong_other_sector")
                if "entity_id" not in asked:
                    res.failure_classes.append("entity_decided_without_asking")
            if res.pillar_ok is False:
                res.failure_classes.append("pillar_wrong")
            replies_seen = conv["channel"] != "messenger" or target.recorder is not None
            if replies_seen and not any(reference in t.replace(" ", "") for who, t in res.transcript if who == "bot"):
                res.failure_classes.append("reference_not_shown")
        else:
            res.failure_classes.append("not_in_case_store")
    elif res.outcome == "cancelled":
        res.outcome_ok = res.completed and slots.get("last_reference") in (None, last_reference)
    elif res.outcome in ("rated", "reopened") and res.completed and reference:
        rows = [r for r in case_store_rows(target) if r.get("reference") == reference]
        rating = (rows[0].get("rating") or {}) if rows else {}
        res.outcome_ok = (str(rating.get("score")) == str(expect["score"]) and rating.get("resolved") is expect["resolved"]
                          and (res.outcome != "reopened" or rows[0].get("status") == "reopened"))
        if not res.outcome_ok:
            res.failure_classes.append("rating_recorded_wrong")
    if not res.completed and res.outcome == "filed" and not form_seen:
        res.failure_classes.append("never_reached_a_form")
    return res


def _count_policies(res: Result, events: list[dict[str, Any]]) -> None:
    """Which policy chose each action of the conversation (issue 14: do the rules and forms decide
    every step, so that a learned policy such as TEDPolicy buys nothing?). Actions a form or a
    follow-up ran carry no policy ("none")."""
    for e in events:
        if e.get("event") != "action" or e.get("name") == "action_listen":
            continue
        policy = e.get("policy") or "none"
        name = policy.split("_", 2)[-1] if policy.startswith("policy_") else policy
        res.decided_by[name] += 1
        if name not in ("RulePolicy", "none"):
            res.learned_chose[e.get("name") or "?"] += 1


def case_store_rows(target: Target) -> list[dict[str, Any]]:
    return list(target.rows())


# --- the report ------------------------------------------------------------------------------------

def summarise(results: list[Result]) -> dict[str, Any]:
    def block(rs: list[Result]) -> dict[str, Any]:
        filings = [r for r in rs if r.outcome == "filed"]
        follow = [r for r in rs if r.outcome != "filed"]
        turns = [r.turns_to_reference for r in filings if r.turns_to_reference is not None]
        pillars = [r for r in filings if r.pillar_ok is not None]
        return {
            "conversations": len(rs),
            "completed": sum(r.completed for r in rs),
            "filings": len(filings),
            "filed": sum(r.completed for r in filings),
            "right_type": sum(r.type_ok for r in filings),
            "right_entity": sum(r.entity_ok for r in filings),
            "filed_correctly": sum(r.correct for r in filings),
            "filed_correctly_clean": sum(r.clean for r in filings),
            "right_pillar": f"{sum(bool(r.pillar_ok) for r in pillars)}/{len(pillars)}",
            "followups": len(follow),
            "followups_right": sum(r.correct for r in follow),
            "answers_understood": sum(r.understood for r in rs),
            "answers_failed": sum(r.failed for r in rs),
            "median_turns_to_reference": statistics.median(turns) if turns else None,
            "errors": sum(1 for r in rs if r.error),
        }

    out = {v: block([r for r in results if r.variety == v]) for v in VARIETIES if any(r.variety == v for r in results)}
    out["all"] = block(results)
    out["by_channel"] = {c: block([r for r in results if r.channel == c]) for c in CHANNELS if any(r.channel == c for r in results)}
    out["decided_by"] = dict(sum((r.decided_by for r in results), Counter()).most_common())
    out["learned_chose"] = dict(sum((r.learned_chose for r in results), Counter()).most_common())
    out["learned_conversations"] = sum(1 for r in results if r.learned_chose)
    out["failure_classes"] = dict(Counter(c.split(":")[0] if c.startswith(("opening_wrong_form",)) else c
                                          for r in results for c in r.failure_classes).most_common())
    return out


def print_table(summary: dict[str, Any]) -> None:
    cols = [v for v in (*VARIETIES, "all") if v in summary]
    rows = [
        ("conversations", "conversations"), ("completed", "completed"), ("filings", "filings scripted"),
        ("filed", "filed (got a reference)"), ("right_type", "right type"), ("right_entity", "right entity"),
        ("filed_correctly", "filed correctly (type+entity)"), ("filed_correctly_clean", "  ... with no free-text failure"),
        ("right_pillar", "right pillar (where scripted)"), ("followups", "follow-ups (status/rate/reopen/cancel)"),
        ("followups_right", "follow-ups right"), ("answers_understood", "free-text answers understood"),
        ("answers_failed", "free-text answers failed"), ("median_turns_to_reference", "median turns to a reference"),
        ("errors", "errors (driver)"),
    ]
    width = 40
    print("".ljust(width) + "".join(c.rjust(10) for c in cols))
    for key, label in rows:
        print(label.ljust(width) + "".join(str(summary[c][key] if summary[c][key] is not None else "-").rjust(10) for c in cols))
    print("\nby channel (filed correctly / filings):",
          ", ".join(f"{c} {b['filed_correctly']}/{b['filings']}" for c, b in summary["by_channel"].items()))
    print("actions (other than listening) by the policy that chose them:",
          ", ".join(f"{p} {n}" for p, n in summary["decided_by"].items()))
    if summary["learned_chose"]:
        print(f"  a policy other than the rules decided in {summary['learned_conversations']} conversations:",
              ", ".join(f"{a} {n}" for a, n in summary["learned_chose"].items()))
    print("failure classes (counts):")
    for name, n in summary["failure_classes"].items():
        print(f"  {n:4d}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--json-out", type=Path, help="also write the JSON figures to this file")
    parser.add_argument("--only", action="append", help="run only this conversation id (repeatable)")
    parser.add_argument("--variety", choices=VARIETIES, action="append")
    parser.add_argument("--channel", choices=CHANNELS, action="append")
    parser.add_argument("--show-misses", action="store_true", help="print the transcripts of conversations that went wrong")
    parser.add_argument("--rescue", choices=("intended", "first"), default="intended",
                        help="which button a person presses after a failed answer: the one matching their aim (default) or the first")
    parser.add_argument("--rasa-url", help="attach to a running system instead of starting one (with the variables below)")
    parser.add_argument("--env-file", type=Path, help="with --rasa-url: KEY=VALUE lines (RASA_TOKEN, CASE_STORE_URL, "
                        "CASE_STORE_TOKEN, SENDER_ID_KEY, TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID, TWILIO_SMS_FROM, "
                        "PUBLIC_BASE_URL, MESSENGER_APP_SECRET, and for the case-store CLI CASE_STORE_DATABASE_URL and "
                        "CASE_STORE_ENCRYPTION_KEY); else taken from the environment / bot.settings. Messenger replies "
                        "are not seen in this mode (no recorder), so 'reference shown' is not checked there")
    args = parser.parse_args(argv)

    entity_ids, sector_of = catalogue()
    convs = load_conversations()
    problems = [p for c in convs for p in validate(c, entity_ids)]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    if args.only:
        convs = [c for c in convs if c["id"] in args.only]
    if args.variety:
        convs = [c for c in convs if c["variety"] in args.variety]
    if args.channel:
        convs = [c for c in convs if c["channel"] in args.channel]

    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    running = None
    if args.rasa_url:
        env = dict(os.environ)
        if args.env_file:
            for line in args.env_file.read_text().splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    k, v = line.split("=", 1)
                    env[k.strip()] = v.strip()
        from bot.settings import get_settings

        settings = get_settings()
        def cli_rows() -> list[dict[str, Any]]:
            import subprocess

            out = subprocess.run([sys.executable, "-m", "case_store", "list", "--json", "--limit", "1000"],
                                 cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60)
            return json.loads(out.stdout or "[]")

        target = Target(
            rasa_url=args.rasa_url.rstrip("/"), rasa_token=env.get("RASA_TOKEN", ""),
            case_store_url=env.get("CASE_STORE_URL", settings.case_store_url),
            case_store_token=env.get("CASE_STORE_TOKEN", settings.case_store_token),
            sender_key=env.get("SENDER_ID_KEY", settings.sender_id_key.decode()),
            twilio_token=env.get("TWILIO_AUTH_TOKEN", ""), twilio_account=env.get("TWILIO_ACCOUNT_SID", "AC" + "0" * 32),
            twilio_from=env.get("TWILIO_SMS_FROM", "+96265008080"),
            public_base_url=env.get("PUBLIC_BASE_URL", args.rasa_url), messenger_secret=env.get("MESSENGER_APP_SECRET", ""),
            rows=cli_rows,
        )
    else:
        from tests.e2e.harness import TIMED, start_system

        started = time.monotonic()
        running = start_system(TIMED)
        print(f"system started in {time.monotonic() - started:.0f} s", file=sys.stderr)
        e = running.env
        target = Target(
            rasa_url=running.rasa_url, rasa_token=e["RASA_TOKEN"], case_store_url=running.case_store_url,
            case_store_token=e["CASE_STORE_TOKEN"], sender_key=e["SENDER_ID_KEY"], twilio_token=e["TWILIO_AUTH_TOKEN"],
            twilio_account=e["TWILIO_ACCOUNT_SID"], twilio_from=e["TWILIO_SMS_FROM"], public_base_url=e["PUBLIC_BASE_URL"],
            messenger_secret=e["MESSENGER_APP_SECRET"], rows=running.case_store_requests, recorder=running.recorder,
        )
    results: list[Result] = []
    started = time.monotonic()
    try:
        for conv in convs:
            try:
                result = run_conversation(conv, target, sector_of, args.rescue)
            except Exception as err:  # a driver or transport problem: count it, keep going
                result = Result(conv["id"], conv["variety"], conv["channel"], conv["expect"]["outcome"],
                                error=type(err).__name__, failure_classes=[f"driver_error:{type(err).__name__}"])
            results.append(result)
            if not args.json:
                mark = "ok " if result.clean else ("ok*" if result.correct else "MISS")
                print(f"{mark:4} {result.id:16} {result.variety:8} {result.channel:9} turns={result.turns:2d} "
                      f"failed={result.failed} {','.join(result.failure_classes) if args.show_misses else ''}", file=sys.stderr)
    finally:
        if running is not None:
            running.stop()
    summary = summarise(results)
    summary["machine"] = f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    summary["seconds"] = round(time.monotonic() - started)
    summary["rescue_policy"] = args.rescue
    if args.json or args.json_out:
        summary["conversations"] = [{"id": r.id, "variety": r.variety, "channel": r.channel, "outcome": r.outcome,
                                     "completed": r.completed, "correct": r.correct, "clean": r.clean, "turns": r.turns,
                                     "understood": r.understood, "failed": r.failed, "filed_type": r.filed_type,
                                     "filed_entity": r.filed_entity, "failure_classes": r.failure_classes}
                                    for r in results]
        if args.json_out:
            args.json_out.write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print_table(summary)
        print(f"\n{len(results)} conversations in {summary['seconds']} s on {summary['machine']}; rescue policy: {args.rescue}")
    if args.show_misses:
        for r in results:
            if not r.clean:
                print(f"\n=== {r.id} ({r.variety}, {r.channel}): {', '.join(r.failure_classes) or 'no class'}")
                for who, text in r.transcript:
                    print(f"  {who}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
