"""Idempotency-Key reuse (issue 10, item 4): a retry of the same body gets the original request,
any other body (or another requester) gets 422 and learns nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiohttp
from service_fixtures import Running, complaint, report
from sqlalchemy import func, select, text, update

from case_store.migrate import upgrade
from case_store.models import OutboxEvent, Request

REUSED = {"error": "idempotency_key_reused"}


async def post(http: aiohttp.ClientSession, body: object, key: str, **kw: object) -> tuple[int, dict[str, object]]:
    async with http.post("/v1/requests", json=body, headers={"Idempotency-Key": key}, **kw) as resp:
        return resp.status, await resp.json()


async def count_rows(store: Running, model: type = Request) -> int:
    async with store.service.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_same_key_other_body_is_422_and_discloses_nothing(store: Running, http: aiohttp.ClientSession) -> None:
    status, first = await post(http, report(), "idem-report-0001")
    assert status == 201 and first["pin"]
    status, body = await post(http, report(description="something else entirely"), "idem-report-0001")
    assert (status, body) == (422, REUSED)
    assert await count_rows(store) == 1


async def test_same_key_from_another_requester_is_422(store: Running, http: aiohttp.ClientSession) -> None:
    status, _ = await post(http, report(), "idem-report-0002")
    assert status == 201
    # Same narrative, same everything, but someone else: they must not get the PIN.
    status, body = await post(http, report(requester_id="sms_" + "e" * 32), "idem-report-0002")
    assert (status, body) == (422, REUSED)
    status, body = await post(http, report(anonymous=False), "idem-report-0002")
    assert (status, body) == (422, REUSED)


async def test_same_body_in_another_spelling_still_replays(store: Running, http: aiohttp.ClientSession) -> None:
    body = report()
    status, first = await post(http, body, "idem-report-0003")
    assert status == 201
    # Key order, spacing and the phone's formatting are not part of the request's meaning.
    respelled = dict(reversed(list({**body, "contact_phone": "+962 78 111 2233"}.items())))
    raw = json.dumps(respelled, indent=3, ensure_ascii=True).encode()
    async with http.post(
        "/v1/requests", data=raw, headers={"Idempotency-Key": "idem-report-0003", "Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 200
        again = await resp.json()
    assert (again["reference"], again["pin"]) == (first["reference"], first["pin"])


async def test_concurrent_same_key_and_body_make_one_row(store: Running, http: aiohttp.ClientSession) -> None:
    answers = await asyncio.gather(*(post(http, report(), "idem-same-0001") for _ in range(20)))
    assert sorted(status for status, _ in answers) == [200] * 19 + [201]
    assert len({(b["reference"], b["pin"]) for _, b in answers}) == 1
    assert await count_rows(store) == 1
    assert await count_rows(store, OutboxEvent) == 1


async def test_concurrent_same_key_different_bodies_one_row_others_422(
    store: Running, http: aiohttp.ClientSession
) -> None:
    bodies = [report(description=f"narrative number {i}") for i in range(20)]
    answers = await asyncio.gather(*(post(http, b, "idem-race-0001") for b in bodies))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [422] * 19
    assert all(body == REUSED for status, body in answers if status == 422)
    assert await count_rows(store) == 1
    assert await count_rows(store, OutboxEvent) == 1
    winner = next(i for i, (status, _) in enumerate(answers) if status == 201)
    # The winner's own retry still gets its request back.
    status, body = await post(http, bodies[winner], "idem-race-0001")
    assert status == 200 and body["reference"] == answers[winner][1]["reference"]


async def test_legacy_rows_replay_only_to_the_same_requester(store: Running, http: aiohttp.ClientSession) -> None:
    status, first = await post(http, complaint(), "idem-legacy-001")
    assert status == 201
    async with store.service.db.read() as s:  # as a row written before migration 0002
        await s.execute(update(Request).values(idempotency_digest=None))
    status, body = await post(http, complaint(), "idem-legacy-001")
    assert status == 200 and body["reference"] == first["reference"]
    status, body = await post(http, complaint(requester_id="messenger_" + "f" * 32), "idem-legacy-001")
    assert (status, body) == (422, REUSED)
    status, body = await post(http, complaint(entity="jfda"), "idem-legacy-001")
    assert (status, body) == (422, REUSED)


def test_migration_0002_adds_a_null_digest_to_existing_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0001")
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO requests (reference, idempotency_key, type, sector, entity, importance, description,"
        " description_encrypted, language, channel, requester_id, anonymous, confidential, status, created_at,"
        " updated_at, due_at, escalation_level) VALUES ('1234567890', 'legacy-key-01', 'complaint', 'health',"
        " 'moh', 'normal', 'd', 0, 'en', 'sms', 'sms_x', 0, 0, 'submitted', '2025-01-01', '2025-01-01',"
        " '2025-01-10', 0)"
    )
    con.commit()
    con.close()
    upgrade(url)
    con = sqlite3.connect(path)
    assert con.execute("SELECT idempotency_key, idempotency_digest FROM requests").fetchall() == [("legacy-key-01", None)]
    con.close()


async def test_digest_is_stored_keyed_not_plain(store: Running, http: aiohttp.ClientSession) -> None:
    await post(http, report(), "idem-report-0009")
    async with store.service.db.read() as s:
        digest = (await s.execute(text("SELECT idempotency_digest FROM requests"))).scalar_one()
    assert isinstance(digest, str) and len(digest) == 64 and "رشوة" not in digest
