"""A report of corruption stays confidential end to end, on every channel.

Each test files a report whose narrative carries a unique canary word (ASCII, so neither the
log redaction nor JSON escaping can hide a leak), then reads every byte the system keeps in its
var/ directory: the tracker store, channel state and agent console databases (with their -wal
and -journal files), every process's log, and the case store's database. The canary, the PIN
and the reference must appear nowhere, except that the case store keeps the reference (its key)
and the narrative inside its encrypted column, which the test opens with the PIN (the API) and
the store's key (the narrative), so the report provably arrived.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import sqlite3
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.refcode import find_candidates, format_grouped, is_valid_digits
from case_store.service import field_cipher
from tests.e2e.harness import RunningSystem, rest_sender_id, rest_turn, start_system
from tests.e2e.test_messenger_e2e import MessengerUser
from tests.e2e.test_sms_e2e import SmsUser
from tests.e2e.test_voice_e2e import Caller, references, spoken

ROOT = Path(__file__).resolve().parents[2]
NARRATIVE_AR = "مدير القسم بمديرية الأراضي بياخذ رشوة من المراجعين عشان يمشي المعاملات بسرعة واسمه {canary}"
NARRATIVE_EN = "The head of the licensing section takes bribes from citizens to speed up their files, his name is {canary}"
OPENING_AR = "بدي ابلغ عن فساد"
CONSOLE_API = "/webhooks/agent_console/api"
PASSWORD = "correct horse battery"


def new_canary() -> str:
    return "kanari" + "".join(random.choice(string.ascii_lowercase) for _ in range(12))


class Receipt:
    def __init__(self, text: str) -> None:
        refs = [c for c in find_candidates(text) if is_valid_digits(c)]
        assert refs, f"no reference in {text!r}"
        self.reference = refs[0]
        rest = text.replace(format_grouped(self.reference), " ").replace(self.reference, " ")
        pins = re.findall(r"(?<!\d)\d{6}(?!\d)", rest)
        assert pins, f"no PIN in {text!r}"
        self.pin = pins[0]


# --- what must not be anywhere ------------------------------------------------------------------


def _needles(canary: str, receipt: Receipt, with_reference: bool) -> dict[str, re.Pattern[bytes]]:
    out = {
        "canary": re.compile(re.escape(canary.encode())),
        "pin": re.compile(rb"(?<!\d)" + receipt.pin.encode() + rb"(?!\d)"),
    }
    if with_reference:
        out["reference"] = re.compile(rb"(?<!\d)" + receipt.reference.encode() + rb"(?!\d)")
        out["grouped reference"] = re.compile(re.escape(format_grouped(receipt.reference).encode()))
    return out


def leaks(var_dir: Path, canary: str, receipt: Receipt | None) -> list[str]:
    """Every (file, what) where a secret of this report is readable in plain bytes."""
    found = []
    for path in sorted(p for p in var_dir.rglob("*") if p.is_file()):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue  # a WAL or its index removed as its database's last connection closed
        # The case store keeps the reference as its key; anything else of the report only encrypted.
        in_case_store = path.name.startswith("case_store.db")
        needles = _needles(canary, receipt, with_reference=not in_case_store) if receipt else {"canary": re.compile(re.escape(canary.encode()))}
        for what, pattern in needles.items():
            if pattern.search(raw):
                found.append(f"{path.relative_to(var_dir)}: {what}")
    return found


def stored_row(path: Path, reference: str) -> tuple[Any, ...] | None:
    """The request's row read from the case store's SQLite file by a connection of our own, closed
    after each try (an open read keeps a snapshot); a few tries, as the file is another process's."""
    for _ in range(50):
        with contextlib.closing(sqlite3.connect(path)) as db:
            row = db.execute("SELECT description, description_encrypted, requester_id FROM requests WHERE reference = ?",
                             (reference,)).fetchall()
        if row:
            return tuple(row[0])
        time.sleep(0.1)
    return None


def assert_filed_and_sealed(system: RunningSystem, canary: str, receipt: Receipt, channel: str) -> None:
    headers = {"Authorization": f"Bearer {system.case_store_token}", "X-Verify-Pin": receipt.pin}
    r = requests.get(f"{system.case_store_url}/v1/requests/{receipt.reference}", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "report" and body["confidential"] and body["channel"] == channel
    assert "description" not in body
    row = stored_row(system.var_dir / "case_store.db", receipt.reference)
    assert row is not None, "the request the API shows is in the case store's file"
    cipher = field_cipher(system.env["CASE_STORE_ENCRYPTION_KEY"].encode())
    assert row[1] and canary in (cipher.decrypt(row[0]) or ""), "the narrative reached the case store, encrypted"
    if body["anonymous"]:
        assert row[2].startswith("anon_")
    assert leaks(system.var_dir, canary, receipt) == []


# --- one form, four chat channels ---------------------------------------------------------------


def offered(system: RunningSystem, sender: str) -> list[dict[str, str]]:
    """The buttons of the bot's last turn, from the tracker (readable while the report is open)."""
    buttons: list[dict[str, str]] = []
    for e in system.tracker(sender).get("events", []):
        if e.get("event") == "user":
            buttons = []
        elif e.get("event") == "bot" and (e.get("data") or {}).get("buttons"):
            buttons = e["data"]["buttons"]
    return buttons


def fill_report(system: RunningSystem, sender: str, say: Callable[[str], str], press: Callable[[dict[str, str]], str],
                narrative: str) -> Receipt:
    """Answer what the report form asks, anonymously, until the receipt arrives."""
    reply = say(OPENING_AR)
    for _ in range(14):
        slots = system.tracker(sender)["slots"]
        asked = slots.get("requested_slot")
        if asked is None and slots.get("request_type") is None:
            return Receipt(reply)
        wanted = {"sector": '"sector"', "entity_id": '"entity_name"', "contact_phone": "/deny", "confirmed": "/affirm",
                  "edit_field": None, "description": None}.get(asked or "", "")
        if asked == "description":
            reply = say(narrative)
            continue
        buttons = [b for b in offered(system, sender) if wanted and wanted in b["payload"]]
        assert buttons, f"asked {asked!r}, no button for it: {reply!r}"
        reply = press(buttons[0])
    raise AssertionError(f"the report was never filed; last answer: {reply!r}")


def test_a_report_over_rest_leaves_no_trace(system: RunningSystem) -> None:
    canary, sender = new_canary(), f"rest-{uuid.uuid4().hex[:8]}"

    def say(text: str) -> str:
        return "\n".join(m.get("text") or "" for m in rest_turn(system, sender, text))

    def press(button: dict[str, str]) -> str:
        return "\n".join(m.get("text") or "" for m in rest_turn(system, sender, button["payload"], button=True))

    receipt = fill_report(system, rest_sender_id(system, sender), say, press, NARRATIVE_AR.format(canary=canary))
    assert_filed_and_sealed(system, canary, receipt, "web")


def test_a_report_over_sms_leaves_no_trace(system: RunningSystem) -> None:
    canary, user = new_canary(), SmsUser(system)

    def press(button: dict[str, str]) -> str:
        return user.say(str(offered(system, user.sender_id).index(button) + 1))

    receipt = fill_report(system, user.sender_id, user.say, press, NARRATIVE_AR.format(canary=canary))
    assert_filed_and_sealed(system, canary, receipt, "sms")


def test_a_report_over_messenger_leaves_no_trace(system: RunningSystem) -> None:
    canary, user = new_canary(), MessengerUser(system)

    def text(messages: list[dict[str, Any]]) -> str:
        return "\n".join(m.get("text") or "" for m in messages)

    receipt = fill_report(system, user.sender_id, lambda t: text(user.say(t)),
                          lambda b: text(user.tap(b["payload"], b["title"])), NARRATIVE_AR.format(canary=canary))
    assert_filed_and_sealed(system, canary, receipt, "messenger")


# --- the IVR: speech for the narrative, the keypad for everything else --------------------------


def test_a_report_by_phone_leaves_no_trace(system: RunningSystem) -> None:
    canary, caller = new_canary(), Caller(system)
    caller.send()
    main = spoken(caller.send(Digits="2"))  # English
    m = re.search(r"To report a violation, press (\d)", main)
    assert m, main
    twiml = caller.send(Digits=m.group(1))
    narrative = NARRATIVE_EN.format(canary=canary)
    said = False
    for _ in range(25):
        digits = [r for r in references(twiml) if is_valid_digits(r)]
        if digits:
            break
        assert "<Record" not in twiml, "the spoken narrative was not recognised"
        gather = re.search(r"<Gather[^>]*>", twiml)
        assert gather, twiml
        if 'numDigits="1"' in gather.group(0):
            twiml = caller.send(Digits="1")  # the first option: a sector, a body, anonymous, "yes, send"
        else:
            twiml = caller.send(SpeechResult=narrative, Confidence="0.93")
            said = True
    assert said and digits, spoken(twiml)
    receipt = Receipt(format_grouped(digits[0]) + " " + " ".join(references(twiml)) + " " + spoken(twiml))
    assert_filed_and_sealed(system, canary, receipt, "voice")


# --- the contact center: an agent files a report for a caller ----------------------------------


def test_a_report_entered_by_an_agent_leaves_no_trace(system: RunningSystem) -> None:
    canary = new_canary()
    username = "conf" + uuid.uuid4().hex[:8]
    subprocess.run([sys.executable, "-m", "channels.agents", "create", username, "--name", "Amal Haddad", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, env=system.env, cwd=ROOT, check=True, timeout=60)
    web = requests.Session()
    r = web.post(f"{system.rasa_url}{CONSOLE_API}/login", json={"username": username, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf_token"]
    token = web.get(f"{system.rasa_url}{CONSOLE_API}/form_token", timeout=10).json()["form_token"]
    body = {"form_token": token, "caller_phone": "079 123 4567", "caller_language": "ar",
            "type": "report", "sector": "health", "entity": "moh", "description": NARRATIVE_AR.format(canary=canary)}
    r = web.post(f"{system.rasa_url}{CONSOLE_API}/requests", json=body, headers={"X-CSRF-Token": csrf}, timeout=20)
    assert r.status_code in (200, 201), r.text
    out = r.json()
    assert out["sms"] == "skipped_anonymous" and out.get("pin"), out
    receipt = Receipt(f"{out['reference']} {out['pin']}")
    assert_filed_and_sealed(system, canary, receipt, "contact_center")


def test_a_reporter_who_asks_for_a_person_hands_over_no_narrative(system: RunningSystem) -> None:
    """Mid-report, "I want to talk to a person": the handoff queue gets no narrative, and the
    abandoned report is scrubbed from the tracker."""
    canary, user = new_canary(), MessengerUser(system)
    user.say(OPENING_AR)
    for _ in range(6):
        asked = system.tracker(user.sender_id)["slots"].get("requested_slot")
        if asked == "description":
            break
        wanted = {"sector": '"sector"', "entity_id": '"entity_name"'}.get(asked or "")
        assert wanted, f"unexpected question {asked!r}"
        button = next(b for b in offered(system, user.sender_id) if wanted in b["payload"])
        user.tap(button["payload"], button["title"])
    user.say(NARRATIVE_AR.format(canary=canary))
    assert system.tracker(user.sender_id)["slots"]["description"], "the narrative is readable while the report is open"
    user.say("بدي احكي مع موظف")
    deadline = time.monotonic() + 20  # the reply can come before the turn is saved: wait for the save
    while not any(e.get("name") == "action_handoff" for e in system.tracker(user.sender_id)["events"]):
        assert time.monotonic() < deadline, "the handoff never reached the tracker"
        time.sleep(0.1)
    assert leaks(system.var_dir, canary, None) == []
    assert not system.tracker(user.sender_id)["slots"].get("description")


# --- PostgreSQL tracker store ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_system(postgres_url: str) -> Any:
    running = start_system(extra_env={"TRACKER_STORE_URL": postgres_url})
    try:
        yield running
    finally:
        running.stop()


def test_a_report_leaves_no_trace_in_a_postgresql_tracker_store(pg_system: RunningSystem, postgres_url: str) -> None:
    import sqlalchemy as sa

    canary, sender = new_canary(), f"rest-{uuid.uuid4().hex[:8]}"

    def say(text: str) -> str:
        return "\n".join(m.get("text") or "" for m in rest_turn(pg_system, sender, text))

    def press(button: dict[str, str]) -> str:
        return "\n".join(m.get("text") or "" for m in rest_turn(pg_system, sender, button["payload"], button=True))

    receipt = fill_report(pg_system, rest_sender_id(pg_system, sender), say, press, NARRATIVE_AR.format(canary=canary))
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as c:
            dump = json.dumps([list(r) for r in c.execute(sa.text("SELECT * FROM events"))], default=str)
    finally:
        engine.dispose()
    assert rest_sender_id(pg_system, sender) in dump
    for what, pattern in _needles(canary, receipt, with_reference=True).items():
        assert not pattern.search(dump.encode()), what
    assert_filed_and_sealed(pg_system, canary, receipt, "web")


# --- the human-rights track: a report preset to the National Centre for Human Rights ------------

GRIEVANCE_AR = "احتجزت الشرطة أخي عشرة أيام دون أي تهمة ومنعته من مقابلة محام، واسمه {canary}"
GRIEVANCE_EN = "They held my brother in the lockup for ten days without charge and never let him see a lawyer, his name is {canary}"
NCHR = "nchr"


def fill_grievance(system: RunningSystem, sender: str, say: Callable[[str], str], press: Callable[[dict[str, str]], str],
                   narrative: str) -> Receipt:
    """The report form after a human-rights opening: it never asks for the sector or the body."""
    reply = ""
    for _ in range(8):
        slots = system.tracker(sender)["slots"]
        asked = slots.get("requested_slot")
        if asked is None and slots.get("request_type") is None:
            return Receipt(reply)
        assert slots.get("request_type") == "report" and slots.get("entity_id") == NCHR, (asked, reply)
        assert asked not in ("sector", "entity_id"), f"the body is preset, yet the form asked {asked!r}"
        if asked == "description":
            reply = say(narrative)
            continue
        wanted = {"contact_phone": "/deny", "confirmed": "/affirm"}.get(asked or "")
        buttons = [b for b in offered(system, sender) if wanted and wanted in b["payload"]]
        assert buttons, f"asked {asked!r}, no button for it: {reply!r}"
        reply = press(buttons[0])
    raise AssertionError(f"the grievance was never filed; last answer: {reply!r}")


def assert_with_the_national_centre(system: RunningSystem, receipt: Receipt) -> None:
    headers = {"Authorization": f"Bearer {system.case_store_token}", "X-Verify-Pin": receipt.pin}
    body = requests.get(f"{system.case_store_url}/v1/requests/{receipt.reference}", headers=headers, timeout=10).json()
    assert (body["type"], body["sector"], body["entity"]["id"], body["anonymous"]) == ("report", "justice_integrity", NCHR, True)


def follow_up_by_pin(system: RunningSystem, sender: str, say: Callable[[str], str], receipt: Receipt, ask: str) -> str:
    """The same channel, no proof of identity (the grievance is anonymous): reference, then PIN."""
    say(ask.format(reference=format_grouped(receipt.reference)))
    assert system.tracker(sender)["slots"]["requested_slot"] == "status_proof"
    return say(receipt.pin)


def test_a_human_rights_grievance_over_sms_goes_to_the_centre_and_is_followed_up_by_pin(system: RunningSystem) -> None:
    """Recognised from the free text of the first SMS, filed to the NCHR, followed up by PIN."""
    canary, user = new_canary(), SmsUser(system)
    narrative = GRIEVANCE_AR.format(canary=canary)
    opening = user.say(narrative)
    assert "المركز الوطني لحقوق الإنسان" in opening, opening
    assert system.tracker(user.sender_id)["slots"]["description"] == narrative  # the opening is the narrative

    def press(button: dict[str, str]) -> str:
        return user.say(str(offered(system, user.sender_id).index(button) + 1))

    receipt = fill_grievance(system, user.sender_id, user.say, press, narrative)
    assert_filed_and_sealed(system, canary, receipt, "sms")
    assert_with_the_national_centre(system, receipt)
    status = follow_up_by_pin(system, user.sender_id, user.say, receipt, "ما حالة بلاغي رقم {reference}؟")
    assert "المركز الوطني لحقوق الإنسان" in status and format_grouped(receipt.reference) in status, status
    # The reference and PIN typed to follow it up would tie the anonymous grievance to this phone.
    assert leaks(system.var_dir, canary, receipt) == []
    user.say("شكرا")
    assert leaks(system.var_dir, canary, receipt) == []


def test_a_human_rights_grievance_from_the_messenger_menu_is_followed_up_by_pin(system: RunningSystem) -> None:
    """Chosen from the greeting's menu (English), told in English, filed to the NCHR, followed up by PIN."""
    canary, user = new_canary(), MessengerUser(system)

    def text(messages: list[dict[str, Any]]) -> str:
        return "\n".join(m.get("text") or "" for m in messages)

    def say(t: str) -> str:
        return text(user.say(t))

    say("hello")
    user.tap('/switch_language{"language": "en"}', "English")
    [entry] = [b for b in offered(system, user.sender_id) if b["payload"] == "/report_human_rights"]
    assert entry["title"] == "Human rights"
    opening = text(user.tap(entry["payload"], entry["title"]))
    assert "National Centre for Human Rights" in opening, opening
    receipt = fill_grievance(system, user.sender_id, say, lambda b: text(user.tap(b["payload"], b["title"])),
                             GRIEVANCE_EN.format(canary=canary))
    assert_filed_and_sealed(system, canary, receipt, "messenger")
    assert_with_the_national_centre(system, receipt)
    status = follow_up_by_pin(system, user.sender_id, say, receipt, "what is the status of my report {reference}")
    assert "National Centre for Human Rights" in status, status
    assert leaks(system.var_dir, canary, receipt) == []
    say("hello")
    assert leaks(system.var_dir, canary, receipt) == []


def test_the_ivr_menu_offers_the_human_rights_track(system: RunningSystem) -> None:
    caller = Caller(system)
    caller.send()
    main = spoken(caller.send(Digits="2"))  # English
    m = re.search(r"For a human-rights grievance, press (\d)", main)
    assert m, main
    caller.send(Digits=m.group(1))
    assert system.tracker(caller.sender_id)["slots"]["entity_id"] == NCHR
