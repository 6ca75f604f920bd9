"""Confidential reports, transitions, rating, reopening and the outbox, over loopback."""

from __future__ import annotations

import aiohttp
import pytest
from service_fixtures import Running, complaint, report
from sqlalchemy import text

OWNER = {"X-Requester-Id": "messenger_" + "a" * 32}


async def create(http: aiohttp.ClientSession, body: dict[str, object], k: str = "key-00000001") -> dict[str, object]:
    async with http.post("/v1/requests", json=body, headers={"Idempotency-Key": k}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def move(http: aiohttp.ClientSession, ref: object, status: str, **extra: str) -> tuple[int, dict[str, object]]:
    async with http.post(f"/v1/requests/{ref}/status", json={"status": status, "actor": "entity:moh", **extra}) as resp:
        return resp.status, await resp.json()


async def test_report_is_confidential_encrypted_and_followed_up_by_pin(store: Running, http: aiohttp.ClientSession) -> None:
    body = await create(http, report())
    ref, pin = body["reference"], body["pin"]
    assert isinstance(pin, str) and len(pin) == 6 and pin.isdigit()
    assert body["confidential"] is True and body["anonymous"] is True
    assert "description" not in body
    # Raw columns: neither the narrative nor the phone appear in clear text anywhere in the row.
    async with store.service.db.read() as s:
        row = (await s.execute(text("SELECT * FROM requests WHERE reference = :r"), {"r": ref})).mappings().one()
    flat = " ".join(str(v) for v in row.values())
    assert "رشوة" not in flat and "مدير" not in flat
    assert "0781112233" not in flat and "781112233" not in flat and "2233" not in flat
    assert pin not in flat
    assert row["contact_phone_enc"] is None  # anonymous report: the phone is not kept at all
    # Replay of the key returns the same PIN.
    async with http.post("/v1/requests", json=report(), headers={"Idempotency-Key": "key-00000001"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["pin"] == pin
    async with http.get(f"/v1/requests/{ref}", headers={"X-Verify-Pin": pin}) as resp:
        assert resp.status == 200
        got = await resp.json()
        assert "description" not in got and "pin" not in got
    async with http.get(f"/v1/requests/{ref}", headers={"X-Verify-Pin": "000000" if pin != "000000" else "111111"}) as resp:
        assert resp.status == 404


async def test_report_with_opt_in_keeps_the_phone_encrypted(store: Running, http: aiohttp.ClientSession) -> None:
    body = await create(http, report(anonymous=False))
    assert body["anonymous"] is False
    async with store.service.db.read() as s:
        row = (await s.execute(text("SELECT contact_phone_enc, phone_tail_hash FROM requests"))).one()
    # Ciphertext and a keyed hash (random-looking text may contain "2233" by chance: it did once).
    assert row[0].startswith("v2:") and body.get("contact_phone") is None
    assert row[1] and row[1] != "2233" and len(row[1]) >= 32
    async with http.get(f"/v1/requests/{body['reference']}", headers={"X-Verify-Phone-Tail": "2233"}) as resp:
        assert resp.status == 200


async def test_allowed_and_forbidden_transitions(http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint()))["reference"]
    assert (await move(http, ref, "answered", answer="x"))[0] == 409
    assert (await move(http, ref, "closed"))[1] == {"error": "transition_not_allowed"}
    assert (await move(http, ref, "in_progress"))[0] == 200
    status, body = await move(http, ref, "answered")
    assert (status, body["error"], body["field"]) == (400, "missing_field", "answer")
    status, body = await move(http, ref, "answered", answer="The hospital added two doctors to the night shift.", note="n")
    assert status == 200 and body["status"] == "answered" and body["answer"].startswith("The hospital")
    assert [t["status"] for t in body["timeline"]] == ["submitted", "in_progress", "answered"]
    assert body["timeline"][-1]["actor"] == "entity:moh"
    assert (await move(http, ref, "reopened"))[0] == 409  # only the citizen reopens
    assert (await move(http, ref, "closed"))[0] == 200
    assert (await move(http, ref, "in_progress"))[0] == 409
    async with http.post("/v1/requests/1234567890/status", json={"status": "closed", "actor": "x"}) as resp:
        assert resp.status in (404, 422)


async def test_rejected_is_final(http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint()))["reference"]
    assert (await move(http, ref, "rejected", note="not in our remit"))[0] == 200
    for status in ("in_progress", "answered", "closed", "submitted"):
        assert (await move(http, ref, status, answer="a"))[0] == 409


async def test_rating_only_when_answered(http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint()))["reference"]
    rating = {"score": 4, "resolved": True, "comment": "thanks"}
    async with http.post(f"/v1/requests/{ref}/rating", json=rating, headers=OWNER) as resp:
        assert resp.status == 409 and await resp.json() == {"error": "not_ratable"}
    await move(http, ref, "in_progress")
    await move(http, ref, "answered", answer="done")
    for bad, field in (({"score": 6, "resolved": True}, "score"), ({"score": 3}, "resolved"), ({"score": True, "resolved": True}, "score")):
        async with http.post(f"/v1/requests/{ref}/rating", json=bad, headers=OWNER) as resp:
            assert resp.status == 400 and (await resp.json())["field"] == field
    async with http.post(f"/v1/requests/{ref}/rating", json=rating) as resp:
        assert resp.status == 404  # no proof
    async with http.post(f"/v1/requests/{ref}/rating", json=rating, headers=OWNER) as resp:
        assert resp.status == 200
        assert (await resp.json())["rating"]["score"] == 4


async def test_reopen_sets_a_new_due_date(store: Running, http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint()))["reference"]
    async with http.post(f"/v1/requests/{ref}/reopen", json={}, headers=OWNER) as resp:
        assert resp.status == 409
    await move(http, ref, "in_progress")
    await move(http, ref, "answered", answer="done")
    store.clock.advance(days=30)
    async with http.post(f"/v1/requests/{ref}/reopen", json={"reason": "still waiting"}, headers=OWNER) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "reopened"
    assert body["timeline"][-1] == {"at": "2025-06-03T07:00:00Z", "status": "reopened", "actor": "citizen", "note": "still waiting"}
    assert body["due_at"] > "2025-06-03"
    assert (await move(http, ref, "in_progress"))[0] == 200


async def test_outbox_carries_events_with_language_and_notify(http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint()))["reference"]
    await move(http, ref, "in_progress")
    await move(http, ref, "answered", answer="done")
    async with http.get("/v1/outbox", params={"after": "0"}) as resp:
        page = await resp.json()
    events = page["events"]
    assert [e["event"] for e in events] == ["created", "status_changed", "answered"]
    assert all(e["reference"] == ref for e in events)
    assert events[0]["payload"]["language"] == "en"
    assert events[0]["payload"]["notify"] == {"channel": "messenger", "address": "psid-1234567890"}
    assert events[1]["payload"]["previous_status"] == "submitted"
    assert events[2]["payload"]["answer"] == "done"
    assert page["next_after"] == events[-1]["id"]
    async with http.post(f"/v1/outbox/{events[0]['id']}/ack") as resp:
        assert resp.status == 200 and (await resp.json())["acked_at"]
    async with http.get("/v1/outbox") as resp:
        assert [e["event"] for e in (await resp.json())["events"]] == ["status_changed", "answered"]
    async with http.get("/v1/outbox", params={"after": str(events[1]["id"])}) as resp:
        assert [e["event"] for e in (await resp.json())["events"]] == ["answered"]
    async with http.post("/v1/outbox/999999/ack") as resp:
        assert resp.status == 404


@pytest.mark.parametrize("path", ["/v1/openapi.yaml"])
async def test_openapi_is_served(http: aiohttp.ClientSession, path: str) -> None:
    import yaml

    async with http.get(path) as resp:
        assert resp.status == 200
        doc = yaml.safe_load(await resp.text())
    assert doc["openapi"].startswith("3.1")
    assert "/v1/requests/{reference}" in doc["paths"]


async def test_anonymous_report_keeps_no_trace_of_the_sender_whatever_the_client_sent(
    store: Running, http: aiohttp.ClientSession
) -> None:
    """One anonymous-report rule (bot/privacy.py): the case store itself drops a linkable
    requester id, the phone and the reply address, even from a client that sends them."""
    from bot.privacy import anonymous_requester_id

    body = await create(http, report(), k="key-anon-0001")
    assert body["anonymous"] is True
    async with store.service.db.read() as s:
        row = (await s.execute(text(
            "SELECT requester_id, contact_phone_enc, notify_channel, notify_address_enc FROM requests WHERE reference = :r"
        ), {"r": body["reference"]})).one()
    assert tuple(row) == (anonymous_requester_id("key-anon-0001"), None, None, None)
    # The sender's own id no longer proves anything about the report.
    async with http.get(f"/v1/requests/{body['reference']}", headers={"X-Requester-Id": "sms_" + "b" * 32}) as resp:
        assert resp.status == 404
