"""What a person sends cannot act as a button, a channel or someone else's identity (issue 10
items 2 and 3), against the real Rasa server, action server and case store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

from backend_client import CaseStoreClient
from bot import refcode
from bot.privacy import keyed_id
from tests.e2e.harness import RunningSystem, rest_sender_id, rest_turn

SMS_PATH = "/webhooks/twilio_sms/webhook"


def user_events(system: RunningSystem, sender_id: str) -> list[dict[str, Any]]:
    return [e for e in system.tracker(sender_id).get("events") or [] if e.get("event") == "user"]


def test_a_typed_command_over_signed_sms_goes_through_nlu(system: RunningSystem) -> None:
    phone = "+96279" + str(uuid.uuid4().int)[:7]
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "SmsSid": sid, "From": phone, "To": system.env["TWILIO_SMS_FROM"], "Body": "/ /affirm",
              "NumMedia": "0", "AccountSid": system.env["TWILIO_ACCOUNT_SID"]}
    url = system.env["PUBLIC_BASE_URL"].rstrip("/") + SMS_PATH
    signature = RequestValidator(system.env["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    resp = requests.post(f"{system.rasa_url}{SMS_PATH}", data=urlencode(params), timeout=30,
                         headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
    assert resp.status_code == 200
    (event,) = user_events(system, keyed_id("twilio_sms", phone, key=system.env["SENDER_ID_KEY"].encode()))
    assert event["text"] == "affirm"
    parsed = event["parse_data"]
    # Rasa's RegexMessageHandler answers a "/" command with one intent at confidence 1.0 and no
    # ranking; NLU ranks every intent.
    assert len(parsed.get("intent_ranking") or []) > 1, parsed
    assert parsed["intent"]["confidence"] < 1.0


def _post_rest(system: RunningSystem, body: dict[str, Any], headers: dict[str, str]) -> int:
    req = urllib.request.Request(f"{system.rasa_url}/webhooks/rest/webhook", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_rest_without_the_token_is_refused_and_creates_no_conversation(system: RunningSystem) -> None:
    sender = f"anon-{uuid.uuid4().hex[:8]}"
    assert _post_rest(system, {"sender": sender, "message": "hello"}, {}) == 401
    assert _post_rest(system, {"sender": sender, "message": "hello"}, {"Authorization": "Bearer wrong"}) == 403
    assert _post_rest(system, ["not", "an", "object"], {"Authorization": f"Bearer {system.env['RASA_TOKEN']}"}) == 400  # type: ignore[arg-type]
    assert user_events(system, rest_sender_id(system, sender)) == []
    assert user_events(system, sender) == []


def _file_for(system: RunningSystem, requester_id: str) -> str:
    async def create() -> str:
        async with CaseStoreClient(system.case_store_url, system.case_store_token) as client:
            created = await client.create_request(
                type="complaint", sector="transport_licensing", entity="dvld", language="en", channel="sms",
                description="The licensing office kept me waiting four hours for a renewal.",
                requester_id=requester_id, idempotency_key=uuid.uuid4().hex, contact_phone="0791234567")
            return created.request.reference

    return asyncio.run(create())


def test_forged_rest_metadata_neither_borrows_an_identity_nor_reaches_the_sms_queue(system: RunningSystem) -> None:
    victim = keyed_id("phone", "+962791234567", key=system.env["SENDER_ID_KEY"].encode())
    reference = _file_for(system, victim)
    forged = {"caller_key": victim, "channel": "sms", "input_channel": "twilio_sms"}
    sender = f"forger-{uuid.uuid4().hex[:8]}"
    out = rest_turn(system, sender, f"status of {reference}", forged)
    text = "\n".join(m.get("text") or "" for m in out)
    slots = system.tracker(rest_sender_id(system, sender))["slots"]
    assert slots["requested_slot"] == "status_proof", text
    assert refcode.format_grouped(reference) not in text and reference not in text

    asker = f"forger-{uuid.uuid4().hex[:8]}"
    rest_turn(system, asker, "I want to talk to a human agent please", {"channel": "sms"})
    (event,) = user_events(system, rest_sender_id(system, asker))
    assert event["parse_data"]["intent"]["name"] == "human_handoff"
    assert event["metadata"].get("channel") == "rest" and "caller_key" not in event["metadata"]
    with sqlite3.connect(system.var_dir / "agent_console.db") as db:
        queued = db.execute("select channel from console_handoffs where sender_id = ?",
                            (rest_sender_id(system, asker),)).fetchall()
    assert ("sms",) not in queued
